"""PURE: the next-step decision at each resume point, and the guards and helpers behind it (no cluster).

The deploy step list is the real one: deploy() runs against a stand-in Ctx that serves a hand-built
Snapshot, and run_steps is replaced by a function that captures the steps instead of running them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from bluegreen import deploy as deploy_mod
from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.engine import Run, Step, Verified, next_step
from bluegreen.errors import InputError
from bluegreen.phases import Goal
from bluegreen.quota import shortfall
from bluegreen.release import changed_since, identity
from bluegreen.settings import Common, DeploySettings, Finish, parse_duration
from bluegreen.snapshot import Snapshot

Obj = dict[str, Any]
V1, V2 = "registry.example/web:1.0", "registry.example/web:2.0"


# ------------------------------------------------------------------------------------------ objects


def deployment(
    colour: str, image: str, replicas: int = 2, *, uid: str = "uid-1", generation: int = 1, ready: int = 2
) -> Obj:
    labels = {"app": "web", "version": colour}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{colour}",
            "namespace": "default",
            "labels": dict(labels),
            "uid": uid,
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        },
    }


def service(colour: str, state: st.ReleaseState | None = None) -> Obj:
    ann = {k: v for k, v in st.to_annotations(state).items() if v is not None} if state else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": ann},
        "spec": {"selector": {"app": "web", "version": colour}, "ports": [{"name": "http", "port": 80}]},
    }


def live_state(colour: str, image: str, previous: str | None = None) -> st.ReleaseState:
    return st.after_switch(
        st.ReleaseState(),
        to_color=colour,
        to_image=image,
        from_color=st.other_color(colour) if previous else None,
        from_image=previous,
        from_replicas=2 if previous else None,
        color_label="version",
        action="deploy",
        time="2026-12-03T10:00:00Z",
        release_id="r1",
        run_url=None,
    )


def snapshot(svc: Obj, *deps: Obj) -> Snapshot:
    return Snapshot("default", {"web": svc}, {d["metadata"]["name"]: d for d in deps})


def settings(*, hold: bool = False, after_switch: str = "keep") -> DeploySettings:
    return DeploySettings(
        common=Common(service="web"),
        image=V2,
        hold=hold,
        finish=Finish(after_switch=after_switch, scale_down_delay=0),
    )


class StandInCtx:
    """What deploy() asks of a Ctx before it runs its steps, served from one Snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.kube = SimpleNamespace(in_cluster=False, namespace="default")
        self.log = SimpleNamespace()
        self.last: Run | None = None
        self.run_url: str | None = None
        self.release_id = "test"

    def read(self, *, quotas: bool = False) -> Snapshot:
        return self.snap

    def service_of(self, snap: Snapshot, name: str, flag: str = "--service") -> Obj:
        svc = snap.service(name)
        assert svc is not None
        return svc

    @contextlib.contextmanager
    def locked(self, snap: Snapshot, **_: Any) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass


def deploy_steps(
    monkeypatch: pytest.MonkeyPatch, s: DeploySettings, snap: Snapshot
) -> tuple[list[Step], Goal]:
    """The step list deploy() builds for ``snap`` (planned from it), and its Goal."""
    captured: list[Sequence[Step]] = []

    def capture(steps: Sequence[Step], run: Run, *_: Any, **__: Any) -> Run:
        captured.append(steps)
        return run

    monkeypatch.setattr(deploy_mod, "run_steps", capture)
    deploy_mod.deploy(s, StandInCtx(snap))  # type: ignore[arg-type]
    assert len(captured) == 1, "deploy() should have reached its step list"
    goal = Goal.for_deploy(s, snap, snap.service("web") or {}, None, in_cluster=False)
    return list(captured[0]), goal


def name_of_next(steps: list[Step], run: Run) -> str | None:
    i = next_step(steps, run)
    return None if i is None else steps[i].name


FRESH = snapshot(service("blue", live_state("blue", V1)), deployment("blue", V1))


def applied(goal: Goal, base: Snapshot = FRESH) -> Snapshot:
    """``base`` with the goal's Deployment as the API server would have stored it."""
    assert goal.desired is not None
    green = json.loads(json.dumps(goal.desired))
    green["metadata"].update(uid="uid-green", generation=1, resourceVersion="5")
    return base.with_deployment(green)


def switched(snap: Snapshot) -> Snapshot:
    return snap.with_service(service("green", live_state("green", V2, previous=V1)))


# ------------------------------------------------------------------------------------ resume points


def test_a_fresh_release_starts_with_green(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, _ = deploy_steps(monkeypatch, settings(), FRESH)
    assert [s.name for s in steps] == [
        "adopt",
        "green",
        "ready",
        "preview",
        "smoke",
        "hold",
        "switch",
        "verify",
        "drain",
        "tidy",
    ]
    assert name_of_next(steps, Run(FRESH)) == "green"


def test_green_applied_but_not_verified_waits_for_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(), FRESH)
    assert name_of_next(steps, Run(applied(goal))) == "ready"


def test_green_with_fewer_replicas_than_wanted_is_applied_again(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(), FRESH)
    snap = applied(goal)
    green = json.loads(json.dumps(snap.deployment(goal.target)))
    green["spec"]["replicas"] = 0
    assert name_of_next(steps, Run(snap.with_deployment(green))) == "green"


def test_a_green_of_another_template_is_applied_again(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(), FRESH)
    stale = deployment("green", "registry.example/web:0.9")
    assert name_of_next(steps, Run(FRESH.with_deployment(stale))) == "green"


@pytest.mark.parametrize("hold, expected", [(False, "switch"), (True, "hold")])
def test_verified_green_goes_to_hold_or_switch(
    monkeypatch: pytest.MonkeyPatch, hold: bool, expected: str
) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(hold=hold), FRESH)
    snap = applied(goal)
    green = snap.deployment(goal.target)
    assert green is not None
    assert name_of_next(steps, Run(snap, verified=identity(green))) == expected


def test_after_the_switch_verify_comes_next(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(), FRESH)
    snap = switched(applied(goal))
    green = snap.deployment(goal.target)
    assert green is not None
    assert name_of_next(steps, Run(snap, verified=identity(green), switched=True)) == "verify"


def test_a_rerun_after_a_switch_plans_to_verify_and_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that switched and died: the next run plans from the switched Service (the live colour is the
    goal, the other retires) and walks the same list to verify."""
    snap = switched(
        applied(Goal.for_deploy(settings(), FRESH, FRESH.services["web"], None, in_cluster=False))
    )
    steps, goal = deploy_steps(monkeypatch, settings(after_switch="scale-to-zero"), snap)
    assert goal.desired is None and goal.colour == "green" and goal.old == "web-blue"
    assert name_of_next(steps, Run(snap)) == "verify"


def test_verified_live_with_keep_has_nothing_left(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(), FRESH)
    snap = switched(applied(goal))
    assert name_of_next(steps, Run(snap, switched=True, checked_live=True)) is None


def test_scale_to_zero_pending_drains_then_tidies(monkeypatch: pytest.MonkeyPatch) -> None:
    steps, goal = deploy_steps(monkeypatch, settings(after_switch="scale-to-zero"), FRESH)
    snap = switched(applied(goal))
    run = Run(snap, switched=True, checked_live=True)
    assert name_of_next(steps, run) == "drain"
    assert name_of_next(steps, run.but(drained=True)) == "tidy"
    zero = snap.with_deployment(deployment("blue", V1, replicas=0, ready=0))
    assert name_of_next(steps, Run(zero, checked_live=True)) is None
    gone = snap.without_deployment("web-blue")
    assert name_of_next(steps, Run(gone, checked_live=True)) is None


def test_next_step_starts_after_the_given_index() -> None:
    steps = [Step("a", lambda r: False, lambda r: r), Step("b", lambda r: False, lambda r: r)]
    assert next_step(steps, Run(FRESH)) == 0
    assert next_step(steps, Run(FRESH), after=0) == 1
    assert next_step(steps, Run(FRESH), after=1) is None


# ----------------------------------------------------------------------------------- changed_since


def test_changed_since() -> None:
    dep = deployment("green", V2, uid="u1", generation=3)
    v = identity(dep)
    assert v == Verified("web-green", "u1", 3, st.template_hash(dep["spec"]["template"]))
    assert changed_since(v, dep) is None

    recreated = json.loads(json.dumps(dep))
    recreated["metadata"]["uid"] = "u2"
    why = changed_since(v, recreated)
    assert why is not None and "created again" in why and "u2" in why

    edited = json.loads(json.dumps(dep))
    edited["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DB", "value": "staging"}]
    edited["metadata"]["generation"] = 4
    why = changed_since(v, edited)
    assert why is not None and "pod template was changed" in why

    scaled = json.loads(json.dumps(dep))
    scaled["metadata"]["generation"] = 4
    # A scale (same uid and template) is still the verified Deployment: the capacity step relies on it.
    assert changed_since(v, scaled) is None

    why = changed_since(v, None)
    assert why is not None and "deleted" in why


# -------------------------------------------------------------------------------------------- plan


def history(*entries: tuple[str, str, str]) -> st.ReleaseState:
    return st.ReleaseState(
        active_color=entries[0][1],
        active_image=entries[0][2],
        history=tuple(
            st.HistoryEntry(time=f"2026-12-0{i + 1}T00:00:00Z", action=a, color=c, image=img)
            for i, (a, c, img) in enumerate(entries)
        ),
    )


def test_rollback_noop() -> None:
    after_deploy = history(("deploy", "green", V2), ("deploy", "blue", V1))
    assert pl.rollback_noop(after_deploy, None) is None
    after_rollback = history(("rollback", "blue", V1), ("deploy", "green", V2))
    why = pl.rollback_noop(after_rollback, None)
    assert why is not None and "already a rollback" in why and V1 in why
    assert pl.rollback_noop(after_deploy, V2) is not None  # --to the live image: nothing to do
    assert pl.rollback_noop(after_rollback, V2) is None  # --to another image: an explicit choice
    assert pl.rollback_noop(st.ReleaseState(), None) is None


def test_colour_services_and_check_services() -> None:
    live = deployment("blue", V1)

    def svc(name: str, selector: dict[str, str], labels: dict[str, str] | None = None) -> Obj:
        return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"selector": selector}}

    services = [
        svc("web", {"app": "web", "version": "blue"}),
        svc("web-grpc", {"app": "web", "version": "blue"}),
        svc("web-all", {"app": "web"}),  # no colour key: follows both colours, never switched
        svc("web-green-only", {"app": "web", "version": "green"}),
        svc("web-preview", {"app": "web", "version": "blue"}, {st.ROLE_KEY: st.ROLE_PREVIEW}),
        svc("other", {"app": "other", "version": "blue"}),
    ]
    selecting = pl.colour_services(services, live, "version")
    assert selecting == ["web", "web-grpc"]
    pl.check_services(["web", "web-grpc"], selecting)
    with pytest.raises(InputError) as e:
        pl.check_services(["web"], selecting)
    assert e.value.input_name == "--service" and "web-grpc" in str(e.value)


def test_gitops_keys_are_named_and_not_copied() -> None:
    source = deployment("blue", V1)
    source["metadata"]["labels"].update(
        {
            "argocd.argoproj.io/instance": "web",
            "app.kubernetes.io/instance": "web",
            "helm.sh/chart": "web-1.0",
            "kustomize.toolkit.fluxcd.io/name": "web",
            "team": "payments",
        }
    )
    source["metadata"]["annotations"] = {
        "meta.helm.sh/release-name": "web",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "owner": "payments",
    }
    gitops = {
        "argocd.argoproj.io/instance",
        "app.kubernetes.io/instance",
        "helm.sh/chart",
        "kustomize.toolkit.fluxcd.io/name",
        "meta.helm.sh/release-name",
        "kubectl.kubernetes.io/last-applied-configuration",
    }
    assert set(pl.gitops_keys(source)) == gitops
    copy = pl.colored_copy(
        source,
        name="web-green",
        namespace="default",
        color_label="version",
        color="green",
        image=V2,
        container="web",
    )
    kept = {*copy["metadata"]["labels"], *(copy["metadata"].get("annotations") or {})}
    assert not kept & gitops
    assert copy["metadata"]["labels"]["team"] == "payments"
    assert copy["metadata"]["annotations"]["owner"] == "payments"
    assert copy["spec"]["template"]["metadata"]["labels"]["version"] == "green"


def test_migration_inits() -> None:
    spec: Obj = {
        "containers": [{"name": "web", "image": V1}],
        "initContainers": [
            {"name": "migrate", "image": "registry.example/web:1.0"},
            {"name": "wait-db", "image": "busybox:1.36"},
            {"name": "digest", "image": "registry.example/web@sha256:" + "a" * 64},
        ],
    }
    assert pl.migration_inits(spec, "web", V1) == ["migrate", "digest"]
    assert pl.migration_inits(spec, "web", None) == []
    assert pl.migration_inits({"containers": []}, "web", V1) == []


# ------------------------------------------------------------------------------------------- quota


def test_quota_shortfall() -> None:
    spec: Obj = {"containers": [{"name": "web", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}
    roomy = {
        "metadata": {"name": "roomy"},
        "status": {"hard": {"requests.cpu": "8"}, "used": {"requests.cpu": "1"}},
    }
    assert shortfall([roomy], spec, 4) is None
    tight = {
        "metadata": {"name": "team-quota"},
        "status": {
            "hard": {"requests.cpu": "2", "pods": "10"},
            "used": {"requests.cpu": "1500m", "pods": "3"},
        },
    }
    why = shortfall([roomy, tight], spec, 2)
    assert why is not None and "resourcequota/team-quota" in why and "requests.cpu" in why
    assert shortfall([tight], spec, 1) is None  # 1.5 + 0.5 fits exactly
    pods = {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "4"}}, "status": {"used": {"pods": "3"}}}
    why = shortfall([pods], spec, 2)
    assert why is not None and "pods" in why
    assert shortfall([], spec, 100) is None


# ---------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("5", 5.0), ("0", 0.0), ("1.5m", 90.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration("--timeout", text) == seconds


@pytest.mark.parametrize("text", ["ten", "5x", "m", "1h-5m", "-"])
def test_parse_duration_rejects_bad_input_naming_the_flag(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_duration("--scale-down-delay", text)
    assert e.value.input_name == "--scale-down-delay"
    assert text in str(e.value)


def test_parse_duration_empty_is_none() -> None:
    assert parse_duration("--timeout", None) is None
    assert parse_duration("--timeout", "  ") is None
