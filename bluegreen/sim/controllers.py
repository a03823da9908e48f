"""The controllers of the simulated cluster: what makes it behave like one.

One worker thread takes keys from a de-duplicating queue fed by ``store.subscribe`` (like client-go's
workqueue) and reconciles, writing through the Store as the real controllers write through the API:

- deployment controller  Deployment -> ReplicaSets (rolling update / recreate, scaling, status, conditions)
- replicaset controller  ReplicaSet -> Pods (create / delete to match replicas, status)
- kubelet                Pod status over time: ContainerCreating, Running, Ready, image pull and crash
                         failures, chosen by the image (apps.py); timed transitions use the clock
- endpoints controllers  Service selector + ready pods -> Endpoints and EndpointSlices
- events                 core/v1 Events for the notable transitions

Modelled on kubernetes/kubernetes pkg/controller/{deployment,replicaset,endpoint,endpointslice} and the
kubelet's status wording. A deleted pod stays Terminating for ``termination_delay`` (the store marks it,
the kubelet part removes it). Known differences: minReadySeconds is treated as 0; a terminating pod turns
not Ready at once (a real kubelet keeps probing readiness until its containers stop); no orphan adoption;
proportional scaling during a rollout is simplified.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .apps import AppRegistry, Behaviour
from .clock import Clock
from .errors import ApiError
from .quota import ZERO, Quantity, pod_requests, quota_status
from .selectors import from_label_selector_object
from .store import Obj, Store

Key = tuple[str, str, str]  # (kind, namespace, name)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
# annotations of a Deployment that are not copied onto its ReplicaSets (deployment_util.annotationsToSkip)
_SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deployment.kubernetes.io/revision-history",
    "deprecated.deployment.rollback.to",
}

# what k8s.io/apimachinery/pkg/util/rand uses for generated names and hashes: no vowels, no look-alikes
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_CRASH_BACKOFF = 300.0

# Progressing condition reasons (pkg/controller/deployment/util)
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_ALPHANUMS) for _ in range(n))


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: each byte mapped into the vowel-free alphabet."""
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in s.encode())


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """A stable hash of a pod template (without its own hash label), like controller.ComputeHash:
    fnv-32a over the template, then safe-encoded decimal."""
    tmpl = copy.deepcopy(template)
    labels = (tmpl.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    data = json.dumps(tmpl, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(h))


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels; an empty or missing selector matches nothing, as for
    workloads."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return bool(from_label_selector_object(selector).matches(labels))


def map_selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service's plain map selector."""
    return all(labels.get(k) == v for k, v in selector.items())


def controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def controller_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1])
        scaled = pct * total
        return -(-scaled // 100) if round_up else scaled // 100
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _status_int(obj: Obj, key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


def _omit_zero(status: Obj, *keys: str) -> Obj:
    """Go's omitempty: zero counters do not appear in the JSON."""
    for k in keys:
        if not status.get(k):
            status.pop(k, None)
    return status


def _is_pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _is_pod_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _is_pod_terminating(pod: Obj) -> bool:
    """Being deleted and not finished yet: what the controllers count as terminatingReplicas."""
    return bool(pod["metadata"].get("deletionTimestamp")) and not _is_pod_terminal(pod)


def _is_pod_active(pod: Obj) -> bool:
    """controller.IsPodActive: neither finished nor being deleted."""
    return not _is_pod_terminal(pod) and not pod["metadata"].get("deletionTimestamp")


# ---- the work queue ----------------------------------------------------------------------------


class _WorkQueue:
    """De-duplicating FIFO: a key already waiting is not added twice; a key added while it is being
    processed is processed again afterwards (client-go workqueue semantics)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._queue: deque[Key] = deque()
        self._waiting: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty_while_processing: set[Key] = set()

    def add(self, key: Key) -> None:
        with self.cond:
            if key in self._processing:
                self._dirty_while_processing.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._queue.append(key)
            self.cond.notify_all()

    def get(self, timeout: float | None = None) -> Key | None:
        with self.cond:
            if not self._queue:
                self.cond.wait(timeout)
            if not self._queue:
                return None
            key = self._queue.popleft()
            self._waiting.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: Key) -> None:
        with self.cond:
            self._processing.discard(key)
            if key in self._dirty_while_processing:
                self._dirty_while_processing.discard(key)
                if key not in self._waiting:
                    self._waiting.add(key)
                    self._queue.append(key)
            self.cond.notify_all()

    def describe(self) -> str:
        """What is in progress, for a timeout message. Caller holds ``cond``."""
        doing = ", ".join(f"{k[0]} {k[1]}/{k[2]}" for k in sorted(self._processing)) or "nothing"
        return f"working on {doing}; {len(self._queue)} more queued"

    def busy(self) -> bool:
        """Caller holds ``cond``."""
        return bool(self._queue or self._processing)


# ---- the kubelet's view of one pod -----------------------------------------------------------


@dataclass(frozen=True)
class NodeCapacity:
    """What every simulated node can hold: ``pods`` at most, and requests up to ``cpu`` and ``memory``
    (None: no limit on that resource)."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    pods: int = 110


@dataclass
class _PodRuntime:
    uid: str
    t0: float
    node: str
    host_ip: str
    ip: str
    emitted: set[str] = field(default_factory=set)


@dataclass
class _ContainerView:
    """A container's state at one instant, and when it next changes."""

    stage: str  # creating | pulling-failed | pull-backoff | running | ready | crashed
    state: Obj
    last_state: Obj
    ready: bool
    started: bool
    restarts: int
    next_change: float | None
    ever_started: bool


class Controllers:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        apps: AppRegistry,
        ready_delay: float = 0.0,
        *,
        crash_backoff: float = 10.0,
        termination_delay: float | None = None,
        nodes: int = 3,
        capacity: NodeCapacity | None = None,
    ) -> None:
        self.store = store
        self.nodes = [f"sim-worker-{i + 1}" for i in range(max(1, nodes))]
        # what each node offers; None: room for any number of pods (binding is folded into the create)
        self.capacity = capacity
        self._waiting_pods: set[tuple[str, str]] = set()  # pods left unscheduled, tried again on a deletion
        self.clock = clock
        self.apps = apps
        self.ready_delay = max(0.0, ready_delay)
        # how long a deleted pod's containers take to stop (never longer than its grace period)
        self.termination_delay = (
            self.ready_delay if termination_delay is None else max(0.0, termination_delay)
        )
        # the kubelet's first restart back-off; it doubles up to five minutes
        self.crash_backoff = crash_backoff
        self.errors: list[str] = []  # unexpected exceptions in reconciles, for tests to assert on
        self._queue = _WorkQueue()
        self._timers: set[tuple[Key, float]] = set()
        self._runtime: dict[tuple[str, str], _PodRuntime] = {}
        self._kill_at: dict[tuple[str, str], tuple[str, float]] = {}  # terminating pod -> (uid, removal time)
        self._events: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._rs_backoff: dict[tuple[str, str], float] = {}  # ReplicaSets whose pod creation was refused
        # the EndpointSlice controller's TriggerTimeTracker: per Service, its creationTimestamp and each
        # pod's Ready transition as last seen
        self._slice_triggers: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
        self._ip_seq = 0
        self._node_seq = 0
        self._event_seq = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._unsubscribe: Callable[[], None] | None = None
        self._subscribed = False
        # what the endpoints controllers index: Service selectors and pod labels by (namespace, name), so
        # that a pod change wakes only the Services that select (or selected) it
        self._index_lock = threading.Lock()
        self._svc_selectors: dict[tuple[str, str], dict[str, str]] = {}
        self._pod_labels: dict[tuple[str, str], dict[str, str]] = {}

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._subscribe()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sim-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            self._subscribed = False
        with self._queue.cond:
            self._queue.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until no reconcile is queued or running and no timer is due (later timers may wait)."""
        if self._thread is None:
            self.reconcile_now()
            return
        deadline = time.monotonic() + timeout
        with self._queue.cond:
            while self._run_due_timers() or self._queue.busy():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the simulated cluster's controllers were still busy after {timeout}s "
                        f"({self._queue.describe()})"
                    )
                self._queue.cond.wait(min(remaining, 0.05))

    def next_timer_at(self) -> float | None:
        """When the next timed transition is due (clock time), or None: lets a caller that needs, say, a
        ready rollout advance a fake clock to it or wait on a real one."""
        with self._queue.cond:
            return min((when for _, when in self._timers), default=None)

    def reconcile_now(self, max_steps: int = 100_000) -> None:
        """Process queued work in the caller's thread (when the worker thread is not running)."""
        if self._thread is not None:
            self.wait_idle()
            return
        self._subscribe()
        for _ in range(max_steps):
            with self._queue.cond:
                self._run_due_timers()
            key = self._queue.get(timeout=0)
            if key is None:
                return
            self._process(key)
        raise TimeoutError("the simulated cluster's controllers did not settle")

    def _subscribe(self) -> None:
        if self._subscribed:
            return
        self._unsubscribe = self.store.subscribe(self._on_change)
        self._subscribed = True
        for resource in ("services", "pods", "deployments", "replicasets", "resourcequotas"):
            for obj in self.store.list(resource, copy_items=False)[0]:
                self._on_change("ADDED", resource, obj)

    def _run(self) -> None:
        while not self._stopping:
            key = self._queue.get(timeout=0.2)
            if key is not None:
                self._process(key)

    def _process(self, key: Key) -> None:
        try:
            self._reconcile(key)
        except ApiError as e:
            if e.code == 409:
                # someone else wrote the object since we read it: re-read and re-apply, like the real ones
                self._queue.add(key)
            elif e.code != 404:
                self._record_error(key, e)
        except Exception as e:
            self._record_error(key, e)
        finally:
            self._queue.done(key)

    def _record_error(self, key: Key, e: BaseException) -> None:
        text = "".join(traceback.format_exception(e))
        self.errors.append(f"{key}: {text}")
        print(f"sim controllers: reconcile of {key[0]} {key[1]}/{key[2]} failed:\n{text}", file=sys.stderr)

    # ---- events in, keys out ---------------------------------------------------------------------

    def _on_change(self, event_type: str, resource: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        add = self._queue.add
        if resource == "deployments":
            add(("deployment", ns, name))
        elif resource == "replicasets":
            add(("replicaset", ns, name))
            owner = _controller_name(obj, "Deployment")
            if owner:
                add(("deployment", ns, owner))
        elif resource == "pods":
            add(("pod", ns, name))
            owner = _controller_name(obj, "ReplicaSet")
            if owner:
                add(("replicaset", ns, owner))
                rs = self.store.get_shared("replicasets", ns, owner) if event_type == "DELETED" else None
                deployment = _controller_name(rs, "Deployment") if rs is not None else None
                if deployment:
                    # deletePod: a Recreate rollout waits until the old pods are gone
                    add(("deployment", ns, deployment))
            for svc in self._services_selecting(event_type, ns, name, meta.get("labels") or {}):
                add(("service", ns, svc))
            for quota in self.store.list("resourcequotas", ns, copy_items=False)[0]:
                add(("quota", ns, quota["metadata"]["name"]))
            if event_type == "DELETED":
                self._retry_refused(ns)
                for waiting in list(self._waiting_pods):
                    if waiting != (ns, name):
                        add(("pod", *waiting))
                self._waiting_pods.discard((ns, name))
        elif resource == "services":
            with self._index_lock:
                selector = (obj.get("spec") or {}).get("selector")
                if event_type == "DELETED" or not selector:
                    self._svc_selectors.pop((ns, name), None)
                else:
                    self._svc_selectors[(ns, name)] = dict(selector)
            add(("service", ns, name))
        elif resource == "resourcequotas":
            if event_type != "DELETED":
                add(("quota", ns, name))
            self._retry_refused(ns)
        elif resource == "endpoints" and event_type == "DELETED":
            add(("service", ns, name))
        elif resource == "endpointslices" and event_type == "DELETED":
            owner_svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if owner_svc:
                add(("service", ns, str(owner_svc)))

    def _services_selecting(self, event_type: str, ns: str, name: str, labels: dict[str, str]) -> list[str]:
        """Services whose selector matches the pod now or matched it before this change."""
        with self._index_lock:
            before = self._pod_labels.get((ns, name))
            if event_type == "DELETED":
                self._pod_labels.pop((ns, name), None)
            else:
                self._pod_labels[(ns, name)] = dict(labels)
            return [
                svc
                for (svc_ns, svc), sel in self._svc_selectors.items()
                if svc_ns == ns
                and (
                    map_selector_matches(sel, labels)
                    or (before is not None and map_selector_matches(sel, before))
                )
            ]

    def _reconcile(self, key: Key) -> None:
        kind, ns, name = key
        if kind == "deployment":
            self._sync_deployment(ns, name)
        elif kind == "replicaset":
            self._sync_replicaset(ns, name)
        elif kind == "pod":
            self._sync_pod(ns, name)
        elif kind == "service":
            self._sync_service(ns, name)
        elif kind == "quota":
            self._sync_quota(ns, name)

    def _retry_refused(self, ns: str) -> None:
        """ReplicaSets of ``ns`` whose pods a quota refused: try again now that something changed."""
        for rs_ns, rs_name in list(self._rs_backoff):
            if rs_ns == ns:
                self._queue.add(("replicaset", rs_ns, rs_name))

    # ---- resource quota controller ---------------------------------------------------------------

    def _sync_quota(self, ns: str, name: str) -> None:
        """status.hard from spec.hard and status.used from the namespace's pods (resource_quota_controller)."""
        quota = self.store.get_shared("resourcequotas", ns, name)
        if quota is None:
            return
        pods = self.store.list("pods", ns, copy_items=False)[0]
        status = quota_status(quota, pods, self.clock.now())
        if status != quota.get("status"):
            new = copy.deepcopy(quota)
            new["status"] = status
            self.store.update("resourcequotas", new, subresource="status")

    # ---- timers ----------------------------------------------------------------------------------

    def _schedule(self, when: float, key: Key) -> None:
        """Reconcile ``key`` again at ``when`` on the clock."""
        if when <= self.clock.now():
            self._queue.add(key)
            return
        with self._queue.cond:
            if (key, when) in self._timers:
                return
            self._timers.add((key, when))

        def fire() -> None:
            with self._queue.cond:
                self._timers.discard((key, when))
            if not self._stopping:
                self._queue.add(key)

        self.clock.call_at(when, fire)

    def _run_due_timers(self) -> bool:
        """Queue the work of timers that are due but have not fired: the real clock's thread may not have
        got to them yet, and a fake clock advanced while a timer was being set will never fire it.
        (A late firing only queues the key again, which is harmless.) Caller holds the queue's lock."""
        if not self._timers:
            return False
        now = self.clock.now()
        due = [(key, when) for key, when in self._timers if when <= now]
        for key, when in due:
            self._timers.discard((key, when))
            self._queue.add(key)
        return bool(due)

    # ---- events (core/v1) ------------------------------------------------------------------------

    def _event(
        self,
        involved: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Record an Event; a repeat of the same one bumps its count, like the event correlator."""
        meta = involved["metadata"]
        ns = meta.get("namespace", "default")
        now = self.clock.isoformat()
        agg = (meta["uid"], reason, message)
        known = self._events.get(agg)
        if known is not None:
            try:
                ev = self.store.get("events", known[0], known[1])
                ev["count"] = int(ev.get("count") or 1) + 1
                ev["lastTimestamp"] = now
                ev["metadata"].pop("resourceVersion", None)
                self.store.update("events", ev)
                return
            except ApiError as e:
                if e.code != 404:
                    raise
        self._event_seq += 1
        stamp = int(self.clock.now() * 1e9) + self._event_seq
        name = f"{meta['name']}.{stamp:x}"
        involved_ref: Obj = {
            "kind": involved.get("kind", ""),
            "namespace": ns,
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": involved.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved_ref["fieldPath"] = field_path
        source: Obj = {"component": component}
        if host:
            source["host"] = host
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        try:
            self.store.create("events", event)
        except ApiError as e:
            if e.code != 404:  # the namespace went away meanwhile
                raise
            return
        self._events[agg] = (ns, name)

    # ---- deployment controller -------------------------------------------------------------------

    def _sync_deployment(self, ns: str, name: str) -> None:
        try:
            d = self.store.get("deployments", ns, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if d["metadata"].get("deletionTimestamp"):
            return
        uid = d["metadata"]["uid"]
        selector = d["spec"].get("selector")
        rs_list = [
            rs
            for rs in self.store.list("replicasets", ns, copy_items=False)[0]
            if controller_uid(rs) == uid and selector_matches(selector, rs["metadata"].get("labels") or {})
        ]
        rs_list = [copy.deepcopy(rs) for rs in rs_list]
        new_rs, old_rss = _split_new_old(d, rs_list)

        d = self._check_paused_conditions(d)
        if d["spec"].get("paused") or _is_scaling_event(d, new_rs, old_rss):
            # sync.go sync: scale only; the Progressing condition waits for the next rollout pass
            if _is_scaling_event(d, new_rs, old_rss):
                self._scale(d, new_rs, old_rss)
            self._sync_deployment_status(d, new_rs, old_rss, progress=False)
            return
        strategy = (d["spec"].get("strategy") or {}).get("type") or "RollingUpdate"
        if strategy == "Recreate":
            self._rollout_recreate(d, new_rs, old_rss)
        else:
            self._rollout_rolling(d, new_rs, old_rss)

    def _check_paused_conditions(self, d: Obj) -> Obj:
        """A paused Deployment reports Progressing=Unknown, so that the time spent paused does not count
        against its progress deadline."""
        if d["spec"].get("progressDeadlineSeconds") is None:
            return d
        cond = _condition(d.get("status") or {}, "Progressing")
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return d
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        if d["spec"].get("paused") and not paused_cond:
            reason, message = "DeploymentPaused", "Deployment is paused"
        elif not d["spec"].get("paused") and paused_cond:
            reason, message = "DeploymentResumed", "Deployment is resumed"
        else:
            return d
        status = copy.deepcopy(d.get("status") or {})
        _set_condition(status, "Progressing", "Unknown", reason, message, self.clock.isoformat())
        d["status"] = status
        return self.store.update("deployments", d, subresource="status")

    def _rollout_rolling(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        if new_rs is None:
            self._create_new_rs(d, old_rss, _new_rs_replicas(d, old_rss, None))
            return  # the new ReplicaSet's events bring us back
        d = self._sync_revision(d, new_rs, old_rss)
        all_rss = [*old_rss, new_rs]
        scaled = self._reconcile_new_rs(d, all_rss, new_rs)
        if not scaled:
            scaled = self._reconcile_old_rss(d, all_rss, old_rss, new_rs)
        if not scaled and _is_complete(d, _calculate_status(d, new_rs, old_rss)):
            self._cleanup(d, old_rss)
        self._sync_deployment_status(d, new_rs, old_rss)

    def _rollout_recreate(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        scaled = False
        for rs in old_rss:
            if _replicas(rs) > 0:
                self._scale_rs(d, rs, 0)
                scaled = True
        old_pods_running = (
            scaled or any(_status_int(rs, "replicas") > 0 for rs in old_rss) or self._old_pods_exist(old_rss)
        )
        if old_pods_running:
            self._sync_deployment_status(d, new_rs, old_rss)
            return
        if new_rs is None:
            self._create_new_rs(d, old_rss, _replicas(d))
            return
        d = self._sync_revision(d, new_rs, old_rss)
        if _replicas(new_rs) != _replicas(d):
            self._scale_rs(d, new_rs, _replicas(d))
        if _is_complete(d, _calculate_status(d, new_rs, old_rss)):
            self._cleanup(d, old_rss)
        self._sync_deployment_status(d, new_rs, old_rss)

    def _old_pods_exist(self, old_rss: list[Obj]) -> bool:
        """recreate.go oldPodsRunning: any pod of an old ReplicaSet not Succeeded/Failed, terminating
        ones included, so that the new pods start only once the old ones are gone."""
        if not old_rss:
            return False
        uids = {rs["metadata"]["uid"] for rs in old_rss}
        ns = old_rss[0]["metadata"]["namespace"]
        return any(
            controller_uid(p) in uids and not _is_pod_terminal(p)
            for p in self.store.list("pods", ns, copy_items=False)[0]
        )

    def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """sync.go scale: a replicas change. One active ReplicaSet takes the new size; during a rolling
        update the change is shared out in proportion to the ReplicaSets' sizes."""
        want = _replicas(d)
        active = [rs for rs in [*old_rss, *([new_rs] if new_rs else [])] if _replicas(rs) > 0]
        if len(active) <= 1:
            target = active[0] if active else (new_rs or max(old_rss, key=_creation_key, default=None))
            if target is not None:
                self._scale_rs(d, target, want)
            return
        if new_rs is not None and _is_saturated(d, new_rs):
            for rs in old_rss:
                if _replicas(rs) > 0:
                    self._scale_rs(d, rs, 0)
            return
        if _rolling(d) is None:
            return
        allowed = want + _max_surge(d) if want > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in active)
        # the largest first; ties: newer first when growing, older first when shrinking
        active.sort(key=_creation_key, reverse=to_add > 0)
        active.sort(key=_replicas, reverse=True)
        sizes: dict[str, int] = {}
        added = 0
        for rs in active:
            share = _proportion(rs, d, to_add, added)
            sizes[rs["metadata"]["name"]] = _replicas(rs) + share
            added += share
        for i, rs in enumerate(active):
            size = sizes[rs["metadata"]["name"]]
            if i == 0 and to_add:
                size = max(size + to_add - added, 0)  # leftovers go to the largest
            self._scale_rs(d, rs, size)

    def _reconcile_new_rs(self, d: Obj, all_rss: list[Obj], new_rs: Obj) -> bool:
        want = _replicas(d)
        have = _replicas(new_rs)
        if have == want:
            return False
        if have > want:
            return self._scale_rs(d, new_rs, want)
        return self._scale_rs(
            d, new_rs, _new_rs_replicas(d, [rs for rs in all_rss if rs is not new_rs], new_rs)
        )

    def _reconcile_old_rss(self, d: Obj, all_rss: list[Obj], old_rss: list[Obj], new_rs: Obj) -> bool:
        """rolling.go reconcileOldReplicaSets: first drop unhealthy old pods, then scale old ReplicaSets
        down as far as maxUnavailable allows."""
        if sum(_replicas(rs) for rs in old_rss) == 0:
            return False
        all_pods = sum(_replicas(rs) for rs in all_rss)
        min_available = _replicas(d) - _max_unavailable(d)
        new_unavailable = _replicas(new_rs) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        total = 0
        for rs in sorted(old_rss, key=_creation_key):
            if total >= max_scaled_down:
                break
            unhealthy = _replicas(rs) - _status_int(rs, "availableReplicas")
            if _replicas(rs) == 0 or unhealthy <= 0:
                continue
            down = min(max_scaled_down - total, unhealthy)
            self._scale_rs(d, rs, _replicas(rs) - down)
            total += down
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
        can_remove = available - min_available
        removed = 0
        for rs in sorted(old_rss, key=_creation_key):
            if removed >= can_remove:
                break
            if _replicas(rs) == 0:
                continue
            down = min(_replicas(rs), can_remove - removed)
            self._scale_rs(d, rs, _replicas(rs) - down)
            removed += down
        return total + max(removed, 0) > 0

    def _scale_rs(self, d: Obj, rs: Obj, replicas: int) -> bool:
        """Set a ReplicaSet's size and its desired/max annotations; ``rs`` is updated in place."""
        old = _replicas(rs)
        ann = rs["metadata"].setdefault("annotations", {})
        want_ann = {DESIRED_REPLICAS: str(_replicas(d)), MAX_REPLICAS: str(_replicas(d) + _max_surge(d))}
        if old == replicas and all(ann.get(k) == v for k, v in want_ann.items()):
            return False
        ann.update(want_ann)
        rs["spec"]["replicas"] = replicas
        stored = self.store.update("replicasets", rs)
        rs.clear()
        rs.update(stored)
        if old != replicas:
            direction = "up" if replicas > old else "down"
            self._event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {replicas}",
                "deployment-controller",
            )
        return old != replicas

    def _create_new_rs(self, d: Obj, old_rss: list[Obj], replicas: int) -> None:
        """Create the ReplicaSet for the Deployment's current template, named by its hash."""
        collision = (d.get("status") or {}).get("collisionCount")
        template = copy.deepcopy(d["spec"]["template"])
        h = pod_template_hash(template, collision)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        revision = _max_revision(old_rss) + 1
        annotations = {
            k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in _SKIP_ANNOTATIONS
        }
        annotations.update(
            {
                REVISION: str(revision),
                DESIRED_REPLICAS: str(_replicas(d)),
                MAX_REPLICAS: str(_replicas(d) + _max_surge(d)),
            }
        )
        name = f"{d['metadata']['name']}-{h}"
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [controller_ref(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = self.store.create("replicasets", rs)
        except ApiError as e:
            if e.code != 409 or e.reason != "AlreadyExists":
                raise
            existing = self.store.get("replicasets", d["metadata"]["namespace"], name)
            if controller_uid(existing) == d["metadata"]["uid"] and _same_template(existing, d):
                return  # ours already (our read was stale): its events bring us back
            # a hash collision with someone else's ReplicaSet: bump collisionCount and try again
            status = copy.deepcopy(d.get("status") or {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            d["status"] = status
            self.store.update("deployments", d, subresource="status")
            return
        if replicas > 0:
            self._event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {replicas}",
                "deployment-controller",
            )
        d = self._set_deployment_revision(d, str(revision))
        stored_status = d.get("status") or {}
        status = copy.deepcopy(stored_status)
        _set_condition(
            status,
            "Progressing",
            "True",
            NEW_RS_CREATED,
            f'Created new replica set "{name}"',
            self.clock.isoformat(),
        )
        d["status"] = status
        # one status write carries the new condition and the counters
        self._sync_deployment_status(d, created, old_rss, stored_status=stored_status)

    def _sync_revision(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> Obj:
        """The new ReplicaSet's revision is one more than any old one's (a rollback re-uses an old
        ReplicaSet and bumps it); the Deployment carries the same revision."""
        want = _max_revision(old_rss) + 1
        ann = new_rs["metadata"].setdefault("annotations", {})
        current = int(ann.get(REVISION) or 0)
        if current < want:
            ann[REVISION] = str(want)
            stored = self.store.update("replicasets", new_rs)
            new_rs.clear()
            new_rs.update(stored)
        else:
            want = current
        d = self._set_deployment_revision(d, str(want))
        status = d.get("status") or {}
        if _condition(status, "Progressing") is None:
            status = copy.deepcopy(status)
            _set_condition(
                status,
                "Progressing",
                "True",
                FOUND_NEW_RS,
                f'Found new replica set "{new_rs["metadata"]["name"]}"',
                self.clock.isoformat(),
            )
            d["status"] = status
            d = self.store.update("deployments", d, subresource="status")
        return d

    def _set_deployment_revision(self, d: Obj, revision: str) -> Obj:
        ann = d["metadata"].get("annotations") or {}
        if ann.get(REVISION) == revision:
            return d
        d["metadata"].setdefault("annotations", {})[REVISION] = revision
        # through /status, like the real controller (UpdateStatus): the generation stays as it is
        return self.store.update("deployments", d, subresource="status")

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        """Keep at most revisionHistoryLimit old, empty ReplicaSets."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        empty = [rs for rs in old_rss if _replicas(rs) == 0 and _status_int(rs, "replicas") == 0]
        excess = len(empty) - int(limit)
        if excess <= 0:
            return
        empty.sort(
            key=lambda rs: (
                int((rs["metadata"].get("annotations") or {}).get(REVISION) or 0),
                _creation_key(rs),
            )
        )
        for rs in empty[:excess]:
            try:
                self.store.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError as e:
                if e.code != 404:
                    raise

    def _sync_deployment_status(
        self,
        d: Obj,
        new_rs: Obj | None,
        old_rss: list[Obj],
        progress: bool = True,
        stored_status: Obj | None = None,
    ) -> None:
        """progress.go syncRolloutStatus: counters, Available, and the Progressing condition with its
        deadline."""
        new_status = _calculate_status(d, new_rs, old_rss)
        now_iso = self.clock.isoformat()
        available = _status_int({"status": new_status}, "availableReplicas")
        if available >= _replicas(d) - _max_unavailable(d):
            _set_condition(
                new_status,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now_iso,
            )
        else:
            _set_condition(
                new_status,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now_iso,
            )
        deadline = d["spec"].get("progressDeadlineSeconds")
        current = _condition(new_status, "Progressing")
        complete_already = (
            new_status.get("replicas", 0) == new_status.get("updatedReplicas", 0)
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else None
        if progress and deadline is not None and not complete_already:
            if _is_complete(d, new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has successfully progressed.'
                )
                _set_condition(new_status, "Progressing", "True", NEW_RS_AVAILABLE, msg, now_iso)
            elif _is_progressing(d, new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" is progressing.'
                )
                keep_transition = (
                    current.get("lastTransitionTime") if current and current.get("status") == "True" else None
                )
                _remove_condition(new_status, "Progressing")
                _set_condition(new_status, "Progressing", "True", RS_UPDATED, msg, now_iso)
                if keep_transition:
                    cond = _condition(new_status, "Progressing")
                    assert cond is not None
                    cond["lastTransitionTime"] = keep_transition
            elif self._timed_out(d, new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else f'Deployment "{d["metadata"]["name"]}" has timed out progressing.'
                )
                _set_condition(new_status, "Progressing", "False", TIMED_OUT, msg, now_iso)
        if progress:
            self._copy_replica_failure(new_status, new_rs, old_rss)
        if new_status != (stored_status if stored_status is not None else d.get("status") or {}):
            d["status"] = new_status
            self.store.update("deployments", d, subresource="status")
        self._requeue_stuck(d, new_status)

    @staticmethod
    def _copy_replica_failure(status: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """progress.go getReplicaFailures: the new ReplicaSet's ReplicaFailure condition, else an old
        one's, becomes the Deployment's (ReplicaSetToDeploymentCondition); none removes it."""
        found = None
        for rs in ([new_rs] if new_rs is not None else []) + old_rss:
            found = _condition(rs.get("status") or {}, "ReplicaFailure")
            if found is not None:
                break
        if found is None:
            if _condition(status, "ReplicaFailure") is not None:
                _remove_condition(status, "ReplicaFailure")
            return
        current = _condition(status, "ReplicaFailure")
        if current is not None and (current.get("status"), current.get("reason")) == (
            found.get("status"),
            found.get("reason"),
        ):
            return
        _remove_condition(status, "ReplicaFailure")
        status["conditions"].append(
            {
                "type": "ReplicaFailure",
                "status": found.get("status"),
                "lastUpdateTime": found.get("lastTransitionTime"),
                "lastTransitionTime": found.get("lastTransitionTime"),
                "reason": found.get("reason"),
                "message": found.get("message"),
            }
        )

    def _timed_out(self, d: Obj, status: Obj) -> bool:
        cond = _condition(status, "Progressing")
        if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
            return False
        if cond.get("reason") == TIMED_OUT:
            return True
        since = parse_time(cond.get("lastUpdateTime"))
        deadline = d["spec"].get("progressDeadlineSeconds")
        return since is not None and deadline is not None and since + float(deadline) < self.clock.now()

    def _requeue_stuck(self, d: Obj, status: Obj) -> None:
        """Look again when the progress deadline would pass, so a stuck rollout is reported."""
        cond = _condition(status, "Progressing")
        deadline = d["spec"].get("progressDeadlineSeconds")
        if cond is None or deadline is None or d["spec"].get("paused"):
            return
        if cond.get("reason") in (TIMED_OUT, NEW_RS_AVAILABLE) or _is_complete(d, status):
            return
        since = parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return
        # the check is strict (deadline passed), and timestamps have whole seconds
        self._schedule(
            since + float(deadline) + 1.0, ("deployment", d["metadata"]["namespace"], d["metadata"]["name"])
        )

    # ---- replicaset controller -------------------------------------------------------------------

    def _sync_replicaset(self, ns: str, name: str) -> None:
        try:
            rs = self.store.get("replicasets", ns, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        uid = rs["metadata"]["uid"]
        owned = [p for p in self.store.list("pods", ns, copy_items=False)[0] if controller_uid(p) == uid]
        # FilterActivePods: a terminating pod no longer counts, so its replacement is created at once
        pods = [p for p in owned if _is_pod_active(p)]
        terminating = sum(1 for p in owned if _is_pod_terminating(p))
        want = _replicas(rs)
        diff = len(pods) - want
        manage_error: ApiError | None = None
        if diff < 0:
            for _ in range(-diff):
                try:
                    pods.append(self._create_pod(rs))
                except ApiError as e:
                    if e.code != 403:
                        raise
                    # refused by admission (a quota): the rest of the batch is skipped, as in slowStartBatch
                    manage_error = e
                    self._event(
                        rs, "Warning", "FailedCreate", f"Error creating: {e.message}", "replicaset-controller"
                    )
                    break
        elif diff > 0:
            doomed = sorted(pods, key=_deletion_rank)[:diff]
            doomed_names = {p["metadata"]["name"] for p in doomed}
            for p in doomed:
                try:
                    self.store.delete("pods", ns, p["metadata"]["name"])
                except ApiError as e:
                    if e.code != 404:
                        raise
                self._event(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {p['metadata']['name']}",
                    "replicaset-controller",
                )
            pods = [p for p in pods if p["metadata"]["name"] not in doomed_names]
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = sum(1 for p in pods if _is_pod_ready(p))
        status: Obj = dict(rs.get("status") or {})
        status.update(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": sum(
                    1
                    for p in pods
                    if map_selector_matches(template_labels, p["metadata"].get("labels") or {})
                ),
                "readyReplicas": ready,
                # minReadySeconds is treated as 0: ready pods are available at once
                "availableReplicas": ready,
                "terminatingReplicas": terminating,
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
        )
        # terminatingReplicas is a pointer the 1.37 controller always sets (DeploymentReplicaSetTerminatingReplicas,
        # beta and on since 1.35): 0 is written, not omitted
        _omit_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        self._replica_failure(rs, status, manage_error)
        if status != (rs.get("status") or {}):
            rs["status"] = status
            self.store.update("replicasets", rs, subresource="status")

    def _replica_failure(self, rs: Obj, status: Obj, error: ApiError | None) -> None:
        """replica_set_utils.go calculateStatus: a failed create sets ReplicaFailure (reason FailedCreate,
        the API error as message) unless one is already there; a sync without error removes it. A
        refused ReplicaSet is retried with a doubling back-off, and sooner when a pod or quota of its
        namespace changes (we differ: the real one waits for its rate-limited requeue)."""
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        if error is None:
            self._rs_backoff.pop(key, None)
            if _condition(status, "ReplicaFailure") is not None:
                _remove_condition(status, "ReplicaFailure")
                if not status["conditions"]:
                    del status["conditions"]
            return
        if _condition(status, "ReplicaFailure") is None:
            status["conditions"] = [
                *(status.get("conditions") or []),
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": self.clock.isoformat(),
                    "reason": "FailedCreate",
                    "message": error.message,
                },
            ]
        backoff = self._rs_backoff.get(key, 0.5) * 2
        self._rs_backoff[key] = min(backoff, 300.0)
        self._schedule(self.clock.now() + backoff, ("replicaset", *key))

    def _create_pod(self, rs: Obj) -> Obj:
        tmpl = copy.deepcopy(rs["spec"].get("template") or {})
        tmeta = tmpl.get("metadata") or {}
        spec = tmpl.get("spec") or {}
        node = self._next_node(spec)  # the scheduler's binding, folded into the create
        if node is not None:
            spec["nodeName"] = node
        rs_name = rs["metadata"]["name"]
        meta: Obj = {
            "generateName": f"{rs_name}-",
            "namespace": rs["metadata"]["namespace"],
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [controller_ref(rs)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        for _ in range(10):
            meta["name"] = f"{rs_name}-{random_suffix()}"
            try:
                created = self.store.create("pods", pod)
                break
            except ApiError as e:
                if e.reason != "AlreadyExists":
                    raise
        else:
            raise RuntimeError(f"could not find a free pod name for replica set {rs_name}")
        self._event(
            rs,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            "replicaset-controller",
        )
        return created

    def _next_node(self, pod_spec: Obj) -> str | None:
        """The node a pod goes to, round-robin among those with room for it (NodeResourcesFit: pod
        count, then cpu and memory requests against what the pods bound there request); None when none
        has room."""
        n = len(self.nodes)
        if self.capacity is None:
            node = self.nodes[self._node_seq % n]
            self._node_seq += 1
            return node
        reasons = self._fit_reasons({"spec": pod_spec})
        for i in range(n):
            node = self.nodes[(self._node_seq + i) % n]
            if not reasons[node]:
                self._node_seq += i + 1
                return node
        return None

    def _fit_reasons(self, pod: Obj) -> dict[str, list[str]]:
        """Per node, why ``pod`` does not fit there (empty: it fits)."""
        assert self.capacity is not None
        cap = self.capacity
        want, _ = pod_requests(pod)
        cpu, mem = want.get("cpu", ZERO).value, want.get("memory", ZERO).value
        uid = (pod.get("metadata") or {}).get("uid")
        used: dict[str, list[Any]] = {node: [0, ZERO.value, ZERO.value] for node in self.nodes}
        for other in self.store.list("pods", copy_items=False)[0]:
            node = (other.get("spec") or {}).get("nodeName")
            if node not in used or _is_pod_terminal(other) or other["metadata"].get("uid") == uid:
                continue
            req, _ = pod_requests(other)
            used[node][0] += 1
            used[node][1] += req.get("cpu", ZERO).value
            used[node][2] += req.get("memory", ZERO).value
        out: dict[str, list[str]] = {}
        for node, (count, ucpu, umem) in used.items():
            why = []
            if count + 1 > cap.pods:
                why.append("Too many pods")
            if cpu > 0 and cap.cpu is not None and ucpu + cpu > cap.cpu.value:
                why.append("Insufficient cpu")
            if mem > 0 and cap.memory is not None and umem + mem > cap.memory.value:
                why.append("Insufficient memory")
            out[node] = why
        return out

    def _unschedulable(self, pod: Obj) -> None:
        """No node has room: PodScheduled=False, reason Unschedulable, with the scheduler's FitError
        message, and a FailedScheduling event; the pod is tried again when a pod goes away."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        counts: dict[str, int] = {}
        for why in self._fit_reasons(pod).values():
            for reason in why:
                counts[reason] = counts.get(reason, 0) + 1
        n = len(self.nodes)
        message = (
            f"0/{n} nodes are available: {', '.join(sorted(f'{v} {k}' for k, v in counts.items()))}. "
            f"preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
        )
        self._waiting_pods.add((ns, name))
        status = copy.deepcopy(pod.get("status") or {})
        status["phase"] = "Pending"
        old = _condition(status, "PodScheduled")
        cond: Obj = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": old["lastTransitionTime"]
            if old is not None and old.get("status") == "False"
            else self.clock.isoformat(),
            "reason": "Unschedulable",
            "message": message,
        }
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"].append(cond)
        if status != pod.get("status"):
            self._event(pod, "Warning", "FailedScheduling", message, "default-scheduler")
            pod["status"] = status
            self.store.update("pods", pod, subresource="status")

    # ---- kubelet ---------------------------------------------------------------------------------

    def _sync_pod(self, ns: str, name: str) -> None:
        pod = self.store.get_shared("pods", ns, name)
        runtime = self._runtime.get((ns, name))
        if pod is None or (runtime is not None and runtime.uid != pod["metadata"]["uid"]):
            self._runtime.pop((ns, name), None)
            if pod is None:
                self._kill_at.pop((ns, name), None)
                return
        pod = copy.deepcopy(pod)
        if _is_pod_terminating(pod):
            self._stop_pod(pod)
            return
        if not _is_pod_active(pod):
            return
        node = pod["spec"].get("nodeName")
        if not node:
            node = self._next_node(pod["spec"])
            if node is None:
                self._unschedulable(pod)
                return
            self._waiting_pods.discard((ns, name))
            pod["spec"]["nodeName"] = node
            self.store.update("pods", pod)  # bind it; its status follows on the next pass
            return
        runtime = self._runtime.get((ns, name))
        if runtime is None:
            runtime = self._new_runtime(pod, node)
            self._runtime[(ns, name)] = runtime
            self._event(
                pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {ns}/{name} to {node}",
                "default-scheduler",
            )
        now = self.clock.now()
        views = [(c, self._container_view(pod, c, runtime, now)) for c in pod["spec"].get("containers") or []]
        for c, view in views:
            self._container_events(pod, c, view, runtime)
        status = self._pod_status(pod, runtime, [(c["name"], c.get("image", ""), v) for c, v in views])
        if status != pod.get("status"):
            pod["status"] = status
            self.store.update("pods", pod, subresource="status")
        changes = [v.next_change for _, v in views if v.next_change is not None]
        if changes:
            self._schedule(min(changes), ("pod", ns, name))

    def _stop_pod(self, pod: Obj) -> None:
        """A pod being deleted: its containers get SIGTERM and stop after ``termination_delay`` (SIGKILL at
        the end of the grace period at the latest); it is not ready meanwhile; once they have stopped the
        kubelet deletes the pod for good (grace period 0), as the real one does in its status manager."""
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        now = self.clock.now()
        known = self._kill_at.get((ns, name))
        if known is None or known[0] != uid:
            deadline = parse_time(pod["metadata"].get("deletionTimestamp"))
            kill_at = now + self.termination_delay
            if deadline is not None:
                kill_at = min(kill_at, max(deadline, now))
            known = (uid, kill_at)
            self._kill_at[(ns, name)] = known
            rt = self._runtime.get((ns, name))
            for c in pod["spec"].get("containers") or []:
                self._event(
                    pod,
                    "Normal",
                    "Killing",
                    f"Stopping container {c['name']}",
                    "kubelet",
                    rt.node if rt else pod["spec"].get("nodeName"),
                    f"spec.containers{{{c['name']}}}",
                )
        if now >= known[1]:
            self._kill_at.pop((ns, name), None)
            self._runtime.pop((ns, name), None)
            try:
                self.store.delete("pods", ns, name, grace_period=0, precondition_uid=uid)
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
            return
        status = _terminating_status(pod.get("status") or {}, self.clock.isoformat())
        if status != pod.get("status"):
            pod["status"] = status
            self.store.update("pods", pod, subresource="status")
        self._schedule(known[1], ("pod", ns, name))

    def _new_runtime(self, pod: Obj, node: str) -> _PodRuntime:
        status = pod.get("status") or {}
        started = parse_time(status.get("startTime"))
        ip = status.get("podIP")
        if not ip:
            n = self._ip_seq
            self._ip_seq += 1
            ip = f"10.244.{n // 250}.{n % 250 + 2}"
        node_index = self.nodes.index(node) if node in self.nodes else 0
        return _PodRuntime(
            uid=pod["metadata"]["uid"],
            t0=started if started is not None else self.clock.now(),
            node=node,
            host_ip=f"172.18.0.{node_index + 2}",
            ip=ip,
        )

    def _container_view(self, pod: Obj, container: Obj, rt: _PodRuntime, now: float) -> _ContainerView:
        b: Behaviour = self.apps.behaviour(str(container.get("image") or ""))
        rd = self.ready_delay
        created_at = rt.t0 + 0.3 * rd  # sandbox, pull and container creation
        if now < created_at:
            return _ContainerView(
                "creating",
                {"waiting": {"reason": "ContainerCreating"}},
                {},
                False,
                False,
                0,
                created_at,
                False,
            )
        image = container.get("image", "")
        if b.pull_fails:
            backoff_at = created_at + max(rd, 1.0)
            if now < backoff_at:
                msg = (
                    f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                    f'failed to resolve reference "{image}": {image}: not found'
                )
                return _ContainerView(
                    "pull-failed",
                    {"waiting": {"reason": "ErrImagePull", "message": msg}},
                    {},
                    False,
                    False,
                    0,
                    backoff_at,
                    False,
                )
            return _ContainerView(
                "pull-backoff",
                {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}},
                {},
                False,
                False,
                0,
                None,
                False,
            )
        if b.crash_loops:
            return self._crash_view(pod, container, rt, created_at, now, b)
        ready_at = rt.t0 + rd * b.ready_delay_factor
        running = {"running": {"startedAt": self.clock.isoformat(created_at)}}
        if b.never_ready or now < ready_at:
            return _ContainerView(
                "running", running, {}, False, True, 0, None if b.never_ready else ready_at, True
            )
        return _ContainerView("ready", running, {}, True, True, 0, None, True)

    def _crash_view(
        self, pod: Obj, container: Obj, rt: _PodRuntime, first_start: float, now: float, b: Behaviour
    ) -> _ContainerView:
        """Run k starts, crashes after ``run`` seconds, then waits a doubling back-off before run k+1."""
        run = 0.7 * self.ready_delay * b.ready_delay_factor
        start, k, backoff = first_start, 0, self.crash_backoff
        last: Obj = {}
        while True:
            exit_at = start + run
            if now < exit_at:
                state = {"running": {"startedAt": self.clock.isoformat(start)}}
                return _ContainerView("running", state, last, False, True, k, exit_at, True)
            last = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": self.clock.isoformat(start),
                    "finishedAt": self.clock.isoformat(exit_at),
                    "containerID": _container_id(rt.uid, container["name"], k),
                }
            }
            restart_at = exit_at + backoff
            if now < restart_at:
                msg = (
                    f"back-off {go_duration(backoff)} restarting failed container={container['name']} "
                    f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({rt.uid})"
                )
                state = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
                return _ContainerView("crashed", state, last, False, False, k + 1, restart_at, True)
            start, k, backoff = restart_at, k + 1, min(backoff * 2, _MAX_CRASH_BACKOFF)

    def _container_events(self, pod: Obj, c: Obj, view: _ContainerView, rt: _PodRuntime) -> None:
        name, image = c["name"], c.get("image", "")
        fp = f"spec.containers{{{name}}}"

        def once(tag: str, type_: str, reason: str, message: str) -> None:
            key = f"{name}/{tag}"
            if key not in rt.emitted:
                rt.emitted.add(key)
                self._event(pod, type_, reason, message, "kubelet", rt.node, fp)

        if view.stage in ("pull-failed", "pull-backoff"):
            once("pulling", "Normal", "Pulling", f'Pulling image "{image}"')
            once(
                "pull-failed",
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": {view.state["waiting"].get("message", "")}'
                if view.stage == "pull-failed"
                else f'Failed to pull image "{image}": not found',
            )
            once("err-pull", "Warning", "Failed", "Error: ErrImagePull")
        if view.stage == "pull-backoff":
            once("backoff", "Normal", "BackOff", f'Back-off pulling image "{image}"')
            once("err-backoff", "Warning", "Failed", "Error: ImagePullBackOff")
        if view.ever_started:
            once("pulled", "Normal", "Pulled", f'Container image "{image}" already present on machine')
            once("created", "Normal", "Created", f"Created container: {name}")
            once("started", "Normal", "Started", f"Started container {name}")
        if view.stage == "running" and view.next_change is None:
            once(
                "unhealthy",
                "Warning",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
        if view.stage == "crashed":
            tag = f"crash-{view.restarts}"
            if f"{name}/{tag}" not in rt.emitted:
                rt.emitted.add(f"{name}/{tag}")
                self._event(
                    pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {name} in pod "
                    f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({rt.uid})",
                    "kubelet",
                    rt.node,
                    fp,
                )

    def _pod_status(self, pod: Obj, rt: _PodRuntime, views: list[tuple[str, str, _ContainerView]]) -> Obj:
        old = pod.get("status") or {}
        now_iso = self.clock.isoformat()
        all_ready = all(v.ready for _, _, v in views)
        never_started = any(not v.ever_started for _, _, v in views)
        sandbox_ready = not all(v.stage == "creating" for _, _, v in views)
        unready = [n for n, _, v in views if not v.ready]
        not_ready_msg = f"containers with unready status: [{' '.join(unready)}]"

        def cond(type_: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
            c: Obj = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
            prev = next((x for x in old.get("conditions") or [] if x.get("type") == type_), None)
            c["lastTransitionTime"] = (
                prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] else now_iso
            )
            if not ok and reason:
                c["reason"], c["message"] = reason, message
            return c

        statuses = []
        for name, image, v in views:
            cs: Obj = {
                "name": name,
                "image": image,
                "imageID": "",
                "ready": v.ready,
                "restartCount": v.restarts,
                "started": v.started,
                "state": v.state,
                "lastState": v.last_state,
            }
            if v.ever_started:
                cs["imageID"] = (
                    f"{image.split(':')[0] if '@' not in image else image.split('@')[0]}@sha256:"
                    + hashlib.sha256(image.encode()).hexdigest()
                )
                cs["containerID"] = _container_id(rt.uid, name, v.restarts)
            statuses.append(cs)
        status: Obj = {
            "phase": "Pending" if never_started else "Running",
            "conditions": [
                cond("PodReadyToStartContainers", sandbox_ready),
                cond("Initialized", True),
                cond("Ready", all_ready, "ContainersNotReady", not_ready_msg),
                cond("ContainersReady", all_ready, "ContainersNotReady", not_ready_msg),
                cond("PodScheduled", True),
            ],
            "hostIP": rt.host_ip,
            "hostIPs": [{"ip": rt.host_ip}],
            "startTime": self.clock.isoformat(rt.t0),
            "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "BestEffort"),
        }
        if sandbox_ready:
            status["podIP"], status["podIPs"] = rt.ip, [{"ip": rt.ip}]
        return status

    # ---- endpoints and endpointslice controllers ----------------------------------------------------

    def _sync_service(self, ns: str, name: str) -> None:
        svc = self.store.get_shared("services", ns, name)
        if svc is None:
            # EndpointSlices go with their owner; Endpoints have none, the controller removes them
            self._delete_quietly("endpoints", ns, name)
            self._slice_triggers.pop((ns, name), None)
            return
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return  # Endpoints of a Service without a selector are the user's to manage
        # ShouldPodBeInEndpoints(pod, includeTerminating=True): terminating pods stay, flagged, in the
        # EndpointSlices; the Endpoints controller keeps them only with publishNotReadyAddresses
        selected = [
            p
            for p in self.store.list("pods", ns, copy_items=False)[0]
            if not _is_pod_terminal(p)
            and (p.get("status") or {}).get("podIP")
            and map_selector_matches(selector, p["metadata"].get("labels") or {})
        ]
        selected.sort(key=lambda p: _ip_key(p["status"]["podIP"]))
        self._sync_endpoints(svc, selected)
        self._sync_slices(svc, selected)

    def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        groups: dict[tuple[tuple[str, int, str], ...], Obj] = {}
        publish_not_ready = bool(svc["spec"].get("publishNotReadyAddresses"))
        for pod in pods:
            if _is_pod_terminating(pod) and not publish_not_ready:
                continue  # ShouldPodBeInEndpoints(pod, service.Spec.PublishNotReadyAddresses)
            ports = _resolve_ports(svc, pod)
            if not ports:
                continue
            subset = groups.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
            addr = {
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"].get("nodeName"),
                "targetRef": _target_ref(pod),
            }
            ready = _is_pod_ready(pod) or publish_not_ready
            subset["addresses" if ready else "notReadyAddresses"].append(addr)
        subsets = []
        for port_key, subset in groups.items():
            out: Obj = {k: v for k, v in subset.items() if v}
            out["ports"] = [_port_entry(n, p, proto, omit_empty_name=True) for n, p, proto in port_key]
            subsets.append(out)
        labels = dict(svc["metadata"].get("labels") or {})
        if (svc["spec"].get("clusterIP") or "") == "None":
            labels["service.kubernetes.io/headless"] = ""
        want: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        if labels:
            want["metadata"]["labels"] = labels
        if subsets:
            want["subsets"] = subsets
        current = self.store.get_shared("endpoints", ns, name)
        if current is None:
            self._create_quietly("endpoints", want)
            return
        if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return
        new = copy.deepcopy(current)
        new["metadata"]["labels"] = labels
        if not labels:
            new["metadata"].pop("labels")
        new.pop("subsets", None)
        if subsets:
            new["subsets"] = subsets
        self.store.update("endpoints", new)

    def _trigger_time(self, svc: Obj, pods: list[Obj]) -> str:
        """endpointslice util.TriggerTimeTracker.ComputeEndpointLastChangeTriggerTime: the Service's
        creationTimestamp the first time it is seen, then the earliest pod Ready transition (or Service
        creation) newer than last seen; "" when nothing changed."""
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        known = self._slice_triggers.get(key)
        last_svc, last_pods = known if known is not None else ("", {})
        changed: list[str] = []
        pod_times: dict[str, str] = {}
        for pod in pods:
            ready = _condition(pod.get("status") or {}, "Ready")
            t = (ready or {}).get("lastTransitionTime") or ""
            if t:
                pod_times[pod["metadata"]["name"]] = t
                if t > last_pods.get(pod["metadata"]["name"], ""):
                    changed.append(t)
        svc_time = svc["metadata"].get("creationTimestamp") or ""
        if svc_time > last_svc:
            changed.append(svc_time)
        self._slice_triggers[key] = (svc_time, pod_times)
        if known is None:
            return svc_time
        return min(changed, default="")

    def _sync_slices(self, svc: Obj, pods: list[Obj]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        trigger = self._trigger_time(svc, pods)
        groups: dict[tuple[tuple[str, int, str], ...], list[Obj]] = {}
        for pod in pods:
            ports = _resolve_ports(svc, pod)
            if ports:
                groups.setdefault(tuple(ports), []).append(
                    {
                        "addresses": [pod["status"]["podIP"]],
                        "conditions": endpoint_conditions(
                            pod, bool(svc["spec"].get("publishNotReadyAddresses"))
                        ),
                        "targetRef": _target_ref(pod),
                        "nodeName": pod["spec"].get("nodeName"),
                    }
                )
        if not groups:
            groups[()] = []  # a placeholder slice, as the real controller keeps for an empty service
        labels = {
            **(svc["metadata"].get("labels") or {}),
            SERVICE_NAME_LABEL: name,
            MANAGED_BY_LABEL: SLICE_CONTROLLER,
        }
        owner = controller_ref(svc)
        existing = [
            s
            for s in self.store.list("endpointslices", ns, copy_items=False)[0]
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == SLICE_CONTROLLER
        ]
        unused = list(existing)
        for port_key, endpoints in groups.items():
            # the placeholder's empty lists travel as protobuf and come back as null (no omitempty)
            body: Obj = {"addressType": "IPv4", "endpoints": endpoints or None, "ports": None}
            if port_key:
                body["ports"] = [_port_entry(n, p, proto, omit_empty_name=False) for n, p, proto in port_key]
            match = next((s for s in unused if _slice_ports(s) == body.get("ports")), None) or (
                unused[0] if unused else None
            )
            if match is None:
                obj = {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-{random_suffix()}",
                        "generateName": f"{name}-",
                        "namespace": ns,
                        "labels": labels,
                        "ownerReferences": [owner],
                    },
                    **body,
                }
                if trigger:
                    obj["metadata"]["annotations"] = {TRIGGER_TIME_ANNOTATION: trigger}
                self._create_quietly("endpointslices", obj)
                continue
            unused.remove(match)
            same = (
                (match.get("endpoints") or []) == endpoints
                and match.get("ports") == body.get("ports")
                and (match["metadata"].get("labels") or {}) == labels
                and match["metadata"].get("ownerReferences") == [owner]
            )
            if not same:
                new = copy.deepcopy(match)
                new["metadata"]["labels"] = labels
                new["metadata"]["ownerReferences"] = [owner]
                new.update(body)
                annotations = dict(new["metadata"].get("annotations") or {})
                annotations.pop(TRIGGER_TIME_ANNOTATION, None)
                if trigger:
                    annotations[TRIGGER_TIME_ANNOTATION] = trigger
                new["metadata"].pop("annotations", None)
                if annotations:
                    new["metadata"]["annotations"] = annotations
                self.store.update("endpointslices", new)
        for s in unused:
            self._delete_quietly("endpointslices", ns, s["metadata"]["name"])

    def _create_quietly(self, resource: str, obj: Obj) -> None:
        try:
            self.store.create(resource, obj)
        except ApiError as e:
            if e.reason == "AlreadyExists":
                # created by someone meanwhile: look again with what is there now
                self._queue.add(
                    (
                        "service",
                        obj["metadata"]["namespace"],
                        (obj["metadata"].get("labels") or {}).get(
                            SERVICE_NAME_LABEL, obj["metadata"]["name"]
                        ),
                    )
                )
            elif e.code != 404:
                raise

    def _delete_quietly(self, resource: str, ns: str, name: str) -> None:
        try:
            self.store.delete(resource, ns, name)
        except ApiError as e:
            if e.code != 404:
                raise


# ---- helpers of the deployment controller (pure) ------------------------------------------------


def _controller_name(obj: Obj, kind: str) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref.get("name"))
    return None


def _creation_key(obj: Obj) -> tuple[str, str]:
    return (obj["metadata"].get("creationTimestamp") or "", obj["metadata"]["name"])


def _template_without_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _same_template(rs: Obj, d: Obj) -> bool:
    """EqualIgnoreHash: the ReplicaSet's pod template is the Deployment's, bar the hash label."""
    return _template_without_hash(rs["spec"].get("template") or {}) == _template_without_hash(
        d["spec"]["template"]
    )


def _split_new_old(d: Obj, rs_list: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    matching = sorted((rs for rs in rs_list if _same_template(rs, d)), key=_creation_key)
    new_rs = matching[0] if matching else None
    return new_rs, [rs for rs in rs_list if rs is not new_rs]


def _max_revision(rss: Iterable[Obj]) -> int:
    best = 0
    for rs in rss:
        try:
            best = max(best, int((rs["metadata"].get("annotations") or {}).get(REVISION) or 0))
        except ValueError:
            continue
    return best


def _rolling(d: Obj) -> Obj | None:
    strategy = d["spec"].get("strategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}


def _surge_and_unavailable(d: Obj) -> tuple[int, int]:
    ru = _rolling(d)
    if ru is None:
        return 0, 0
    replicas = _replicas(d)
    surge = resolve_int_or_percent(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = resolve_int_or_percent(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # both zero would deadlock; the real controller does the same
    return surge, unavailable


def _max_surge(d: Obj) -> int:
    return _surge_and_unavailable(d)[0]


def _max_unavailable(d: Obj) -> int:
    if _rolling(d) is None or _replicas(d) == 0:
        return 0
    return min(_surge_and_unavailable(d)[1], _replicas(d))


def _new_rs_replicas(d: Obj, other_rss: list[Obj], new_rs: Obj | None) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may grow now."""
    current_new = _replicas(new_rs) if new_rs is not None else 0
    if _rolling(d) is None:
        return _replicas(d)
    current_total = current_new + sum(_replicas(rs) for rs in other_rss)
    max_total = _replicas(d) + _max_surge(d)
    if current_total >= max_total:
        return current_new
    return current_new + min(max_total - current_total, _replicas(d) - current_new)


def _is_scaling_event(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
    active = [rs for rs in ([new_rs] if new_rs else []) + old_rss if _replicas(rs) > 0]
    for rs in active:
        desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
        if desired is not None and desired != str(_replicas(d)):
            return True
    return False


def _is_saturated(d: Obj, rs: Obj) -> bool:
    desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
    return (
        desired == str(_replicas(d))
        and _replicas(rs) == _replicas(d)
        and _status_int(rs, "availableReplicas") == _replicas(d)
    )


def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """GetProportion: this ReplicaSet's share of a scaling change, from the size it had when the
    Deployment was last sized (its max-replicas annotation)."""
    if _replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if _replicas(d) == 0:
        fraction = -_replicas(rs)
    else:
        try:
            annotated = int((rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS) or 0)
        except ValueError:
            annotated = 0
        annotated = annotated or _status_int(d, "replicas") or _replicas(rs)
        total = _replicas(d) + _max_surge(d)
        fraction = int(_replicas(rs) * total / annotated + 0.5) - _replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _calculate_status(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> Obj:
    all_rss = [*old_rss, *([new_rs] if new_rs is not None else [])]
    available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
    total = sum(_status_int(rs, "replicas") for rs in all_rss)
    status: Obj = copy.deepcopy(d.get("status") or {})
    status.update(
        {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": _status_int(new_rs, "replicas") if new_rs is not None else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": available,
            # may be more than replicas - available while surging, as in the real controller
            "unavailableReplicas": max(_replicas(d) - available, 0),
            # DeploymentReplicaSetTerminatingReplicas (beta, on by default since 1.35): a pointer, so 0 is
            # written (GetTerminatingReplicaCountForReplicaSets; a ReplicaSet never synced adds nothing)
            "terminatingReplicas": sum(_status_int(rs, "terminatingReplicas") for rs in all_rss),
        }
    )
    return _omit_zero(
        status,
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    )


def _is_complete(d: Obj, status: Obj) -> bool:
    want = _replicas(d)
    return (
        status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
    )


def _is_progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def _condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def _remove_condition(status: Obj, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


def _set_condition(status: Obj, type_: str, value: str, reason: str, message: str, now: str) -> None:
    """SetDeploymentCondition: same status and reason -> unchanged; same status -> keep the transition
    time; the condition moves to the end of the list."""
    current = _condition(status, type_)
    if current is not None and current.get("status") == value and current.get("reason") == reason:
        return
    transition = (
        current["lastTransitionTime"] if current is not None and current.get("status") == value else now
    )
    _remove_condition(status, type_)
    status["conditions"].append(
        {
            "type": type_,
            "status": value,
            "lastUpdateTime": now,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }
    )


# ---- helpers of the replicaset controller and kubelet ---------------------------------------------


def _deletion_rank(pod: Obj) -> tuple[int, int, int, int, str]:
    """Which pods go first when scaling down (controller.ActivePods ordering, simplified): unscheduled,
    pending, not ready, more restarts, newer."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp") or ""
    return (
        1 if pod["spec"].get("nodeName") else 0,
        phase_rank,
        1 if _is_pod_ready(pod) else 0,
        -restarts,
        _invert(created),
    )


def _invert(s: str) -> str:
    """A string that sorts in the opposite order (newest first)."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in s)


def _container_id(uid: str, container: str, restart: int) -> str:
    return "containerd://" + hashlib.sha256(f"{uid}/{container}/{restart}".encode()).hexdigest()


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (0,)


def endpoint_conditions(pod: Obj, publish_not_ready: bool) -> Obj:
    """An EndpointSlice endpoint's conditions (endpointslice utils.go podToEndpoint): serving follows the
    pod's Ready condition; a terminating pod is never ready unless the Service publishes not-ready
    addresses."""
    serving = _is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    return {
        "ready": publish_not_ready or (serving and not terminating),
        "serving": serving,
        "terminating": terminating,
    }


def _terminating_status(old: Obj, now_iso: str) -> Obj:
    """A terminating pod's status: its containers are stopping, so none is ready, nor is the pod."""
    status = copy.deepcopy(old)
    statuses = status.get("containerStatuses") or []
    for cs in statuses:
        cs["ready"] = False
    names = " ".join(cs.get("name", "") for cs in statuses)
    for c in status.get("conditions") or []:
        if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != "False":
            c.update(
                {
                    "status": "False",
                    "lastTransitionTime": now_iso,
                    "reason": "ContainersNotReady",
                    "message": f"containers with unready status: [{names}]",
                }
            )
    return status


def _target_ref(pod: Obj) -> Obj:
    return {
        "kind": "Pod",
        "namespace": pod["metadata"]["namespace"],
        "name": pod["metadata"]["name"],
        "uid": pod["metadata"]["uid"],
    }


def _resolve_ports(svc: Obj, pod: Obj) -> list[tuple[str, int, str]]:
    """Each Service port's target on this pod: a number, or a named container port (FindPort). A pod
    that lacks a named port is left out of that port."""
    out = []
    for sp in svc["spec"].get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        proto = sp.get("protocol", "TCP")
        number: int | None = None
        if isinstance(target, int):
            number = target
        elif isinstance(target, str) and target.isdigit():
            number = int(target)
        elif isinstance(target, str):
            for c in pod["spec"].get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name") == target and cp.get("protocol", "TCP") == proto:
                        number = int(cp["containerPort"])
        if number is not None:
            out.append((str(sp.get("name") or ""), number, str(proto)))
    return out


def _port_entry(name: str, port: int, proto: str, omit_empty_name: bool) -> Obj:
    entry: Obj = {"port": port, "protocol": proto}
    if name or not omit_empty_name:
        entry = {"name": name, **entry}
    return entry


def _slice_ports(s: Obj) -> list[Obj] | None:
    ports = s.get("ports")
    return list(ports) if ports else None
