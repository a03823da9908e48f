"""`bluegreen rollback`: switch the live Service back to the previous colour, in the same conditional
single request as a release: lock -> scale -> ready -> switch -> verify.

It refuses while a release is held, does nothing when the live release is itself a rollback (pressing it
twice must not put the bad release back), and never switches to fewer ready pods than serve now."""

from __future__ import annotations

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.engine import Run, Step, Trace, run_steps
from bluegreen.errors import ReleaseFailed, Unverified
from bluegreen.release import ENDPOINTS_TIMEOUT, Ctx, now_iso
from bluegreen.settings import RollbackSettings


def rollback(s: RollbackSettings, ctx: Ctx, trace: Trace | None = None) -> Run:
    snap = ctx.read()
    service = ctx.service_of(snap, s.common.service)
    ctx.last = Run(snap)
    noop = pl.rollback_noop(st.read_state(service), s.to)
    if noop:
        ctx.log.info(f"nothing to roll back: {noop}")
        return Run(snap, notes=(noop,))
    plan = pl.plan_rollback(service, list(snap.deployments.values()), to=s.to)
    if s.dry_run:
        return Run(snap, notes=tuple(plan.describe()))
    selector = pl.selector_with(pl.selector_of(service), plan.color_label, plan.to_color)
    names = s.common.services
    lock = s.locking
    # The pods and endpoints watches open in the same round trip as the lock.
    opening = [lambda: ctx.pods(selector), *[lambda n=n: ctx.endpoints(n) for n in names]]
    with ctx.locked(
        snap, duration=lock.lock_duration, force=lock.force_unlock, wait=lock.lock_wait, also=opening
    ):
        pods = ctx.pods(selector)

        def target(r: Run) -> dict:
            return r.snap.deployment(plan.to_name) or plan.to_deployment

        def scale(r: Run) -> Run:
            assert plan.restore_replicas is not None
            scaled = ctx.scale_up(target(r), plan.restore_replicas)
            ctx.log.info(
                f"deployment.apps/{plan.to_name} scaled to {plan.restore_replicas} (the live colour's ready count)"
            )
            return r.but(snap=r.snap.with_deployment(scaled))

        def ready(r: Run) -> Run:
            dep = ctx.wait_rollout(target(r), container=_container(plan), timeout=float(s.timeout), pods=pods)
            if len(ctx.ready(pods)) < max(plan.restore_replicas or 0, pl.replicas_of(dep), 1):
                raise ReleaseFailed(
                    f"{plan.to_color} has {len(ctx.ready(pods))} ready pods of {pl.replicas_of(dep)}; "
                    f"nothing was switched"
                )
            return r.but(snap=r.snap.with_deployment(dep))

        def switch(r: Run) -> Run:
            before = st.read_state(service)
            new_state = st.after_switch(
                before,
                to_color=plan.to_color,
                to_image=plan.to_image,
                from_color=plan.from_color,
                from_image=plan.from_image,
                from_replicas=plan.from_replicas,
                color_label=plan.color_label,
                action="rollback",
                time=now_iso(),
                release_id=ctx.release_id,
                run_url=ctx.run_url,
                template_hash=st.template_hash(target(r)["spec"]["template"]),
            )
            r = ctx.switch_all(
                r,
                names,
                color_label=plan.color_label,
                to_color=plan.to_color,
                state=st.to_annotations(new_state),
            )
            ctx.log.info(
                f"service/{plan.service} switched: {plan.color_label} {plan.from_color} -> {plan.to_color}"
            )
            return r.but(switched=True)

        def verify(r: Run) -> Run:
            try:
                for n in names:
                    ctx.gate(
                        n,
                        pods,
                        desired=pl.replicas_of(target(r)),
                        color=plan.to_color,
                        timeout=min(float(s.timeout), ENDPOINTS_TIMEOUT),
                        slices=ctx.endpoints(n),
                    )
            except ReleaseFailed as e:
                raise Unverified(
                    f"switched back to {plan.to_color}, but its endpoints did not follow: {e}",
                    hint="look now: bluegreen status",
                ) from None
            return r.but(checked_live=True)

        def live(r: Run) -> bool:
            return pl.selector_of(r.snap.service(plan.service) or {}).get(plan.color_label) == plan.to_color

        steps = [
            Step(
                "scale",
                lambda r: plan.restore_replicas is None or pl.replicas_of(target(r)) >= plan.restore_replicas,
                scale,
            ),
            Step("ready", lambda r: live(r), ready),
            Step("switch", live, switch),
            Step("verify", lambda r: r.checked_live, verify),
        ]
        try:
            return run_steps(steps, Run(snap), ctx.log, trace, on_step=lambda r: setattr(ctx, "last", r))
        finally:
            ctx.close()


def _container(plan: pl.RollbackPlan) -> str:
    cs = pl.containers(plan.to_deployment) + pl.init_containers(plan.to_deployment)
    return next((c["name"] for c in cs if c.get("image") == plan.to_image), cs[0]["name"])
