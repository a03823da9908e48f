"""kill -9 between two steps of a release: a re-run continues, and traffic never goes to unready pods.

The release runs as a real process. An on_request hook SIGKILLs it when its Nth step's request arrives
and drops that request (the process is gone before the request is handled). Then the Lease is aged past
its duration (tests do not wait 10 s), and deploy (same image), status and rollback run again.
Throughout, at every request the simulated cluster sees, the live Service must select a colour whose pods
are all ready.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bluegreen.sim import RequestRecord, SimCluster
from tests.helpers import run_cli
from tests.safety import NS, V1, V2, WEB, expire_lease, lease_holder, live_pods, pod_ready

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Step:
    method: str
    path: str
    verb: str | None = None
    nth: int = 0
    switched: bool = False  # the killed run had already switched the live Service


STEPS = {
    "lease-create": Step("POST", r"/leases$"),
    "create-green": Step("POST", r"/deployments$"),
    "watch-green-pods": Step("GET", r"/pods$", verb="watch"),
    "create-preview": Step("POST", r"/services$"),
    "smoke-preview": Step("GET", r"/services/web-preview(:|%3A)http/proxy/"),
    "switch": Step("PATCH", r"/services/web$"),
    # The live Service's endpoints are watched from before the switch (opened with the last re-read).
    "open-live-endpoints": Step("GET", r"/endpointslices$", verb="list", nth=1),
    "verify-smoke": Step("GET", r"/services/web(:|%3A)http/proxy/", switched=True),
    "scale-old-to-zero": Step("PATCH", r"/deployments/web-blue$", switched=True),
    "lease-release": Step("PATCH", r"/leases/bluegreen-web$", switched=True),
}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BLUEGREEN_"))}
    e["BLUEGREEN_RETRY_BASE_SECONDS"] = "0.001"
    e["BLUEGREEN_SCALE_DOWN_DELAY"] = "0"  # the drain is real time; the steps around it are what is tested
    e["PYTHONPATH"] = str(ROOT)
    return e


def watch_invariant(sim: SimCluster) -> list[str]:
    """At every request: the live Service selects a colour and every pod it selects is ready."""
    violations: list[str] = []

    def check(rec: RequestRecord) -> None:
        selector, pods = live_pods(sim)
        if selector.get("version") not in ("blue", "green"):
            violations.append(f"before {rec.method} {rec.path}: live selector {selector}")
        elif not pods or not all(pod_ready(p) for p in pods):
            violations.append(
                f"before {rec.method} {rec.path}: live {selector} selects "
                f"{[(p['metadata']['name'], pod_ready(p)) for p in pods]}"
            )

    sim.on_request(check)
    return violations


def kill_at(sim: SimCluster, step: Step, proc: list[subprocess.Popen[str]]) -> list[RequestRecord]:
    """SIGKILL the release process when the step's request arrives, and drop that request."""
    rx = re.compile(step.path)
    seen: list[RequestRecord] = []
    killed: list[RequestRecord] = []

    def hook(rec: RequestRecord) -> None:
        if killed or not proc or rec.method != step.method or not rx.search(rec.path):
            return
        if step.verb and rec.verb != step.verb:
            return
        seen.append(rec)
        if len(seen) == step.nth + 1:
            killed.append(rec)
            # faults fire after hooks: this very request now fails, as the process died before it landed
            sim.faults.add(method=rec.method, path=re.escape(rec.path) + "$", drop=True, count=1)
            os.kill(proc[0].pid, signal.SIGKILL)

    sim.on_request(hook)
    return killed


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_9_at_each_step_then_rerun(sim: SimCluster, kubeconfig: Path, step: str) -> None:
    sim.seed_app()
    violations = watch_invariant(sim)
    proc: list[subprocess.Popen[str]] = []
    killed = kill_at(sim, STEPS[step], proc)
    proc.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bluegreen",
                "deploy",
                "--service",
                WEB,
                "--image",
                V2,
                "--smoke-path",
                "/healthz",
                "--after-switch",
                "scale-to-zero",
                "--lock-duration",
                "10",
                "--kubeconfig",
                str(kubeconfig),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
    )
    _out, err = proc[0].communicate(timeout=60)
    assert killed, f"the run ended before {step}: exit {proc[0].returncode}\n{err}"
    assert proc[0].returncode == -signal.SIGKILL
    sim.wait_idle()
    switched = sim.get("services", NS, WEB)["spec"]["selector"]["version"] == "green"
    assert switched == STEPS[step].switched

    # The dead run's lock blocks a new release until it expires (no one waits here: age it). After the
    # switch there is nothing left to release: the re-run says so without taking the lock.
    if lease_holder(sim) and not switched:
        blocked = run_cli(kubeconfig, "deploy", "--service", WEB, "--image", V2)
        assert blocked.exit_code == 4, blocked.log
        assert "unless it renews" in blocked.log
        status = run_cli(kubeconfig, "status", "--service", WEB)
        assert status.exit_code == 0 and "a release is in progress" in status.stdout
    if lease_holder(sim):
        expire_lease(sim)

    again = run_cli(
        kubeconfig,
        "deploy",
        "--service",
        WEB,
        "--image",
        V2,
        "--smoke-path",
        "/healthz",
        "--after-switch",
        "scale-to-zero",
    )
    assert again.exit_code == 0, again.log
    assert again.outputs["RESULT"] in ("deployed", "unchanged")
    svc = sim.get("services", NS, WEB)
    assert svc["spec"]["selector"]["version"] == "green"
    assert svc["metadata"]["annotations"]["bluegreen.dev/active-image"] == V2

    # status shows no live holder (an expired one is history, not a lock)
    status = run_cli(kubeconfig, "status", "--service", WEB)
    assert status.exit_code == 0, status.log
    assert "live colour green" in status.stdout and "lock:" not in status.stdout

    back = run_cli(kubeconfig, "rollback", "--service", WEB)
    assert back.exit_code == 0, back.log
    svc = sim.get("services", NS, WEB)
    assert svc["spec"]["selector"]["version"] == "blue"
    assert svc["metadata"]["annotations"]["bluegreen.dev/active-image"] == V1
    sim.wait_idle()
    assert violations == []


def test_rerun_after_a_crash_past_the_switch_finishes_the_release(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    proc: list[subprocess.Popen[str]] = []
    killed = kill_at(sim, STEPS["scale-old-to-zero"], proc)
    proc.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bluegreen",
                "deploy",
                "--service",
                WEB,
                "--image",
                V2,
                "--after-switch",
                "scale-to-zero",
                "--lock-duration",
                "10",
                "--kubeconfig",
                str(kubeconfig),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
    )
    proc[0].communicate(timeout=60)
    assert killed
    expire_lease(sim)
    again = run_cli(kubeconfig, "deploy", "--service", WEB, "--image", V2, "--after-switch", "scale-to-zero")
    assert again.exit_code == 0, again.log
    assert sim.get("deployments", NS, "web-blue")["spec"]["replicas"] == 0, again.log
