"""The release lock (Lease bluegreen-<service>): one release at a time, and never a lock that outlives its run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bluegreen.lock import holder_identity
from bluegreen.sim import RequestRecord, SimCluster
from tests.helpers import CliResult, live_view, run_cli
from tests.safety import NS, V2, V3, WEB, assert_live_serves_ready, lease_holder

OTHER = "github:shop/web/actions/runs/4242#1"


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hold_lease(sim: SimCluster, *, holder: str = OTHER, age: float = 1.0, duration: int = 60) -> str:
    """A Lease as another run holds it; returns its acquireTime."""
    acquired = stamp(datetime.now(UTC) - timedelta(seconds=age + 5))
    sim.apply(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": f"bluegreen-{WEB}", "namespace": NS},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration,
                "acquireTime": acquired,
                "renewTime": stamp(datetime.now(UTC) - timedelta(seconds=age)),
                "leaseTransitions": 3,
            },
        }
    )
    return acquired


def deploy(kubeconfig: Path, image: str, *extra: str) -> CliResult:
    return run_cli(kubeconfig, "deploy", "--service", WEB, "--image", image, *extra)


def test_held_lease_blocks_a_second_run_and_names_holder_and_since(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    since = hold_lease(sim)
    before = live_view(sim)
    sim.clear_requests()
    result = deploy(kubeconfig, V2)
    assert result.exit_code == 4, result.log
    assert OTHER in result.log and since in result.log
    assert "--force-unlock" in result.log
    assert live_view(sim) == before
    assert [r for r in sim.write_requests() if r.resource != "leases"] == []
    assert lease_holder(sim) == OTHER, "the blocked run must not touch the other run's lock"
    rb = run_cli(kubeconfig, "rollback", "--service", WEB)
    assert rb.exit_code in (2, 4)  # nothing to roll back is checked first; either way no write
    status = run_cli(kubeconfig, "status", "--service", WEB)
    assert status.exit_code == 0 and OTHER in status.stdout


def test_expired_lease_is_taken_over(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    hold_lease(sim, age=61, duration=60)  # its holder stopped renewing more than leaseDurationSeconds ago
    result = deploy(kubeconfig, V2)
    assert result.exit_code == 0, result.log
    assert "--force-unlock" not in result.log
    lease = sim.get("leases", NS, f"bluegreen-{WEB}")
    assert lease["spec"]["holderIdentity"] in (None, "")
    assert lease["spec"]["leaseTransitions"] >= 4, "taking a lease over counts as a transition"
    assert assert_live_serves_ready(sim)["version"] == "green"


def test_force_unlock_takes_a_held_lease_and_says_whom_it_overrode(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    hold_lease(sim)
    result = deploy(kubeconfig, V2, "--force-unlock")
    assert result.exit_code == 0, result.log
    warning = next(line for line in result.log.splitlines() if "--force-unlock" in line)
    assert OTHER in warning
    assert not lease_holder(sim)


def test_lease_released_after_success_and_after_failure(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    ok = deploy(kubeconfig, V2, "--lock-duration", "600")
    assert ok.exit_code == 0, ok.log
    assert not lease_holder(sim)
    failed = deploy(kubeconfig, "registry.example/web:3.0-crashloop", "--lock-duration", "600")
    assert failed.exit_code == 1, failed.log
    assert not lease_holder(sim)
    smoke = deploy(kubeconfig, "registry.example/web:3.0-smokefail", "--smoke-path", "/")
    assert smoke.exit_code == 1, smoke.log
    assert not lease_holder(sim)
    # ...so the next run starts at once, with a 600 s lock that nobody waits out.
    nxt = deploy(kubeconfig, V3)
    assert nxt.exit_code == 0, nxt.log


def test_lease_released_after_switch_back(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    # smokefail answers /healthz (the preview gate passes) but 500 on "/" after the switch... both checks
    # run on both sides, so make only the live side fail: the app breaks once traffic moved.
    broken: list[bool] = []

    def break_after_switch(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == WEB and not broken:
            broken.append(True)
            sim.faults.add(method="GET", path=r"/services/web(:|%3A)http/proxy/", status=502, count=None)

    sim.on_request(break_after_switch)
    result = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert result.exit_code == 3, result.log
    assert not lease_holder(sim)
    assert assert_live_serves_ready(sim)["version"] == "blue"


def test_two_concurrent_deploys_at_most_one_switches(sim: SimCluster, kubeconfig: Path) -> None:
    """A second deploy (another process) starts while the first waits for its new colour: it is turned away."""
    sim.seed_app()
    second: list[subprocess.CompletedProcess[str]] = []

    def start_second(rec: RequestRecord) -> None:
        # The first run holds the lease and is creating its new colour (a request it waits for): run a
        # whole second deploy now, to its end.
        if rec.method == "POST" and rec.resource == "deployments" and not second:
            second.append(
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bluegreen",
                        "deploy",
                        "--service",
                        WEB,
                        "--image",
                        V3,
                        "--kubeconfig",
                        str(kubeconfig),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=subprocess_env(),
                )
            )

    sim.on_request(start_second)
    mark = len(sim.requests)
    first = deploy(kubeconfig, V2)
    assert second, "the second run never started"
    other = second[0]
    assert first.exit_code == 0, first.log
    assert other.returncode == 4, other.stderr
    assert "is held by" in other.stderr
    switches = [
        r for r in sim.requests[mark:] if r.method == "PATCH" and r.resource == "services" and r.name == WEB
    ]
    assert len(switches) == 1
    assert assert_live_serves_ready(sim)["version"] == "green"
    assert sim.get("services", NS, WEB)["metadata"]["annotations"]["bluegreen.dev/active-image"] == V2
    assert not lease_holder(sim)


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BLUEGREEN_"))}
    env["BLUEGREEN_RETRY_BASE_SECONDS"] = "0.001"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_two_jobs_of_one_workflow_run_do_not_share_the_lock(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    job = {"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "shop/web"}
    hold_lease(sim, holder=holder_identity({**job, "GITHUB_JOB": "deploy-eu"}))
    result = run_cli(
        kubeconfig, "deploy", "--service", WEB, "--image", V2, env={**job, "GITHUB_JOB": "deploy-us"}
    )
    assert result.exit_code == 4, result.log


def test_racing_for_a_free_lease_only_one_wins(sim: SimCluster, kubeconfig: Path) -> None:
    """Both runs read 'no Lease'; the create of one lands first: the other must see 409 and back off."""
    sim.seed_app()
    raced: list[str] = []

    def create_it_first(rec: RequestRecord) -> None:
        if rec.method == "POST" and rec.resource == "leases" and not raced:
            raced.append("x")
            hold_lease(sim, age=0)

    sim.on_request(create_it_first)
    before = live_view(sim)
    result = deploy(kubeconfig, V2)
    assert result.exit_code == 4, result.log
    assert OTHER in result.log
    assert live_view(sim) == before
    assert lease_holder(sim) == OTHER
