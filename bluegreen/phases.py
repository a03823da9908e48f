"""The steps deploy and promote are made of: a Goal (PURE: what the release is to reach, decided from a
snapshot) and Phases (each step's guard and action). Every action returns a new Run with what it wrote
or saw; guards only read a Run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.engine import Run, Verified
from bluegreen.errors import (
    BluegreenError,
    ConcurrentChange,
    NothingToRollBack,
    ReleaseFailed,
    SmokeFailed,
    SwitchedBack,
    Unverified,
)
from bluegreen.kube import DEPLOYMENTS, SERVICES, Patch, version_of
from bluegreen.quota import shortfall
from bluegreen.release import ENDPOINTS_TIMEOUT, Ctx, changed_since, identity, now_iso
from bluegreen.settings import DeploySettings, Finish, Smoke
from bluegreen.snapshot import Snapshot

Obj = dict[str, Any]


@dataclass(frozen=True)
class Goal:
    """Where a release is headed: ``colour`` becomes live on ``target`` with ``image``; ``old`` retires."""

    services: list[str]
    color_label: str
    colour: str
    old_colour: str
    target: str
    old: str  # the Deployment that serves now and is retired after the switch
    image: str
    container: str
    desired: Obj | None  # the Deployment to apply (None: promote uses the held one as it is)
    preview: Obj
    plan: pl.ReleasePlan | None = None
    hold: st.Hold | None = None
    seen: Obj | None = (
        None  # the primary Service as planned: the switch refuses if its selector or our record moved
    )
    left_out: list[str] = field(default_factory=list)  # GitOps tracking keys not copied
    inits: list[str] = field(default_factory=list)  # init containers that get the new image too

    @classmethod
    def for_deploy(
        cls, s: DeploySettings, snap: Snapshot, service: Obj, manifest: Obj | None, *, in_cluster: bool
    ) -> Goal:
        from bluegreen.targets import check_reach

        deployments = list(snap.deployments.values())
        plan = pl.plan_release(
            service,
            deployments,
            image=s.image,
            color_label=s.color_label,
            deployment=s.deployment,
            container=s.container,
            manifest=manifest,
            preview_name=s.preview_name,
            existing_preview=snap.service(s.preview_name),
        )
        if s.smoke.any:
            check_reach(s.smoke.via, in_cluster)
            from bluegreen.targets import smoke_port

            smoke_port(
                service, s.smoke.port
            )  # a Service without that port cannot be smoke-tested: say so now
        if not plan.adoption:
            live = snap.deployment(plan.live_deployment) or {}
            pl.check_services(
                s.common.services, pl.colour_services(list(snap.services.values()), live, plan.color_label)
            )
        state = st.read_state(service)
        finishing = plan.adoption is None and plan.live_image == s.image and state.active_image == s.image
        original = plan.adoption.original if plan.adoption else plan.live_deployment
        source = manifest if manifest is not None else snap.deployment(original) or plan.target
        spec = plan.target["spec"]["template"]["spec"]
        # A run that switched and then died (finishing): the live colour is the goal, the other retires,
        # and nothing is to be applied or copied.
        goal, old = (plan.live_color, plan.idle_color) if finishing else (plan.idle_color, plan.live_color)
        target, retiring = (
            (plan.live_deployment, plan.target_name)
            if finishing
            else (plan.target_name, plan.live_deployment)
        )
        return cls(
            services=s.common.services,
            color_label=plan.color_label,
            colour=goal,
            old_colour=old,
            target=target,
            old=retiring,
            image=s.image,
            container=plan.container,
            desired=None if finishing else plan.target,
            preview=plan.preview,
            plan=plan,
            seen=None if finishing else service,
            left_out=[] if finishing else pl.gitops_keys(source),
            inits=[]
            if finishing
            else pl.migration_inits(spec, plan.container, pl.image_of(source, plan.container)),
        )

    @classmethod
    def for_promote(cls, service: Obj, snap: Snapshot, services: list[str]) -> Goal:
        state = st.read_state(service)
        hold = state.hold
        if hold is None:
            raise NothingToRollBack(
                f"service {pl.name_of(service)!r} has no held release to promote",
                hint="deploy with --hold first; `bluegreen status` shows what is recorded",
            )
        label = state.color_label or st.DEFAULT_COLOR_LABEL
        live = (
            snap.deployment(
                pl.matching(pl.selector_of(service), list(snap.deployments.values()))[0]["metadata"]["name"]
            )
            if pl.matching(pl.selector_of(service), list(snap.deployments.values()))
            else None
        )
        previews = [
            p
            for p in snap.services.values()
            if (p["metadata"].get("annotations") or {}).get(st.PREFIX + "preview-of") == pl.name_of(service)
        ]
        selector = pl.selector_with(pl.selector_of(service), label, hold.color)
        preview = pl.preview_service(
            service,
            name=pl.name_of(previews[0]) if previews else f"{pl.name_of(service)}-preview",
            selector=selector,
        )
        held = snap.deployment(hold.deployment) or {}
        container = next(
            (
                c["name"]
                for c in pl.containers(held) + pl.init_containers(held)
                if c.get("image") == hold.image
            ),
            pl.containers(held)[0]["name"] if held else "",
        )
        return cls(
            services=services,
            color_label=label,
            colour=hold.color,
            old_colour=st.other_color(hold.color),
            target=hold.deployment,
            old=pl.name_of(live) if live else "",
            image=hold.image,
            container=container,
            desired=None,
            preview=preview,
            hold=hold,
        )

    @property
    def adoption(self) -> pl.Adoption | None:
        return self.plan.adoption if self.plan is not None else None

    def primary(self, run: Run) -> Obj:
        return run.snap.service(self.services[0]) or {}

    def already_live(self, run: Run) -> bool:
        svc = self.primary(run)
        return (
            pl.selector_of(svc).get(self.color_label) == self.colour
            and st.read_state(svc).active_image == self.image
        )

    @property
    def green_title(self) -> str:
        return f"deploy {self.colour}: deployment.apps/{self.target}"

    @property
    def preview_title(self) -> str:
        return f"preview: service/{pl.name_of(self.preview)}"

    def describe(self) -> list[str]:
        if self.plan is not None and self.desired is None:
            return [
                f"image {self.image} is already live on {self.colour}",
                f"finish the release: retire deployment.apps/{self.old} as --after-switch says",
            ]
        return self.plan.describe() if self.plan is not None else []


class Phases:
    def __init__(
        self,
        ctx: Ctx,
        goal: Goal,
        smoke: Smoke,
        finish: Finish,
        *,
        timeout: float,
        on_failure: str = "keep",
        checks: list[Any] | None = None,
    ) -> None:
        self.ctx, self.goal, self.smoke_settings, self.finish = ctx, goal, smoke, finish
        self.timeout = float(timeout)
        self.on_failure = on_failure
        self.log = ctx.log
        self._checks: list[Any] | None = checks
        self._pre_switch: dict[str, Obj] = {}

    def seen(self, run: Run) -> None:
        self.ctx.last = run

    # ---------------------------------------------------------------------------------------- guards

    def adopted(self, run: Run) -> bool:
        return self.goal.color_label in pl.selector_of(self.goal.primary(run))

    def green_applied(self, run: Run) -> bool:
        """The target exists as we would write it (the hash of the template we send is on it)."""
        dep, want = run.snap.deployment(self.goal.target), self.goal.desired
        if dep is None or want is None:
            return dep is not None
        ann = dep["metadata"].get("annotations") or {}
        return ann.get(st.ANN_TEMPLATE_HASH) == want["metadata"]["annotations"][st.ANN_TEMPLATE_HASH] and (
            pl.replicas_of(dep) >= pl.replicas_of(want)
        )

    def nothing_to_retire(self, run: Run) -> bool:
        if not self.goal.already_live(run) or self.finish.after_switch == "keep":
            return True
        old = run.snap.deployment(self.goal.old)
        return (
            old is None
            or (self.finish.after_switch == "scale-to-zero" and pl.replicas_of(old) == 0)
            or run.tidied
        )

    # --------------------------------------------------------------------------------------- actions

    def _pods(self) -> Any:
        return self.ctx.pods(pl.selector_with(self._base_selector(), self.goal.color_label, self.goal.colour))

    def _base_selector(self) -> dict[str, str]:
        return dict(self.goal.preview["spec"]["selector"])

    def adopt(self, run: Run) -> Run:
        plan = self.goal.plan
        assert plan is not None and plan.adoption is not None
        a, ctx = plan.adoption, self.ctx
        with ctx.colour_pods(a.blue["spec"]["selector"]["matchLabels"]) as pods:
            blue, _ = ctx.kube.apply(DEPLOYMENTS, a.blue, run.snap.deployment(pl.name_of(a.blue)))
            blue = ctx.wait_rollout(blue, container=plan.container, timeout=self.timeout, pods=pods)
            service = self.goal.primary(run)
            new_state = st.after_switch(
                st.read_state(service),
                to_color=plan.live_color,
                to_image=plan.live_image,
                from_color=None,
                from_image=None,
                from_replicas=None,
                color_label=plan.color_label,
                action="adopt",
                time=now_iso(),
                release_id=ctx.release_id,
                run_url=ctx.run_url,
                template_hash=st.template_hash(blue["spec"]["template"]),
            )
            with ctx.slices(plan.service) as slices:
                switched = ctx.switch(
                    service,
                    color_label=plan.color_label,
                    to_color=plan.live_color,
                    annotations=st.to_annotations(new_state),
                )
                self.log.info(
                    f"service/{plan.service} switched to {pl.fmt_selector(a.selector)} (same image: harmless)"
                )
                try:
                    ctx.gate(
                        plan.service,
                        pods,
                        desired=pl.replicas_of(blue),
                        color=plan.live_color,
                        timeout=ENDPOINTS_TIMEOUT,
                        slices=slices,
                    )
                except ReleaseFailed as e:
                    raise Unverified(
                        f"service/{plan.service} now selects {pl.fmt_selector(a.selector)} (the same image), but its "
                        f"endpoints did not follow: {e}",
                        hint="look now: bluegreen status",
                    ) from None
        self.log.notice(
            f"deployment.apps/{a.original} no longer receives traffic from service/{plan.service}; delete it once you "
            f"are confident: kubectl delete deployment {a.original} -n {plan.namespace}"
        )
        return run.but(snap=run.snap.with_deployment(blue).with_service(switched))

    def apply_green(self, run: Run) -> Run:
        g, ctx = self.goal, self.ctx
        assert g.desired is not None
        if g.left_out:
            self.log.info(
                f"not copied to deployment.apps/{g.target} (GitOps/Helm tracking): {', '.join(g.left_out)}"
            )
        if g.inits:
            self.log.info(
                f"init container(s) {', '.join(g.inits)} run the same repository: they get {g.image} too"
            )
        existing = run.snap.deployment(g.target)
        new_pods = pl.replicas_of(g.desired)
        short = shortfall(list(run.snap.quotas), g.desired["spec"]["template"]["spec"], new_pods)
        if short:
            raise ReleaseFailed(
                f"the new colour does not fit the namespace's quota: {short}; nothing was written",
                hint="raise the quota, or lower the replicas or resource requests",
            )
        try:
            _, (dep, created) = ctx.kube.parallel(
                self._pods, lambda: ctx.kube.apply(DEPLOYMENTS, g.desired or {}, existing)
            )
        except BluegreenError as e:
            raise ReleaseFailed(f"the API server refused to write deployment.apps/{g.target}: {e}") from None
        self.log.info(f"deployment.apps/{g.target} {'created' if created else 'configured'}")
        return run.but(snap=run.snap.with_deployment(dep))

    def wait_ready(self, run: Run) -> Run:
        dep = run.snap.deployment(self.goal.target)
        if dep is None:
            raise ReleaseFailed(f"deployment.apps/{self.goal.target} does not exist")
        dep = self.ctx.wait_rollout(
            dep, container=self.goal.container, timeout=self.timeout, pods=self._pods()
        )
        return run.but(snap=run.snap.with_deployment(dep))

    def preview(self, run: Run) -> Run:
        g, ctx = self.goal, self.ctx
        name = pl.name_of(g.preview)
        existing = run.snap.service(name)
        if existing is None or pl.selector_of(existing) != pl.selector_of(g.preview):
            # The endpoints watch opens in the same round trip as the write it waits on.
            slices, svc = ctx.kube.parallel(
                lambda: ctx.endpoints(name), lambda: self._apply_preview(existing)
            )
            run = run.but(snap=run.snap.with_service(svc))
        else:
            slices = ctx.endpoints(name)
        dep = run.snap.deployment(g.target) or {}
        ctx.gate(
            name,
            self._pods(),
            desired=pl.replicas_of(dep),
            color=g.colour,
            timeout=min(self.timeout, ENDPOINTS_TIMEOUT),
            slices=slices,
        )
        return run

    def _apply_preview(self, existing: Obj | None) -> Obj:
        g, kube = self.goal, self.ctx.kube
        name = pl.name_of(g.preview)
        selector = pl.fmt_selector(g.preview["spec"]["selector"])
        if existing is None:
            try:
                created = kube.create(SERVICES, g.preview)
                self.log.info(f"service/{name} created (selector {selector})")
                return created
            except BluegreenError as e:
                existing = kube.find(SERVICES, name)
                if existing is None:
                    raise ReleaseFailed(f"the API server refused to write service/{name}: {e}") from None
                if (existing["metadata"].get("labels") or {}).get(st.ROLE_KEY) != st.ROLE_PREVIEW:
                    raise ReleaseFailed(
                        f"service/{name} was created meanwhile, not by bluegreen",
                        hint="pass another --preview-service name",
                    ) from None
        # A JSON patch replaces the selector whole (a merge patch would keep stale keys), guarded by the version.
        meta = existing["metadata"]
        ops: list[Obj] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version_of(existing)},
            {"op": "add", "path": "/spec/selector", "value": g.preview["spec"]["selector"]},
            {"op": "add", "path": "/spec/ports", "value": g.preview["spec"]["ports"]},
            {
                "op": "add",
                "path": "/metadata/labels",
                "value": {**(meta.get("labels") or {}), **g.preview["metadata"]["labels"]},
            },
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {**(meta.get("annotations") or {}), **g.preview["metadata"]["annotations"]},
            },
        ]
        try:
            updated = kube.patch(SERVICES, name, ops, Patch.JSON)
        except BluegreenError as e:
            raise ReleaseFailed(f"the API server refused to write service/{name}: {e}") from None
        self.log.info(f"service/{name} configured (selector {selector})")
        return updated

    def smoke_green(self, run: Run) -> Run:
        preview = run.snap.service(pl.name_of(self.goal.preview)) or self.goal.preview
        if not self.smoke_settings.any:
            self.log.warning(
                "no smoke tests configured: only the endpoint gate applied (all new pods ready and "
                "behind the preview Service); pass --smoke-path to test more"
            )
        results = self._smoke(preview, with_command=True)
        failed = failed_smoke(results)
        if failed:
            raise SmokeFailed(failed)
        dep = run.snap.deployment(self.goal.target) or {}
        return run.but(smoke=run.smoke + tuple(results), verified=identity(dep))

    def checks(self) -> list[Any]:
        if self._checks is None:
            self._checks = load_checks(self.smoke_settings)
        return self._checks

    def _smoke(self, service: Obj, *, with_command: bool) -> list[Any]:
        from bluegreen.smoke import LocalForwarder, run_checks, run_command
        from bluegreen.targets import smoke_target

        checks, s = self.checks(), self.smoke_settings
        results: list[Any] = []
        if not checks and not (with_command and s.command):
            return results
        target = smoke_target(self.ctx.kube, service, s.via, s.port)
        self.log.info(f"smoke checks against {target.description}")
        if checks:
            results += run_checks(checks, target, self.log)
            if any(
                x.status == 403 and "services/proxy" in x.detail and "forbidden" in x.detail for x in results
            ):
                raise self.ctx.proxy_denied(pl.name_of(service))  # a missing permission, not a failing app
        if with_command and s.command:
            with LocalForwarder(target, log=self.log) as fwd:
                results.append(run_command(s.command, fwd.url, self.log, timeout=self.timeout))
        return results

    def hold(self, run: Run) -> Run:
        g, ctx = self.goal, self.ctx
        service = g.primary(run)
        v = run.verified
        assert v is not None
        hold = st.Hold(
            color=g.colour,
            image=g.image,
            deployment=g.target,
            uid=v.uid,
            generation=v.generation,
            template_hash=v.template_hash,
            time=now_iso(),
            run_url=ctx.run_url,
            release_id=ctx.release_id,
        )
        previous = st.read_state(service).hold
        if previous is not None:
            self.log.info(
                f"replacing the hold of {previous.image} on {previous.color} (from {previous.time})"
            )
        held = ctx.switch(
            service,
            color_label=g.color_label,
            to_color=g.old_colour,
            annotations={st.ANN_HOLD: hold.to_json()},
        )
        self.log.notice(
            f"{g.image} is verified on {g.colour} and held: traffic stays on {g.old_colour}; "
            f"`bluegreen promote --service {g.services[0]}` switches, `bluegreen abort` discards it"
        )
        return run.but(snap=run.snap.with_service(held), held=True)

    def switch(self, run: Run) -> Run:
        g, ctx = self.goal, self.ctx
        # Fresh copies of what the switch depends on; the live Services' endpoint watches open meanwhile,
        # before the switch, so the gate after it sees every change.
        run = ctx.kube.parallel(
            lambda: ctx.reread(run, [g.target, g.old]), *[lambda n=n: ctx.endpoints(n) for n in g.services]
        )[0]
        for name in g.services:
            ctx.endpoints(name).ready()
        run = self._same_as_verified(run)
        run = self._capacity(run)
        service = g.primary(run)
        ours = (st.ANN_ACTIVE_COLOR, st.ANN_ACTIVE_IMAGE, st.ANN_RELEASE_ID)
        planned = g.seen or service
        expected = g.adoption.selector if g.adoption else pl.selector_of(planned)
        if pl.selector_of(service) != expected or (
            not g.adoption
            and any(
                (service["metadata"].get("annotations") or {}).get(k)
                != (planned["metadata"].get("annotations") or {}).get(k)
                for k in ours
            )
        ):
            raise ConcurrentChange(
                f"service/{g.services[0]} changed while bluegreen prepared {g.colour} (selector now "
                f"{pl.fmt_selector(pl.selector_of(service))}); nothing was switched",
                hint="look at who changed it, then re-run",
            )
        old = run.snap.deployment(g.old)
        before = st.read_state(service)
        assert run.verified is not None
        new_state = st.after_switch(
            before,
            to_color=g.colour,
            to_image=g.image,
            from_color=g.old_colour,
            from_image=before.active_image
            if before.known
            else (pl.image_of(old, g.container) if old else None),
            from_replicas=pl.replicas_of(old) if old else None,
            color_label=g.color_label,
            action="promote" if g.hold else "deploy",
            time=now_iso(),
            release_id=ctx.release_id,
            run_url=ctx.run_url,
            template_hash=run.verified.template_hash,
        )
        self._pre_switch = {n: run.snap.service(n) or {} for n in g.services}
        intent = self.finish.after_switch if self.finish.after_switch != "keep" else None
        state = {**st.to_annotations(new_state), st.ANN_AFTER_SWITCH: intent}
        # The request runs in a worker and this thread waits for its answer even through a cancel: only
        # once the request has finished can a read-back tell whether traffic moved.
        future = ctx.kube.pool().submit(
            ctx.switch_all, run, g.services, color_label=g.color_label, to_color=g.colour, state=state
        )
        interrupted: BaseException | None = None
        while True:
            try:
                run = future.result()
                break
            except (BluegreenError, Exception):
                raise
            except BaseException as e:  # cancelled while the switch is in flight: let it finish first
                interrupted = interrupted or e
                if future.done():
                    break
        if interrupted is not None:
            self._undo_interrupted(run, interrupted)
            raise interrupted
        self.log.info(f"service/{g.services[0]} switched: {g.color_label} {g.old_colour} -> {g.colour}")
        return run.but(switched=True)

    def _same_as_verified(self, run: Run) -> Run:
        v = run.verified
        assert v is not None
        why = changed_since(v, run.snap.deployment(self.goal.target))
        if why:
            raise ConcurrentChange(
                f"{why} after it was verified; nothing was switched",
                hint="re-run to verify what is there now",
            )
        return run

    def _capacity(self, run: Run) -> Run:
        """Never switch to fewer ready pods than serve live traffic now: scale the new colour up first."""
        g = self.goal
        old, dep = run.snap.deployment(g.old), run.snap.deployment(g.target)
        live_ready = int(((old or {}).get("status") or {}).get("readyReplicas") or 0)
        if dep is None or pl.replicas_of(dep) >= live_ready:
            return run
        self.log.info(
            f"deployment.apps/{g.target} runs {pl.replicas_of(dep)} replicas but {g.old_colour} serves "
            f"with {live_ready} ready: scaling it to {live_ready} before the switch"
        )
        scaled = self.ctx.scale_up(dep, live_ready, run.verified)
        scaled = self.ctx.wait_rollout(scaled, container=g.container, timeout=self.timeout, pods=self._pods())
        return run.but(snap=run.snap.with_deployment(scaled), verified=identity(scaled))

    def _undo_interrupted(self, run: Run, cause: BaseException) -> None:
        g = self.goal
        try:
            now = self.ctx.kube.find(SERVICES, g.services[0])
        except BaseException as e:
            raise Unverified(
                f"interrupted during the switch, and service/{g.services[0]} could not be read back ({e})",
                hint="look now: bluegreen status",
            ) from None
        if now is None or pl.selector_of(now).get(g.color_label) != g.colour:
            return  # the switch did not land: live traffic is as it was
        self._switch_back(
            run.but(snap=run.snap.with_service(now)), f"interrupted ({type(cause).__name__})", cause
        )

    def verify(self, run: Run) -> Run:
        g, ctx = self.goal, self.ctx
        dep = run.snap.deployment(g.target) or {}
        try:
            for name in g.services:
                ctx.gate(
                    name,
                    self._pods(),
                    desired=pl.replicas_of(dep),
                    color=g.colour,
                    timeout=min(self.timeout, ENDPOINTS_TIMEOUT),
                    slices=ctx.endpoints(name),
                )
            results = self._smoke(g.primary(run), with_command=False)
            failed = failed_smoke(results)
            if failed:
                raise SmokeFailed(f"after the switch: {failed}")
        except BaseException as e:  # also a cancelled job: never leave traffic on an unverified colour
            if not run.switched:  # an earlier run switched: report, switching back is rollback's decision
                if isinstance(e, ReleaseFailed):
                    raise ReleaseFailed(
                        f"{g.image} is already live on {g.colour}, but it fails verification: {e}",
                        hint="roll back with `bluegreen rollback`, or deploy a good image",
                    ) from None
                raise
            self._switch_back(run, str(e) or type(e).__name__, e)
        return run.but(smoke=run.smoke + tuple(results), checked_live=True)

    def _switch_back(self, run: Run, why: str, cause: BaseException) -> None:
        g, ctx = self.goal, self.ctx
        self.log.error(f"verification after the switch failed: {why}")
        # Our record as it was before this run's switch: the previous colour live again, as if never switched.
        before = self._pre_switch.get(g.services[0]) or g.primary(run)
        restore = {k: (before["metadata"].get("annotations") or {}).get(k) for k in st.STATE_ANNOTATIONS}
        try:
            back = ctx.switch_all(
                run, g.services, color_label=g.color_label, to_color=g.old_colour, state=restore
            )
            ctx.last = back.but(switched=False)
        except BluegreenError as e:
            raise Unverified(
                f"verification failed ({why}) and switching back failed too ({e}); traffic is on "
                f"{g.colour}, unverified",
                hint="look now: bluegreen status, then rollback",
            ) from None
        self.log.info(f"service/{g.services[0]} switched back: {g.color_label} {g.colour} -> {g.old_colour}")
        if not isinstance(cause, Exception):  # a cancelled job: the truth is that traffic moved and came back
            raise SwitchedBack(
                f"interrupted after the switch to {g.colour} was sent; traffic is back on {g.old_colour}"
            )
        raise SwitchedBack(
            f"switched to {g.colour}, but verification failed ({why}); traffic is back on {g.old_colour}"
        )

    def drain(self, run: Run) -> Run:
        self.ctx.drain(float(self.finish.scale_down_delay), self.goal.old)
        return run.but(drained=True)

    def tidy(self, run: Run) -> Run:
        how = self.finish.after_switch
        try:
            run = self.ctx.retire(run, self.goal.old, self.goal.color_label, how)
        except ConcurrentChange:
            raise
        except BluegreenError as e:  # the release is live and verified: report, don't fail it
            self.log.warning(
                f"{self.goal.image} is live and verified, but --after-switch {how} of "
                f"deployment.apps/{self.goal.old} failed: {e}; do it by hand"
            )
        return run.but(tidied=True)

    # -------------------------------------------------------------------------------------- failure

    def guarded(self, body: Callable[[], Run]) -> Run:
        """Run the steps; a failure before the switch applies --on-failure to the new colour (only if no
        Service selects it now and we still hold the lock)."""
        try:
            return body()
        except BaseException:
            last = self.ctx.last
            if (
                self.on_failure == "delete"
                and last is not None
                and not last.switched
                and self.goal.desired is not None
            ):
                try:
                    self.ctx.retire(last, self.goal.target, self.goal.color_label, "delete")
                except BluegreenError as e:  # never let tidying up hide why the release failed
                    self.log.warning(f"could not apply --on-failure delete: {e}")
            elif self.goal.desired is not None and last is not None and not last.switched:
                self.log.info(
                    f"deployment.apps/{self.goal.target} kept for debugging (--on-failure keep); "
                    f"it receives no live traffic"
                )
            raise


def load_checks(smoke: Smoke) -> list[Any]:
    """The HTTP checks of --smoke-path and --smoke-file: read before anything is written, so a bad file
    is bad input (exit 2) and not a failed release."""
    from bluegreen.smoke import checks_from_paths, load_smoke_file

    checks = checks_from_paths(smoke.paths)
    if smoke.file:
        checks += load_smoke_file(smoke.file)
    return checks


def failed_smoke(results: list[Any]) -> str | None:
    bad = [x for x in results if not x.ok]
    if not bad:
        return None
    # The response body is in the check's own log line above: the summary line says what failed, once.
    detail = bad[0].detail.split("; body:", 1)[0]
    return f"{len(bad)} of {len(results)} smoke checks failed; first: {bad[0].name}: {detail}"


__all__ = ["Goal", "Phases", "Verified"]
