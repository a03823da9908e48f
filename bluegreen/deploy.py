"""The sequences: deploy, rollback, status.

deploy: read -> plan -> lock -> (adopt) -> green -> ready -> preview -> smoke -> switch -> verify -> tidy.
Each step works from what the cluster shows, so a re-run after a crash continues instead of breaking;
nothing touches the live Service before the one conditional switch request.
"""

from __future__ import annotations

import os
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from bluegreen import plan as pl
from bluegreen import readiness as rd
from bluegreen import state as st
from bluegreen.errors import (
    ApiUnavailable,
    BluegreenError,
    ConcurrentChange,
    GreenNotReady,
    InputError,
    PermissionDenied,
    ReleaseFailed,
    SmokeFailed,
    SwitchedBack,
)
from bluegreen.kube import (
    APPS,
    CORE,
    DISCOVERY,
    JSON_PATCH,
    MERGE_PATCH,
    ApiFailure,
    Informer,
    Kube,
    permission_message,
)
from bluegreen.lock import ReleaseLock, held_by_other, lease_name
from bluegreen.log import StepLog
from bluegreen.report import Outcome, run_url
from bluegreen.settings import Common, DeploySettings, RollbackSettings
from bluegreen.smoke import (
    HttpTarget,
    LocalForwarder,
    SmokeCheck,
    SmokeResult,
    checks_from_paths,
    load_smoke_file,
    run_checks,
    run_command,
)

Obj = dict[str, Any]
# How long the live Service's endpoints may take to follow a switch before we call it failed.
ENDPOINTS_TIMEOUT = 120.0


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Release:
    """Shared machinery of deploy and rollback: reads, waits, the switch."""

    def __init__(self, kube: Kube, log: StepLog, outcome: Outcome, env: dict[str, str] | None = None) -> None:
        self.kube = kube
        self.log = log
        self.outcome = outcome
        self.env = dict(os.environ if env is None else env)
        self.release_id = uuid.uuid4().hex[:12]
        self.run_url = run_url(self.env)
        outcome.run_url = self.run_url
        outcome.namespace = kube.namespace

    # ------------------------------------------------------------------------------------------- reads

    def read_service(self, name: str, flag: str = "--service") -> Obj:
        svc = self.kube.get(CORE, "services", name)
        if svc is None:
            self.kube.check_namespace()  # only now: tell a missing namespace from a missing Service
            raise InputError(flag, f"service {name!r} not found in namespace {self.kube.namespace!r}",
                             hint="check the name and --namespace")
        return svc

    def deployments(self) -> list[Obj]:
        return list(self.kube.list_objects(APPS, "deployments").get("items") or [])

    # ------------------------------------------------------------------------------------------- waits

    @contextmanager
    def informers(self, *specs: tuple[str, str, str | None, str | None, Obj | None]
                  ) -> Iterator[tuple[queue.Queue[Any], list[Informer]]]:
        """Start one informer per (base, resource, labels, fields, known object): a known object (one we
        just wrote) seeds the informer, which then watches from its resourceVersion without a list."""
        q: queue.Queue[Any] = queue.Queue()
        started: list[Informer] = []
        try:
            for base, resource, labels, fields, known in specs:
                started.append(self.kube.informer(base, resource, label_selector=labels,
                                                  field_selector=fields).start(q, known=known))
            yield q, started
        finally:
            for inf in started:
                inf.stop()

    @staticmethod
    def _next_event(q: queue.Queue[Any], informers: list[Informer], deadline: float) -> bool:
        """Block until something changed (True) or the deadline passed (False)."""
        for inf in informers:
            if inf.error is not None:
                raise inf.error
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            q.get(timeout=remaining)
        except queue.Empty:
            return False
        while True:  # coalesce a burst of events into one evaluation
            try:
                q.get_nowait()
            except queue.Empty:
                break
        for inf in informers:
            if inf.error is not None:
                raise inf.error
        return True

    def wait_rollout(self, deployment: Obj, *, container: str, timeout: float) -> set[str]:
        """Wait, by watching, until the Deployment is fully rolled out; return its ready pods' names.

        Fails fast, with the kubelet's reason and the container's last log lines, when a pod of the new
        image cannot start (pull failure, crash loop), and on ProgressDeadlineExceeded.
        """
        name = pl.name_of(deployment)
        image = pl.image_of(deployment, container)
        labels = pl.fmt_selector(deployment["spec"]["selector"].get("matchLabels") or {})
        deadline = time.monotonic() + timeout
        with self.informers((APPS, "deployments", None, f"metadata.name={name}", deployment),
                            (CORE, "pods", labels, None, None)) as (q, (deps, pods)):
            while True:
                current = deps.objects.get(name)
                if current is None:
                    raise GreenNotReady(f"deployment.apps/{name} disappeared while we waited for it")
                r = rd.rollout(current)
                self.log.progress(name, r.message)
                if r.failed:
                    self.log.done_progress()
                    raise GreenNotReady(r.message + self._pod_reasons(pods.objects.values(), container, image))
                new_pods = [p for p in pods.objects.values() if pl.image_of_pod(p, container) == image]
                for pod in new_pods:
                    problem = rd.pod_problem(pod)
                    if problem:
                        self.log.done_progress()
                        self._show_logs(pod, container)
                        raise GreenNotReady(f"deployment.apps/{name} cannot become ready: {problem}")
                ready = {pl.name_of(p) for p in new_pods if rd.is_ready(p)}
                # The two watches arrive independently: done only when the pods agree with the status.
                if r.done and len(ready) >= pl.replicas_of(current):
                    self.log.done_progress()
                    return ready
                if not self._next_event(q, [deps, pods], deadline):
                    self.log.done_progress()
                    raise GreenNotReady(f"timed out after {timeout:g}s: {r.message}"
                                        + self._pod_reasons(pods.objects.values(), container, image))

    def _pod_reasons(self, pods: Any, container: str, image: str | None) -> str:
        not_ready = [p for p in pods if pl.image_of_pod(p, container) == image and not rd.is_ready(p)]
        if not not_ready:
            return ""
        pod = not_ready[0]
        self._show_logs(pod, container)
        reason = rd.pod_problem(pod) or rd.pod_waiting(pod)
        return f"; {len(not_ready)} pod(s) not ready, e.g. pod/{pl.name_of(pod)}" + (f": {reason}" if reason else "")

    def _show_logs(self, pod: Obj, container: str) -> None:
        lines = self.kube.pod_log(pl.name_of(pod), container, tail_lines=10)
        if lines:
            self.log.info(f"last log lines of pod/{pl.name_of(pod)} container {container}:")
            for line in lines:
                self.log.info(f"  | {line[:300]}")

    def wait_endpoints(self, service: str, expected: set[str], timeout: float) -> None:
        """Wait until the Service's EndpointSlices list exactly the expected pods as ready."""
        deadline = time.monotonic() + timeout
        label = f"kubernetes.io/service-name={service}"
        with self.informers((DISCOVERY, "endpointslices", label, None, None)) as (q, (slices,)):
            while True:
                have = rd.ready_endpoint_pods(list(slices.objects.values()))
                msg = f"service/{service}: {len(have & expected)} of {len(expected)} expected endpoints ready"
                extra = have - expected
                if extra:
                    msg += f", {len(extra)} other endpoint(s) still listed"
                self.log.progress(f"endpoints/{service}", msg)
                if have == expected:
                    self.log.done_progress()
                    self.log.info(f"service/{service} routes to exactly the {len(expected)} expected pods")
                    return
                if not self._next_event(q, [slices], deadline):
                    self.log.done_progress()
                    raise ReleaseFailed(f"timed out after {timeout:g}s waiting for endpoints: {msg}")

    def ready_pods(self, selector: dict[str, str]) -> set[str]:
        items = self.kube.list_objects(CORE, "pods", label_selector=pl.fmt_selector(selector)).get("items") or []
        return {pl.name_of(p) for p in items if rd.is_ready(p)}

    # ------------------------------------------------------------------------------------------ switch

    def switch(self, service: Obj, *, color_label: str, to_color: str, new_state: st.ReleaseState | None = None,
               restore: dict[str, str | None] | None = None) -> Obj:
        """The one compare-and-swap that moves traffic and records the release (``new_state``) or puts
        our annotations back as they were (``restore``). A lost reply is recognised by reading again."""
        name = pl.name_of(service)
        wanted = restore if restore is not None else st.to_annotations(new_state or st.ReleaseState())
        ops = pl.switch_patch(service, color_label=color_label, to_color=to_color, annotations=wanted)

        def landed(current: Obj) -> bool:
            ann = current["metadata"].get("annotations") or {}
            return pl.selector_of(current).get(color_label) == to_color and \
                all(ann.get(k) == v for k, v in wanted.items())

        try:
            return self.kube.patch(CORE, "services", name, ops, JSON_PATCH)
        except (ApiFailure, ApiUnavailable) as e:
            current = self.kube.get(CORE, "services", name)
            if current is not None and landed(current):
                self.log.info(f"service/{name}: the switch landed although its reply was lost")
                return current
            if isinstance(e, ApiFailure) and e.code in (409, 422) and current is not None \
                    and current["metadata"].get("resourceVersion") != service["metadata"].get("resourceVersion"):
                raise ConcurrentChange(
                    f"service/{name} was changed by someone else after bluegreen read it "
                    f"(resourceVersion {service['metadata'].get('resourceVersion')} -> "
                    f"{current['metadata'].get('resourceVersion')}); nothing was switched",
                    hint="look at who changed it, then re-run") from None
            raise

    def smoke_target(self, service: Obj, via: str) -> HttpTarget:
        ports = (service.get("spec") or {}).get("ports") or []
        if not ports:
            raise InputError("--service", f"service {pl.name_of(service)!r} has no ports to smoke-test")
        port = next((p for p in ports if p.get("name") == "http"), ports[0])
        if via == "direct" or (via == "auto" and self.kube.in_cluster):
            return self.kube.direct_target(pl.name_of(service), int(port["port"]))
        return self.kube.proxy_target(pl.name_of(service), str(port.get("name") or port["port"]))


def load_manifest(path: str | None) -> Obj | None:
    if not path:
        return None
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except OSError as e:
        raise InputError("--manifest", f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError("--manifest", f"{path} is not valid YAML{where}",
                         hint="give one apps/v1 Deployment as YAML") from None
    if len(docs) != 1:
        raise InputError("--manifest", f"{path} holds {len(docs)} documents; give exactly one Deployment")
    if not isinstance(docs[0], dict):
        raise InputError("--manifest", f"{path} is not a Deployment")
    return docs[0]


def load_checks(s: DeploySettings) -> list[SmokeCheck]:
    checks = checks_from_paths(s.smoke_paths)
    if s.smoke_file:
        checks += load_smoke_file(s.smoke_file)
    return checks


# ------------------------------------------------------------------------------------------------ deploy


def deploy(s: DeploySettings, kube: Kube, log: StepLog, outcome: Outcome) -> Outcome:
    r = Release(kube, log, outcome)
    svc_name = s.common.service
    outcome.service, outcome.image = svc_name, s.image
    manifest = load_manifest(s.manifest)
    checks = load_checks(s)

    with log.step("plan"):
        plan, seen = _plan(r, s, manifest)
    service = seen.service
    _describe_live(outcome, plan)
    log.info(f"service/{svc_name} serves {plan.color_label}={plan.live_color} "
             f"(deployment.apps/{plan.live_deployment}, image {plan.live_image})")
    live_already = _already_live(plan, service)
    if live_already and not _pending_tidy(s, plan, seen):
        return _unchanged(r, plan, seen, outcome)
    if s.dry_run:
        outcome.result = "dry-run"
        outcome.plan = [f"image {plan.image} is already live on {plan.live_color}",
                        f"finish the release: --after-switch {s.after_switch} deployment.apps/{plan.target_name}"] \
            if live_already else plan.describe()
        for line in outcome.plan:
            log.info(f"dry-run: {line}")
        log.info("dry-run: nothing was changed")
        return outcome

    lock = ReleaseLock(kube, svc_name, duration=s.lock_duration)
    with log.step("lock"):
        overridden = lock.acquire(force=s.force_unlock)
        if overridden:
            log.warning(f"--force-unlock: took lease/{lock.name} from {overridden}")
        log.info(f"lease/{lock.name} acquired by {lock.identity}")
    try:
        # A release that switched between our read and the lock changes which colour is idle: plan again.
        now = r.read_service(svc_name)
        if now["metadata"].get("resourceVersion") != service["metadata"].get("resourceVersion"):
            plan, seen = _plan(r, s, manifest)
        if plan.adoption:
            with log.group("adopt the existing Deployment as blue"), log.step("adopt"):
                _adopt(r, s, plan, seen)
            plan, seen = _plan(r, s, manifest)
        _describe_live(outcome, plan)
        if _already_live(plan, seen.service):
            if _pending_tidy(s, plan, seen):
                # A run that switched and then died before tidying: finish what it was asked to do.
                log.info(f"image {plan.image} is already live on {plan.live_color}; finishing the release")
                _after_switch(r, s, plan.target_name, st.read_state(seen.service).previous_replicas)
            return _unchanged(r, plan, seen, outcome)
        _release(r, s, plan, seen, checks, lock)
    finally:
        warning = lock.release()
        if warning:
            log.warning(warning)
    return outcome


@dataclass(frozen=True)
class Seen:
    """What the cluster showed when we planned; writes carry these objects' resourceVersions."""

    service: Obj
    deployments: dict[str, Obj]
    preview: Obj | None


def _plan(r: Release, s: DeploySettings, manifest: Obj | None) -> tuple[pl.ReleasePlan, Seen]:
    service = r.read_service(s.common.service)
    deployments = r.deployments()
    preview = r.kube.get(CORE, "services", s.preview_name)
    plan = pl.plan_release(service, deployments, image=s.image, color_label=s.color_label,
                           deployment=s.deployment, container=s.container, manifest=manifest,
                           preview_name=s.preview_name, existing_preview=preview)
    return plan, Seen(service, {pl.name_of(d): d for d in deployments}, preview)


def _describe_live(o: Outcome, plan: pl.ReleasePlan) -> None:
    """Before the switch, outputs say where traffic is: the live colour."""
    o.active_color, o.active_deployment, o.previous_image = plan.live_color, plan.live_deployment, plan.live_image
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


def _unchanged(r: Release, plan: pl.ReleasePlan, seen: Seen, o: Outcome) -> Outcome:
    state = st.read_state(seen.service)
    r.log.info(f"image {plan.image} is already live on {plan.live_color}; nothing to do")
    o.result = "unchanged"
    o.image = plan.image
    o.previous_color, o.previous_image = state.previous_color, state.previous_image
    o.previous_deployment = plan.target_name if plan.target_exists else None
    o.history = [h.to_dict() for h in state.history]
    return o


def _adopt(r: Release, s: DeploySettings, plan: pl.ReleasePlan, seen: Seen) -> None:
    assert plan.adoption is not None
    a, service = plan.adoption, seen.service
    blue = _apply_deployment(r, a.blue, seen.deployments.get(pl.name_of(a.blue)))
    ready = r.wait_rollout(blue, container=plan.container, timeout=s.timeout)
    state = st.read_state(service)
    new_state = st.after_switch(state, to_color=plan.live_color, to_image=plan.live_image, from_color=None,
                                from_image=None, from_replicas=None, color_label=plan.color_label,
                                action="adopt", time=now_iso(), release_id=r.release_id, run_url=r.run_url)
    r.switch(service, color_label=plan.color_label, to_color=plan.live_color, new_state=new_state)
    r.log.info(f"service/{plan.service} switched to {pl.fmt_selector(a.selector)} (same image: harmless)")
    r.wait_endpoints(plan.service, ready, ENDPOINTS_TIMEOUT)
    r.log.notice(f"deployment.apps/{a.original} no longer receives traffic from service/{plan.service}; "
                 f"delete it once you are confident: kubectl delete deployment {a.original} -n {plan.namespace}")


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
    return ReleaseFailed(f"the API server refused to write {what}: {e.message} ({e.code} {e.reason})")


def _apply_preview(r: Release, plan: pl.ReleasePlan, existing: Obj | None) -> Obj:
    if existing is None:
        try:
            created = r.kube.create(CORE, "services", plan.preview)
            r.log.info(f"service/{plan.preview_name} created "
                       f"(selector {pl.fmt_selector(plan.preview['spec']['selector'])})")
            return created
        except ApiFailure as e:
            existing = r.kube.get(CORE, "services", plan.preview_name) if e.code == 409 else None
            if existing is None:  # not "created meanwhile (or our create's lost reply)": a real failure
                raise _write_failed(e, f"service/{plan.preview_name}") from None
            if (existing["metadata"].get("labels") or {}).get(st.ROLE_KEY) != st.ROLE_PREVIEW:
                raise InputError("--preview-service", f"service {plan.preview_name!r} was created meanwhile, "
                                 f"not by bluegreen", hint="pass another --preview-service name") from None
    patch = {"metadata": {"labels": plan.preview["metadata"]["labels"],
                          "annotations": plan.preview["metadata"]["annotations"],
                          "resourceVersion": existing["metadata"]["resourceVersion"]},
             "spec": {"selector": plan.preview["spec"]["selector"], "ports": plan.preview["spec"]["ports"]}}
    updated = r.kube.patch(CORE, "services", plan.preview_name, patch, MERGE_PATCH)
    r.log.info(f"service/{plan.preview_name} configured (selector {pl.fmt_selector(plan.preview['spec']['selector'])})")
    return updated


def _smoke(r: Release, s: DeploySettings, checks: list[SmokeCheck], service: Obj, *,
           with_command: bool) -> list[SmokeResult]:
    results: list[SmokeResult] = []
    if not checks and not (with_command and s.smoke_command):
        return results
    target = r.smoke_target(service, s.smoke_via)
    r.log.info(f"smoke checks against {target.description}")
    if checks:
        results += run_checks(checks, target, r.log)
        denied = [x for x in results if x.status == 403 and "services/proxy" in x.detail and "forbidden" in x.detail]
        if denied:  # the API server refused the proxy: a missing permission, not a failing app
            raise PermissionDenied(permission_message("GET", r.kube.path(CORE, "services", pl.name_of(service),
                                                                         "proxy"), None, "forbidden"),
                                   hint="or use --smoke-via direct from inside the cluster")
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
    if s.on_failure == "delete":
        r.kube.delete(APPS, "deployments", plan.target_name)
        r.log.info(f"deployment.apps/{plan.target_name} deleted (--on-failure delete)")
    else:
        r.log.info(f"deployment.apps/{plan.target_name} kept for debugging (--on-failure keep); "
                   f"it receives no live traffic")


def _release(r: Release, s: DeploySettings, plan: pl.ReleasePlan, seen: Seen, checks: list[SmokeCheck],
             lock: ReleaseLock) -> None:
    log, o, service = r.log, r.outcome, seen.service
    try:
        with log.group(f"deploy {plan.idle_color}: deployment.apps/{plan.target_name}"), log.step("deploy"):
            target = _apply_deployment(r, plan.target, seen.deployments.get(plan.target_name))
            ready = r.wait_rollout(target, container=plan.container, timeout=s.timeout)
        with log.group(f"preview: service/{plan.preview_name}"), log.step("preview"):
            preview = _apply_preview(r, plan, seen.preview)
            r.wait_endpoints(plan.preview_name, ready, min(s.timeout, ENDPOINTS_TIMEOUT))
        with log.group("smoke tests through the preview Service"), log.step("smoke"):
            if not checks and not s.smoke_command:
                log.warning("no smoke tests configured: only the endpoint gate applied "
                            "(all new pods ready and behind the preview Service); pass --smoke-path to test more")
            o.smoke = _smoke(r, s, checks, preview, with_command=True)
            failed = _failed_smoke(o.smoke)
            if failed:
                raise SmokeFailed(failed)
    except (ReleaseFailed, ConcurrentChange):
        try:
            _discard(r, s, plan)
        except BluegreenError as e:  # never let tidying up hide why the release failed
            log.warning(f"could not apply --on-failure {s.on_failure}: {e}")
        raise
    if lock.lost:
        raise ConcurrentChange(f"{lock.lost} during the release; nothing was switched")

    live_dep = r.kube.get(APPS, "deployments", plan.live_deployment)
    live_replicas = pl.replicas_of(live_dep) if live_dep else plan.live_replicas
    before = st.read_state(service)
    new_state = st.after_switch(before, to_color=plan.idle_color, to_image=plan.image, from_color=plan.live_color,
                                from_image=plan.live_image, from_replicas=live_replicas,
                                color_label=plan.color_label, action="deploy", time=now_iso(),
                                release_id=r.release_id, run_url=r.run_url)
    with log.step("switch"):
        switched = r.switch(service, color_label=plan.color_label, to_color=plan.idle_color, new_state=new_state)
    log.info(f"service/{plan.service} switched: {plan.color_label} {plan.live_color} -> {plan.idle_color}")
    o.switched = True
    o.active_color, o.active_deployment = plan.idle_color, plan.target_name
    o.previous_color, o.previous_deployment, o.previous_image = plan.live_color, plan.live_deployment, plan.live_image
    o.history = [h.to_dict() for h in new_state.history]

    with log.group("verify through the live Service"), log.step("verify"):
        try:
            r.wait_endpoints(plan.service, ready, min(s.timeout, ENDPOINTS_TIMEOUT))
            live_results = _smoke(r, s, checks, switched, with_command=False)
            o.smoke += live_results
            failed = _failed_smoke(live_results)
            if failed:
                raise SmokeFailed(f"after the switch: {failed}")
        except BluegreenError as e:
            original = {k: (service["metadata"].get("annotations") or {}).get(k) for k in st.STATE_ANNOTATIONS}
            _switch_back(r, plan, switched, before, original, str(e))

    with log.step("tidy"):
        try:
            _after_switch(r, s, plan.live_deployment, plan.live_replicas)
        except BluegreenError as e:  # the release is live and verified: report, don't fail it
            log.warning(f"{plan.image} is live and verified, but --after-switch {s.after_switch} of "
                        f"deployment.apps/{plan.live_deployment} failed: {e}; do it by hand")
    o.result = "deployed"
    o.message = f"{plan.image} is live on {plan.idle_color}; {plan.live_color} kept for rollback" \
        if s.after_switch == "keep" else f"{plan.image} is live on {plan.idle_color}"
    log.info(o.message)


def _switch_back(r: Release, plan: pl.ReleasePlan, switched: Obj, before: st.ReleaseState,
                 original: dict[str, str | None], why: str) -> None:
    """Put the Service back exactly as it was: the old colour, and our annotations as they were."""
    log, o = r.log, r.outcome
    log.error(f"verification after the switch failed: {why}")
    try:
        r.switch(switched, color_label=plan.color_label, to_color=plan.live_color, restore=original)
    except BluegreenError as e:
        raise ReleaseFailed(f"verification failed ({why}) and switching back failed too ({e}); "
                            f"traffic is on {plan.idle_color}: check it now with bluegreen status") from None
    log.info(f"service/{plan.service} switched back: {plan.color_label} {plan.idle_color} -> {plan.live_color}")
    o.switched = False
    o.active_color, o.active_deployment, o.image = plan.live_color, plan.live_deployment, plan.image
    o.previous_color, o.previous_deployment, o.previous_image = None, None, plan.live_image
    o.history = [h.to_dict() for h in before.history]
    try:
        r.wait_endpoints(plan.service, r.ready_pods(pl.selector_with(pl.selector_of(switched), plan.color_label,
                                                                     plan.live_color)), ENDPOINTS_TIMEOUT)
    except BluegreenError as e:
        log.warning(f"after switching back: {e}")
    raise SwitchedBack(f"switched to {plan.idle_color}, but verification failed ({why}); "
                       f"traffic is back on {plan.live_color}")


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


# ---------------------------------------------------------------------------------------------- rollback


def rollback(s: RollbackSettings, kube: Kube, log: StepLog, outcome: Outcome) -> Outcome:
    r = Release(kube, log, outcome)
    name = s.common.service
    outcome.service = name
    service = r.read_service(name)
    deployments = r.deployments()
    state = st.read_state(service)
    outcome.history = [h.to_dict() for h in state.history]
    outcome.active_color = pl.selector_of(service).get(state.color_label or st.DEFAULT_COLOR_LABEL)
    outcome.image = state.active_image
    plan = pl.plan_rollback(service, deployments)
    outcome.active_deployment = plan.from_deployment
    if s.dry_run:
        outcome.result, outcome.plan = "dry-run", plan.describe()
        for line in outcome.plan:
            log.info(f"dry-run: {line}")
        return outcome

    lock = ReleaseLock(kube, name, duration=s.lock_duration)
    overridden = lock.acquire(force=s.force_unlock)
    if overridden:
        log.warning(f"--force-unlock: took lease/{lock.name} from {overridden}")
    try:
        target = plan.to_deployment
        if plan.restore_replicas:
            target = kube.patch(APPS, "deployments", plan.to_name,
                                {"metadata": {"resourceVersion": target["metadata"]["resourceVersion"]},
                                 "spec": {"replicas": plan.restore_replicas}}, MERGE_PATCH)
            log.info(f"deployment.apps/{plan.to_name} scaled to {plan.restore_replicas}")
        container = next((c["name"] for c in pl.containers(target) if c.get("image") == plan.to_image),
                         pl.containers(target)[0]["name"])
        if rd.rollout(target).done:
            ready = r.ready_pods(pl.selector_with(pl.selector_of(service), plan.color_label, plan.to_color))
        else:
            ready = r.wait_rollout(target, container=container, timeout=s.timeout)
        if lock.lost:
            raise ConcurrentChange(f"{lock.lost}; nothing was switched")
        new_state = st.after_switch(state, to_color=plan.to_color, to_image=plan.to_image, from_color=plan.from_color,
                                    from_image=plan.from_image, from_replicas=plan.from_replicas,
                                    color_label=plan.color_label, action="rollback", time=now_iso(),
                                    release_id=r.release_id, run_url=r.run_url)
        r.switch(service, color_label=plan.color_label, to_color=plan.to_color, new_state=new_state)
        log.info(f"service/{name} switched: {plan.color_label} {plan.from_color} -> {plan.to_color}")
        outcome.switched = True
        outcome.active_color, outcome.active_deployment, outcome.image = plan.to_color, plan.to_name, plan.to_image
        outcome.previous_color, outcome.previous_deployment = plan.from_color, plan.from_deployment
        outcome.previous_image = plan.from_image
        outcome.history = [h.to_dict() for h in new_state.history]
        r.wait_endpoints(name, ready, min(s.timeout, ENDPOINTS_TIMEOUT))
    finally:
        warning = lock.release()
        if warning:
            log.warning(warning)
    outcome.result = "rolled-back"
    outcome.message = f"rolled back: {plan.to_image} is live on {plan.to_color}"
    log.info(outcome.message)
    return outcome


# ------------------------------------------------------------------------------------------------ status


def status(common: Common, kube: Kube, log: StepLog, outcome: Outcome,
           clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, Any]:
    r = Release(kube, log, outcome)
    service = r.read_service(common.service)
    deployments = r.deployments()
    state = st.read_state(service)
    lease = kube.get("/apis/coordination.k8s.io/v1", "leases", lease_name(common.service))
    previews = [p for p in kube.list_objects(CORE, "services", label_selector=f"{st.ROLE_KEY}={st.ROLE_PREVIEW}").get("items") or []
                if (p["metadata"].get("annotations") or {}).get(st.PREFIX + "preview-of") == common.service]
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


def describe_status(service: Obj, deployments: list[Obj], state: st.ReleaseState, previews: list[Obj],
                    lease: Obj | None, now: datetime) -> dict[str, Any]:
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
        notes.append(f"service selects no {color_label} yet: the first deploy adopts the current Deployment as blue")
    elif active not in colors:
        notes.append(f"no Deployment serves the live colour {active}!")
    idle = st.other_color(active) if active in st.COLORS else None
    if idle and idle in colors and state.previous_image and state.previous_color == idle \
            and state.previous_image not in colors[idle]["images"]:
        notes.append(f"{idle} runs {', '.join(map(str, colors[idle]['images']))}, not the previous live image "
                     f"{state.previous_image}: a release did not switch (it failed or was interrupted)")
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
    lines = [f"service/{report['service']} (namespace {report['namespace']}): "
             f"live colour {report['active_color'] or 'none'} (selector {pl.fmt_selector(report['selector'])})"]
    for color, c in report["colors"].items():
        mark = "live" if c["live"] else "idle"
        lines.append(f"  {color:5} {mark:4} deployment.apps/{c['deployment']}  {c['ready']}/{c['desired']} ready  "
                     f"image {', '.join(map(str, c['images']))}")
    for p in report["preview_services"]:
        lines.append(f"  preview service/{p['name']} (selector {pl.fmt_selector(p['selector'])})")
    if report["lock"]:
        lines.append(f"  lock: {report['lock']}")
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    if report["history"]:
        lines.append("  history (newest first):")
        for h in report["history"]:
            lines.append(f"    {h['time']}  {h['action']:8} {h['color']:5} {h.get('image') or ''}"
                         + (f"  {h['run_url']}" if h.get("run_url") else ""))
    return lines
