"""`bluegreen deploy`: read -> plan -> lock -> (adopt) -> green -> ready -> preview -> smoke -> switch ->
verify -> tidy.

Each step works from what the cluster shows, so a re-run after a crash continues instead of breaking, and
nothing touches the live Service before the one conditional switch request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.errors import (
    BluegreenError,
    ConcurrentChange,
    InputError,
    PermissionDenied,
    ReleaseFailed,
    SmokeFailed,
    SwitchedBack,
    Unverified,
)
from bluegreen.kube import APPS, CORE, JSON_PATCH, MERGE_PATCH, ApiFailure, Kube, permission_message
from bluegreen.lock import ReleaseLock
from bluegreen.log import StepLog
from bluegreen.release import ENDPOINTS_TIMEOUT, Release, now_iso, smoke_port
from bluegreen.report import Outcome
from bluegreen.settings import DeploySettings
from bluegreen.smoke import (
    LocalForwarder,
    SmokeCheck,
    SmokeResult,
    checks_from_paths,
    load_smoke_file,
    run_checks,
    run_command,
)

Obj = dict[str, Any]


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
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(
            "--manifest", f"{path} is not valid YAML{where}", hint="give one apps/v1 Deployment as YAML"
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


def load_checks(s: DeploySettings) -> list[SmokeCheck]:
    checks = checks_from_paths(s.smoke_paths)
    if s.smoke_file:
        checks += load_smoke_file(s.smoke_file)
    return checks


@dataclass(frozen=True)
class Seen:
    """What the cluster showed when we planned; writes carry these objects' resourceVersions."""

    service: Obj
    deployments: dict[str, Obj]
    preview: Obj | None


def deploy(s: DeploySettings, kube: Kube, log: StepLog, outcome: Outcome) -> Outcome:
    r = Release(kube, log, outcome)
    outcome.service, outcome.image = s.common.service, s.image
    manifest = load_manifest(s.manifest)
    checks = load_checks(s)

    with log.step("plan"):
        plan, seen = _plan(r, s, manifest)
        if checks or s.smoke_command:
            smoke_port(seen.service)  # a Service without ports cannot be smoke-tested: say so before writing
    _describe_live(outcome, plan)
    log.info(
        f"service/{plan.service} serves {plan.color_label}={plan.live_color} "
        f"(deployment.apps/{plan.live_deployment}, image {plan.live_image})"
    )
    live_already = _already_live(plan, seen.service)
    if live_already and not _pending_tidy(s, plan, seen):
        _verify_live(r, s, plan, seen, checks)
        return _unchanged(r, plan, seen, outcome)
    if s.dry_run:
        outcome.result = "dry-run"
        outcome.plan = (
            [
                f"image {plan.image} is already live on {plan.live_color}",
                f"finish the release: --after-switch {s.after_switch} deployment.apps/{plan.target_name}",
            ]
            if live_already
            else plan.describe()
        )
        for line in outcome.plan:
            log.info(f"dry-run: {line}")
        log.info("dry-run: nothing was changed")
        return outcome

    with r.locked(s.common.service, duration=s.lock_duration, force=s.force_unlock) as lock:
        # A release that switched between our read and the lock changes which colour is idle: plan again.
        now = r.read_service(s.common.service)
        if now["metadata"].get("resourceVersion") != seen.service["metadata"].get("resourceVersion"):
            plan, seen = _plan(r, s, manifest)
        if plan.adoption:
            with log.group("adopt the existing Deployment as blue"), log.step("adopt"):
                _adopt(r, s, plan, seen)
            plan, seen = _plan(r, s, manifest)
        _describe_live(outcome, plan)
        if _already_live(plan, seen.service):
            # A run that switched and then died: verify what is live and finish what it was asked to do.
            log.info(f"image {plan.image} is already live on {plan.live_color}; finishing the release")
            _verify_live(r, s, plan, seen, checks)
            if _pending_tidy(s, plan, seen):
                _after_switch(r, s, plan.target_name, st.read_state(seen.service).previous_replicas)
            return _unchanged(r, plan, seen, outcome)
        _release(r, s, plan, seen, checks, lock)
    return outcome


def _plan(r: Release, s: DeploySettings, manifest: Obj | None) -> tuple[pl.ReleasePlan, Seen]:
    service = r.read_service(s.common.service)
    deployments = r.deployments()
    preview = r.kube.get(CORE, "services", s.preview_name)
    plan = pl.plan_release(
        service,
        deployments,
        image=s.image,
        color_label=s.color_label,
        deployment=s.deployment,
        container=s.container,
        manifest=manifest,
        preview_name=s.preview_name,
        existing_preview=preview,
    )
    return plan, Seen(service, {pl.name_of(d): d for d in deployments}, preview)


def _describe_live(o: Outcome, plan: pl.ReleasePlan) -> None:
    """Before the switch, outputs say where traffic is: the live colour."""
    o.active_color, o.active_deployment, o.previous_image = (
        plan.live_color,
        plan.live_deployment,
        plan.live_image,
    )
    o.previous_color, o.previous_deployment = None, None


def _already_live(plan: pl.ReleasePlan, service: Obj) -> bool:
    state = st.read_state(service)
    return plan.adoption is None and plan.live_image == plan.image and state.active_image == plan.image


def _pending_tidy(s: DeploySettings, plan: pl.ReleasePlan, seen: Seen) -> bool:
    """Is --after-switch still to be applied to the previous colour (a run died after its switch)?"""
    idle = seen.deployments.get(plan.target_name)
    if idle is None or s.after_switch == "keep":
        return False
    return s.after_switch == "delete" or pl.replicas_of(idle) > 0


def _verify_live(
    r: Release, s: DeploySettings, plan: pl.ReleasePlan, seen: Seen, checks: list[SmokeCheck]
) -> None:
    """The image is already live (an earlier run switched): check it is served and healthy, read-only."""
    live = seen.deployments.get(plan.live_deployment) or {}
    try:
        with r.colour_pods(pl.selector_of(seen.service)) as pods:
            r.gate(
                plan.service,
                pods,
                desired=pl.replicas_of(live),
                color=plan.live_color,
                timeout=min(s.timeout, ENDPOINTS_TIMEOUT),
            )
        failed = _failed_smoke(_smoke(r, s, checks, seen.service, with_command=False))
        if failed:
            raise SmokeFailed(failed)
    except ReleaseFailed as e:
        raise ReleaseFailed(
            f"{plan.image} is already live on {plan.live_color}, but it fails verification: {e}",
            hint="roll back with `bluegreen rollback`, or deploy a good image",
        ) from None


def _unchanged(r: Release, plan: pl.ReleasePlan, seen: Seen, o: Outcome) -> Outcome:
    state = st.read_state(seen.service)
    r.log.info(f"image {plan.image} is live on {plan.live_color}; nothing more to do")
    o.result = "unchanged"
    o.image = plan.image
    o.previous_color, o.previous_image = state.previous_color, state.previous_image
    o.previous_deployment = plan.target_name if plan.target_exists else None
    o.history = [h.to_dict() for h in state.history]
    return o


def _adopt(r: Release, s: DeploySettings, plan: pl.ReleasePlan, seen: Seen) -> None:
    assert plan.adoption is not None
    a, service = plan.adoption, seen.service
    with r.colour_pods(a.blue["spec"]["selector"]["matchLabels"]) as pods:
        blue = _apply_deployment(r, a.blue, seen.deployments.get(pl.name_of(a.blue)))
        blue = r.wait_rollout(blue, container=plan.container, timeout=s.timeout, pods=pods)
        state = st.read_state(service)
        new_state = st.after_switch(
            state,
            to_color=plan.live_color,
            to_image=plan.live_image,
            from_color=None,
            from_image=None,
            from_replicas=None,
            color_label=plan.color_label,
            action="adopt",
            time=now_iso(),
            release_id=r.release_id,
            run_url=r.run_url,
        )
        r.switch(service, color_label=plan.color_label, to_color=plan.live_color, new_state=new_state)
        r.log.info(f"service/{plan.service} switched to {pl.fmt_selector(a.selector)} (same image: harmless)")
        try:
            r.gate(
                plan.service,
                pods,
                desired=pl.replicas_of(blue),
                color=plan.live_color,
                timeout=ENDPOINTS_TIMEOUT,
            )
        except ReleaseFailed as e:
            raise Unverified(
                f"service/{plan.service} now selects {pl.fmt_selector(a.selector)} (the same image), "
                f"but its endpoints did not follow: {e}",
                hint="look now: bluegreen status",
            ) from None
    r.log.notice(
        f"deployment.apps/{a.original} no longer receives traffic from service/{plan.service}; "
        f"delete it once you are confident: kubectl delete deployment {a.original} -n {plan.namespace}"
    )


def _apply_deployment(r: Release, desired: Obj, existing: Obj | None) -> Obj:
    """Create, or update in place (an earlier release's Deployment, maybe scaled to zero). ``existing``
    is what we saw when planning; if it changed since (409), we read it again once."""
    name = pl.name_of(desired)
    for attempt in (1, 2):
        if existing is None:
            try:
                created = r.kube.create(APPS, "deployments", desired)
                r.log.info(f"deployment.apps/{name} created")
                return created
            except ApiFailure as e:
                if e.code != 409 or attempt == 2:
                    raise _write_failed(e, f"deployment.apps/{name}") from None
                existing = r.kube.get(APPS, "deployments", name)  # created meanwhile (or our lost reply)
                continue
        body = dict(desired)
        body["metadata"] = {**desired["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]}
        try:
            updated = r.kube.replace(APPS, "deployments", body)
            r.log.info(f"deployment.apps/{name} configured")
            return updated
        except ApiFailure as e:
            if e.code not in (404, 409) or attempt == 2:
                raise _write_failed(e, f"deployment.apps/{name}") from None
            existing = r.kube.get(APPS, "deployments", name)
    raise AssertionError("unreachable")


def _write_failed(e: ApiFailure, what: str) -> ReleaseFailed:
    return ReleaseFailed(f"the API server refused to write {what}: {e}")


def _apply_preview(r: Release, plan: pl.ReleasePlan, existing: Obj | None) -> Obj:
    selector = pl.fmt_selector(plan.preview["spec"]["selector"])
    if existing is None:
        try:
            created = r.kube.create(CORE, "services", plan.preview)
            r.log.info(f"service/{plan.preview_name} created (selector {selector})")
            return created
        except ApiFailure as e:
            existing = r.kube.get(CORE, "services", plan.preview_name) if e.code == 409 else None
            if existing is None:  # not "created meanwhile (or our create's lost reply)": a real failure
                raise _write_failed(e, f"service/{plan.preview_name}") from None
            if (existing["metadata"].get("labels") or {}).get(st.ROLE_KEY) != st.ROLE_PREVIEW:
                raise ReleaseFailed(
                    f"service/{plan.preview_name} was created meanwhile, not by bluegreen",
                    hint="pass another --preview-service name",
                ) from None
    # A JSON patch replaces the selector whole (a merge patch would keep stale keys), guarded by the version.
    ops: list[Obj] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": existing["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/spec/selector", "value": plan.preview["spec"]["selector"]},
        {"op": "add", "path": "/spec/ports", "value": plan.preview["spec"]["ports"]},
        {
            "op": "add",
            "path": "/metadata/labels",
            "value": {**(existing["metadata"].get("labels") or {}), **plan.preview["metadata"]["labels"]},
        },
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {
                **(existing["metadata"].get("annotations") or {}),
                **plan.preview["metadata"]["annotations"],
            },
        },
    ]
    try:
        updated = r.kube.patch(CORE, "services", plan.preview_name, ops, JSON_PATCH)
    except ApiFailure as e:
        raise _write_failed(e, f"service/{plan.preview_name}") from None
    r.log.info(f"service/{plan.preview_name} configured (selector {selector})")
    return updated


def _smoke(
    r: Release, s: DeploySettings, checks: list[SmokeCheck], service: Obj, *, with_command: bool
) -> list[SmokeResult]:
    results: list[SmokeResult] = []
    if not checks and not (with_command and s.smoke_command):
        return results
    target = r.smoke_target(service, s.smoke_via)
    r.log.info(f"smoke checks against {target.description}")
    if checks:
        results += run_checks(checks, target, r.log)
        denied = [
            x for x in results if x.status == 403 and "services/proxy" in x.detail and "forbidden" in x.detail
        ]
        if denied:  # the API server refused the proxy: a missing permission, not a failing app
            raise PermissionDenied(
                permission_message(
                    "GET", r.kube.path(CORE, "services", pl.name_of(service), "proxy"), None, "forbidden"
                ),
                hint="or use --smoke-via direct from inside the cluster",
            )
    if with_command and s.smoke_command:
        with LocalForwarder(target, log=r.log) as fwd:
            results.append(run_command(s.smoke_command, fwd.url, r.log, timeout=s.timeout))
    return results


def _failed_smoke(results: list[SmokeResult]) -> str | None:
    bad = [x for x in results if not x.ok]
    if not bad:
        return None
    first = bad[0]
    return f"{len(bad)} of {len(results)} smoke checks failed; first: {first.name}: {first.detail}"


def _discard(r: Release, s: DeploySettings, plan: pl.ReleasePlan) -> None:
    """--on-failure delete: remove the failed colour; keep (default) leaves it for debugging."""
    try:
        if s.on_failure == "delete":
            r.kube.delete(APPS, "deployments", plan.target_name)
            r.log.info(f"deployment.apps/{plan.target_name} deleted (--on-failure delete)")
        else:
            r.log.info(
                f"deployment.apps/{plan.target_name} kept for debugging (--on-failure keep); "
                f"it receives no live traffic"
            )
    except BluegreenError as e:  # never let tidying up hide why the release failed
        r.log.warning(f"could not apply --on-failure {s.on_failure}: {e}")


def _check_unchanged(plan: pl.ReleasePlan, planned: Obj, current: Obj) -> None:
    """Right before the switch: the selector and our record must be as planned. Changes to anything else
    (load balancer status, others' annotations) are not ours to judge, and the patch does not touch them."""
    ours = [st.ANN_ACTIVE_COLOR, st.ANN_ACTIVE_IMAGE, st.ANN_RELEASE_ID]
    before = {k: (planned["metadata"].get("annotations") or {}).get(k) for k in ours}
    after = {k: (current["metadata"].get("annotations") or {}).get(k) for k in ours}
    if pl.selector_of(current) != pl.selector_of(planned) or before != after:
        raise ConcurrentChange(
            f"service/{plan.service} changed while bluegreen prepared {plan.idle_color} "
            f"(selector now {pl.fmt_selector(pl.selector_of(current))}); nothing was switched",
            hint="look at who changed it, then re-run",
        )


def _release(
    r: Release,
    s: DeploySettings,
    plan: pl.ReleasePlan,
    seen: Seen,
    checks: list[SmokeCheck],
    lock: ReleaseLock,
) -> None:
    log, o = r.log, r.outcome
    with r.colour_pods(plan.target["spec"]["selector"]["matchLabels"]) as pods:
        try:
            with (
                log.group(f"deploy {plan.idle_color}: deployment.apps/{plan.target_name}"),
                log.step("deploy"),
            ):
                target = _apply_deployment(r, plan.target, seen.deployments.get(plan.target_name))
                target = r.wait_rollout(target, container=plan.container, timeout=s.timeout, pods=pods)
            desired = pl.replicas_of(target)
            with log.group(f"preview: service/{plan.preview_name}"), log.step("preview"):
                preview = _apply_preview(r, plan, seen.preview)
                r.gate(
                    plan.preview_name,
                    pods,
                    desired=desired,
                    color=plan.idle_color,
                    timeout=min(s.timeout, ENDPOINTS_TIMEOUT),
                )
            with log.group("smoke tests through the preview Service"), log.step("smoke"):
                if not checks and not s.smoke_command:
                    log.warning(
                        "no smoke tests configured: only the endpoint gate applied "
                        "(all new pods ready and behind the preview Service); pass --smoke-path to test more"
                    )
                o.smoke = _smoke(r, s, checks, preview, with_command=True)
                failed = _failed_smoke(o.smoke)
                if failed:
                    raise SmokeFailed(failed)
            if lock.lost:
                raise ConcurrentChange(f"{lock.lost} during the release; nothing was switched")
            service = r.read_service(plan.service)
            _check_unchanged(plan, seen.service, service)
            live_dep = r.kube.get(APPS, "deployments", plan.live_deployment)
        except BaseException:
            _discard(r, s, plan)
            raise

        before = st.read_state(service)
        live_replicas = pl.replicas_of(live_dep) if live_dep else plan.live_replicas
        new_state = st.after_switch(
            before,
            to_color=plan.idle_color,
            to_image=plan.image,
            from_color=plan.live_color,
            from_image=plan.live_image,
            from_replicas=live_replicas,
            color_label=plan.color_label,
            action="deploy",
            time=now_iso(),
            release_id=r.release_id,
            run_url=r.run_url,
        )
        with log.step("switch"):
            switched = r.switch(
                service, color_label=plan.color_label, to_color=plan.idle_color, new_state=new_state
            )
        log.info(
            f"service/{plan.service} switched: {plan.color_label} {plan.live_color} -> {plan.idle_color}"
        )
        o.switched = True
        o.active_color, o.active_deployment = plan.idle_color, plan.target_name
        o.previous_color, o.previous_deployment = plan.live_color, plan.live_deployment
        o.previous_image = plan.live_image
        o.history = [h.to_dict() for h in new_state.history]

        with log.group("verify through the live Service"), log.step("verify"):
            try:
                r.gate(
                    plan.service,
                    pods,
                    desired=desired,
                    color=plan.idle_color,
                    timeout=min(s.timeout, ENDPOINTS_TIMEOUT),
                )
                live_results = _smoke(r, s, checks, switched, with_command=False)
                o.smoke += live_results
                failed = _failed_smoke(live_results)
                if failed:
                    raise SmokeFailed(f"after the switch: {failed}")
            except BaseException as e:  # also a cancelled job: never leave traffic on an unverified colour
                original = {
                    k: (service["metadata"].get("annotations") or {}).get(k) for k in st.STATE_ANNOTATIONS
                }
                _switch_back(r, plan, switched, before, original, str(e) or type(e).__name__, e)

    with log.step("tidy"):
        try:
            _after_switch(r, s, plan.live_deployment, plan.live_replicas)
        except BluegreenError as e:  # the release is live and verified: report, don't fail it
            log.warning(
                f"{plan.image} is live and verified, but --after-switch {s.after_switch} of "
                f"deployment.apps/{plan.live_deployment} failed: {e}; do it by hand"
            )
    o.result = "deployed"
    o.message = (
        f"{plan.image} is live on {plan.idle_color}; {plan.live_color} kept for rollback"
        if s.after_switch == "keep"
        else f"{plan.image} is live on {plan.idle_color}"
    )
    log.info(o.message)


def _switch_back(
    r: Release,
    plan: pl.ReleasePlan,
    switched: Obj,
    before: st.ReleaseState,
    original: dict[str, str | None],
    why: str,
    cause: BaseException,
) -> None:
    """Put the Service back exactly as it was: the old colour, and our annotations as they were."""
    log, o = r.log, r.outcome
    log.error(f"verification after the switch failed: {why}")
    try:
        r.switch(switched, color_label=plan.color_label, to_color=plan.live_color, restore=original)
    except BluegreenError as e:
        raise Unverified(
            f"verification failed ({why}) and switching back failed too ({e}); traffic is on "
            f"{plan.idle_color}, unverified",
            hint="look now: bluegreen status, then rollback",
        ) from None
    log.info(
        f"service/{plan.service} switched back: {plan.color_label} {plan.idle_color} -> {plan.live_color}"
    )
    o.switched = False
    o.active_color, o.active_deployment, o.image = plan.live_color, plan.live_deployment, plan.image
    o.previous_color, o.previous_deployment, o.previous_image = None, None, plan.live_image
    o.history = [h.to_dict() for h in before.history]
    try:
        live = r.kube.get(APPS, "deployments", plan.live_deployment) or {}
        with r.colour_pods(
            pl.selector_with(pl.selector_of(switched), plan.color_label, plan.live_color)
        ) as pods:
            r.gate(
                plan.service,
                pods,
                desired=pl.replicas_of(live),
                color=plan.live_color,
                timeout=ENDPOINTS_TIMEOUT,
            )
    except BluegreenError as e:
        log.warning(f"after switching back: {e}")
    if not isinstance(cause, Exception):
        raise cause  # interrupted (job cancelled): traffic is back; let the interruption through
    raise SwitchedBack(
        f"switched to {plan.idle_color}, but verification failed ({why}); "
        f"traffic is back on {plan.live_color}"
    )


def _after_switch(r: Release, s: DeploySettings, old: str, replicas: int | None) -> None:
    """Apply --after-switch to the colour that no longer receives traffic."""
    if s.after_switch == "scale-to-zero":
        r.kube.patch(APPS, "deployments", old, {"spec": {"replicas": 0}}, MERGE_PATCH)
        r.log.info(f"deployment.apps/{old} scaled to 0 (rollback scales it back to {replicas})")
    elif s.after_switch == "delete":
        r.kube.delete(APPS, "deployments", old)
        r.log.info(f"deployment.apps/{old} deleted (--after-switch delete: no instant rollback)")
    else:
        r.log.info(f"deployment.apps/{old} kept on standby for an instant rollback")
