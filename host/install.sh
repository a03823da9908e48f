#!/usr/bin/env bash
# Host mode's install steps (host/action.yml), runnable by hand too:
#   PYTHON=python3 bash host/install.sh plan      -> venv, pip-cache and cache-key (to $GITHUB_OUTPUT)
#   PYTHON=python3 VENV=... bash host/install.sh install
# installs ../requirements.txt (the exact runtime pins the image uses), then the package from this
# checkout without dependencies, into a venv of its own; nothing touches the runner's Python.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:?the Python to build the venv with}
TEMP=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

case ${1:-} in
plan)
    [[ $(uname -s) == Linux ]] || { echo "::error title=bluegreen::host mode runs on Linux runners only"; exit 2; }
    py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    req_hash=$(sha256sum "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
    # One venv per checkout of the action (two versions in one job don't share one).
    checkout_hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
    {
        echo "venv=$TEMP/bluegreen-venv-$checkout_hash"
        echo "pip-cache=$HOME/.cache/bluegreen-pip"
        echo "cache-key=bluegreen-pip-$(uname -s)-$(uname -m)-py$py_version-$req_hash"
    } >>"${GITHUB_OUTPUT:-/dev/stdout}"
    ;;
install)
    VENV=${VENV:?where the venv goes}
    stamp=$VENV/.bluegreen-installed
    # The action used twice in one job installs once.
    if [[ -f $stamp && $(cat "$stamp") == "$ROOT" ]]; then
        exit 0
    fi
    "$PYTHON" -m venv --clear "$VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt"
    "$VENV/bin/python" -m pip install --quiet --no-deps "$ROOT"
    printf '%s' "$ROOT" >"$stamp"
    echo "bluegreen $("$VENV/bin/bluegreen" --version | awk '{print $NF}') installed in $VENV"
    ;;
*)
    echo "usage: bash host/install.sh plan|install" >&2
    exit 2
    ;;
esac
