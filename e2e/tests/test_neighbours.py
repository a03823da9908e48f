"""Never harm live traffic, whatever runs beside a release (issue 10), on the real control plane: the
real-lane versions of tests/safety/test_neighbours.py, run by the deployer account of deploy/rbac.yaml."""

from __future__ import annotations

import os
import signal
import subprocess

from conftest import BLUEGREEN, CA_BUNDLE_VARIABLES, Env, Obj
from test_release import V1, V2, deploy, selector, served_by


def exists(env: Env, name: str) -> bool:
    r = env.admin.get(env.path("deployments", name, "apps/v1"), timeout=10)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def grpc_service(env: Env) -> None:
    env.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-grpc", "labels": {"app": "web"}},
            "spec": {
                "selector": {"app": "web", "version": "blue"},
                "ports": [{"name": "grpc", "port": 9090, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
    )


# ------------------------------------------------------------------------------ 7. other Services


def test_an_unnamed_service_on_the_live_colour_stops_before_any_write(env: Env) -> None:
    env.seed_app()
    grpc_service(env)
    before, grpc_before = env.live_view(), env.live_view("web-grpc")
    code, log = deploy(env, V2, "--after-switch", "scale-to-zero")
    assert code == 2, log
    assert "web-grpc" in log and "--service" in log, log
    assert not exists(env, "web-green")
    assert env.live_view() == before
    assert env.live_view("web-grpc") == grpc_before
    assert env.get("deployments", "web-blue", "apps/v1")["spec"]["replicas"] == 2


def test_named_services_switch_together(env: Env) -> None:
    env.seed_app()
    grpc_service(env)
    r = env.run("deploy", "--service", "web", "--service", "web-grpc", "--image", V2)
    assert r.exit_code == 0, r.log
    assert selector(env)["version"] == "green"
    assert selector(env, "web-grpc")["version"] == "green"
    assert served_by(env)["image"] == V2


# ---------------------------------------------------------------------------------- 4. rollback toggle


def test_a_second_rollback_is_a_noop(env: Env) -> None:
    env.seed_app()
    code, log = deploy(env, V2)
    assert code == 0, log
    first = env.run("rollback", "--service", "web")
    assert first.exit_code == 0, first.log
    assert selector(env)["version"] == "blue"
    before = env.live_view()
    r = env.run("rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert r.outputs["SWITCHED"] == "false"
    assert env.live_view() == before
    assert "already a rollback" in r.log and V1 in r.log
    assert served_by(env)["image"] == V1


# ------------------------------------------------------------------------------ 1. destructive writes


def test_scale_to_zero_spares_the_old_colour_when_switched_back(env: Env) -> None:
    """A forced rollback switches back to blue between the verified switch and the scale-down. The CLI
    says when it starts its --scale-down-delay; the test stops it there (SIGSTOP), switches back as the
    admin and lets it go on, so the switch-back lands before the re-read: the delay (3s) only has to cover
    reading one line from a pipe and sending a signal."""
    env.seed_app()
    cli_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "BLUEGREEN_")) and k not in CA_BUNDLE_VARIABLES
    }
    args = ["deploy", "--service", "web", "--image", V2, "--after-switch", "scale-to-zero"]
    proc = subprocess.Popen(
        [str(BLUEGREEN), *args, "--scale-down-delay", "3", "--namespace", env.ns]
        + ["--kubeconfig", str(env.deployer_kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    assert proc.stderr is not None
    log: list[str] = []
    rest = ""
    flipped = False
    try:
        for line in proc.stderr:  # EOF when the CLI exits, so this ends even if the line never comes
            log.append(line)
            if "(--scale-down-delay)" in line:
                proc.send_signal(signal.SIGSTOP)
                try:
                    assert selector(env)["version"] == "green", "".join(log)
                    env.patch("services", "web", {"spec": {"selector": {"version": "blue"}}})
                    flipped = True
                finally:
                    proc.send_signal(signal.SIGCONT)
                break
        _, rest = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(log) + rest
    assert flipped, text
    assert selector(env)["version"] == "blue", text
    assert env.get("deployments", "web-blue", "apps/v1")["spec"]["replicas"] == 2, text
    assert "web-blue left alone" in text, text
    assert "the release was verified live, but" in text, text
    assert served_by(env)["image"] == V1
    assert proc.returncode == 0, text  # green was verified live; only the clean-up stood back


# -------------------------------------------------------------------------- 3. verified is what switches


def test_promote_refuses_green_rewritten_while_held(env: Env) -> None:
    env.seed_app()
    code, log = deploy(env, V2, "--hold")
    assert code == 0, log
    assert selector(env)["version"] == "blue"
    before = env.live_view()
    # The admin changes the held colour after its smoke checks: what was verified is no longer what runs.
    env.patch(
        "deployments",
        "web-green",
        [
            {
                "op": "add",
                "path": "/spec/template/spec/containers/0/env",
                "value": [{"name": "FEATURE_X", "value": "on"}],
            }
        ],
        kind="json",
        group="apps/v1",
    )
    r = env.run("promote", "--service", "web")
    assert r.exit_code == 4, r.log
    assert env.live_view() == before
    assert r.outputs.get("SWITCHED") == "false", r.outputs
    assert served_by(env)["image"] == V1


# ------------------------------------------------------------------------------------- 8. GitOps


def test_gitops_tracking_keys_are_not_copied(env: Env) -> None:
    env.seed_app()
    keys = {"argocd.argoproj.io/instance": "web", "app.kubernetes.io/instance": "web"}
    env.patch("deployments", "web-blue", {"metadata": {"labels": keys}}, group="apps/v1")
    code, log = deploy(env, V2)
    assert code == 0, log
    green: Obj = env.get("deployments", "web-green", "apps/v1")
    labels = green["metadata"].get("labels") or {}
    annotations = green["metadata"].get("annotations") or {}
    template_labels = green["spec"]["template"]["metadata"].get("labels") or {}
    for key in keys:
        assert key not in labels and key not in annotations and key not in template_labels
        assert key in log, log
    assert selector(env)["version"] == "green"
