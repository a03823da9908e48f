#!/usr/bin/env bash
# `make e2e`: install what the lane needs, build the real control plane (cached by version), run e2e/tests.
# Usage: bash e2e/run.sh [VENV_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.venv/bin}

# ip (network namespaces for the pod hosts) and openssl (certificates); apt only when one is missing.
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "e2e: missing ${need[*]}; tests that need them will skip or fail" >&2
    fi
fi
if ! command -v go >/dev/null; then
    echo "e2e: Go is needed to build the control plane (make test needs no Go)" >&2
    exit 1
fi

start=$SECONDS
bin_dir="$(bash e2e/build.sh)"
echo "e2e: control plane in $bin_dir (build step: $((SECONDS - start)) s)"
BLUEGREEN_E2E_BIN="$bin_dir" "$BIN/python" -m pytest -q -p no:cacheprovider e2e/tests
echo "e2e: lane took $((SECONDS - start)) s"
