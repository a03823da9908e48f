"""What deploy, promote, abort and rollback share: waiting by watching, the endpoint gate, the smoke
checks, the lock, and the writes that could hurt, each re-checked right before it is sent.

Every wait works from what the cluster reports through watches (never a sleep or a poll), and every
judgement it makes is a pure function of readiness.py.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bluegreen import plan as pl
from bluegreen import readiness as rd
from bluegreen import snapshot as sn
from bluegreen import state as st
from bluegreen.engine import Run, Verified
from bluegreen.errors import (
    BluegreenError,
    ConcurrentChange,
    GreenNotReady,
    InputError,
    PermissionDenied,
    ReleaseFailed,
)
from bluegreen.kube import (
    DEPLOYMENTS,
    ENDPOINT_SLICES,
    PODS,
    SERVICES,
    Conflict,
    Informer,
    Invalid,
    Kind,
    Kube,
    permission_message,
    uid_of,
    version_of,
)
from bluegreen.lock import ReleaseLock, lease_name
from bluegreen.log import StepLog
from bluegreen.report import run_url

Obj = dict[str, Any]
# How long a Service's endpoints may take to follow a change before we call it failed.
ENDPOINTS_TIMEOUT = 120.0


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity(deployment: Obj) -> Verified:
    meta = deployment["metadata"]
    return Verified(
        name=meta["name"],
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 0),
        template_hash=st.template_hash(deployment["spec"]["template"]),
    )


def changed_since(verified: Verified, current: Obj | None) -> str | None:
    """PURE: why ``current`` is not the Deployment that was verified, or None if it still is."""
    if current is None:
        return f"deployment.apps/{verified.name} was deleted"
    now = identity(current)
    if now.uid != verified.uid:
        return (
            f"deployment.apps/{verified.name} was deleted and created again (uid {verified.uid} -> {now.uid})"
        )
    if now.template_hash != verified.template_hash:
        who = pl.last_writer(current)
        return f"deployment.apps/{verified.name}'s pod template was changed" + (f" by {who}" if who else "")
    # A newer generation with the same uid and pod template is a scale (an autoscaler, or our own
    # capacity step) or a strategy edit: the pods that passed the checks are still what would serve.
    return None


class Ctx:
    """One command's connection to the cluster and its log; the lock once taken."""

    def __init__(self, kube: Kube, log: StepLog, service: str, env: dict[str, str] | None = None) -> None:
        self.kube = kube
        self.log = log
        self.service = service
        self.lease = lease_name(service)
        self.release_id = uuid.uuid4().hex[:12]
        self.run_url = run_url(dict(os.environ if env is None else env))
        self.lock: ReleaseLock | None = None
        self.last: Run | None = None  # what the command observed last: the outcome is computed from it
        self._informers: dict[tuple[str, str], Informer] = {}
        self._informers_lock = threading.Lock()
        self._background: list[threading.Thread] = []

    # ------------------------------------------------------------------------------------------- reads

    def read(self, *, quotas: bool = False) -> sn.Snapshot:
        return sn.read(self.kube, self.lease, quotas=quotas)

    def service_of(self, snap: sn.Snapshot, name: str, flag: str = "--service") -> Obj:
        svc = snap.service(name)
        if svc is None:
            self.kube.check_namespace()  # only now: tell a missing namespace from a missing Service
            raise InputError(
                flag,
                f"service {name!r} not found in namespace {self.kube.namespace!r}",
                hint="check the name and --namespace",
            )
        return svc

    def reread(self, run: Run, deployments: list[str]) -> Run:
        """Fresh copies of what the next write depends on (every Service, these Deployments) and the
        Lease: we must still hold the lock."""
        snap = sn.reread(self.kube, run.snap, deployments, self.lease)
        if self.lock is not None:
            self.lock.check_lease(snap.lease)
        return run.but(snap=snap)

    # -------------------------------------------------------------------------------------------- lock

    @contextmanager
    def locked(
        self,
        snap: sn.Snapshot,
        *,
        duration: float | str,
        force: bool,
        wait: float | str,
        also: list[Callable[[], Any]] | None = None,
    ) -> Iterator[ReleaseLock]:
        """The release lock for the block: taken (or forced, saying from whom), given back in the
        background while the command reports (``join`` waits for it). ``also``: reads that go out in the
        same round trip as the lock."""
        lock = ReleaseLock(self.kube, self.service, duration=float(duration))

        def take() -> str | None:
            return lock.acquire(force=force, wait=float(wait), seen=snap.lease, on_wait=self.log.info)

        try:
            with self.log.step("lock"):
                overridden = self.kube.parallel(take, *(also or []))[0]
                if overridden:
                    self.log.warning(f"--force-unlock: took lease/{lock.name} from {overridden}")
                self.log.info(f"lease/{lock.name} acquired by {lock.identity}")
            self.lock = lock
            yield lock
        finally:
            self.lock = None
            self._give_back(lock)

    def _give_back(self, lock: ReleaseLock) -> None:
        def release() -> None:
            warning = lock.release()
            if warning:
                self.log.warning(warning)

        t = threading.Thread(target=release, name="lease-release")
        t.start()
        self._background.append(t)

    def join(self) -> None:
        """Wait for background work (the lock's release) before the process exits."""
        for t in self._background:
            t.join(timeout=30)
        self._background.clear()

    def check_lock(self) -> None:
        if self.lock is not None:
            self.lock.check()

    # ------------------------------------------------------------------------------------------- waits

    @contextmanager
    def watching(
        self, kind: Kind, *, labels: str | None = None, fields: str | None = None, known: Obj | None = None
    ) -> Iterator[Informer]:
        """An informer for the duration of the block. A ``known`` object (one we just wrote) seeds it, so
        it watches on from that version without listing."""
        inf = self.kube.informer(kind, labels=labels, fields=fields).start(known=known)
        try:
            yield inf
        finally:
            inf.stop()

    def colour_pods(self, selector: dict[str, str]) -> Any:
        """The pods of one colour, watched for the block."""
        return self.watching(PODS, labels=pl.fmt_selector(selector))

    def pods(self, selector: dict[str, str]) -> Informer:
        """The pods of one colour, watched until the command ends (close)."""
        return self._informer(PODS, pl.fmt_selector(selector))

    def endpoints(self, service: str) -> Informer:
        return self._informer(ENDPOINT_SLICES, f"kubernetes.io/service-name={service}")

    def _informer(self, kind: Kind, labels: str) -> Informer:
        # Informers are opened from parallel reads too: the map is guarded, the (network) start is not.
        key = (kind.plural, labels)
        with self._informers_lock:
            known = self._informers.get(key)
        if known is not None:
            return known
        started = self.kube.informer(kind, labels=labels).start()
        with self._informers_lock:
            kept = self._informers.setdefault(key, started)
        if kept is not started:
            started.stop()
        return kept

    def close(self) -> None:
        with self._informers_lock:
            informers, self._informers = list(self._informers.values()), {}
        for inf in informers:
            inf.stop()

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
        image cannot start (image pull back-off, crash loop), when the controller cannot create pods
        (ReplicaFailure: quota, admission), and on ProgressDeadlineExceeded.
        """
        name = pl.name_of(deployment)
        image = pl.image_of(deployment, container)
        if rd.rollout(deployment).done and len(self.ready(pods)) >= pl.replicas_of(deployment):
            return deployment  # already rolled out (a colour on standby): no watch needed
        last: dict[str, Any] = {}
        with self.watching(DEPLOYMENTS, fields=f"metadata.name={name}", known=deployment) as deps:

            def check() -> bool:
                current = deps.objects.get(name)
                if current is None:
                    raise GreenNotReady(f"deployment.apps/{name} disappeared while we waited for it")
                r = rd.rollout(current)
                last.update(current=current, rollout=r)
                self.log.progress(name, r.message + self._pending(pods))
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

    @staticmethod
    def _pending(pods: Informer) -> str:
        """The scheduler's reason while pods wait for a node (quota of nodes, affinity, taints)."""
        for pod in list(pods.objects.values()):
            why = rd.pod_waiting(pod)
            if why and why.startswith("Unschedulable"):
                return f"; pod/{pl.name_of(pod)} {why}"
        return ""

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
        if rd.pod_waiting(pod) and str(rd.pod_waiting(pod)).startswith("Unschedulable"):
            return  # never ran: no logs
        lines = self.kube.pod_log(pl.name_of(pod), container, tail_lines=10)
        if lines:
            self.log.info(f"last log lines of pod/{pl.name_of(pod)} container {container}:")
            for line in lines:
                self.log.info(f"  | {line[:300]}")

    def slices(self, service: str) -> Any:
        return self.watching(ENDPOINT_SLICES, labels=f"kubernetes.io/service-name={service}")

    def gate(
        self,
        service: str,
        pods: Informer,
        *,
        desired: int,
        color: str,
        timeout: float,
        slices: Informer | None = None,
    ) -> None:
        """The endpoint gate: wait until the Service routes only to ready pods of ``color``, at least
        ``desired`` of them. Re-evaluated on every change, so pods replaced meanwhile do not trip it.
        ``slices``: an informer opened earlier (before the write the gate waits on)."""
        if desired <= 0:
            raise ReleaseFailed(
                f"{color} has no pods to route to (0 replicas); bluegreen does not send traffic to nothing",
                hint="give the Deployment at least one replica",
            )
        if slices is None:
            with self.slices(service) as own:
                return self.gate(service, pods, desired=desired, color=color, timeout=timeout, slices=own)
        msg = [""]

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
        self, service: Obj, *, color_label: str, to_color: str, annotations: dict[str, str | None]
    ) -> Obj:
        """The one compare-and-swap that moves traffic and records the release (or puts our annotations
        back as they were). A lost reply is recognised by reading the Service again."""
        ops = pl.switch_patch(service, color_label=color_label, to_color=to_color, annotations=annotations)

        def landed(current: Obj) -> bool:
            ann = current["metadata"].get("annotations") or {}
            return pl.selector_of(current).get(color_label) == to_color and all(
                ann.get(k) == v for k, v in annotations.items()
            )

        self.check_lock()
        try:
            return self.kube.compare_and_swap(SERVICES, service, ops, landed)
        except ConcurrentChange as e:
            who = self._who_changed(service)
            raise ConcurrentChange(e.message + (f"; changed by {who}" if who else ""), hint=e.hint) from None

    def _who_changed(self, seen: Obj) -> str | None:
        """Another bluegreen run (its record on the Service names it), else the API server's last writer."""
        try:
            current = self.kube.find(SERVICES, pl.name_of(seen))
        except BluegreenError:
            return None
        if current is None:
            return None
        before, now = st.read_state(seen), st.read_state(current)
        if now.release_id and now.release_id != before.release_id:
            last = now.history[0] if now.history else None
            where = f" ({last.run_url})" if last and last.run_url else ""
            return f"another bluegreen run (release {now.release_id}{where})"
        return pl.last_writer(current)

    def switch_all(
        self, run: Run, names: list[str], *, color_label: str, to_color: str, state: dict[str, str | None]
    ) -> Run:
        """Switch every named Service; the first carries the release state. If a later one fails, the
        earlier ones are switched back, so they never disagree."""
        done: list[tuple[Obj, Obj]] = []
        snap = run.snap
        try:
            for i, name in enumerate(names):
                before = self.service_of(snap, name)
                after = self.switch(
                    before, color_label=color_label, to_color=to_color, annotations=state if i == 0 else {}
                )
                done.append((before, after))
                snap = snap.with_service(after)
        except BaseException:
            for before, after in reversed(done):
                original = {
                    k: (before["metadata"].get("annotations") or {}).get(k) for k in st.STATE_ANNOTATIONS
                }
                back = pl.selector_of(before).get(color_label)
                try:
                    self.kube.compare_and_swap(
                        SERVICES,
                        after,
                        pl.switch_patch(
                            after, color_label=color_label, to_color=str(back), annotations=original
                        ),
                        _selects_colour(color_label, back),
                    )
                    self.log.info(f"service/{pl.name_of(after)} switched back to {color_label}={back}")
                except BluegreenError as e:
                    self.log.error(f"could not switch service/{pl.name_of(after)} back: {e}")
            raise
        return run.but(snap=snap)

    # ------------------------------------------------------------------------------- guarded writes

    def retire(self, run: Run, target: str, color_label: str, how: str) -> Run:
        """Scale ``target`` to zero or delete it, but only if no Service selects it now and we still hold
        the lock; the write carries the Deployment's resourceVersion (and uid) so a change meanwhile fails
        it. Controllers write status all the time: a failed precondition means "judge again", a few times."""
        for attempt in range(1, 4):
            fresh = self.reread(run, [target])
            dep = fresh.snap.deployment(target)
            if dep is None:
                return fresh
            # Services the preview aside, as planning counts them: one that selects this colour now is live.
            live = pl.colour_services(list(fresh.snap.services.values()), dep, color_label)
            if live:
                sel = pl.fmt_selector(pl.selector_of(fresh.snap.services[live[0]]))
                note = (
                    f"deployment.apps/{target} left alone: service/{live[0]} now selects its pods ({sel}); "
                    f"someone switched meanwhile"
                )
                self.log.warning(note)
                return fresh.but(notes=(*fresh.notes, note))
            if how != "delete" and pl.replicas_of(dep) == 0:
                return fresh
            try:
                if how == "delete":
                    self.kube.delete(DEPLOYMENTS, target, uid=uid_of(dep), resource_version=version_of(dep))
                    self.log.info(f"deployment.apps/{target} deleted")
                    return fresh.but(snap=fresh.snap.without_deployment(target))
                scaled = self.kube.scale(dep, 0)
                self.log.info(f"deployment.apps/{target} scaled to 0")
                return fresh.but(snap=fresh.snap.with_deployment(scaled))
            except (Conflict, Invalid):
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    def scale_up(self, dep: Obj, replicas: int, verified: Verified | None = None) -> Obj:
        """Scale a colour up to ``replicas``; if its resourceVersion moved (a controller's status write), read
        it again and, while it is still the verified Deployment, try again."""
        for attempt in range(1, 4):
            try:
                return self.kube.scale(dep, replicas)
            except (Conflict, Invalid):
                if attempt == 3:
                    raise
                current = self.kube.get(DEPLOYMENTS, pl.name_of(dep))
                why = changed_since(verified, current) if verified is not None else None
                if current is None or why:
                    raise ConcurrentChange(
                        f"{why or f'deployment.apps/{pl.name_of(dep)} was deleted'}; nothing was switched"
                    ) from None
                dep = current
        raise AssertionError("unreachable")

    def drain(self, seconds: float, old: str) -> None:
        """Give kube-proxy and cloud load balancers time to follow the switch before the old pods go,
        keeping the lock (renewed meanwhile). A cancelled job stops waiting; the re-run finishes."""
        if seconds <= 0:
            return
        self.log.info(f"waiting {seconds:g}s before retiring deployment.apps/{old} (--scale-down-delay)")
        stop = threading.Event()
        deadline = time.monotonic() + seconds
        while not stop.wait(max(0.0, min(1.0, deadline - time.monotonic()))):
            self.check_lock()
            if time.monotonic() >= deadline:
                return

    # ------------------------------------------------------------------------------------------- smoke

    def proxy_denied(self, service: str) -> PermissionDenied:
        return PermissionDenied(
            permission_message("GET", self.kube.path(SERVICES, service, "proxy"), None, "forbidden"),
            hint="or use --smoke-via direct from inside the cluster",
        )


def _selects_colour(color_label: str, colour: str | None) -> Callable[[Obj], bool]:
    return lambda current: pl.selector_of(current).get(color_label) == colour
