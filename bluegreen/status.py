"""`bluegreen status`: the live colour, each colour's Deployment, the preview Service, the lock, the history,
and notes on anything an interrupted run left behind."""

from __future__ import annotations

from typing import Any

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.lock import describe_holder, lease_name
from bluegreen.release import Ctx
from bluegreen.settings import Common

Obj = dict[str, Any]


def status(common: Common, ctx: Ctx) -> dict[str, Any]:
    """Read once, describe: no writes, no lock, nothing recorded."""
    from bluegreen.engine import Run

    snap = ctx.read()
    ctx.last = Run(snap)
    service = ctx.service_of(snap, common.service)
    previews = [
        p
        for p in snap.services.values()
        if (p["metadata"].get("annotations") or {}).get(st.PREFIX + "preview-of") == common.service
    ]
    return describe_status(
        service, list(snap.deployments.values()), st.read_state(service), previews, snap.lease
    )


def describe_status(
    service: Obj,
    deployments: list[Obj],
    state: st.ReleaseState,
    previews: list[Obj],
    lease: Obj | None,
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
    holder = describe_holder(lease) if lease else None
    if holder:
        notes.append(f"a release is in progress: lease/{lease_name(pl.name_of(service))} held by {holder}")
    problems: list[str] = []
    if state.hold is not None:
        h = state.hold
        problems.append(
            f"awaiting promotion: {h.image} verified on {h.color} (deployment.apps/{h.deployment}) at {h.time}"
            + (f" by {h.run_url}" if h.run_url else "")
            + f"; bluegreen promote --service {pl.name_of(service)} switches, bluegreen abort discards it"
        )
    intent = ((service.get("metadata") or {}).get("annotations") or {}).get(st.ANN_AFTER_SWITCH)
    old = colors.get(st.other_color(active)) if active in st.COLORS else None
    if intent and old and not old["live"] and (intent == "delete" or old["desired"] > 0):
        problems.append(
            f"pending scale-down: the last release asked --after-switch {intent} of deployment.apps/"
            f"{old['deployment']}, which still runs {old['desired']} replicas (interrupted during the drain?)"
        )
    if active in colors and colors[active]["ready"] < colors[active]["desired"]:
        problems.append(
            f"the live colour {active} has {colors[active]['ready']} of {colors[active]['desired']} pods ready"
        )
    if state.known and state.active_color != active:
        problems.append(
            f"the selector says {active} but bluegreen's record says {state.active_color}: the Service was "
            f"switched by hand or a switch was never recorded"
        )
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
        "hold": state.hold.__dict__ if state.hold else None,
        "problems": problems,
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
    for problem in report["problems"]:
        lines.append(f"  check: {problem}")
    if report["history"]:
        lines.append("  history (newest first):")
        for h in report["history"]:
            lines.append(
                f"    {h['time']}  {h['action']:8} {h['color']:5} {h.get('image') or ''}"
                + (f"  {h['run_url']}" if h.get("run_url") else "")
            )
    return lines
