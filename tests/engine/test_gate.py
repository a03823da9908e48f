"""The promotion gate end to end on the simulator: deploy --hold, status, promote, abort (issue 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bluegreen import state as st
from bluegreen.lock import lease_name
from bluegreen.sim import SimCluster
from bluegreen.sim.errors import ApiError
from tests.helpers import CliResult, live_view, run_cli, writes

V1, V2, V3 = "registry.example/web:1.0", "registry.example/web:2.0", "registry.example/web:3.0"


def deploy(kubeconfig: Path, image: str, *extra: str) -> CliResult:
    return run_cli(kubeconfig, "deploy", "--service", "web", "--image", image, *extra)


def selector(sim: SimCluster) -> dict[str, str]:
    return dict(sim.get("services", "default", "web")["spec"]["selector"])


def service_annotations(sim: SimCluster) -> dict[str, str]:
    return dict(sim.get("services", "default", "web")["metadata"].get("annotations") or {})


def hold_of(sim: SimCluster) -> dict[str, Any] | None:
    raw = service_annotations(sim).get(st.ANN_HOLD)
    return json.loads(raw) if raw else None


@pytest.fixture
def web(sim: SimCluster) -> SimCluster:
    sim.seed_app(name="web", image=V1, replicas=2, color="blue")
    return sim


@pytest.fixture
def held(web: SimCluster, kubeconfig: Path) -> CliResult:
    r = deploy(kubeconfig, V2, "--hold", "--smoke-path", "/healthz")
    assert r.exit_code == 0, r.log
    return r


def test_hold_stops_before_the_switch(web: SimCluster, kubeconfig: Path) -> None:
    before = selector(web)
    r = deploy(kubeconfig, V2, "--hold", "--smoke-path", "/healthz")
    assert r.exit_code == 0, r.log
    assert r.outputs["RESULT"] == "held"
    assert r.outputs["SWITCHED"] == "false"
    assert r.outputs["ACTIVE_COLOR"] == "blue"
    assert r.outputs["IMAGE"] == V2
    assert selector(web) == before
    green = web.get("deployments", "default", "web-green")
    hold = hold_of(web)
    assert hold is not None
    assert hold["color"] == "green" and hold["image"] == V2
    assert hold["uid"] == green["metadata"]["uid"]
    assert hold["generation"] == green["metadata"]["generation"]
    assert hold["template_hash"] == st.template_hash(green["spec"]["template"])
    assert hold["time"]
    # the lock is given back: a hold may last hours
    lease = web.get("leases", "default", lease_name("web"))
    assert not (lease.get("spec") or {}).get("holderIdentity")


def test_status_shows_the_hold(web: SimCluster, kubeconfig: Path, held: CliResult) -> None:
    r = run_cli(kubeconfig, "status", "--service", "web")
    assert r.exit_code == 0, r.log
    assert "awaiting promotion" in r.stdout + r.stderr
    assert V2 in r.stdout + r.stderr
    j = run_cli(kubeconfig, "status", "--service", "web", "--json")
    assert j.exit_code == 0, j.log
    report = json.loads(j.stdout)["status"]
    assert report["hold"] and report["hold"]["image"] == V2 and report["hold"]["color"] == "green"
    c = run_cli(kubeconfig, "status", "--service", "web", "--check")
    assert c.exit_code == 1, c.log


def test_promote_switches_and_removes_the_hold(web: SimCluster, kubeconfig: Path, held: CliResult) -> None:
    r = run_cli(kubeconfig, "promote", "--service", "web")
    assert r.exit_code == 0, r.log
    assert r.outputs["RESULT"] == "deployed" and r.outputs["SWITCHED"] == "true"
    assert r.outputs["ACTIVE_COLOR"] == "green" and r.outputs["IMAGE"] == V2
    assert selector(web)["version"] == "green"
    ann = service_annotations(web)
    assert st.ANN_HOLD not in ann
    assert ann[st.ANN_ACTIVE_IMAGE] == V2


def test_promote_refuses_a_deployment_changed_after_the_hold(
    web: SimCluster, kubeconfig: Path, held: CliResult
) -> None:
    green = web.get("deployments", "default", "web-green")
    green["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DB", "value": "staging"}]
    web.apply(green)
    before = selector(web)
    r = run_cli(kubeconfig, "promote", "--service", "web")
    assert r.exit_code == 4, r.log
    assert selector(web) == before
    assert r.outputs.get("SWITCHED", "false") == "false"


def test_promote_without_a_hold_exits_2(web: SimCluster, kubeconfig: Path) -> None:
    web.clear_requests()
    r = run_cli(kubeconfig, "promote", "--service", "web")
    assert r.exit_code == 2, r.log
    assert "no held release" in r.log
    assert writes(web) == []


def test_abort_scales_the_held_colour_to_zero(web: SimCluster, kubeconfig: Path, held: CliResult) -> None:
    before = selector(web)
    r = run_cli(kubeconfig, "abort", "--service", "web")
    assert r.exit_code == 0, r.log
    assert r.outputs["RESULT"] == "aborted"
    assert selector(web) == before
    assert web.get("deployments", "default", "web-green")["spec"]["replicas"] == 0
    assert web.get("deployments", "default", "web-blue")["spec"]["replicas"] == 2
    assert st.ANN_HOLD not in service_annotations(web)


def test_abort_delete_removes_the_held_colour(web: SimCluster, kubeconfig: Path, held: CliResult) -> None:
    before = selector(web)
    r = run_cli(kubeconfig, "abort", "--service", "web", "--delete")
    assert r.exit_code == 0, r.log
    with pytest.raises(ApiError):
        web.get("deployments", "default", "web-green")
    assert selector(web) == before
    assert st.ANN_HOLD not in service_annotations(web)


def test_abort_without_a_hold_exits_2(web: SimCluster, kubeconfig: Path) -> None:
    web.clear_requests()
    r = run_cli(kubeconfig, "abort", "--service", "web")
    assert r.exit_code == 2, r.log
    assert writes(web) == []


def test_rollback_while_held_refuses(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    assert deploy(kubeconfig, V3, "--hold").exit_code == 0
    before = live_view(web)
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 2, r.log
    assert "promote" in r.log and "abort" in r.log
    assert live_view(web) == before


def test_a_new_deploy_replaces_the_hold(web: SimCluster, kubeconfig: Path, held: CliResult) -> None:
    r = deploy(kubeconfig, V3, "--hold")
    assert r.exit_code == 0, r.log
    assert "replacing the hold" in r.log and V2 in r.log
    hold = hold_of(web)
    assert hold is not None and hold["image"] == V3
    assert selector(web)["version"] == "blue"


@pytest.mark.parametrize("command", [["promote"], ["abort"], ["abort", "--delete"]])
def test_dry_run_of_promote_and_abort_changes_nothing(
    web: SimCluster, kubeconfig: Path, held: CliResult, command: list[str]
) -> None:
    before = live_view(web)
    n = len(writes(web))
    r = run_cli(kubeconfig, *command, "--service", "web", "--dry-run")
    assert r.exit_code == 0, r.log
    assert len(writes(web)) == n
    assert live_view(web) == before
    assert web.get("deployments", "default", "web-green")["spec"]["replicas"] == 2
