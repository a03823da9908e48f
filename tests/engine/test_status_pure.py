"""The pure parts of `status` (describe_status / format_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bluegreen import state as st
from bluegreen.lock import describe_holder
from bluegreen.status import describe_status, format_status

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(
    holder: str | None = "github:org/repo/actions/runs/7#1",
    *,
    renew: str | None = None,
    acquire: str | None = None,
    duration: int | None = 60,
) -> Obj:
    spec: Obj = {}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renew is not None:
        spec["renewTime"] = renew
    if acquire is not None:
        spec["acquireTime"] = acquire
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    return {"metadata": {"name": "bluegreen-web"}, "spec": spec}


# ---------------------------------------------------------------------------------------- describe_status


def dep(
    color: str | None, *, image: str = "r/web:1", replicas: int = 2, ready: int = 2, name: str | None = None
) -> Obj:
    labels = {"app": "web"} if color is None else {"app": "web", "version": color}
    return {
        "metadata": {"name": name or (f"web-{color}" if color else "web"), "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"readyReplicas": ready},
    }


def svc(selector: dict[str, str]) -> Obj:
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": selector}}


def state(**kw: Any) -> st.ReleaseState:
    base: dict[str, Any] = {
        "active_color": "green",
        "previous_color": "blue",
        "active_image": "r/web:2",
        "previous_image": "r/web:1",
        "color_label": "version",
        "history": (
            st.HistoryEntry("t2", "deploy", "green", "r/web:2", "https://ci/2"),
            st.HistoryEntry("t1", "adopt", "blue", "r/web:1"),
        ),
    }
    base.update(kw)
    return st.ReleaseState(**base)


PREVIEW = {"metadata": {"name": "web-preview"}, "spec": {"selector": {"app": "web", "version": "green"}}}


def test_describe_status_of_a_healthy_release() -> None:
    report = describe_status(
        svc({"app": "web", "version": "green"}),
        [dep("blue", replicas=0, ready=0), dep("green", image="r/web:2")],
        state(),
        [PREVIEW],
        None,
    )
    assert report == {
        "service": "web",
        "namespace": "default",
        "color_label": "version",
        "selector": {"app": "web", "version": "green"},
        "active_color": "green",
        "active_image": "r/web:2",
        "previous_color": "blue",
        "previous_image": "r/web:1",
        "colors": {
            "blue": {
                "deployment": "web-blue",
                "images": ["r/web:1"],
                "ready": 0,
                "desired": 0,
                "live": False,
            },
            "green": {
                "deployment": "web-green",
                "images": ["r/web:2"],
                "ready": 2,
                "desired": 2,
                "live": True,
            },
        },
        "preview_services": [{"name": "web-preview", "selector": {"app": "web", "version": "green"}}],
        "lock": None,
        "hold": None,
        "problems": [],
        "notes": [],
        "history": [
            {
                "time": "t2",
                "action": "deploy",
                "color": "green",
                "image": "r/web:2",
                "run_url": "https://ci/2",
            },
            {"time": "t1", "action": "adopt", "color": "blue", "image": "r/web:1"},
        ],
    }


def test_describe_status_before_adoption() -> None:
    report = describe_status(svc({"app": "web"}), [dep(None)], st.ReleaseState(), [], None)
    assert report["active_color"] is None
    assert report["colors"] == {}
    assert report["color_label"] == "version"
    assert report["notes"] == [
        "service selects no version yet: the first deploy adopts the current Deployment as blue"
    ]


def test_describe_status_uses_the_recorded_colour_label() -> None:
    d = dep(None, name="web-blue")
    d["spec"]["template"]["metadata"]["labels"] = {"app": "web", "track": "blue"}
    report = describe_status(
        svc({"app": "web", "track": "blue"}),
        [d],
        state(color_label="track", active_color="blue", previous_color=None, previous_image=None),
        [],
        None,
    )
    assert report["color_label"] == "track"
    assert report["active_color"] == "blue"
    assert report["colors"]["blue"]["live"] is True
    assert report["notes"] == []


def test_describe_status_when_no_deployment_serves_the_live_colour() -> None:
    report = describe_status(svc({"app": "web", "version": "green"}), [dep("blue")], state(), [], None)
    assert "no Deployment serves the live colour green!" in report["notes"]


def test_describe_status_when_the_idle_colour_runs_an_unswitched_image() -> None:
    deps = [dep("blue", image="r/web:3"), dep("green", image="r/web:2")]
    report = describe_status(svc({"app": "web", "version": "green"}), deps, state(), [], None)
    assert report["notes"] == [
        "blue runs r/web:3, not the previous live image r/web:1: a release did not switch "
        "(it failed or was interrupted)"
    ]


def test_describe_status_with_a_release_in_progress() -> None:
    held = lease(renew=micro(NOW - timedelta(seconds=5)), acquire=micro(NOW - timedelta(seconds=30)))
    report = describe_status(
        svc({"app": "web", "version": "green"}),
        [dep("blue"), dep("green", image="r/web:2")],
        state(),
        [],
        held,
    )
    assert report["lock"] is not None and report["lock"].startswith(
        "github:org/repo/actions/runs/7#1 (acquired "
    )
    assert report["notes"] == [f"a release is in progress: lease/bluegreen-web held by {report['lock']}"]


def test_describe_status_with_an_expired_lease() -> None:
    stale = lease(renew=micro(NOW - timedelta(hours=1)))
    report = describe_status(
        svc({"app": "web", "version": "green"}),
        [dep("blue"), dep("green", image="r/web:2")],
        state(),
        [],
        stale,
    )
    # Our clock cannot judge another machine's renewTime: status reports the holder by its own record.
    assert report["lock"] is not None and "by the holder's clock" in report["lock"]


# ------------------------------------------------------------------------------------------ format_status


def test_format_status_lines() -> None:
    held = lease(renew=micro(NOW), acquire="2024-05-01T11:59:00.000000Z")
    report = describe_status(
        svc({"app": "web", "version": "green"}),
        [dep("blue", replicas=0, ready=0), dep("green", image="r/web:2")],
        state(),
        [PREVIEW],
        held,
    )
    lines = format_status(report)
    assert lines == [
        "service/web (namespace default): live colour green (selector app=web,version=green)",
        "  blue  idle deployment.apps/web-blue  0/0 ready  image r/web:1",
        "  green live deployment.apps/web-green  2/2 ready  image r/web:2",
        "  preview service/web-preview (selector app=web,version=green)",
        f"  lock: {report['lock']}",
        f"  note: a release is in progress: lease/bluegreen-web held by {report['lock']}",
        "  history (newest first):",
        "    t2  deploy   green r/web:2  https://ci/2",
        "    t1  adopt    blue  r/web:1",
    ]


def test_format_status_with_nothing_known() -> None:
    report = describe_status(svc({"app": "web"}), [dep(None)], st.ReleaseState(), [], None)
    assert format_status(report) == [
        "service/web (namespace default): live colour none (selector app=web)",
        "  note: service selects no version yet: the first deploy adopts the current Deployment as blue",
    ]


@pytest.mark.parametrize("image", [None, ""])
def test_format_status_history_entry_without_image(image: str | None) -> None:
    report = describe_status(
        svc({"app": "web", "version": "blue"}),
        [dep("blue")],
        st.ReleaseState(active_color="blue", history=(st.HistoryEntry("t", "deploy", "blue", image),)),
        [],
        None,
    )
    assert format_status(report)[-1] == "    t  deploy   blue  "


def test_status_names_the_holder_by_its_own_record_without_judging_expiry() -> None:
    line = describe_holder(lease(renew=micro(NOW), acquire=micro(NOW)))
    assert line is not None and "github:org/repo/actions/runs/7#1" in line
    assert describe_holder(lease(None)) is None
