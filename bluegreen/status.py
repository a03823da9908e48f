"""`bluegreen status`: the live colour, each colour's Deployment, the preview Service, the lock, the history,
and notes on anything an interrupted run left behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.kube import COORDINATION, CORE, Kube
from bluegreen.lock import held_by_other, lease_name
from bluegreen.log import StepLog
from bluegreen.release import Release
from bluegreen.report import Outcome
from bluegreen.settings import Common

Obj = dict[str, Any]


def status(
    common: Common,
    kube: Kube,
    log: StepLog,
    outcome: Outcome,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    r = Release(kube, log, outcome)
    service = r.read_service(common.service)
    deployments = r.deployments()
    state = st.read_state(service)
    lease = kube.get(COORDINATION, "leases", lease_name(common.service))
    previews = [
        p
        for p in kube.list_objects(CORE, "services", label_selector=f"{st.ROLE_KEY}={st.ROLE_PREVIEW}").get(
            "items"
        )
        or []
        if (p["metadata"].get("annotations") or {}).get(st.PREFIX + "preview-of") == common.service
    ]
    report = describe_status(service, deployments, state, previews, lease, clock())
    outcome.service, outcome.result = common.service, "unchanged"
    outcome.active_color = report["active_color"]
    outcome.previous_color = state.previous_color
    outcome.image = state.active_image
    outcome.previous_image = state.previous_image
    colors = report["colors"]
    outcome.active_deployment = (colors.get(report["active_color"] or "") or {}).get("deployment")
    outcome.previous_deployment = (colors.get(state.previous_color or "") or {}).get("deployment")
    outcome.history = [h.to_dict() for h in state.history]
    return report


def describe_status(
    service: Obj,
    deployments: list[Obj],
    state: st.ReleaseState,
    previews: list[Obj],
    lease: Obj | None,
    now: datetime,
) -> dict[str, Any]:
    """PURE: what `status` reports, including anything a crashed run left behind."""
    color_label = state.color_label or st.DEFAULT_COLOR_LABEL
    selector = pl.selector_of(service)
    active = selector.get(color_label)
    colors: dict[str, Any] = {}
    notes: list[str] = []
    for color in st.COLORS:
        found = pl.matching(pl.selector_with(selector, color_label, color), deployments)
        if not found:
            continue
        d = found[0]
        status_ = d.get("status") or {}
        colors[color] = {
            "deployment": pl.name_of(d),
            "images": [c.get("image") for c in pl.containers(d)],
            "ready": int(status_.get("readyReplicas") or 0),
            "desired": pl.replicas_of(d),
            "live": color == active,
        }
    if active is None:
        notes.append(
            f"service selects no {color_label} yet: the first deploy adopts the current Deployment as blue"
        )
    elif active not in colors:
        notes.append(f"no Deployment serves the live colour {active}!")
    idle = st.other_color(active) if active in st.COLORS else None
    if (
        idle
        and idle in colors
        and state.previous_image
        and state.previous_color == idle
        and state.previous_image not in colors[idle]["images"]
    ):
        notes.append(
            f"{idle} runs {', '.join(map(str, colors[idle]['images']))}, not the previous live image "
            f"{state.previous_image}: a release did not switch (it failed or was interrupted)"
        )
    holder = held_by_other(lease, "", now) if lease else None
    if holder:
        notes.append(f"a release is in progress: lease/{lease_name(pl.name_of(service))} held by {holder}")
    return {
        "service": pl.name_of(service),
        "namespace": service["metadata"].get("namespace"),
        "color_label": color_label,
        "selector": selector,
        "active_color": active,
        "active_image": state.active_image,
        "previous_color": state.previous_color,
        "previous_image": state.previous_image,
        "colors": colors,
        "preview_services": [{"name": pl.name_of(p), "selector": pl.selector_of(p)} for p in previews],
        "lock": holder,
        "notes": notes,
        "history": [h.to_dict() for h in state.history],
    }


def format_status(report: dict[str, Any]) -> list[str]:
    lines = [
        f"service/{report['service']} (namespace {report['namespace']}): "
        f"live colour {report['active_color'] or 'none'} (selector {pl.fmt_selector(report['selector'])})"
    ]
    for color, c in report["colors"].items():
        mark = "live" if c["live"] else "idle"
        lines.append(
            f"  {color:5} {mark:4} deployment.apps/{c['deployment']}  {c['ready']}/{c['desired']} ready  "
            f"image {', '.join(map(str, c['images']))}"
        )
    for p in report["preview_services"]:
        lines.append(f"  preview service/{p['name']} (selector {pl.fmt_selector(p['selector'])})")
    if report["lock"]:
        lines.append(f"  lock: {report['lock']}")
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    if report["history"]:
        lines.append("  history (newest first):")
        for h in report["history"]:
            lines.append(
                f"    {h['time']}  {h['action']:8} {h['color']:5} {h.get('image') or ''}"
                + (f"  {h['run_url']}" if h.get("run_url") else "")
            )
    return lines
