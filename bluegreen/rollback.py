"""`bluegreen rollback`: switch the live Service back to the previous colour, in the same conditional
single request as a release, after making sure that colour is there and ready."""

from __future__ import annotations

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.errors import ConcurrentChange, ReleaseFailed, Unverified
from bluegreen.kube import APPS, MERGE_PATCH, Kube
from bluegreen.log import StepLog
from bluegreen.release import ENDPOINTS_TIMEOUT, Release, now_iso
from bluegreen.report import Outcome
from bluegreen.settings import RollbackSettings


def rollback(s: RollbackSettings, kube: Kube, log: StepLog, outcome: Outcome) -> Outcome:
    r = Release(kube, log, outcome)
    name = s.common.service
    outcome.service = name
    service = r.read_service(name)
    state = st.read_state(service)
    outcome.history = [h.to_dict() for h in state.history]
    outcome.active_color = pl.selector_of(service).get(state.color_label or st.DEFAULT_COLOR_LABEL)
    outcome.image = state.active_image
    plan = pl.plan_rollback(service, r.deployments())
    outcome.active_deployment = plan.from_deployment
    if s.dry_run:
        outcome.result, outcome.plan = "dry-run", plan.describe()
        for line in outcome.plan:
            log.info(f"dry-run: {line}")
        return outcome

    with r.locked(name, duration=s.lock_duration, force=s.force_unlock) as lock:
        to_selector = pl.selector_with(pl.selector_of(service), plan.color_label, plan.to_color)
        with r.colour_pods(to_selector) as pods:
            target = plan.to_deployment
            if plan.restore_replicas:
                target = kube.patch(
                    APPS,
                    "deployments",
                    plan.to_name,
                    {
                        "metadata": {"resourceVersion": target["metadata"]["resourceVersion"]},
                        "spec": {"replicas": plan.restore_replicas},
                    },
                    MERGE_PATCH,
                )
                log.info(f"deployment.apps/{plan.to_name} scaled to {plan.restore_replicas}")
            container = next(
                (c["name"] for c in pl.containers(target) if c.get("image") == plan.to_image),
                pl.containers(target)[0]["name"],
            )
            target = r.wait_rollout(target, container=container, timeout=s.timeout, pods=pods)
            desired = pl.replicas_of(target)
            if desired <= 0 or len(r.ready(pods)) < desired:
                raise ReleaseFailed(
                    f"{plan.to_color} has {len(r.ready(pods))} ready pods of {desired}; nothing was switched"
                )
            if lock.lost:
                raise ConcurrentChange(f"{lock.lost}; nothing was switched")
            new_state = st.after_switch(
                state,
                to_color=plan.to_color,
                to_image=plan.to_image,
                from_color=plan.from_color,
                from_image=plan.from_image,
                from_replicas=plan.from_replicas,
                color_label=plan.color_label,
                action="rollback",
                time=now_iso(),
                release_id=r.release_id,
                run_url=r.run_url,
            )
            r.switch(service, color_label=plan.color_label, to_color=plan.to_color, new_state=new_state)
            log.info(f"service/{name} switched: {plan.color_label} {plan.from_color} -> {plan.to_color}")
            outcome.switched = True
            outcome.active_color, outcome.active_deployment, outcome.image = (
                plan.to_color,
                plan.to_name,
                plan.to_image,
            )
            outcome.previous_color, outcome.previous_deployment = plan.from_color, plan.from_deployment
            outcome.previous_image = plan.from_image
            outcome.history = [h.to_dict() for h in new_state.history]
            try:
                r.gate(
                    name,
                    pods,
                    desired=desired,
                    color=plan.to_color,
                    timeout=min(s.timeout, ENDPOINTS_TIMEOUT),
                )
            except ReleaseFailed as e:
                raise Unverified(
                    f"switched back to {plan.to_color}, but its endpoints did not follow: {e}",
                    hint="look now: bluegreen status",
                ) from None
    outcome.result = "rolled-back"
    outcome.message = f"rolled back: {plan.to_image} is live on {plan.to_color}"
    log.info(outcome.message)
    return outcome
