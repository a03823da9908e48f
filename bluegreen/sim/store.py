"""The object store of the simulated cluster: etcd plus the generic registry of the real API server.

Objects are plain JSON dicts, keyed by (resource plural, namespace, name). Stored dicts are never
mutated after they are stored (every write stores a new dict), so the watch history can share them;
callers always get deep copies.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .clock import Clock, RealClock
from .resources import Resource, by_plural

Obj = dict[str, Any]
Subscriber = Callable[[str, str, Obj], None]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

Cause = tuple[str, str, str]  # (field, reason, message)
Changes = list[tuple[str, Obj]]


class _Matcher(Protocol):
    def matches(self, __value: Any) -> bool: ...


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    resource: str
    obj: Obj  # shared, read-only snapshot: copy before handing out for mutation
    old: Obj | None = None  # the state before a MODIFIED, so filtered watches can see objects enter/leave


Events = list[WatchEvent]


def go_map(d: dict[str, str] | None) -> str:
    """A label map as Go's %#v prints it in validation messages."""
    if not d:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f'"{k}":"{d[k]}"' for k in sorted(d)) + "}"


def go_label_selector(sel: dict[str, Any] | None) -> str:
    sel = sel or {}
    exprs = sel.get("matchExpressions")
    if exprs:
        parts = []
        for e in exprs:
            values = e.get("values")
            vals = "[]string{" + ", ".join(f'"{v}"' for v in values) + "}" if values else "[]string(nil)"
            parts.append(
                f'v1.LabelSelectorRequirement{{Key:"{e.get("key", "")}", Operator:"{e.get("operator", "")}", '
                f"Values:{vals}}}"
            )
        expr_s = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        expr_s = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{go_map(sel.get('matchLabels'))}, MatchExpressions:{expr_s}}}"


def _selector_matches_labels(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Store:
    """Thread-safe object store with one global resourceVersion counter and a bounded watch history."""

    def __init__(
        self, clock: Clock | None = None, history: int = 2000, *, graceful_pods: bool = False
    ) -> None:
        self.clock: Clock = clock or RealClock()
        # pods are deleted gracefully (deletionTimestamp set, Terminating until the kubelet removes them);
        # off, a deleted pod vanishes at once, as if its kubelet had confirmed in no time
        self.graceful_pods = graceful_pods
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque()
        self.history_limit = history  # watch events kept; older resourceVersions get 410 Expired
        self._compacted_rv = 0  # events with rv <= this are gone from the history
        self._subscribers: list[Subscriber] = []
        self._ip_seq = itertools.count(10)
        self._closed = False
        # validating admission (ResourceQuota): called as fn(resource, new_object) inside the store's lock
        # on create, after validation and before the object is stored; raises ApiError to refuse
        self.admission: list[Callable[[str, Obj], None]] = []
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create("namespaces", {"metadata": {"name": ns}})

    # ---- reading -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    def get(self, resource: str, namespace: str | None, name: str) -> Obj:
        r = by_plural(resource)
        with self._lock:
            obj = self._objects.get((resource, self._ns(r, namespace), name))
            if obj is None:
                raise errors.not_found(resource, r.group, name)
            return copy.deepcopy(obj)

    def get_shared(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        """The stored dict itself (no copy) for read-only use by the server; None if missing."""
        r = by_plural(resource)
        with self._lock:
            return self._objects.get((resource, self._ns(r, namespace), name))

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: Any = None,
        field_selector: Any = None,
        *,
        copy_items: bool = True,
    ) -> tuple[list[Obj], str]:
        """Objects sorted by namespace/name, and the list resourceVersion. Selectors are strings or
        parsed selectors (anything with ``.matches``)."""
        r = by_plural(resource)
        lsel = _label_matcher(label_selector)
        fsel = _field_matcher(field_selector, resource)
        with self._lock:
            items = [
                o
                for (res, ns, _), o in self._objects.items()
                if res == resource and (namespace is None or not r.namespaced or ns == namespace)
            ]
            rv = str(self._rv)
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        if lsel is not None:
            items = [o for o in items if lsel.matches(o["metadata"].get("labels") or {})]
        if fsel is not None:
            items = [o for o in items if fsel.matches(o)]
        if copy_items:
            items = copy.deepcopy(items)
        return items, rv

    # ---- watch support ---------------------------------------------------------------------------

    def events_since(self, rv: int) -> Events:
        """Events after ``rv``; 410 Expired if the history no longer reaches back that far."""
        with self._lock:
            if rv < self._compacted_rv:
                # the watch cache's wording: "too old resource version: %d (%d)" with oldest-1
                raise errors.gone(str(rv), str(self._compacted_rv))
            out: Events = []
            for ev in reversed(self._history):
                if ev.rv <= rv:
                    break
                out.append(ev)
            out.reverse()
            return out

    def wait_events(self, rv: int, timeout: float) -> Events:
        """Block until there are events after ``rv`` (or timeout / close); returns them (maybe empty)."""
        with self._changed:
            if not self._closed and self._rv <= rv:
                self._changed.wait(timeout)
            return self.events_since(rv)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wake every watcher so that open watch streams can end (server shutdown)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event_type, resource, obj_copy)`` after every committed change, in the writer's thread,
        outside the store lock (so callbacks may write). Returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    # ---- writing ---------------------------------------------------------------------------------

    def create(self, resource: str, obj: Obj) -> Obj:
        r = by_plural(resource)
        new = copy.deepcopy(obj)
        new["apiVersion"], new["kind"] = r.api_version, r.kind
        meta = new.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        namespace = self._ns(r, meta.get("namespace"))
        if r.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        _decode(r, new)
        _apply_defaults(r, new, self)
        causes = _validate_meta(r, new) + _validate(r, new, None)
        if causes:
            raise errors.invalid(r.kind, r.group, name, causes)
        with self._lock:
            if r.namespaced and ("namespaces", "", namespace) not in self._objects:
                raise errors.not_found("namespaces", "", namespace)
            for admit in self.admission:
                admit(resource, new)
            key = (resource, namespace, name)
            if key in self._objects:
                raise errors.already_exists(resource, r.group, name)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self.clock.isoformat()
            if r.has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(k, None)
            self._commit("ADDED", resource, key, new)
        return self._publish("ADDED", resource, new)

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None) -> Obj:
        """Replace an object (PUT semantics). ``metadata.resourceVersion``, when given, must be current
        (409 Conflict otherwise). ``subresource="status"`` changes only status; a main update keeps the
        stored status for kinds with a status subresource, like the real server."""
        r = by_plural(resource)
        new = copy.deepcopy(obj)
        meta = new.setdefault("metadata", {})
        name = meta.get("name") or ""
        namespace = self._ns(r, meta.get("namespace"))
        key = (resource, namespace, name)
        with self._lock:
            old = self._objects.get(key)
            if old is None:
                raise errors.not_found(resource, r.group, name)
            want_rv = meta.get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(resource, r.group, name)
            if subresource == "status":
                merged = copy.deepcopy(old)
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
                if resource == "deployments":
                    # deploymentStatusStrategy resets only spec and labels: the deployment controller writes
                    # its revision annotation through /status, so that it does not bump the generation
                    annotations = meta.get("annotations")
                    if annotations:
                        merged["metadata"]["annotations"] = copy.deepcopy(annotations)
                    else:
                        merged["metadata"].pop("annotations", None)
                new = merged
            else:
                new["apiVersion"], new["kind"] = r.api_version, r.kind
                if r.namespaced:
                    meta["namespace"] = namespace
                else:
                    meta.pop("namespace", None)
                # fields the server owns: the client cannot change them with a PUT
                for k in (
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ):
                    if k in old["metadata"]:
                        meta[k] = old["metadata"][k]
                    else:
                        meta.pop(k, None)
                if "status" in r.subresources:
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                    else:
                        new.pop("status", None)
                _decode(r, new)
                _apply_defaults(r, new, self, old)
                causes = _validate_meta(r, new) + _validate(r, new, old)
                if causes:
                    raise errors.invalid(r.kind, r.group, name, causes)
                if r.has_generation and _bumps_generation(r, new, old):
                    meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            # a no-op write does not bump the resourceVersion, as on the real server
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return copy.deepcopy(old)
            self._commit("MODIFIED", resource, key, new)
        return self._publish("MODIFIED", resource, new)

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        precondition_rv: str | None = None,
        precondition_uid: str | None = None,
        grace_period: int | None = None,
    ) -> Obj:
        """Delete and cascade to dependents whose ownerReferences point at it (``propagation="Orphan"``
        keeps them). Objects go at once (no finalizers: we differ from the real server there), except
        pods when ``graceful_pods`` is on: those turn Terminating (see ``_terminate``) and the kubelet
        removes them later. ``grace_period`` is DeleteOptions.gracePeriodSeconds (0: remove now)."""
        r = by_plural(resource)
        ns = self._ns(r, namespace)
        key = (resource, ns, name)
        with self._lock:
            old = self._objects.get(key)
            if old is None:
                raise errors.not_found(resource, r.group, name)
            if precondition_uid and precondition_uid != old["metadata"]["uid"]:
                # the registry's BeforeDelete: the conflict names the Kind (GroupResource{group, Kind})
                raise errors.conflict(
                    r.kind,
                    r.group,
                    name,
                    f"the UID in the precondition ({precondition_uid}) does not match the UID in record "
                    f"({old['metadata']['uid']}). The object might have been deleted and then recreated",
                )
            if precondition_rv and precondition_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(
                    r.kind,
                    r.group,
                    name,
                    f"the ResourceVersion in the precondition ({precondition_rv}) does not match the "
                    f"ResourceVersion in record ({old['metadata']['resourceVersion']}). "
                    "The object might have been modified",
                )
            marked = self._terminate(old, grace_period) if resource == "pods" and self.graceful_pods else None
            if marked is not None:
                if marked is not old:
                    self._commit("MODIFIED", resource, key, marked)
            else:
                gone = self._remove(resource, ns, name)
                removed = [gone]
                if resource == "namespaces":
                    for k in [k for k in self._objects if k[1] == name and by_plural(k[0]).namespaced]:
                        removed.append(self._remove(*k))
                uid = old["metadata"]["uid"]
                if propagation == "Orphan":
                    modified = self._orphan(uid)
                else:
                    more, modified = self._cascade([uid])
                    removed.extend(more)
        if marked is not None:
            if marked is not old:
                self._publish("MODIFIED", resource, marked)
            return copy.deepcopy(marked)
        for res, obj in removed:
            self._publish("DELETED", res, obj)
        for res, obj in modified:
            self._publish("MODIFIED", res, obj)
        return copy.deepcopy(gone[1])

    # ---- internals -------------------------------------------------------------------------------

    @staticmethod
    def _ns(r: Resource, namespace: str | None) -> str:
        return (namespace or "default") if r.namespaced else ""

    def _commit(self, event_type: str, resource: str, key: tuple[str, str, str], new: Obj) -> None:
        """Store ``new`` under a fresh resourceVersion and record the event. Caller holds the lock."""
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        old = self._objects.get(key) if event_type == "MODIFIED" else None
        if event_type == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = new
        self._history.append(WatchEvent(self._rv, event_type, resource, new, old))
        while len(self._history) > self.history_limit:
            self._compacted_rv = self._history.popleft().rv
        self._changed.notify_all()

    def _remove(self, resource: str, ns: str, name: str) -> tuple[str, Obj]:
        old = self._objects[(resource, ns, name)]
        snapshot = copy.deepcopy(old)
        self._commit("DELETED", resource, (resource, ns, name), snapshot)
        return resource, snapshot

    def _cascade(self, uids: Iterable[str]) -> tuple[Changes, Changes]:
        """Delete dependents of the given (now deleted) owners, recursively (the garbage collector's job,
        with a plain delete: pods turn Terminating when ``graceful_pods`` is on). Returns (removed, modified)."""
        removed: Changes = []
        modified: Changes = []
        pending = list(uids)
        while pending:
            uid = pending.pop()
            live = {o["metadata"]["uid"] for o in self._objects.values()}
            for key, obj in list(self._objects.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs) and not any(
                    ref.get("uid") in live for ref in refs
                ):
                    marked = self._terminate(obj, None) if key[0] == "pods" and self.graceful_pods else None
                    if marked is None:
                        removed.append(self._remove(*key))
                        pending.append(obj["metadata"]["uid"])
                    elif marked is not obj:
                        self._commit("MODIFIED", key[0], key, marked)
                        modified.append((key[0], marked))
        return removed, modified

    def _terminate(self, pod: Obj, grace_period: int | None) -> Obj | None:
        """Graceful deletion of a pod, as the pod registry does it (pkg/registry/core/pod/strategy.go
        CheckGracefulDelete, then rest.BeforeDelete): the grace period is the one asked for, else
        spec.terminationGracePeriodSeconds; 0 for a pod not bound to a node or already Succeeded/Failed.
        Returns None when the pod must go now, the same dict when nothing changes (a graceful deletion
        is pending and no shorter period was asked for), else the pod with deletionTimestamp = now + grace
        period and deletionGracePeriodSeconds set. Caller holds the lock."""
        meta = pod["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp"):
            if not current:
                return None
            if grace_period is None or grace_period >= int(current):
                return pod
            if grace_period <= 0:
                return None
            # only a shorter period may be asked for: the deadline moves back by the difference
            start = _parse_timestamp(meta["deletionTimestamp"]) - int(current)
            return self._with_deletion(pod, start, grace_period)
        if grace_period is None:
            grace_period = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 0)
        if not (pod.get("spec") or {}).get("nodeName"):
            grace_period = 0
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            grace_period = 0
        if grace_period < 0:
            grace_period = 1
        if grace_period == 0:
            return None
        return self._with_deletion(pod, self.clock.now(), grace_period)

    def _with_deletion(self, pod: Obj, start: float, grace_period: int) -> Obj:
        new = copy.deepcopy(pod)
        new["metadata"]["deletionTimestamp"] = self.clock.isoformat(start + grace_period)
        new["metadata"]["deletionGracePeriodSeconds"] = grace_period
        return new

    def _orphan(self, uid: str) -> Changes:
        changed: Changes = []
        for key, obj in list(self._objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in refs):
                new = copy.deepcopy(obj)
                kept = [ref for ref in refs if ref.get("uid") != uid]
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    del new["metadata"]["ownerReferences"]
                self._commit("MODIFIED", key[0], key, new)
                changed.append((key[0], new))
        return changed

    def _publish(self, event_type: str, resource: str, obj: Obj) -> Obj:
        with self._lock:
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(event_type, resource, copy.deepcopy(obj))
        return copy.deepcopy(obj)

    def allocate_cluster_ip(self) -> str:
        n = next(self._ip_seq)
        return f"10.96.{n // 250}.{n % 250 + 1}"


def _parse_timestamp(value: str) -> float:
    from datetime import UTC, datetime

    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _bumps_generation(r: Resource, new: Obj, old: Obj) -> bool:
    """A spec change bumps metadata.generation; for Deployments an annotation change does too, because
    the controller copies annotations to the ReplicaSet (pkg/registry/apps/deployment/strategy.go)."""
    if r.plural == "endpointslices":
        # pkg/registry/discovery/endpointslice/strategy.go: anything but metadata, or the labels
        body = {k: v for k, v in new.items() if k != "metadata"}
        return body != {k: v for k, v in old.items() if k != "metadata"} or (
            new["metadata"].get("labels") or {}
        ) != (old["metadata"].get("labels") or {})
    if new.get("spec") != old.get("spec"):
        return True
    return r.plural == "deployments" and (new["metadata"].get("annotations") or {}) != (
        old["metadata"].get("annotations") or {}
    )


# ---- selectors (parsing lives in selectors.py) ------------------------------------------------------


def _label_matcher(sel: Any) -> _Matcher | None:
    if sel is None or sel == "":
        return None
    if isinstance(sel, str):
        from .selectors import parse_label_selector

        return parse_label_selector(sel)
    return sel


def _field_matcher(sel: Any, resource: str | None = None) -> _Matcher | None:
    if sel is None or sel == "":
        return None
    if isinstance(sel, str):
        from .selectors import parse_field_selector

        return parse_field_selector(sel, resource)  # unsupported fields -> 400, as the real server
    return sel


# ---- decoding: what the real server's typed JSON decoding rejects (400) or rewrites ---------------

_RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
# Go's time.Parse walks the layout chunk by chunk; each entry is (layout chunk, what the value must hold)
_MICRO_CHUNKS = (
    ("2006", r"\d{4}"),
    ("-", "-"),
    ("01", r"\d{2}"),
    ("-", "-"),
    ("02", r"\d{2}"),
    ("T", "T"),
    ("15", r"\d{2}"),
    (":", ":"),
    ("04", r"\d{2}"),
    (":", ":"),
    ("05", r"\d{2}"),
    (".000000", r"\.\d{6}"),
    ("Z07:00", r"Z|[+-]\d{2}:\d{2}"),
)


def parse_micro_time(value: str) -> str:
    """A metav1.MicroTime as the server reads and writes it: exactly RFC3339Micro in (six fractional
    digits, ``Z`` or an offset), written back in UTC. Raises ValueError with Go's time.Parse wording."""
    from datetime import UTC, datetime

    rest = value
    for chunk, pattern in _MICRO_CHUNKS:
        m = re.match(pattern, rest)
        if m is None:
            raise ValueError(
                f'parsing time "{value}" as "{_RFC3339_MICRO}": cannot parse "{rest}" as "{chunk}"'
            )
        rest = rest[m.end() :]
    if rest:
        raise ValueError(f'parsing time "{value}": extra text: "{rest}"')
    for what, start, top in (("month", 5, 12), ("hour", 11, 23), ("minute", 14, 59), ("second", 17, 59)):
        n = int(value[start : start + 2])
        if n > top or (what == "month" and n == 0):
            raise ValueError(f'parsing time "{value}": {what} out of range')
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'parsing time "{value}": day out of range') from None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decode(r: Resource, obj: Obj) -> None:
    """Typed fields of a Lease: a MicroTime must be RFC3339Micro, an int32 a JSON integer (else the real
    server's decoder answers 400 "Lease in version "v1" cannot be handled as a Lease: ...")."""
    if r.plural != "leases":
        return
    spec = obj.get("spec")
    if spec is None:
        return

    def fail(why: str) -> errors.ApiError:
        return errors.bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: {why}')

    if not isinstance(spec, dict):
        raise fail(
            f"json: cannot unmarshal {_json_type(spec)} into Go struct field Lease.spec of type v1.LeaseSpec"
        )
    for key in ("acquireTime", "renewTime"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise fail(f"json: cannot unmarshal {_json_type(value)} into Go value of type string")
        try:
            spec[key] = parse_micro_time(value)
        except ValueError as e:
            raise fail(str(e)) from None
    for key in ("leaseDurationSeconds", "leaseTransitions"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise fail(
                f"json: cannot unmarshal {_json_type(value)} into Go struct field LeaseSpec.spec.{key} "
                "of type int32"
            )
    for key in ("holderIdentity", "preferredHolder", "strategy"):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(
                f"json: cannot unmarshal {_json_type(value)} into Go struct field LeaseSpec.spec.{key} "
                "of type string"
            )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# ---- defaults: enough for the official client's strict deserialisation and for kubectl -----------


def _pod_spec_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        image = str(c.get("image") or "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
        c.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def _template_defaults(spec: Obj) -> None:
    tmpl = spec.setdefault("template", {})
    if isinstance(tmpl, dict):
        # no creationTimestamp: null (the real 1.37 server omits a zero metav1.Time)
        tmpl.setdefault("metadata", {})
        _pod_spec_defaults(tmpl.setdefault("spec", {}))


def _apply_defaults(r: Resource, obj: Obj, store: Store, old: Obj | None = None) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        # ObjectMeta's maps are `omitempty` in Go: an emptied map is not stored or returned.
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                del meta[key]
    spec = obj.get("spec")
    if r.plural == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get(
            "name", ""
        )
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
    elif r.plural == "deployments" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _template_defaults(spec)
        obj.setdefault("status", {})
    elif r.plural == "replicasets" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template_defaults(spec)
        obj.setdefault("status", {"replicas": 0})
    elif r.plural == "pods" and isinstance(spec, dict):
        _pod_spec_defaults(spec)
        obj.setdefault("status", {"phase": "Pending"})
    elif r.plural == "services":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            _service_defaults(spec, store, old)
        obj.setdefault("status", {"loadBalancer": {}})
    elif r.plural == "resourcequotas" and isinstance(spec, dict) and isinstance(spec.get("hard"), dict):
        from .quota import canonical_list

        # quantities are stored in their canonical form ("1000m" reads back as "1"); bad ones fail validation
        with contextlib.suppress(ValueError):
            spec["hard"] = canonical_list(spec["hard"])


def _service_defaults(spec: Obj, store: Store, old: Obj | None) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    old_spec = (old or {}).get("spec") or {}
    # a PUT that leaves out the allocated IP keeps it (the real server's patchAllocatedValues)
    if not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = store.allocate_cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])


# ---- validation: the checks that matter to a deployment tool, with the real wording -----------


def _validate_meta(r: Resource, obj: Obj) -> list[Cause]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        return [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]
    if r.plural in ("namespaces", "services"):
        # Services: RFC 1123 labels since RelaxedServiceNameValidation (KEP-5311, GA and locked on in 1.37;
        # before, DNS-1035 labels, which may not start with a digit)
        ok, msg = bool(_DNS1123_LABEL.match(name)) and len(name) <= 63, _LABEL_MSG
    else:
        ok, msg = bool(_DNS1123_SUBDOMAIN.match(name)) and len(name) <= 253, _SUBDOMAIN_MSG
    if not ok:
        return [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {msg}')]
    return []


def _validate(r: Resource, obj: Obj, old: Obj | None) -> list[Cause]:
    if r.plural in ("deployments", "replicasets"):
        return _validate_workload(obj, old)
    if r.plural == "services":
        return _validate_service(obj, old)
    if r.plural == "leases":
        return _validate_lease(obj)
    if r.plural == "resourcequotas":
        from .quota import validate_hard

        return validate_hard(obj)
    if r.plural == "pods":
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [("spec.containers", "FieldValueRequired", "Required value")]
        return _validate_containers(spec, "spec")
    return []


def _validate_lease(obj: Obj) -> list[Cause]:
    """ValidateLeaseSpec (pkg/apis/coordination/validation)."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(
            (
                "spec.leaseDurationSeconds",
                "FieldValueInvalid",
                f"Invalid value: {duration}: must be greater than 0",
            )
        )
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(
            (
                "spec.leaseTransitions",
                "FieldValueInvalid",
                f"Invalid value: {transitions}: must be greater than or equal to 0",
            )
        )
    return causes


def _validate_containers(pod_spec: Obj, path: str) -> list[Cause]:
    containers = pod_spec.get("containers")
    if not containers:
        return [(f"{path}.containers", "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not c.get("name"):
            causes.append((f"{where}.name", "FieldValueRequired", "Required value"))
        elif c["name"] in seen:
            causes.append((f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{c["name"]}"'))
        else:
            seen.add(c["name"])
        if not c.get("image"):
            causes.append((f"{where}.image", "FieldValueRequired", "Required value"))
    return causes


def _validate_workload(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [
            ("spec.selector", "FieldValueRequired", "Required value"),
            ("spec.template.spec.containers", "FieldValueRequired", "Required value"),
        ]
    causes: list[Cause] = []
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            (
                "spec.replicas",
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
        if not selector:
            causes.append(
                (
                    "spec.selector",
                    "FieldValueInvalid",
                    'Invalid value: "null": empty selector is invalid for deployment',
                )
            )
    elif not _selector_matches_labels(selector, labels):
        causes.append(
            (
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    causes += _validate_containers(tmpl.get("spec") or {}, "spec.template.spec")
    if old is not None:
        old_sel = (old.get("spec") or {}).get("selector")
        if selector != old_sel:
            causes.append(
                (
                    "spec.selector",
                    "FieldValueInvalid",
                    f"Invalid value: {go_label_selector(selector)}: field is immutable",
                )
            )
    return causes


def _validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "FieldValueRequired", "Required value"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(
                (
                    f"spec.ports[{i}].port",
                    "FieldValueInvalid",
                    f"Invalid value: {port}: must be between 1 and 65535, inclusive",
                )
            )
        name = p.get("name")
        if len(ports) > 1 and not name:
            causes.append((f"spec.ports[{i}].name", "FieldValueRequired", "Required value"))
        elif name and name in names:
            causes.append((f"spec.ports[{i}].name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        if name:
            names.add(name)
    sel = spec.get("selector")
    if sel is not None and not isinstance(sel, dict):
        causes.append(
            ("spec.selector", "FieldValueInvalid", f"Invalid value: {sel!r}: must be a map of labels")
        )
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if (
            old_ip
            and spec.get("clusterIP") != old_ip
            and spec.get("type") == (old.get("spec") or {}).get("type")
        ):
            causes.append(
                (
                    "spec.clusterIPs[0]",
                    "FieldValueInvalid",
                    f'Invalid value: []string{{"{spec.get("clusterIP")}"}}: may not change once set',
                )
            )
    return causes
