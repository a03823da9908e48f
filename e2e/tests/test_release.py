"""Releases against the real control plane, run by the deployer account that has only deploy/rbac.yaml."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time

import pytest
from conftest import BLUEGREEN, Env

V1 = "registry.example/web:1.0"
V2 = "registry.example/web:2.0"
V3 = "registry.example/web:3.0"
SMOKE = ("--smoke-path", "/healthz", "--smoke-path", "/")


def deploy(env: Env, image: str, *extra: str) -> tuple[int, str]:
    r = env.run("deploy", "--service", "web", "--image", image, *extra)
    return r.exit_code, r.log


def selector(env: Env, service: str = "web") -> dict[str, str]:
    return dict(env.get("services", service)["spec"]["selector"])


def served_by(env: Env, service: str = "web") -> dict[str, object]:
    """One request through the API server's service proxy: which pod, image and colour answered."""
    r = env.admin.get(env.path("services", f"{service}:http", "") + "/proxy/", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def pods_gone(env: Env, selector: str, timeout: float = 30) -> bool:
    """Poll (with a deadline) until no pod matches: deletion finishes asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not env.admin.get(env.path("pods") + f"?labelSelector={selector}", timeout=10).json()["items"]:
            return True
        time.sleep(0.2)
    return False


def deployment(env: Env, name: str) -> dict[str, object]:
    return env.get("deployments", name, group="apps/v1")


def test_release_then_a_second_release_reuses_the_standby_colour(env: Env) -> None:
    env.seed_app()
    code, log = deploy(env, V2, *SMOKE)
    assert code == 0, log
    assert selector(env) == {"app": "web", "version": "green"}
    answer = served_by(env)
    assert (answer["image"], answer["color"]) == (V2, "green")

    blue_uid = deployment(env, "web-blue")["metadata"]["uid"]  # type: ignore[index]
    code, log = deploy(env, V3, *SMOKE)
    assert code == 0, log
    assert selector(env) == {"app": "web", "version": "blue"}
    blue = deployment(env, "web-blue")
    # the standby colour was updated in place, not recreated
    assert blue["metadata"]["uid"] == blue_uid  # type: ignore[index]
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == V3  # type: ignore[index]
    assert served_by(env)["image"] == V3
    status = env.run("status", "--service", "web")
    assert status.exit_code == 0, status.log
    assert "blue" in status.stdout


def test_rollback_and_rollback_after_scale_to_zero(env: Env) -> None:
    env.seed_app()
    assert deploy(env, V2, *SMOKE)[0] == 0
    r = env.run("rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert selector(env)["version"] == "blue"
    assert served_by(env)["image"] == V1

    code, log = deploy(env, V3, "--after-switch", "scale-to-zero")
    assert code == 0, log
    assert selector(env)["version"] == "green"
    assert deployment(env, "web-blue")["spec"]["replicas"] == 0  # type: ignore[index]
    # Graceful deletion end to end: the controller deletes, the kubelet stops the app and confirms.
    assert pods_gone(env, "version%3Dblue"), "blue's pods were never finally deleted"
    r = env.run("rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert selector(env)["version"] == "blue"
    assert deployment(env, "web-blue")["spec"]["replicas"] == 2  # type: ignore[index]
    assert served_by(env)["image"] == V1


@pytest.mark.parametrize(
    ("image", "extra", "says"),
    [
        ("registry.example/web:2.0-pullfail", (), "ErrImagePull"),
        ("registry.example/web:2.0-crashloop", (), "CrashLoopBackOff"),
        ("registry.example/web:2.0-never-ready", ("--timeout", "8"), "ready"),
        ("registry.example/web:2.0-smokefail", ("--smoke-path", "/"), "500"),
    ],
    ids=["pullfail", "crashloop", "never-ready", "smokefail"],
)
def test_failure_images_fail_before_the_switch(
    env: Env, image: str, extra: tuple[str, ...], says: str
) -> None:
    env.seed_app()
    before = env.live_view()
    code, log = deploy(env, image, *extra)
    assert code == 1, log
    assert says in log, log
    assert env.live_view() == before
    assert served_by(env)["image"] == V1


def test_crash_loop_report_carries_the_container_log(env: Env) -> None:
    """pods/log goes API server -> node:10250 (the fake kubelet's log endpoint) and into the report."""
    env.seed_app()
    code, log = deploy(env, "registry.example/web:2.0-crashloop")
    assert code == 1, log
    pods = env.admin.get(env.path("pods") + "?labelSelector=version%3Dgreen", timeout=10).json()["items"]
    name = pods[0]["metadata"]["name"]
    direct = env.admin.get(env.path("pods", name) + "/log?container=web&tailLines=20", timeout=10)
    assert "cannot start without its database" in log, f"{log}\npods/log: {direct.status_code} {direct.text}"


def kubectl_cmd(env: Env, *args: str) -> str:
    kubectl = env.cp.bin_dir / "kubectl"
    return shlex.join([str(kubectl), "--kubeconfig", str(env.admin_kubeconfig), "-n", env.ns, *args])


def test_a_concurrent_selector_change_is_not_overwritten(env: Env) -> None:
    env.seed_app()
    # The smoke command runs after bluegreen read the Service and before the switch: a colleague's change.
    theirs = {"app": "web", "version": "blue", "tier": "hotfix"}
    change = kubectl_cmd(
        env, "patch", "service", "web", "--type", "merge", "-p", json.dumps({"spec": {"selector": theirs}})
    )
    code, log = deploy(env, V2, "--smoke-command", change)
    assert code == 4, log
    assert selector(env) == theirs


def test_two_concurrent_releases(env: Env) -> None:
    env.seed_app()
    # The second release starts while the first holds the lock (inside the first one's smoke stage).
    result = env.dir / "second.exit"
    second = shlex.join(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; r = subprocess.run(sys.argv[1:]); open({str(result)!r}, 'w').write(str(r.returncode))",
            str(BLUEGREEN),
            "deploy",
            "--service",
            "web",
            "--image",
            V3,
            "--namespace",
            env.ns,
            "--kubeconfig",
            str(env.deployer_kubeconfig),
        ]
    )
    code, log = deploy(env, V2, "--smoke-command", second)
    assert result.read_text() == "4"
    assert code == 0, log
    assert served_by(env)["image"] == V2


def test_adoption_of_an_uncoloured_app(env: Env) -> None:
    env.seed_app(color=None)
    original = deployment(env, "web")
    code, log = deploy(env, V2, *SMOKE)
    assert code == 0, log
    assert selector(env) == {"app": "web", "version": "green"}
    assert deployment(env, "web-blue")["spec"]["template"]["spec"]["containers"][0]["image"] == V1  # type: ignore[index]
    after = deployment(env, "web")
    assert after["spec"] == original["spec"], "the adopted Deployment must not be modified"
    assert served_by(env)["image"] == V2


def test_resource_quota_that_cannot_fit_stops_before_any_write(env: Env) -> None:
    env.seed_app()
    # Two pods run; one more fits. Green needs two: the preflight says so before writing anything.
    env.create("resourcequotas", {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "3"}}})
    before = env.live_view()
    code, log = deploy(env, V2, "--timeout", "60")
    assert code == 1, log
    assert env.live_view() == before
    assert "resourcequota/pods allows pods=3" in log, log


def test_resource_quota_exhaustion_reaches_the_user(env: Env) -> None:
    env.seed_app()
    # A quota the preflight does not model (count/pods): the pods are refused at admission, the real
    # ReplicaSet controller writes FailedCreate, and its message reaches the user at once.
    env.create("resourcequotas", {"metadata": {"name": "count"}, "spec": {"hard": {"count/pods": "3"}}})
    before = env.live_view()
    code, log = deploy(env, V2, "--timeout", "120")
    assert code == 1, log
    assert env.live_view() == before
    assert "exceeded quota" in log and "FailedCreate" in log, log


def _has_hold() -> str | None:
    r = subprocess.run([str(BLUEGREEN), "promote", "--help"], capture_output=True)
    return (
        None if r.returncode == 0 else "`bluegreen promote` does not exist yet (hold/promote/abort land soon)"
    )


HOLD_MISSING = _has_hold()


@pytest.mark.skipif(HOLD_MISSING is not None, reason=str(HOLD_MISSING))
def test_hold_then_promote(env: Env) -> None:
    env.seed_app()
    code, log = deploy(env, V2, "--hold", *SMOKE)
    assert code == 0, log
    assert selector(env)["version"] == "blue", "a held release must not switch"
    r = env.run("promote", "--service", "web")
    assert r.exit_code == 0, r.log
    assert selector(env)["version"] == "green"
    assert served_by(env)["image"] == V2


@pytest.mark.skipif(HOLD_MISSING is not None, reason=str(HOLD_MISSING))
def test_hold_then_abort(env: Env) -> None:
    env.seed_app()
    before = env.live_view()
    code, log = deploy(env, V2, "--hold")
    assert code == 0, log
    r = env.run("abort", "--service", "web")
    assert r.exit_code == 0, r.log
    assert env.live_view() == before
    assert served_by(env)["image"] == V1


def test_kubectl_get_and_rollout_status(env: Env) -> None:
    env.seed_app()
    assert deploy(env, V2)[0] == 0
    kubectl = [str(env.cp.bin_dir / "kubectl"), "--kubeconfig", str(env.deployer_kubeconfig), "-n", env.ns]
    got = subprocess.run([*kubectl, "get", "deployments", "-o", "name"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["deployment.apps/web-blue", "deployment.apps/web-green"]
    rollout = subprocess.run(
        [*kubectl, "rollout", "status", "deployment/web-green", "--timeout=60s"],
        capture_output=True,
        text=True,
    )
    assert rollout.returncode == 0, rollout.stderr
    assert 'deployment "web-green" successfully rolled out' in rollout.stdout


def test_smoke_checks_trust_the_kubeconfig_ca_despite_requests_ca_bundle(env: Env) -> None:
    env.seed_app()
    system_bundle = "/etc/ssl/certs/ca-certificates.crt"
    r = env.run(
        "deploy", "--service", "web", "--image", V2, *SMOKE, extra_env={"REQUESTS_CA_BUNDLE": system_bundle}
    )
    assert r.exit_code == 0, r.log
