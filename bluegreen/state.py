"""What we remember on the live Service itself (annotations), so `status` and `rollback` need nothing but
the Service's name, and a re-run after a crash finds the truth in the cluster, not in CI.

PURE: no I/O. Label keys, annotation keys and colour names are defined here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

COLORS = ("blue", "green")
DEFAULT_COLOR_LABEL = "version"

PREFIX = "bluegreen.dev/"
ANN_ACTIVE_COLOR = PREFIX + "active-color"
ANN_PREVIOUS_COLOR = PREFIX + "previous-color"
ANN_ACTIVE_IMAGE = PREFIX + "active-image"
ANN_PREVIOUS_IMAGE = PREFIX + "previous-image"
ANN_PREVIOUS_REPLICAS = PREFIX + "previous-replicas"
ANN_COLOR_LABEL = PREFIX + "color-label"
ANN_RELEASE_ID = PREFIX + "release-id"
ANN_HISTORY = PREFIX + "history"
ANN_TEMPLATE_HASH = (
    PREFIX + "template-hash"
)  # of the verified pod template (Service) / the sent one (Deployment)
ANN_PREVIOUS_TEMPLATE_HASH = PREFIX + "previous-template-hash"
ANN_HOLD = PREFIX + "hold"
ANN_AFTER_SWITCH = (
    PREFIX + "after-switch"
)  # what the last release asked for the old colour (status: pending?)  # a verified release awaiting `bluegreen promote` (JSON, see Hold)
STATE_ANNOTATIONS = (
    ANN_ACTIVE_COLOR,
    ANN_PREVIOUS_COLOR,
    ANN_ACTIVE_IMAGE,
    ANN_PREVIOUS_IMAGE,
    ANN_PREVIOUS_REPLICAS,
    ANN_COLOR_LABEL,
    ANN_RELEASE_ID,
    ANN_HISTORY,
    ANN_TEMPLATE_HASH,
    ANN_PREVIOUS_TEMPLATE_HASH,
    ANN_HOLD,
    ANN_AFTER_SWITCH,
)

# Labels we put on objects we create (never into a selector).
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = "bluegreen"
ROLE_KEY = PREFIX + "role"
ROLE_PREVIEW = "preview"

HISTORY_LIMIT = 10


def other_color(color: str) -> str:
    return COLORS[1] if color == COLORS[0] else COLORS[0]


@dataclass(frozen=True)
class HistoryEntry:
    time: str
    action: str  # deploy | rollback | adopt
    color: str
    image: str | None
    run_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"time": self.time, "action": self.action, "color": self.color, "image": self.image}
        if self.run_url:
            d["run_url"] = self.run_url
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryEntry:
        def text(key: str) -> str | None:
            v = d.get(key)
            return v if isinstance(v, str) else None

        return cls(
            time=text("time") or "",
            action=text("action") or "",
            color=text("color") or "",
            image=text("image"),
            run_url=text("run_url"),
        )


@dataclass(frozen=True)
class ReleaseState:
    active_color: str | None = None
    previous_color: str | None = None
    active_image: str | None = None
    previous_image: str | None = None
    previous_replicas: int | None = None
    color_label: str | None = None
    release_id: str | None = None
    history: tuple[HistoryEntry, ...] = field(default_factory=tuple)
    template_hash: str | None = None  # of the live colour's verified pod template
    previous_template_hash: str | None = None
    hold: Hold | None = None

    @property
    def known(self) -> bool:
        return self.active_color is not None


@dataclass(frozen=True)
class Hold:
    """A verified release awaiting promotion: exactly which Deployment was verified, so `promote` can
    refuse one that changed since (uid, generation, pod template)."""

    color: str
    image: str
    deployment: str
    uid: str
    generation: int
    template_hash: str
    time: str
    run_url: str | None = None
    release_id: str | None = None

    def to_json(self) -> str:
        d = {k: v for k, v in self.__dict__.items() if v is not None}
        return json.dumps(d, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> Hold | None:
        try:
            d = json.loads(raw or "")
            if not isinstance(d, dict) or d.get("color") not in COLORS:
                return None
            return cls(
                color=str(d["color"]),
                image=str(d["image"]),
                deployment=str(d["deployment"]),
                uid=str(d["uid"]),
                generation=int(d["generation"]),
                template_hash=str(d["template_hash"]),
                time=str(d.get("time") or ""),
                run_url=d.get("run_url") if isinstance(d.get("run_url"), str) else None,
                release_id=d.get("release_id") if isinstance(d.get("release_id"), str) else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


def template_hash(template: Any) -> str:
    """A stable short hash of a pod template as the API server returned it (its defaults included), so
    that any edit, image or not, changes it."""
    raw = json.dumps(template or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def read_state(service: dict[str, Any]) -> ReleaseState:
    """Decode our annotations; anything unreadable (hand-edited) is treated as absent, never a crash."""
    ann = (service.get("metadata") or {}).get("annotations") or {}
    history: list[HistoryEntry] = []
    try:
        raw = json.loads(ann.get(ANN_HISTORY, "[]"))
        if isinstance(raw, list):
            history = [HistoryEntry.from_dict(h) for h in raw if isinstance(h, dict)]
    except (ValueError, RecursionError):
        pass
    replicas: int | None
    try:
        replicas = int(ann[ANN_PREVIOUS_REPLICAS]) if ann.get(ANN_PREVIOUS_REPLICAS) else None
    except ValueError:
        replicas = None
    if replicas is not None and replicas < 0:
        replicas = None

    def color(key: str) -> str | None:
        v = ann.get(key)
        return v if v in COLORS else None

    return ReleaseState(
        active_color=color(ANN_ACTIVE_COLOR),
        previous_color=color(ANN_PREVIOUS_COLOR),
        active_image=ann.get(ANN_ACTIVE_IMAGE) or None,
        previous_image=ann.get(ANN_PREVIOUS_IMAGE) or None,
        previous_replicas=replicas,
        color_label=ann.get(ANN_COLOR_LABEL) or None,
        release_id=ann.get(ANN_RELEASE_ID) or None,
        history=tuple(history),
        template_hash=ann.get(ANN_TEMPLATE_HASH) or None,
        previous_template_hash=ann.get(ANN_PREVIOUS_TEMPLATE_HASH) or None,
        hold=Hold.from_json(ann.get(ANN_HOLD)),
    )


def to_annotations(state: ReleaseState) -> dict[str, str | None]:
    """Every one of our annotation keys; None means the key must not be there (the patch removes it)."""
    return {
        ANN_ACTIVE_COLOR: state.active_color,
        ANN_PREVIOUS_COLOR: state.previous_color,
        ANN_ACTIVE_IMAGE: state.active_image,
        ANN_PREVIOUS_IMAGE: state.previous_image,
        ANN_PREVIOUS_REPLICAS: None if state.previous_replicas is None else str(state.previous_replicas),
        ANN_COLOR_LABEL: state.color_label,
        ANN_RELEASE_ID: state.release_id,
        ANN_HISTORY: json.dumps([h.to_dict() for h in state.history], separators=(",", ":")),
        ANN_TEMPLATE_HASH: state.template_hash,
        ANN_PREVIOUS_TEMPLATE_HASH: state.previous_template_hash,
        ANN_HOLD: state.hold.to_json() if state.hold else None,
    }


def after_switch(
    state: ReleaseState,
    *,
    to_color: str,
    to_image: str | None,
    from_color: str | None,
    from_image: str | None,
    from_replicas: int | None,
    color_label: str,
    action: str,
    time: str,
    release_id: str,
    run_url: str | None,
    template_hash: str | None = None,
) -> ReleaseState:
    """The state to record in the same request that switches traffic to ``to_color``; a switch ends any
    hold, and the template hash of the colour left behind is kept for rollback's drift check."""
    entry = HistoryEntry(time=time, action=action, color=to_color, image=to_image, run_url=run_url)
    return replace(
        state,
        template_hash=template_hash,
        previous_template_hash=state.template_hash if from_color == state.active_color else None,
        hold=None,
        active_color=to_color,
        active_image=to_image,
        previous_color=from_color,
        previous_image=from_image,
        previous_replicas=from_replicas,
        color_label=color_label,
        release_id=release_id,
        history=(entry, *state.history)[:HISTORY_LIMIT],
    )


def last_good_image(state: ReleaseState, color: str) -> str | None:
    """The image most recently switched to on ``color``, from the history."""
    for h in state.history:
        if h.color == color and h.image:
            return h.image
    return None
