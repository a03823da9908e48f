"""`bluegreen deploy`: lock -> (adopt) -> green -> ready -> preview -> smoke -> (hold) -> switch -> verify ->
drain -> tidy.

Each step's guard is a pure "already done?" on what the cluster shows, so a re-run after a crash walks
the same list and picks up where the cluster says the last run stopped. Nothing touches the live
Service before the one conditional switch request.
"""

from __future__ import annotations

from typing import Any

import yaml

from bluegreen.engine import Run, Step, Trace, run_steps
from bluegreen.errors import InputError
from bluegreen.phases import Goal, Phases, load_checks
from bluegreen.release import Ctx
from bluegreen.settings import DeploySettings
from bluegreen.snapshot import Snapshot

Obj = dict[str, Any]


def deploy(s: DeploySettings, ctx: Ctx, trace: Trace | None = None) -> Run:
    manifest = load_manifest(s.manifest)
    checks = load_checks(s.smoke)
    snap = ctx.read()
    goal = plan(s, ctx, snap, manifest)
    ctx.last = Run(snap)
    if s.dry_run:
        return Run(snap, notes=tuple(goal.describe()))
    if goal.desired is None and not s.hold:
        # The image is live already: verify it read-only; the lock is needed only if the last run's
        # --after-switch is still to be done.
        ph = Phases(ctx, goal, s.smoke, s.finish, timeout=float(s.timeout), checks=checks)
        if ph.nothing_to_retire(Run(snap)):
            ctx.log.info(f"image {s.image} is already live on {goal.colour}; verifying it")
            try:
                return ph.verify(Run(snap))
            finally:
                ctx.close()
    with ctx.locked(
        snap, duration=s.locking.lock_duration, force=s.locking.force_unlock, wait=s.locking.lock_wait
    ):
        # Another release may have switched between our read and our lock: plan from what is true now.
        snap = ctx.read(quotas=True)
        goal = plan(s, ctx, snap, manifest)
        ph = Phases(
            ctx, goal, s.smoke, s.finish, timeout=float(s.timeout), on_failure=s.on_failure, checks=checks
        )
        done = goal.already_live
        steps = [
            Step("adopt", lambda r: goal.adoption is None or ph.adopted(r), ph.adopt, "adopt as blue"),
            Step("green", lambda r: done(r) or ph.green_applied(r), ph.apply_green, goal.green_title),
            Step("ready", lambda r: done(r) or r.verified is not None, ph.wait_ready),
            Step("preview", lambda r: done(r) or r.verified is not None, ph.preview, goal.preview_title),
            Step("smoke", lambda r: done(r) or r.verified is not None, ph.smoke_green, "smoke tests"),
            Step("hold", lambda r: done(r) or not s.hold, ph.hold),
            Step("switch", lambda r: done(r), ph.switch),
            Step("verify", lambda r: r.checked_live, ph.verify, "verify through the live Service"),
            Step("drain", lambda r: ph.nothing_to_retire(r) or r.drained, ph.drain),
            Step("tidy", lambda r: ph.nothing_to_retire(r), ph.tidy),
        ]
        try:
            return ph.guarded(lambda: run_steps(steps, Run(snap), ctx.log, trace, on_step=ph.seen))
        finally:
            ctx.close()


def plan(s: DeploySettings, ctx: Ctx, snap: Snapshot, manifest: Obj | None) -> Goal:
    """PURE but for the namespace check behind a missing Service: what this release is to do."""
    service = ctx.service_of(snap, s.common.service)
    for name in s.common.also:
        ctx.service_of(snap, name)
    return Goal.for_deploy(s, snap, service, manifest, in_cluster=ctx.kube.in_cluster)


def load_manifest(path: str | None) -> Obj | None:
    if not path:
        return None
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except OSError as e:
        raise InputError(
            "--manifest",
            f"cannot read {path}: {e.strerror}",
            hint="check the path (relative to the working directory)",
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(
            "--manifest",
            f"{path} is not valid YAML" + (f" at line {mark.line + 1}" if mark else ""),
            hint="give one apps/v1 Deployment as YAML",
            file=path,
            line=mark.line + 1 if mark else None,
        ) from None
    if len(docs) != 1:
        raise InputError(
            "--manifest", f"{path} holds {len(docs)} documents", hint="give exactly one Deployment"
        )
    if not isinstance(docs[0], dict):
        raise InputError(
            "--manifest", f"{path} is not a Deployment", hint="give one apps/v1 Deployment as YAML"
        )
    return docs[0]
