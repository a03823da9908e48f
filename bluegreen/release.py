"""What deploy and rollback share: reads, waiting by watching, the endpoint gate, the switch.

Every wait works from what the cluster reports through watches (never a sleep or a poll), and every
judgement it makes is a pure function of readiness.py.
"""

from __future__ import annotations

import os
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bluegreen import plan as pl
from bluegreen import readiness as rd
from bluegreen import state as st
from bluegreen.errors import (
    ApiUnavailable,
    BluegreenError,
    ConcurrentChange,
    GreenNotReady,
    InputError,
    ReleaseFailed,
    Unverified,
)
from bluegreen.kube import APPS, CORE, DISCOVERY, JSON_PATCH, ApiFailure, Informer, Kube
from bluegreen.lock import ReleaseLock
from bluegreen.log import StepLog
from bluegreen.report import Outcome, run_url
from bluegreen.smoke import HttpTarget

Obj = dict[str, Any]
# How long a Service's endpoints may take to follow a change before we call it failed.
ENDPOINTS_TIMEOUT = 120.0


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Release:
    def __init__(self, kube: Kube, log: StepLog, outcome: Outcome, env: dict[str, str] | None = None) -> None:
        self.kube = kube
        self.log = log
        self.outcome = outcome
        self.release_id = uuid.uuid4().hex[:12]
        self.run_url = run_url(dict(os.environ if env is None else env))
        outcome.run_url = self.run_url
        outcome.namespace = kube.namespace

    # ------------------------------------------------------------------------------------------- reads

    def read_service(self, name: str, flag: str = "--service") -> Obj:
        svc = self.kube.get(CORE, "services", name)
        if svc is None:
            self.kube.check_namespace()  # only now: tell a missing namespace from a missing Service
            raise InputError(
                flag,
                f"service {name!r} not found in namespace {self.kube.namespace!r}",
                hint="check the name and --namespace",
            )
        return svc

    def deployments(self) -> list[Obj]:
        return list(self.kube.list_objects(APPS, "deployments").get("items") or [])

    @contextmanager
    def locked(self, service: str, *, duration: float, force: bool) -> Iterator[ReleaseLock]:
        """The release lock for the block: taken (or forced, saying from whom), always given back."""
        lock = ReleaseLock(self.kube, service, duration=duration)
        try:
            with self.log.step("lock"):
                overridden = lock.acquire(force=force)
                if overridden:
                    self.log.warning(f"--force-unlock: took lease/{lock.name} from {overridden}")
                self.log.info(f"lease/{lock.name} acquired by {lock.identity}")
            yield lock
        finally:
            warning = lock.release()
            if warning:
                self.log.warning(warning)

    # ------------------------------------------------------------------------------------------- waits

    @contextmanager
    def watching(
        self,
        base: str,
        resource: str,
        *,
        labels: str | None = None,
        fields: str | None = None,
        known: Obj | None = None,
    ) -> Iterator[Informer]:
        """An informer for the duration of the block. A ``known`` object (one we just wrote) seeds it, so
        it watches on from that version without listing."""
        inf = self.kube.informer(base, resource, label_selector=labels, field_selector=fields).start(
            known=known
        )
        try:
            yield inf
        finally:
            inf.stop()

    def colour_pods(self, selector: dict[str, str]) -> Any:
        """The pods of one colour, watched for as long as a release needs them."""
        return self.watching(CORE, "pods", labels=pl.fmt_selector(selector))

    @staticmethod
    def ready(pods: Informer) -> set[str]:
        return {pl.name_of(p) for p in list(pods.objects.values()) if rd.is_ready(p)}

    @staticmethod
    def _wait(informers: list[Informer], deadline: float, check: Callable[[], bool]) -> bool:
        """Evaluate ``check`` now and after every change the informers see, until it holds (True) or the
        deadline passes (False)."""
        q: queue.Queue[Any] = queue.Queue()
        for inf in informers:
            inf.add_queue(q)
        try:
            while True:
                for inf in informers:
                    if inf.error is not None:
                        raise inf.error
                if check():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    q.get(timeout=remaining)
                except queue.Empty:
                    continue
                while not q.empty():  # one evaluation for a burst of events
                    q.get_nowait()
        finally:
            for inf in informers:
                inf.remove_queue(q)

    def wait_rollout(self, deployment: Obj, *, container: str, timeout: float, pods: Informer) -> Obj:
        """Wait until the Deployment is fully rolled out and its pods agree; return it as last seen.

        Fails fast, with the kubelet's reason and the container's last log lines, when a pod of the new
        image cannot start (image pull back-off, crash loop), and on ProgressDeadlineExceeded.
        """
        name = pl.name_of(deployment)
        image = pl.image_of(deployment, container)
        if rd.rollout(deployment).done and len(self.ready(pods)) >= pl.replicas_of(deployment):
            return deployment  # already rolled out (a rollback to a colour on standby): no watch needed
        last: dict[str, Any] = {}
        with self.watching(APPS, "deployments", fields=f"metadata.name={name}", known=deployment) as deps:

            def check() -> bool:
                current = deps.objects.get(name)
                if current is None:
                    raise GreenNotReady(f"deployment.apps/{name} disappeared while we waited for it")
                r = rd.rollout(current)
                last.update(current=current, rollout=r)
                self.log.progress(name, r.message)
                if r.failed:
                    raise GreenNotReady(r.message + self._pod_reasons(pods, container, image))
                for pod in list(pods.objects.values()):
                    problem = rd.pod_problem(pod) if rd.image_of_pod(pod, container) == image else None
                    if problem:
                        self._show_logs(pod, container)
                        raise GreenNotReady(f"deployment.apps/{name} cannot become ready: {problem}")
                # The two watches arrive independently: done only when the pods agree with the status.
                return r.done and len(self.ready(pods)) >= pl.replicas_of(current)

            try:
                done = self._wait([deps, pods], time.monotonic() + timeout, check)
            finally:
                self.log.done_progress()
        if not done:
            raise GreenNotReady(
                f"timed out after {timeout:g}s: {last['rollout'].message}"
                + self._pod_reasons(pods, container, image)
            )
        return dict(last["current"])

    def _pod_reasons(self, pods: Informer, container: str, image: str | None) -> str:
        not_ready = [
            p
            for p in list(pods.objects.values())
            if rd.image_of_pod(p, container) == image and not rd.is_ready(p)
        ]
        if not not_ready:
            return ""
        pod = not_ready[0]
        self._show_logs(pod, container)
        reason = rd.pod_problem(pod) or rd.pod_waiting(pod)
        return f"; {len(not_ready)} pod(s) not ready, e.g. pod/{pl.name_of(pod)}" + (
            f": {reason}" if reason else ""
        )

    def _show_logs(self, pod: Obj, container: str) -> None:
        lines = self.kube.pod_log(pl.name_of(pod), container, tail_lines=10)
        if lines:
            self.log.info(f"last log lines of pod/{pl.name_of(pod)} container {container}:")
            for line in lines:
                self.log.info(f"  | {line[:300]}")

    def gate(self, service: str, pods: Informer, *, desired: int, color: str, timeout: float) -> None:
        """The endpoint gate: wait until the Service routes only to ready pods of ``color``, at least
        ``desired`` of them. Re-evaluated on every change, so pods replaced meanwhile do not trip it."""
        if desired <= 0:
            raise ReleaseFailed(
                f"{color} has no pods to route to (0 replicas); bluegreen does not send traffic to nothing",
                hint="give the Deployment at least one replica",
            )
        msg = [""]
        with self.watching(
            DISCOVERY, "endpointslices", labels=f"kubernetes.io/service-name={service}"
        ) as slices:

            def check() -> bool:
                have = rd.ready_endpoint_pods(list(slices.objects.values()))
                ours = self.ready(pods)
                good, other = have & ours, have - ours
                msg[0] = f"service/{service}: {len(good)} of {desired} endpoints are ready {color} pods"
                if other:
                    msg[0] += f", {len(other)} other endpoint(s) still listed"
                self.log.progress(f"endpoints/{service}", msg[0])
                return not other and len(good) >= desired

            try:
                done = self._wait([slices, pods], time.monotonic() + timeout, check)
            finally:
                self.log.done_progress()
        if not done:
            raise ReleaseFailed(f"timed out after {timeout:g}s waiting for endpoints: {msg[0]}")
        self.log.info(f"service/{service} routes only to ready {color} pods")

    # ------------------------------------------------------------------------------------------ switch

    def switch(
        self,
        service: Obj,
        *,
        color_label: str,
        to_color: str,
        new_state: st.ReleaseState | None = None,
        restore: dict[str, str | None] | None = None,
    ) -> Obj:
        """The one compare-and-swap that moves traffic and records the release (``new_state``) or puts
        our annotations back as they were (``restore``). A lost reply is recognised by reading again."""
        name = pl.name_of(service)
        wanted = restore if restore is not None else st.to_annotations(new_state or st.ReleaseState())
        ops = pl.switch_patch(service, color_label=color_label, to_color=to_color, annotations=wanted)

        def landed(current: Obj) -> bool:
            ann = current["metadata"].get("annotations") or {}
            return pl.selector_of(current).get(color_label) == to_color and all(
                ann.get(k) == v for k, v in wanted.items()
            )

        try:
            return self.kube.patch(CORE, "services", name, ops, JSON_PATCH)
        except (ApiFailure, ApiUnavailable) as e:
            try:
                current = self.kube.get(CORE, "services", name)
            except BluegreenError as again:
                raise Unverified(
                    f"could not tell whether service/{name} switched to {color_label}={to_color}: "
                    f"the switch failed ({e}) and reading the Service back failed too ({again})",
                    hint="look now: bluegreen status",
                ) from None
            if current is not None and landed(current):
                self.log.info(f"service/{name}: the switch landed although its reply was lost")
                return current
            if (
                isinstance(e, ApiFailure)
                and e.code in (409, 422)
                and current is not None
                and current["metadata"].get("resourceVersion") != service["metadata"].get("resourceVersion")
            ):
                raise ConcurrentChange(
                    f"service/{name} was changed by someone else after bluegreen read it "
                    f"(resourceVersion {service['metadata'].get('resourceVersion')} -> "
                    f"{current['metadata'].get('resourceVersion')}); nothing was switched",
                    hint="look at who changed it, then re-run",
                ) from None
            raise

    def smoke_target(self, service: Obj, via: str) -> HttpTarget:
        port = smoke_port(service)
        if via == "direct" or (via == "auto" and self.kube.in_cluster):
            return self.kube.direct_target(pl.name_of(service), int(port["port"]))
        return self.kube.proxy_target(pl.name_of(service), str(port.get("name") or port["port"]))


def smoke_port(service: Obj) -> Obj:
    """The Service port smoke checks use: the one named `http`, else the first."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        raise InputError(
            "--smoke-path",
            f"service {pl.name_of(service)!r} has no ports to smoke-test",
            hint="give the Service a port, or run without smoke checks",
        )
    return next((p for p in ports if p.get("name") == "http"), ports[0])
