#!/usr/bin/env bash
# CI stage "container image": build the real Dockerfile with podman, then run the image against the
# simulated cluster the way GitHub Actions runs a container action (INPUT_* variables, $GITHUB_OUTPUT)
# and the way other CI runners do (plain CLI arguments, --output-file).
#
# No Docker engine and no Docker Hub here, so the base image is made locally with debootstrap (Debian
# stable + python3) and passed as BASE_IMAGE; GitHub builds the same Dockerfile from python:3.12-slim.
# Everything podman keeps (storage, config, the cached base) lives under .ci/work/, so a rerun is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/.ci/work/image-test
PY=${VENV_BIN:-$ROOT/.venv/bin}/python
SUITE=${BLUEGREEN_BASE_SUITE:-stable}
MIRROR=${BLUEGREEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=localhost/bluegreen-base
IMAGE=localhost/bluegreen:ci
HOST_CA_DIR=/usr/local/share/ca-certificates

say() { printf -- '--- %s\n' "$*"; }
fail() { printf 'image-test FAILED: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "run as root (podman storage and debootstrap need it)"
[[ -x $PY ]] || fail "no venv python at $PY; run 'make venv' first"
mkdir -p "$WORK"

# --- tools -------------------------------------------------------------------------------------------
install_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v runc >/dev/null || missing+=(runc)
    command -v fuse-overlayfs >/dev/null || missing+=(fuse-overlayfs)
    command -v newuidmap >/dev/null || missing+=(uidmap)
    # Debian's archive keys, for debootstrap on a non-Debian host (e.g. Ubuntu runners).
    [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
install_tools

# --- a private podman setup (no edits to /etc) -------------------------------------------------------
# runc: crun refuses this machine's cgroup layout. Ulimits at or below the host's, or runc can't apply them.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$WORK/registries.conf" <<'EOF'
# Only local images: this machine reaches no container registry.
unqualified-search-registries = []
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export BUILDAH_ISOLATION=chroot

use_storage() {  # DRIVER: one store per driver, since a store can't switch drivers
    local driver=$1
    cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$WORK/storage-$driver"
runroot = "$WORK/run-$driver"
EOF
    export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
    STORAGE_DRIVER=$driver
}

# --- the local base image: debootstrap, cached as a tarball ------------------------------------------
host_cas() { find "$HOST_CA_DIR" -maxdepth 2 -name '*.crt' -type f 2>/dev/null | sort; }

base_key() {  # changes with the suite, the recipe below or the host's extra CAs
    { echo "$SUITE $MIRROR"; declare -f make_base_tarball; host_cas | xargs -r cat; } | sha256sum | cut -c1-16
}

make_base_tarball() {  # TARBALL
    local tarball=$1 rootfs=$WORK/rootfs
    rm -rf "$rootfs"
    say "debootstrap $SUITE (minbase + python3) into .ci/work; cached for reruns"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap.log" >&2; fail "debootstrap $SUITE"; }
    # The host's extra CAs (e.g. a proxy's) go into the local base only, so pip in the build reaches
    # PyPI the way the host's pip does. They never enter the repository.
    if [[ -n $(host_cas) ]]; then
        say "adding the host's extra CA certificates to the local base"
        host_cas | xargs -r cp -t "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates in the base"
    fi
    # Trimmed like the slim images: no package caches, docs, man pages or translations.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
        "$rootfs"/usr/share/info/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
}

import_base() {  # imports the cached tarball unless the store already has this exact base
    if [[ $(podman image inspect --format '{{index .Labels "bluegreen.base-key"}}' "$BASE" 2>/dev/null) == "$BASE_KEY" ]]; then
        return 0
    fi
    say "podman import $BASE"
    podman import --change "LABEL bluegreen.base-key=$BASE_KEY" --change 'CMD ["/bin/bash"]' \
        "$BASE_TARBALL" "$BASE" >/dev/null
}

BASE_KEY=$(base_key)
BASE_TARBALL=$WORK/base-$SUITE-$BASE_KEY.tar
if [[ ! -f $BASE_TARBALL ]]; then
    rm -f "$WORK"/base-*.tar  # bases made by another recipe or for other CAs
    make_base_tarball "$BASE_TARBALL"
fi

# Overlay first; if this kernel or filesystem can't mount it, the slower vfs driver always works.
use_storage overlay
if ! { import_base && podman run --rm --network host "$BASE" true; } 2>"$WORK/overlay.err"; then
    say "overlay storage unusable here ($(tail -n 1 "$WORK/overlay.err")); using vfs"
    use_storage vfs
    import_base
    podman run --rm --network host "$BASE" true || fail "podman can't run the base image"
fi
say "podman $(podman version --format '{{.Client.Version}}'), storage $STORAGE_DRIVER, runtime runc"

# --- build the real Dockerfile -----------------------------------------------------------------------
# pip inside the build must reach PyPI as the host's pip does: same index (when it's an http(s) mirror)
# and, when the host has extra CAs, the base's system bundle that now holds them.
pip_build_args() {
    "$PY" -m pip config list 2>/dev/null | "$PY" -c '
import sys
conf = {}
for line in sys.stdin:
    key, _, value = line.strip().partition("=")
    conf[key.split(".", 1)[-1]] = value.strip("\x27\"")
for key, arg in (("index-url", "PIP_INDEX_URL"), ("extra-index-url", "PIP_EXTRA_INDEX_URL")):
    urls = [u for u in conf.get(key, "").split() if u.startswith(("http://", "https://"))]
    if urls:
        print("--build-arg=" + arg + "=" + " ".join(urls))
'
    if [[ -n $(host_cas) ]]; then
        echo "--build-arg=PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
    fi
}
mapfile -t PIP_ARGS < <(pip_build_args)

say "podman build -t $IMAGE --build-arg BASE_IMAGE=$BASE ."
podman build --pull=never --network host --build-arg "BASE_IMAGE=$BASE" "${PIP_ARGS[@]}" \
    -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1 \
    || { tail -n 40 "$WORK/build.log" >&2; fail "podman build (full log: .ci/work/image-test/build.log)"; }
podman image prune -f >/dev/null  # the previous build's image, now untagged

# --- the simulated cluster, on the host; the container shares the host's network -----------------------
RUNS=$(mktemp -d "$WORK/runs.XXXXXX")
SIM_PID=
cleanup() {
    local rc=$?
    [[ -z $SIM_PID ]] || kill "$SIM_PID" 2>/dev/null || true
    if ((rc == 0)) && [[ -z ${KEEP_LOGS:-} ]]; then rm -rf "$RUNS"; else echo "image-test: logs kept in ${RUNS#"$ROOT"/}" >&2; fi
}
trap cleanup EXIT

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "simulated cluster on 127.0.0.1:$PORT"
"$PY" -m bluegreen.sim --port "$PORT" --kubeconfig-out "$RUNS/sim.kubeconfig" >"$RUNS/sim.log" 2>&1 &
SIM_PID=$!
# Ready when the seeded Service answers through the API with the kubeconfig's token.
"$PY" - "$RUNS/sim.kubeconfig" <<'PY' || { cat "$RUNS/sim.log" >&2; fail "simulated cluster did not start"; }
import pathlib
import sys
import time
import urllib.request

import yaml

kubeconfig = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        config = yaml.safe_load(kubeconfig.read_text())
        request = urllib.request.Request(
            config["clusters"][0]["cluster"]["server"] + "/api/v1/namespaces/default/services/web",
            headers={"Authorization": "Bearer " + config["users"][0]["user"].get("token", "")},
        )
        with urllib.request.urlopen(request, timeout=2):
            sys.exit(0)
    except (OSError, TypeError, KeyError, yaml.YAMLError):
        time.sleep(0.1)
sys.exit(1)
PY

# --- helpers -------------------------------------------------------------------------------------------
# Like the runner: every input of action.yml as INPUT_<NAME> (hyphens kept), its default when not given.
action_inputs() {  # NAME=VALUE ... -> NUL-separated INPUT_NAME=VALUE
    "$PY" - "$@" <<'PY'
import sys
import yaml

given = dict(arg.split("=", 1) for arg in sys.argv[1:])
with open("action.yml", encoding="utf-8") as handle:
    inputs = yaml.safe_load(handle)["inputs"]
if unknown := set(given) - set(inputs):
    sys.exit(f"not inputs of action.yml: {sorted(unknown)}")
for name, spec in inputs.items():
    sys.stdout.write(f"INPUT_{name.upper()}={given.get(name, str(spec.get('default', '')))}\0")
PY
}

# The `podman run` arguments of a GitHub container action: inputs, the runner's mounts, GITHUB_* variables.
action_run_args() {  # STEP NAME=VALUE ... -> RUN_ARGS
    local step=$1 inputs=() entry
    shift
    mkdir -p "$RUNS/$step/workspace" "$RUNS/$step/home" "$RUNS/$step/file_commands"
    : >"$RUNS/$step/file_commands/output"
    : >"$RUNS/$step/file_commands/summary"
    RUN_ARGS=(--rm --network host --workdir /github/workspace
        -v "$RUNS/$step/workspace:/github/workspace" -v "$RUNS/$step/home:/github/home"
        -v "$RUNS/$step/file_commands:/github/file_commands"
        -e HOME=/github/home -e CI=true -e GITHUB_ACTIONS=true -e GITHUB_WORKSPACE=/github/workspace
        -e GITHUB_OUTPUT=/github/file_commands/output -e GITHUB_STEP_SUMMARY=/github/file_commands/summary
        -e GITHUB_RUN_ID=1 -e GITHUB_REPOSITORY=example/web -e GITHUB_SERVER_URL=https://github.com)
    mapfile -d '' -t inputs < <(action_inputs "$@")
    for entry in "${inputs[@]}"; do RUN_ARGS+=(-e "$entry"); done
}

# Runs the image as a GitHub container action; the exit code in RC, the log in $RUNS/<step>.log and the
# outputs in $RUNS/<step>/file_commands/output.
run_action() {  # STEP NAME=VALUE ...
    action_run_args "$@"
    set +e
    podman run "${RUN_ARGS[@]}" "$IMAGE" >"$RUNS/$1.log" 2>&1
    RC=$?
    set -e
}

expect_rc() {  # STEP EXPECTED
    if [[ $RC != "$2" ]]; then
        sed 's/^/    | /' "$RUNS/$1.log" >&2
        fail "$1: exit code $RC, expected $2"
    fi
    say "$1: exit code $RC as expected"
}

# Reads $GITHUB_OUTPUT (name=value and name<<DELIM blocks) or a dotenv file and checks the values.
# Names compare loosely (ACTIVE_COLOR, BLUEGREEN_ACTIVE_COLOR and active-color are the same output).
expect_outputs() {  # FILE NAME=VALUE ...
    "$PY" - "$@" <<'PY'
import shlex
import sys

path, *expected = sys.argv[1:]

def norm(name):
    name = name.strip().lower().replace("_", "-")
    return name.removeprefix("bluegreen-").removeprefix("export ")

lines = open(path, encoding="utf-8").read().splitlines()
found, i = {}, 0
while i < len(lines):
    line = lines[i]
    name, eq, value = line.partition("=")
    if "<<" in line and (not eq or line.index("<<") < line.index("=")):
        name, delim = line.split("<<", 1)
        end = lines.index(delim, i + 1)
        found[norm(name)] = "\n".join(lines[i + 1 : end])
        i = end
    elif eq and not line.lstrip().startswith("#"):
        found[norm(name)] = " ".join(shlex.split(value)) if value.strip() else ""
    i += 1
problems = [
    f"{key}={found.get(norm(key))!r}, expected {want!r}"
    for key, want in (item.split("=", 1) for item in expected)
    if found.get(norm(key)) != want
]
if problems:
    print(f"{path}:\n" + "\n".join(f"    | {line}" for line in lines), file=sys.stderr)
    sys.exit("outputs differ: " + "; ".join(problems))
PY
}

# The kubeconfig's token must reach the log only inside ::add-mask::, and the masks must come first.
expect_masked() {  # STEP SECRET
    "$PY" - "$RUNS/$1.log" "$2" <<'PY'
import sys

log, secret = sys.argv[1], sys.argv[2]
lines = open(log, encoding="utf-8").read().splitlines()
if not lines or not lines[0].startswith("::add-mask::"):
    sys.exit(f"{log}: first line is not a mask: {lines[:1]}")
masks_done = False
for number, line in enumerate(lines, 1):
    if not line.startswith("::add-mask::"):
        masks_done = True
    elif masks_done and secret in line:
        sys.exit(f"{log}:{number}: a kubeconfig mask printed after other output")
    if secret in line and not line.startswith("::add-mask::"):
        sys.exit(f"{log}:{number}: the kubeconfig token is printed unmasked")
if not any(line == f"::add-mask::{secret}" for line in lines):
    sys.exit(f"{log}: no ::add-mask:: for the kubeconfig token")
PY
}

KUBECONFIG_TEXT=$(cat "$RUNS/sim.kubeconfig")
TOKEN=$("$PY" -c '
import sys, yaml
users = yaml.safe_load(open(sys.argv[1]))["users"]
print(next((u["user"].get("token", "") for u in users), ""))' "$RUNS/sim.kubeconfig")

# --- the checks ----------------------------------------------------------------------------------------
say "1. GitHub Action: deploy registry.example/web:2.0 (kubeconfig as YAML, two smoke paths)"
run_action deploy-action command=deploy image=registry.example/web:2.0 service=web namespace=default \
    "kubeconfig=$KUBECONFIG_TEXT" "smoke-path=/healthz
/" timeout=120
expect_rc deploy-action 0
expect_outputs "$RUNS/deploy-action/file_commands/output" active-color=green previous-color=blue \
    image=registry.example/web:2.0 previous-image=registry.example/web:1.0 active-deployment=web-green \
    previous-deployment=web-blue switched=true result=deployed
[[ -z $TOKEN ]] || expect_masked deploy-action "$TOKEN"

say "2. GitHub Action: status (kubeconfig as base64)"
run_action status-action command=status service=web namespace=default \
    "kubeconfig=$(base64 -w 76 "$RUNS/sim.kubeconfig")"
expect_rc status-action 0
expect_outputs "$RUNS/status-action/file_commands/output" active-color=green image=registry.example/web:2.0
[[ -z $TOKEN ]] || expect_masked status-action "$TOKEN"

say "3. GitHub Action: rollback"
run_action rollback-action command=rollback service=web namespace=default "kubeconfig=$KUBECONFIG_TEXT"
expect_rc rollback-action 0
expect_outputs "$RUNS/rollback-action/file_commands/output" active-color=blue previous-color=green \
    image=registry.example/web:1.0 switched=true result=rolled-back

say "4. GitHub Action: a release whose smoke check fails stops before the switch (exit 1)"
run_action smokefail-action command=deploy image=registry.example/web:2.1-smokefail service=web \
    "kubeconfig=$KUBECONFIG_TEXT" smoke-path=/ timeout=120
expect_rc smokefail-action 1
expect_outputs "$RUNS/smokefail-action/file_commands/output" active-color=blue switched=false result=failed

say "5. Cancelling: SIGTERM to the container (docker stop, a cancelled job) stops the release cleanly"
CANCEL_NAME=bluegreen-image-test-cancel
podman rm --force "$CANCEL_NAME" >/dev/null 2>&1 || true
action_run_args cancel-action command=deploy image=registry.example/web:2.2-slow service=web \
    "kubeconfig=$KUBECONFIG_TEXT" timeout=120
podman run --name "$CANCEL_NAME" "${RUN_ARGS[@]}" "$IMAGE" >"$RUNS/cancel-action.log" 2>&1 &
CANCEL_PID=$!
# The slow image takes seconds to become ready: stop the release once it holds the lock.
"$PY" - "$RUNS/cancel-action.log" <<'PY' || fail "cancel-action: the release never took the lock"
import pathlib
import sys
import time

log = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if "acquired" in log.read_text(errors="replace"):
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
podman kill --signal TERM "$CANCEL_NAME" >/dev/null
set +e
wait "$CANCEL_PID"
RC=$?
set -e
expect_rc cancel-action 1
grep -q "interrupted" "$RUNS/cancel-action.log" || fail "cancel-action: no 'interrupted' in the log"
expect_outputs "$RUNS/cancel-action/file_commands/output" active-color=blue switched=false result=failed

say "6. Any other CI: plain CLI arguments and --output-file (no INPUT_ variables; the lock was released)"
mkdir -p "$RUNS/cli"
cp "$RUNS/sim.kubeconfig" "$RUNS/cli/kubeconfig"
set +e
podman run --rm --network host -v "$RUNS/cli:/ci" "$IMAGE" deploy --image registry.example/web:3.0 \
    --service web --namespace default --kubeconfig /ci/kubeconfig --smoke-path /healthz --timeout 120 \
    --output-file /ci/deploy.env >"$RUNS/deploy-cli.log" 2>&1
RC=$?
set -e
expect_rc deploy-cli 0
expect_outputs "$RUNS/cli/deploy.env" active-color=green previous-color=blue image=registry.example/web:3.0 \
    switched=true result=deployed
if grep -q '^::' "$RUNS/deploy-cli.log"; then
    fail "deploy-cli: GitHub workflow commands printed outside GitHub Actions"
fi

say "7. GitLab / Jenkins / Tekton shape: entrypoint overridden, a shell script, BLUEGREEN_* variables"
set +e
podman run --rm --network host --entrypoint "" -v "$RUNS/cli:/ci" -e BLUEGREEN_SERVICE=web \
    -e BLUEGREEN_KUBECONFIG=/ci/kubeconfig -e BLUEGREEN_OUTPUT_FILE=/ci/status.env \
    "$IMAGE" sh -c 'bluegreen status' >"$RUNS/status-shell.log" 2>&1
RC=$?
set -e
expect_rc status-shell 0
expect_outputs "$RUNS/cli/status.env" active-color=green image=registry.example/web:3.0

set +e
podman run --rm --network host "$IMAGE" --version >"$RUNS/version.log" 2>&1
RC=$?
set -e
expect_rc version 0
say "bluegreen --version in the image: $(tail -n 1 "$RUNS/version.log")"

say "7b. Exec credential plugins: an EKS-style kubeconfig runs 'aws' when the image has it, and says what to do when not"
# A fake `aws` that prints an ExecCredential with the simulator's token, mounted onto PATH; the kubeconfig's
# user runs it the way `aws eks update-kubeconfig` writes it.
mkdir -p "$RUNS/exec/bin"
"$PY" - "$RUNS/cli/kubeconfig" "$RUNS/exec" <<'PY'
import json, pathlib, sys
import yaml
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
config = yaml.safe_load(src.read_text())
token = config["users"][0]["user"].get("token", "")
cred = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": token}}
plugin = out / "bin" / "aws"
plugin.write_text("#!/bin/sh\ncat <<'EOF'\n" + json.dumps(cred) + "\nEOF\n")
plugin.chmod(0o755)
config["users"][0]["user"] = {"exec": {
    "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
    "args": ["eks", "get-token", "--cluster-name", "sim"], "interactiveMode": "Never"}}
(out / "kubeconfig").write_text(yaml.safe_dump(config))
PY
set +e
podman run --rm --network host -v "$RUNS/exec:/exec" -v "$RUNS/exec/bin/aws:/usr/local/bin/aws:ro" \
    "$IMAGE" status --service web --namespace default --kubeconfig /exec/kubeconfig >"$RUNS/exec-present.log" 2>&1
RC=$?
set -e
expect_rc exec-present 0
set +e
podman run --rm --network host -v "$RUNS/exec:/exec" \
    "$IMAGE" status --service web --namespace default --kubeconfig /exec/kubeconfig >"$RUNS/exec-missing.log" 2>&1
RC=$?
set -e
expect_rc exec-missing 2
grep -q "runs 'aws' (exec credential plugin), which is not installed" "$RUNS/exec-missing.log" \
    || fail "exec-missing: no line naming the missing plugin: $(tail -n 3 "$RUNS/exec-missing.log")"
if grep -q "ERROR:root" "$RUNS/exec-missing.log"; then fail "exec-missing: a stray ERROR:root line"; fi

say "8. The trimmed image: what never loads is gone, what loads on every start is precompiled"
set +e
podman run --rm --entrypoint "" "$IMAGE" python -c '
import importlib.util, pathlib, sys, sysconfig
site = pathlib.Path(sysconfig.get_path("purelib"))
problems = [f"{name} is still installed" for name in ("aiohttp", "yarl", "multidict", "kubernetes.aio")
            if importlib.util.find_spec(name) is not None]
problems += [f"{path} is still there" for path in ("kubernetes/client/api",) if (site / path).exists()]
if not list((site / "kubernetes/client/models/__pycache__").glob("__init__.*.pyc")):
    problems.append("kubernetes/client/models/__init__.py is not precompiled")
sys.exit("; ".join(problems) or None)
' >"$RUNS/trim.log" 2>&1
RC=$?
set -e
expect_rc trim 0

SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
BASE_SIZE=$(podman image inspect --format '{{.Size}}' "$BASE")
say "image $IMAGE: $((SIZE / 1000000)) MB = base (debootstrap $SUITE minbase + python3) $((BASE_SIZE / 1000000)) MB" \
    "+ bluegreen and its dependencies $(((SIZE - BASE_SIZE) / 1000000)) MB"
echo "image-test: all checks passed"
