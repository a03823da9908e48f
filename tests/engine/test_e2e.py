"""End-to-end releases against the simulated cluster, through the real CLI and the official client."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from bluegreen import state as st
from bluegreen.log import StepLog
from bluegreen.sim import RequestRecord, SimCluster
from bluegreen.sim.clock import FakeClock
from bluegreen.sim.errors import ApiError
from bluegreen.smoke import HttpTarget, SmokeCheck, SmokeResult
from tests.helpers import CliResult, live_view, run_cli

V1, V2, V3 = "registry.example/web:1.0", "registry.example/web:2.0", "registry.example/web:3.0"


def deploy(kubeconfig: Path, image: str, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(kubeconfig, "deploy", "--service", "web", "--image", image, *extra, env=env)


def selector(sim: SimCluster) -> dict[str, str]:
    return dict(sim.get("services", "default", "web")["spec"]["selector"])


def service_annotations(sim: SimCluster) -> dict[str, str]:
    return dict(sim.get("services", "default", "web")["metadata"].get("annotations") or {})


def endpoint_pods(sim: SimCluster, service: str = "web") -> set[str]:
    items, _ = sim.store.list(
        "endpointslices", "default", label_selector=f"kubernetes.io/service-name={service}"
    )
    return {
        ep["targetRef"]["name"]
        for s in items
        for ep in s.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready") is not False
    }


def pods_of(sim: SimCluster, color: str) -> set[str]:
    items, _ = sim.store.list("pods", "default", label_selector=f"app=web,version={color}")
    return {p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")}


@pytest.fixture
def web(sim: SimCluster) -> SimCluster:
    sim.seed_app(name="web", image=V1, replicas=2, color="blue")
    return sim


def test_first_release_switches_blue_to_green(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz", "--smoke-path", "/")
    assert r.exit_code == 0, r.log
    assert selector(web) == {"app": "web", "version": "green"}
    green = web.get("deployments", "default", "web-green")
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == V2
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", "version": "green"}
    assert green["metadata"]["labels"][st.MANAGED_BY_KEY] == st.MANAGED_BY
    web.wait_idle()
    assert endpoint_pods(web) == pods_of(web, "green") and len(pods_of(web, "green")) == 2
    # blue stays on standby, untouched, for an instant rollback
    assert web.get("deployments", "default", "web-blue")["spec"]["replicas"] == 2
    ann = service_annotations(web)
    assert ann[st.ANN_ACTIVE_COLOR] == "green" and ann[st.ANN_ACTIVE_IMAGE] == V2
    assert ann[st.ANN_PREVIOUS_COLOR] == "blue" and ann[st.ANN_PREVIOUS_IMAGE] == V1
    assert json.loads(ann[st.ANN_HISTORY])[0]["image"] == V2
    assert r.outputs == {
        "ACTIVE_COLOR": "green",
        "PREVIOUS_COLOR": "blue",
        "IMAGE": V2,
        "PREVIOUS_IMAGE": V1,
        "ACTIVE_DEPLOYMENT": "web-green",
        "PREVIOUS_DEPLOYMENT": "web-blue",
        "SWITCHED": "true",
        "RESULT": "deployed",
    }
    preview = web.get("services", "default", "web-preview")
    assert preview["spec"]["selector"] == {"app": "web", "version": "green"}
    assert "smoke GET /healthz -> 200" in r.log
    assert "deployment.apps/web-green" in r.log


def test_second_release_reuses_the_idle_deployment(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    uid = web.get("deployments", "default", "web-blue")["metadata"]["uid"]
    r = deploy(kubeconfig, V3, "--smoke-path", "/healthz")
    assert r.exit_code == 0, r.log
    assert selector(web)["version"] == "blue"
    blue = web.get("deployments", "default", "web-blue")
    assert blue["metadata"]["uid"] == uid, "blue must be updated in place, not recreated"
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == V3
    assert r.outputs["PREVIOUS_COLOR"] == "green" and r.outputs["PREVIOUS_IMAGE"] == V2
    assert [h["image"] for h in json.loads(service_annotations(web)[st.ANN_HISTORY])] == [V3, V2]


def test_rerun_of_a_live_image_changes_nothing(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    before = live_view(web)
    web.clear_requests()
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    assert r.outputs["RESULT"] == "unchanged" and r.outputs["ACTIVE_COLOR"] == "green"
    assert live_view(web) == before
    assert web.write_requests() == []


def test_rollback_is_one_switch_back(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    web.clear_requests()
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert selector(web)["version"] == "blue"
    web.wait_idle()
    assert endpoint_pods(web) == pods_of(web, "blue")
    assert (
        r.outputs["RESULT"] == "rolled-back"
        and r.outputs["IMAGE"] == V1
        and r.outputs["PREVIOUS_IMAGE"] == V2
    )
    patches = [q for q in web.write_requests() if q.resource == "services"]
    assert len(patches) == 1 and patches[0].method == "PATCH"
    # no Deployment was touched: blue was on standby
    assert not [q for q in web.write_requests() if q.resource == "deployments"]
    history = json.loads(service_annotations(web)[st.ANN_HISTORY])
    assert history[0]["action"] == "rollback" and history[0]["color"] == "blue"


def test_rollback_from_scale_to_zero_scales_up_first(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, V2, "--after-switch", "scale-to-zero")
    assert r.exit_code == 0, r.log
    web.wait_idle()
    assert web.get("deployments", "default", "web-blue")["spec"]["replicas"] == 0
    assert service_annotations(web)[st.ANN_PREVIOUS_REPLICAS] == "2"
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert web.get("deployments", "default", "web-blue")["spec"]["replicas"] == 2
    assert selector(web)["version"] == "blue"
    web.wait_idle()
    assert endpoint_pods(web) == pods_of(web, "blue") and len(pods_of(web, "blue")) == 2


def test_after_switch_delete_then_rollback_refuses(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, V2, "--after-switch", "delete")
    assert r.exit_code == 0, r.log
    with pytest.raises(ApiError):
        web.get("deployments", "default", "web-blue")
    before = live_view(web)
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 2
    assert "no Deployment any more" in r.log and V1 in r.log
    assert live_view(web) == before


def test_rollback_with_nothing_recorded_exits_2(web: SimCluster, kubeconfig: Path) -> None:
    web.clear_requests()
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 2
    assert "nothing to roll back" in r.log
    assert web.write_requests() == []


def test_rollback_refuses_when_previous_colour_runs_a_failed_release(
    web: SimCluster, kubeconfig: Path
) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    failed = deploy(kubeconfig, "registry.example/web:3.0-smokefail", "--smoke-path", "/api")
    assert failed.exit_code == 1
    before = live_view(web)
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 2, r.log
    assert "failed before its switch" in r.log and f"--image {V1}" in r.log
    assert live_view(web) == before


def test_adoption_of_an_uncoloured_app(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app(name="web", image=V1, replicas=2, color=None)
    original = sim.get("deployments", "default", "web")
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 0, r.log
    assert selector(sim) == {"app": "web", "version": "green"}
    blue = sim.get("deployments", "default", "web-blue")
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == V1
    # the original Deployment is never modified (its selector is immutable) and is named in the log
    after = sim.get("deployments", "default", "web")
    assert after["metadata"]["generation"] == original["metadata"]["generation"]
    assert after["spec"] == original["spec"]
    assert "deployment.apps/web no longer receives traffic" in r.log
    history = json.loads(service_annotations(sim)[st.ANN_HISTORY])
    assert [h["action"] for h in history] == ["deploy", "adopt"]
    # rollback works as usual after adoption: back to the blue copy of the original image
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert selector(sim) == {"app": "web", "version": "blue"}
    sim.wait_idle()
    assert endpoint_pods(sim) == pods_of(sim, "blue")


def test_adoption_never_lets_new_pods_exist_before_the_colour_key(sim: SimCluster, kubeconfig: Path) -> None:
    """While the selector is `app: web`, every `app: web` pod is live: green may only appear afterwards."""
    sim.seed_app(name="web", image=V1, replicas=1, color=None)
    seen: list[str] = []

    def check(rec: RequestRecord) -> None:
        if rec.method == "POST" and rec.resource == "deployments":
            seen.append(",".join(f"{k}={v}" for k, v in sorted(selector(sim).items())))

    sim.on_request(check)
    assert deploy(kubeconfig, V2).exit_code == 0
    # first create (blue copy) while uncoloured; the green create only once the Service selects version=blue
    assert seen == ["app=web", "app=web,version=blue"]


@pytest.mark.parametrize(
    "image, reason",
    [
        ("registry.example/web:2.0-pullfail", "ImagePullBackOff|ErrImagePull"),
        ("registry.example/web:2.0-crashloop", "CrashLoopBackOff"),
    ],
)
def test_green_that_cannot_start_fails_fast_and_leaves_live_alone(
    web: SimCluster, kubeconfig: Path, image: str, reason: str
) -> None:
    before = live_view(web)
    r = deploy(kubeconfig, image, "--timeout", "60")
    assert r.exit_code == 1, r.log
    assert any(x in r.log for x in reason.split("|"))
    assert live_view(web) == before
    assert (
        r.outputs["ACTIVE_COLOR"] == "blue"
        and r.outputs["SWITCHED"] == "false"
        and r.outputs["RESULT"] == "failed"
    )
    # --on-failure keep (default): the failed green stays for debugging
    assert web.get("deployments", "default", "web-green")


def test_crashloop_failure_shows_the_containers_last_log_lines(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, "registry.example/web:2.0-crashloop")
    assert r.exit_code == 1
    assert "last log lines of pod/web-green-" in r.log


def test_never_ready_green_fails_on_the_progress_deadline(kubeconfig_fake: tuple[SimCluster, Path]) -> None:
    sim, kubeconfig = kubeconfig_fake
    sim.seed_app(name="web", image=V1, replicas=2, color="blue")
    before = live_view(sim)
    clock = sim.clock
    assert isinstance(clock, FakeClock)

    def advance_once_watching(rec: RequestRecord) -> None:
        # When the engine starts watching green's rollout, jump past the progress deadline.
        if rec.resource == "deployments" and "watch" in rec.query and "web-green" in rec.query:
            sim.wait_idle()  # the controller must have seen green (and set its deadline timer) first
            clock.advance(601)

    sim.on_request(advance_once_watching)
    r = run_cli(kubeconfig, "deploy", "--service", "web", "--image", "registry.example/web:2.0-never-ready")
    assert r.exit_code == 1, r.log
    assert "exceeded its progress deadline" in r.log
    assert live_view(sim) == before


def test_on_failure_delete_removes_the_failed_colour(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(
        kubeconfig, "registry.example/web:2.0-smokefail", "--smoke-path", "/x", "--on-failure", "delete"
    )
    assert r.exit_code == 1
    with pytest.raises(ApiError):
        web.get("deployments", "default", "web-green")


def test_smoke_failure_leaves_live_untouched(web: SimCluster, kubeconfig: Path) -> None:
    before = live_view(web)
    r = deploy(
        kubeconfig,
        "registry.example/web:2.0-smokefail",
        "--smoke-path",
        "/healthz",
        "--smoke-path",
        "/orders",
    )
    assert r.exit_code == 1
    assert "1 of 2 smoke checks failed" in r.log and "got 500" in r.log
    assert live_view(web) == before
    assert not [q for q in web.write_requests() if q.resource == "services" and q.name == "web"]


def test_smoke_file_and_command_run_against_the_preview(
    web: SimCluster, kubeconfig: Path, tmp_path: Path
) -> None:
    smoke = tmp_path / "smoke.yaml"
    smoke.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "version",
                    "path": "/info",
                    "status": 200,
                    "json": {"version": "2.0", "color": "green"},
                }
            ]
        )
    )
    out = tmp_path / "cmd.out"
    cmd = (
        f'curl -sf "$BLUEGREEN_PREVIEW_URL/hello" > {out} || python3 -c "import os,urllib.request;'
        f"open('{out}','wb').write(urllib.request.urlopen(os.environ['BLUEGREEN_PREVIEW_URL']+'/hello').read())\""
    )
    r = deploy(kubeconfig, V2, "--smoke-file", str(smoke), "--smoke-command", cmd)
    assert r.exit_code == 0, r.log
    body = json.loads(out.read_text())
    assert body["version"] == "2.0" and body["path"] == "/hello"
    assert "Bearer" not in out.read_text()


def test_smoke_command_failure_stops_the_release(web: SimCluster, kubeconfig: Path) -> None:
    before = live_view(web)
    r = deploy(kubeconfig, V2, "--smoke-command", "echo checking; exit 3")
    assert r.exit_code == 1
    assert "smoke-command | checking" in r.log
    assert live_view(web) == before


def test_no_smoke_tests_says_so(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0
    assert "no smoke tests configured" in r.log


def test_concurrent_change_just_before_the_switch_exits_4(web: SimCluster, kubeconfig: Path) -> None:
    def meddle(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == "web":
            svc = web.get("services", "default", "web")
            svc["metadata"].setdefault("annotations", {})["team"] = "someone-else"
            web.apply(svc)

    web.on_request(meddle)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 4, r.log
    assert "changed by someone else" in r.log
    assert selector(web)["version"] == "blue"
    assert service_annotations(web) == {"team": "someone-else"}
    assert r.outputs["SWITCHED"] == "false" and r.outputs["ACTIVE_COLOR"] == "blue"


def test_failed_verification_after_the_switch_switches_back(web: SimCluster, kubeconfig: Path) -> None:
    before = live_view(web)
    armed: list[bool] = []

    def break_live_after_switch(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == "web" and not armed:
            armed.append(True)
            web.faults.add(path=r"/services/web:[^/]*/proxy", status=500, count=None)

    web.on_request(break_live_after_switch)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 3, r.log
    assert "traffic is back on blue" in r.log
    assert live_view(web) == before
    assert r.outputs["ACTIVE_COLOR"] == "blue" and r.outputs["SWITCHED"] == "false"


def test_dry_run_prints_the_plan_and_changes_nothing(web: SimCluster, kubeconfig: Path) -> None:
    web.clear_requests()
    r = deploy(kubeconfig, V2, "--dry-run")
    assert r.exit_code == 0, r.log
    assert "dry-run: create deployment.apps/web-green" in r.log
    assert "switch service/web: version blue -> green" in r.log
    assert web.write_requests() == []
    assert r.outputs["RESULT"] == "dry-run"


def test_manifest_builds_green_from_the_file(web: SimCluster, kubeconfig: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web", "tier": "front"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "placeholder",
                                    "env": [{"name": "MODE", "value": "new"}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    )
    r = deploy(kubeconfig, V2, "--manifest", str(manifest))
    assert r.exit_code == 0, r.log
    green = web.get("deployments", "default", "web-green")
    assert green["spec"]["replicas"] == 3
    c = green["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == V2 and c["env"] == [{"name": "MODE", "value": "new"}]
    assert green["spec"]["template"]["metadata"]["labels"] == {
        "app": "web",
        "tier": "front",
        "version": "green",
    }


def test_status_reports_colours_and_history(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2).exit_code == 0
    r = run_cli(kubeconfig, "status", "--service", "web")
    assert r.exit_code == 0
    assert "live colour green" in r.stdout
    assert "deployment.apps/web-blue" in r.stdout and V1 in r.stdout
    r = run_cli(kubeconfig, "status", "--service", "web", "--json")
    doc = json.loads(r.stdout)
    assert doc["active_color"] == "green" and doc["status"]["colors"]["blue"]["images"] == [V1]
    assert doc["status"]["colors"]["green"]["ready"] == 2
    assert r.outputs["RESULT"] == "unchanged"


def test_json_output_of_deploy(web: SimCluster, kubeconfig: Path) -> None:
    r = deploy(kubeconfig, V2, "--json", "--smoke-path", "/healthz")
    doc = json.loads(r.stdout)
    assert doc["active_color"] == "green" and doc["switched"] is True and doc["result"] == "deployed"
    assert doc["smoke"][0]["ok"] is True


def test_github_outputs_and_summary(web: SimCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out, summary = tmp_path / "gh_out", tmp_path / "summary.md"
    r = deploy(
        kubeconfig,
        V2,
        env={
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_RUN_ID": "42",
        },
    )
    assert r.exit_code == 0, r.log
    text = out.read_text()
    assert "active-color=green" in text and "switched=true" in text
    assert "green" in summary.read_text() and "rollback" in summary.read_text().lower()
    assert "::group::" in r.log
    history = json.loads(service_annotations(web)[st.ANN_HISTORY])
    assert history[0]["run_url"].startswith("https://github.com/acme/shop/actions/runs/42")


def test_environment_variables_work_like_flags(web: SimCluster, kubeconfig: Path) -> None:
    r = run_cli(
        kubeconfig,
        "deploy",
        env={
            "BLUEGREEN_SERVICE": "web",
            "BLUEGREEN_IMAGE": V2,
            "BLUEGREEN_SMOKE_PATH": "/healthz\n/",
            "BLUEGREEN_DRY_RUN": "true",
        },
    )
    assert r.exit_code == 0, r.log
    assert r.outputs["RESULT"] == "dry-run"
    assert "run smoke checks" in r.log


@pytest.fixture
def kubeconfig_fake(tmp_path: Path) -> Iterator[tuple[SimCluster, Path]]:
    cluster = SimCluster(ready_delay=0.0, clock=FakeClock()).start()
    try:
        yield cluster, cluster.write_kubeconfig(tmp_path / "kubeconfig")
    finally:
        cluster.stop()


def test_namespace_comes_from_the_kubeconfig_context(sim: SimCluster, tmp_path: Path) -> None:
    sim.seed_app(name="web", namespace="shop", image=V1, replicas=1, color="blue")
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    assert sim.get("services", "shop", "web")["spec"]["selector"]["version"] == "green"
    assert sim.get("deployments", "shop", "web-green")
    # --namespace overrides the context's
    r = run_cli(kubeconfig, "status", "--service", "web", "--namespace", "default")
    assert r.exit_code == 2 and "not found in namespace 'default'" in r.log


def test_container_flag_picks_the_container_and_leaves_sidecars(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app(name="web", image=V1, replicas=1, color="blue")
    dep = sim.get("deployments", "default", "web-blue")
    dep["spec"]["template"]["spec"]["containers"].append({"name": "proxy", "image": "envoyproxy/envoy:v1.30"})
    sim.apply(dep)
    sim.wait_idle()
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 2 and "--container" in r.log and "web, proxy" in r.log
    r = deploy(kubeconfig, V2, "--container", "web")
    assert r.exit_code == 0, r.log
    images = {
        c["name"]: c["image"]
        for c in sim.get("deployments", "default", "web-green")["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"web": V2, "proxy": "envoyproxy/envoy:v1.30"}


def test_an_unrelated_change_during_the_release_does_not_block_the_switch(
    web: SimCluster, kubeconfig: Path
) -> None:
    """Someone annotates the Service while green rolls out: not ours to judge, the patch leaves it alone."""

    def annotate(rec: RequestRecord) -> None:
        if rec.method == "POST" and rec.resource == "deployments":
            svc = web.get("services", "default", "web")
            svc["metadata"].setdefault("annotations", {})["team"] = "payments"
            web.apply(svc)

    web.on_request(annotate)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    assert selector(web)["version"] == "green"
    assert service_annotations(web)["team"] == "payments"


def test_a_selector_change_during_the_release_stops_before_the_switch(
    web: SimCluster, kubeconfig: Path
) -> None:
    def retarget(rec: RequestRecord) -> None:
        if rec.method == "POST" and rec.resource == "services":  # the preview create
            svc = web.get("services", "default", "web")
            svc["spec"]["selector"]["tier"] = "front"
            web.apply(svc)

    web.on_request(retarget)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 4, r.log
    assert "changed while bluegreen prepared green" in r.log
    assert selector(web) == {"app": "web", "version": "blue", "tier": "front"}


def test_switch_back_that_fails_exits_5_and_says_where_traffic_is(web: SimCluster, kubeconfig: Path) -> None:
    patches: list[int] = []

    def break_after_switch(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == "web":
            patches.append(1)
            if len(patches) == 1:  # the switch lands; then verification and the switch back both fail
                web.faults.add(path=r"/services/web:[^/]*/proxy", status=500, count=None)
                # (faults see this very request too: skip it, it is the switch that lands)
                web.faults.add(method="PATCH", path=r"/services/web$", status=503, count=None, after=1)

    web.on_request(break_after_switch)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 5, r.log
    assert "switching back failed too" in r.log and "traffic is on green, unverified" in r.log
    assert selector(web)["version"] == "green"
    assert r.outputs["ACTIVE_COLOR"] == "green" and r.outputs["SWITCHED"] == "true"


def test_a_cancelled_job_during_verification_switches_back(
    web: SimCluster, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bluegreen.smoke as engine

    real = engine.run_checks
    calls: list[int] = []

    def cancel_on_live_checks(
        checks: Sequence[SmokeCheck], target: HttpTarget, log: StepLog
    ) -> list[SmokeResult]:
        calls.append(1)
        if "services/web:" in target.base_url:  # the live Service, after the switch
            raise KeyboardInterrupt
        return real(checks, target, log)

    monkeypatch.setattr(engine, "run_checks", cancel_on_live_checks)
    before = live_view(web)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    # Once the switch was sent, an interruption reports the truth: switched, then back (exit 3).
    assert r.exit_code == 3 and "interrupted after the switch to green was sent" in r.log, r.log
    assert live_view(web) == before
    assert len(calls) == 2


def test_rerun_verifies_what_is_live(web: SimCluster, kubeconfig: Path) -> None:
    assert deploy(kubeconfig, V2, "--smoke-path", "/healthz").exit_code == 0
    web.faults.add(path=r"/services/web:[^/]*/proxy", status=500, count=None)
    before = live_view(web)
    r = deploy(kubeconfig, V2, "--smoke-path", "/healthz")
    assert r.exit_code == 1, r.log
    assert "already live on green, but it fails verification" in r.log and "bluegreen rollback" in r.log
    assert live_view(web) == before


def test_a_manifest_with_zero_replicas_is_refused_before_any_write(
    web: SimCluster, kubeconfig: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "x"}]},
                    },
                },
            }
        )
    )
    web.clear_requests()
    r = deploy(kubeconfig, V2, "--manifest", str(manifest))
    assert r.exit_code == 2 and "0 replicas" in r.log
    assert web.write_requests() == []


def test_headless_service_gets_a_headless_preview(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app(name="web", image=V1, replicas=1, color="blue")
    svc = sim.get("services", "default", "web")
    sim.delete("services", "default", "web")
    del svc["metadata"]["resourceVersion"], svc["metadata"]["uid"]
    svc["spec"] = {"clusterIP": "None", "selector": svc["spec"]["selector"], "ports": svc["spec"]["ports"]}
    sim.apply(svc)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 0, r.log
    assert sim.get("services", "default", "web-preview")["spec"]["clusterIP"] == "None"


def test_a_switch_whose_outcome_cannot_be_learnt_exits_5(web: SimCluster, kubeconfig: Path) -> None:
    armed: list[bool] = []

    def api_goes_away(rec: RequestRecord) -> None:
        if rec.method == "PATCH" and rec.resource == "services" and rec.name == "web" and not armed:
            armed.append(True)
            web.faults.add(method="PATCH", path=r"/services/web$", drop=True, count=None)
            web.faults.add(method="GET", path=r"/services$", status=503, count=None)

    web.on_request(api_goes_away)
    r = deploy(kubeconfig, V2)
    assert r.exit_code == 5, r.log
    assert "could not tell whether the change to service/web landed" in r.log and "bluegreen status" in r.log


def test_releases_with_pods_that_linger_terminating(tmp_path: Path) -> None:
    """As on a real cluster, replaced pods stay Terminating for a while: the gates must not count them."""
    cluster = SimCluster(ready_delay=0.0, termination_delay=0.3).start()
    try:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        cluster.seed_app(name="web", image=V1, replicas=2, color="blue")
        assert deploy(kubeconfig, V2).exit_code == 0
        r = deploy(
            kubeconfig, V3, "--smoke-path", "/healthz"
        )  # updates blue in place: its old pods terminate
        assert r.exit_code == 0, r.log
        assert selector(cluster)["version"] == "blue"
        served = {p for p in endpoint_pods(cluster)}
        items, _ = cluster.store.list("pods", "default", label_selector="app=web,version=blue")
        images = {
            p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
            for p in items
            if not p["metadata"].get("deletionTimestamp")
        }
        assert served and all(images.get(name) == V3 for name in served)
    finally:
        cluster.stop()
