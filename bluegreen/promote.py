"""The promotion gate. `bluegreen promote` continues a release that `deploy --hold` verified and held:
lock -> identity -> ready -> (preview, smoke) -> switch -> verify -> drain -> tidy. `bluegreen abort`
discards it: lock -> retire the held colour -> forget the hold. Live traffic is never touched by abort."""

from __future__ import annotations

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.engine import Run, Step, Trace, Verified, run_steps
from bluegreen.errors import ConcurrentChange, NothingToRollBack
from bluegreen.phases import Goal, Phases, load_checks
from bluegreen.release import Ctx, changed_since
from bluegreen.settings import AbortSettings, PromoteSettings


def promote(s: PromoteSettings, ctx: Ctx, trace: Trace | None = None) -> Run:
    checks = load_checks(s.smoke)
    snap = ctx.read()
    goal = Goal.for_promote(ctx.service_of(snap, s.common.service), snap, s.common.services)
    ctx.last = Run(snap)
    hold = goal.hold
    assert hold is not None
    if s.dry_run:
        return Run(
            snap,
            notes=(
                f"check deployment.apps/{hold.deployment} is the one verified at {hold.time} (uid, generation, pod template)",
                f"switch service/{goal.services[0]}: {goal.color_label} {goal.old_colour} -> {goal.colour} (image {hold.image})",
                f"then --after-switch {s.finish.after_switch} deployment.apps/{goal.old}",
            ),
        )
    lock = s.locking
    with ctx.locked(snap, duration=lock.lock_duration, force=lock.force_unlock, wait=lock.lock_wait):
        snap = ctx.read()
        goal = Goal.for_promote(ctx.service_of(snap, s.common.service), snap, s.common.services)
        ph = Phases(ctx, goal, s.smoke, s.finish, timeout=float(s.timeout), checks=checks)
        done = goal.already_live
        steps = [
            Step("identity", lambda r: r.verified is not None, lambda r: same_as_held(r, goal)),
            Step("ready", done, ph.wait_ready),
            Step("preview", lambda r: done(r) or not s.smoke.any, ph.preview, goal.preview_title),
            Step(
                "smoke", lambda r: done(r) or not s.smoke.any or bool(r.smoke), ph.smoke_green, "smoke tests"
            ),
            Step("switch", done, ph.switch),
            Step("verify", lambda r: r.checked_live, ph.verify, "verify through the live Service"),
            Step("drain", lambda r: ph.nothing_to_retire(r) or r.drained, ph.drain),
            Step("tidy", ph.nothing_to_retire, ph.tidy),
        ]
        try:
            return run_steps(steps, Run(snap), ctx.log, trace, on_step=ph.seen)
        finally:
            ctx.close()


def same_as_held(run: Run, goal: Goal) -> Run:
    """Promote switches exactly the Deployment that was verified, or nothing (exit 4)."""
    h = goal.hold
    assert h is not None
    verified = Verified(h.deployment, h.uid, h.generation, h.template_hash)
    why = changed_since(verified, run.snap.deployment(h.deployment))
    if why:
        raise ConcurrentChange(
            f"{why} since it was verified and held at {h.time}; nothing was switched",
            hint="deploy again (with --hold) to verify what is there now, or abort",
        )
    return run.but(verified=verified)


def abort(s: AbortSettings, ctx: Ctx, trace: Trace | None = None) -> Run:
    snap = ctx.read()
    service = ctx.service_of(snap, s.common.service)
    state = st.read_state(service)
    hold = state.hold
    ctx.last = Run(snap)
    if hold is None:
        raise NothingToRollBack(
            f"service {s.common.service!r} has no held release to abort",
            hint="`bluegreen status` shows what is recorded",
        )
    how = "delete" if s.delete else "scale-to-zero"
    label = state.color_label or st.DEFAULT_COLOR_LABEL
    if s.dry_run:
        return Run(
            snap,
            notes=(
                f"{'delete' if s.delete else 'scale to 0'} deployment.apps/{hold.deployment} "
                f"(held {hold.image} on {hold.color})",
                f"remove the hold from service/{s.common.service}",
            ),
        )
    lock = s.locking
    with ctx.locked(snap, duration=lock.lock_duration, force=lock.force_unlock, wait=lock.lock_wait):

        def retired(r: Run) -> bool:
            dep = r.snap.deployment(hold.deployment)
            return dep is None or (not s.delete and pl.replicas_of(dep) == 0)

        def unheld(r: Run) -> bool:
            return st.read_state(r.snap.service(s.common.service) or {}).hold is None

        def forget(r: Run) -> Run:
            svc = ctx.service_of(r.snap, s.common.service)
            colour = pl.selector_of(svc).get(label) or st.other_color(hold.color)
            after = ctx.switch(svc, color_label=label, to_color=colour, annotations={st.ANN_HOLD: None})
            ctx.log.info(f"service/{s.common.service}: hold of {hold.image} removed; live traffic untouched")
            return r.but(snap=r.snap.with_service(after), aborted=True)

        steps = [
            Step("retire", retired, lambda r: ctx.retire(r, hold.deployment, label, how).but(tidied=True)),
            Step("unhold", unheld, forget),
        ]
        run = run_steps(steps, Run(snap), ctx.log, trace, on_step=lambda r: setattr(ctx, "last", r))
        return run.but(aborted=True)
