"""Never harm live traffic, whatever runs beside a release (issue 10): each test sets up one of the
situations reproduced there, on the simulator, through the real CLI. Request hooks run in the sim's
request thread before it answers, so what they change is what the answer shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bluegreen.sim import SimCluster
from bluegreen.sim.server import RequestRecord
from tests.helpers import CliResult, live_view, run_cli, writes

V1, V2, V3 = "registry.example/web:1.0", "registry.example/web:2.0", "registry.example/web:3.0"
Obj = dict[str, Any]


def deploy(kubeconfig: Path, image: str, *extra: str) -> CliResult:
    return run_cli(kubeconfig, "deploy", "--service", "web", "--image", image, *extra)


def selector(sim: SimCluster, name: str = "web") -> dict[str, str]:
    return dict(sim.get("services", "default", name)["spec"]["selector"])


def set_colour(sim: SimCluster, colour: str, name: str = "web") -> None:
    svc = sim.get("services", "default", name)
    svc["spec"]["selector"] = {**svc["spec"]["selector"], "version": colour}
    sim.apply(svc)


def exists(sim: SimCluster, name: str) -> bool:
    items, _ = sim.store.list("deployments", "default")
    return any(d["metadata"]["name"] == name for d in items)


def is_smoke_request(rec: RequestRecord) -> bool:
    # the proxy path names the port too: /services/web-preview:http/proxy/...
    return (
        rec.resource == "services"
        and (rec.name or "").split(":")[0] == "web-preview"
        and rec.subresource == "proxy"
    )


def is_switch(rec: RequestRecord, name: str = "web") -> bool:
    return rec.method == "PATCH" and rec.resource == "services" and rec.name == name


@pytest.fixture
def web(sim: SimCluster) -> SimCluster:
    sim.seed_app(name="web", image=V1, replicas=2, color="blue")
    return sim


def edit_deployment(sim: SimCluster, name: str, change: Any) -> None:
    dep = sim.get("deployments", "default", name)
    change(dep)
    sim.apply(dep)
    sim.wait_available("default", name)


# ------------------------------------------------------------------------------ 1. destructive writes


def test_on_failure_delete_spares_a_colour_that_went_live(web: SimCluster, kubeconfig: Path) -> None:
    """Another release switched traffic to green while this one was failing its smoke checks."""
    done: list[bool] = []

    def switch_to_green(rec: RequestRecord) -> None:
        if is_smoke_request(rec) and not done:
            done.append(True)
            set_colour(web, "green")

    web.on_request(switch_to_green)
    r = deploy(
        kubeconfig, "registry.example/web:2.0-smokefail", "--smoke-path", "/x", "--on-failure", "delete"
    )
    assert r.exit_code == 1, r.log
    assert done
    assert exists(web, "web-green"), "the Deployment that the Service selects now must not be deleted"
    assert selector(web)["version"] == "green"
    assert "left alone" in r.log


def test_scale_to_zero_spares_the_old_colour_when_switched_back(web: SimCluster, kubeconfig: Path) -> None:
    """A forced rollback switched back to blue between the verified switch and the scale-down."""
    switched: list[bool] = []
    flipped: list[bool] = []

    def flip_back(rec: RequestRecord) -> None:
        if is_switch(rec) and not switched:
            switched.append(True)
        elif (
            switched
            and not flipped
            and rec.method == "GET"
            and rec.resource == "services"
            and rec.name is None
            and selector(web)["version"] == "green"
        ):
            # the re-read before the scale-down: someone has switched back meanwhile
            flipped.append(True)
            set_colour(web, "blue")

    web.on_request(flip_back)
    r = deploy(kubeconfig, V2, "--after-switch", "scale-to-zero", "--scale-down-delay", "0")
    assert flipped, r.log
    assert web.get("deployments", "default", "web-blue")["spec"]["replicas"] == 2
    assert selector(web)["version"] == "blue"
    assert "web-blue left alone" in r.log
    # The closing line and the outputs say what is true now, not "the new colour is live".
    assert r.exit_code == 0, r.log
    assert "the release was verified live, but deployment.apps/web-blue left alone" in r.log
    assert r.outputs["ACTIVE_COLOR"] == "blue"


# -------------------------------------------------------------------------- 3. verified is what switches


def test_switch_refuses_green_rewritten_after_its_smoke_checks(web: SimCluster, kubeconfig: Path) -> None:
    before = live_view(web)
    done: list[bool] = []

    def rewrite_green(rec: RequestRecord) -> None:
        if is_smoke_request(rec) and not done:
            done.append(True)
            green = web.get("deployments", "default", "web-green")
            green["spec"]["template"]["spec"]["containers"][0]["image"] = V3
            web.apply(green)

    web.on_request(rewrite_green)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 4, r.log
    assert live_view(web) == before
    assert r.outputs["SWITCHED"] == "false"
    assert "pod template was changed" in r.log


# ---------------------------------------------------------------------------------- 4. rollback toggle


def test_a_second_rollback_is_a_noop(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    first = run_cli(kubeconfig, "rollback", "--service", "web")
    assert first.exit_code == 0, first.log
    assert selector(web)["version"] == "blue"
    before = live_view(web)
    n = len(writes(web))
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert r.outputs["SWITCHED"] == "false"
    assert live_view(web) == before
    assert len(writes(web)) == n
    assert "already a rollback" in r.log and V1 in r.log


def test_rollback_to_an_image_of_the_history(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0  # green: 2.0
    assert deploy(kubeconfig, V3).exit_code == 0  # blue: 3.0, green keeps 2.0
    r = run_cli(kubeconfig, "rollback", "--service", "web", "--to", V2)
    assert r.exit_code == 0, r.log
    assert selector(web)["version"] == "green"
    assert r.outputs["IMAGE"] == V2 and r.outputs["SWITCHED"] == "true"


def test_rollback_to_an_image_no_colour_holds_refuses(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    assert deploy(kubeconfig, V3).exit_code == 0  # 1.0 is on no colour any more
    before = live_view(web)
    r = run_cli(kubeconfig, "rollback", "--service", "web", "--to", V1)
    assert r.exit_code == 2, r.log
    assert live_view(web) == before


# ------------------------------------------------------------------------------------ 5. capacity


def test_switch_scales_a_shrunk_green_up_to_the_live_count(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app(name="web", image=V1, replicas=6, color="blue")
    shrunk: list[bool] = []
    ready_at_switch: list[int] = []

    def autoscale(rec: RequestRecord) -> None:
        if is_smoke_request(rec) and not shrunk:
            shrunk.append(True)
            green = sim.get("deployments", "default", "web-green")
            green["spec"]["replicas"] = 1
            sim.apply(green)
        if is_switch(rec) and not ready_at_switch:
            green = sim.get("deployments", "default", "web-green")
            ready_at_switch.append(int((green.get("status") or {}).get("readyReplicas") or 0))

    sim.on_request(autoscale)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 0, r.log
    assert "scaling it to 6 before the switch" in r.log
    assert ready_at_switch == [6]
    assert selector(sim)["version"] == "green"


# ------------------------------------------------------------------------------ 7. other Services


def grpc_service(sim: SimCluster) -> None:
    sim.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-grpc", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "selector": {"app": "web", "version": "blue"},
                "ports": [{"name": "grpc", "port": 9090, "targetPort": 8080, "protocol": "TCP"}],
            },
        }
    )


def test_an_unnamed_service_on_the_live_colour_stops_before_any_write(
    web: SimCluster, kubeconfig: Path
) -> None:
    grpc_service(web)
    web.clear_requests()
    r = deploy(kubeconfig, V2, "--after-switch", "scale-to-zero")
    assert r.exit_code == 2, r.log
    assert "web-grpc" in r.log and "--service" in r.log
    assert writes(web) == []


def test_named_services_switch_together(web: SimCluster, kubeconfig: Path) -> None:
    grpc_service(web)
    r = run_cli(kubeconfig, "deploy", "--service", "web", "--service", "web-grpc", "--image", V2)
    assert r.exit_code == 0, r.log
    assert selector(web)["version"] == "green"
    assert selector(web, "web-grpc")["version"] == "green"


# ------------------------------------------------------------------------------------- 8. GitOps


def test_adoption_refuses_to_overwrite_the_colour_key(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app(name="web", image=V1, replicas=2, color=None)

    def label_v1(dep: Obj) -> None:
        dep["spec"]["template"]["metadata"]["labels"]["version"] = "v1"

    edit_deployment(sim, "web", label_v1)
    sim.clear_requests()
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 2, r.log
    assert "--color-label" in r.log and "v1" in r.log
    assert writes(sim) == []


def test_gitops_tracking_keys_are_not_copied(web: SimCluster, kubeconfig: Path) -> None:
    keys = {
        "argocd.argoproj.io/instance": "web",
        "app.kubernetes.io/instance": "web",
        "helm.sh/chart": "web-1.0.0",
    }

    def track(dep: Obj) -> None:
        dep["metadata"]["labels"].update(keys)

    edit_deployment(web, "web-blue", track)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    green = web.get("deployments", "default", "web-green")
    labels = green["metadata"].get("labels") or {}
    annotations = green["metadata"].get("annotations") or {}
    for key in keys:
        assert key not in labels and key not in annotations
        assert key in r.log


# ------------------------------------------------------------------------------ 9. init containers


def test_init_container_of_the_same_repository_gets_the_new_image(web: SimCluster, kubeconfig: Path) -> None:
    def add_migration(dep: Obj) -> None:
        dep["spec"]["template"]["spec"]["initContainers"] = [
            {"name": "migrate", "image": V1},
            {"name": "wait", "image": "registry.example/busybox:1.36"},
        ]

    edit_deployment(web, "web-blue", add_migration)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    inits = {
        c["name"]: c["image"]
        for c in web.get("deployments", "default", "web-green")["spec"]["template"]["spec"]["initContainers"]
    }
    assert inits == {"migrate": V2, "wait": "registry.example/busybox:1.36"}
    assert "migrate" in r.log


# -------------------------------------------------------------------------------------- 10. quota


def test_a_quota_that_cannot_fit_green_stops_before_any_deployment_write(
    web: SimCluster, kubeconfig: Path
) -> None:
    web.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "team-quota", "namespace": "default"},
            "spec": {"hard": {"pods": "3"}},
            "status": {"hard": {"pods": "3"}, "used": {"pods": "2"}},
        }
    )
    web.wait_idle()
    before = live_view(web)
    web.clear_requests()
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 1, r.log
    assert "resourcequota/team-quota" in r.log
    assert not [q for q in writes(web) if q.resource == "deployments"]
    assert not exists(web, "web-green")
    assert live_view(web) == before
    assert r.outputs["RESULT"] == "failed" and r.outputs["SWITCHED"] == "false"


def test_a_cancel_that_lands_during_the_switch_request_switches_back_and_says_so(
    sim: SimCluster, kubeconfig: Path
) -> None:
    """Issue 10.11: the job is cancelled while the switch request is in flight. The switch lands; the run
    reads the Service back, switches back and exits 3 ("switched back"), never 1 ("live untouched")."""
    import _thread

    sim.seed_app(name="web", image=V1, replicas=2, color="blue")
    before = live_view(sim)
    fired: list[bool] = []

    def cancel_during_switch(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == "web" and not fired:
            fired.append(True)
            _thread.interrupt_main()  # delivered to the CLI's thread as soon as it runs Python again

    sim.on_request(cancel_during_switch)
    r = run_cli(kubeconfig, "deploy", "--service", "web", "--image", V2)
    assert fired
    assert r.exit_code == 3, r.log
    assert "traffic is back on blue" in r.log
    assert live_view(sim) == before
    assert r.outputs["SWITCHED"] == "false" and r.outputs["ACTIVE_COLOR"] == "blue"
