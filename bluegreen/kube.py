"""The only module that talks to the Kubernetes API.

It uses the official client's transport (auth plugins, TLS, proxies) and sends plain JSON, so the rest of
bluegreen works on plain dicts that pure code can test. Here live: resource kinds and patch types as named
constants, retries with capped backoff, watches, intent-level writes that each carry their precondition,
and the meaning of 404/409/410/422 (NotFound, Conflict, Gone, Invalid) in one place.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from bluegreen.errors import (
    ApiUnavailable,
    BluegreenError,
    ConcurrentChange,
    InputError,
    PermissionDenied,
    Unverified,
)
from bluegreen.kubeconfig import ClientConfig, Credentials, first_line, tls_failure
from bluegreen.kubeconfig import load as load_kubeconfig
from bluegreen.settings import Connection

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A namespaced resource we touch: its API path prefix, plural and kind."""

    base: str
    plural: str
    kind: str

    def __str__(self) -> str:  # kubectl's dialect: deployment.apps, service, lease.coordination.k8s.io
        group = self.base.split("/")[2] if self.base.startswith("/apis/") else ""
        return self.kind.lower() + (f".{group}" if group else "")


SERVICES = Kind("/api/v1", "services", "Service")
PODS = Kind("/api/v1", "pods", "Pod")
RESOURCE_QUOTAS = Kind("/api/v1", "resourcequotas", "ResourceQuota")
DEPLOYMENTS = Kind("/apis/apps/v1", "deployments", "Deployment")
ENDPOINT_SLICES = Kind("/apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice")
LEASES = Kind("/apis/coordination.k8s.io/v1", "leases", "Lease")


class Patch(StrEnum):
    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


_RETRY_STATUSES = {429, 500, 502, 503, 504}
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class ApiFailure(BluegreenError):
    """An API answer we did not want; the subclasses below are the ones callers expect."""

    def __init__(self, code: int, reason: str, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.method = method
        self.path = path
        self.retry_after: float | None = None  # seconds, from a 429/503's Retry-After header


class NotFound(ApiFailure):
    """404: the object (or namespace) is not there."""


class Conflict(ApiFailure):
    """409: a resourceVersion/uid precondition failed, or create found the name taken."""


class Gone(ApiFailure):
    """410: the watch's resourceVersion is too old; list again."""


class Invalid(ApiFailure):
    """422: the object is invalid, or a JSON-patch `test` failed (someone changed it since we read it)."""


_BY_CODE: dict[int, type[ApiFailure]] = {404: NotFound, 409: Conflict, 410: Gone, 422: Invalid}


@dataclass(frozen=True)
class PathInfo:
    group: str
    resource: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> PathInfo:
    """/api/v1/namespaces/ns/services/web/proxy -> core group, services, ns, web, proxy."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    else:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[3:]
    ns = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if resource == "namespaces" and ns is None and name is None and len(rest) == 2:
        name = rest[1]
    return PathInfo(group, resource, ns, name, sub)


def permission_message(method: str, path: str, query: dict[str, Any] | None, server_message: str) -> str:
    info = parse_path(path)
    if method == "GET":
        verb = "watch" if query and query.get("watch") else ("get" if info.name else "list")
    else:
        verb = _VERBS.get(method, method.lower())
    res = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    group = f" (API group {info.group!r})" if info.group else ""
    where = f" in namespace {info.namespace!r}" if info.namespace else ""
    return f"the service account needs `{verb}` on `{res}`{group}{where} ({server_message})"


def retry_base_seconds() -> float:
    # Tests shorten the backoff through this variable; production keeps the default.
    try:
        return float(os.environ.get("BLUEGREEN_RETRY_BASE_SECONDS", "0.25"))
    except ValueError:
        return 0.25


def uid_of(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("uid")


def version_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Kube:
    """A connection to one cluster and namespace. Every method returns plain JSON dicts."""

    attempts = 6
    max_backoff = 8.0

    def __init__(
        self,
        connection: Connection | ClientConfig,
        *,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        from kubernetes import client  # slow import: only commands that need the API pay for it

        self._debug = debug or (lambda _msg: None)
        loaded = connection if isinstance(connection, ClientConfig) else load_kubeconfig(connection)
        self.client_config = loaded
        self.configuration = loaded.configuration
        self.in_cluster = loaded.in_cluster
        self.namespace = loaded.namespace
        # Current credentials: the client asks them before every request (renewing an expired exec
        # token); request() renews once more after a 401; the smoke session uses the same object.
        self.credentials = loaded.credentials or Credentials(self.configuration)
        self.api = client.ApiClient(self.configuration)
        self.host = loaded.host
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------------------------------ transport

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: Any,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        q = [(k, v) for k, v in (query or {}).items() if v is not None]
        params = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=q,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        return self.api.call_api(*params, _request_timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: Any = (10, 30),
        attempts: int | None = None,
    ) -> Obj:
        """One API call, retried with capped exponential backoff on 429/5xx/connection errors.

        Every write we make is safe to repeat: it carries a precondition (resourceVersion, uid, a
        JSON-patch test, or create's AlreadyExists), so a retry after a lost reply fails cleanly and the
        caller re-reads to learn whether the first attempt landed; or it is idempotent.
        """
        import urllib3
        from kubernetes.client.exceptions import ApiException

        delay = retry_base_seconds()
        attempts = attempts or self.attempts
        err = ""
        renewed = False
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            generation = self.credentials.generation
            try:
                resp = self._send(method, path, query, body, content_type, timeout)
                data = resp.read()
                status = resp.status
            except ApiException as e:
                # The client turns a failed TLS handshake into ApiException(status=0, "SSLError ...");
                # retrying cannot help, and the user must learn which kubeconfig entry to fix.
                if e.status == 0 and "SSL" in str(e.reason):
                    raise tls_failure(self.client_config, str(e.reason)) from None
                raise
            except urllib3.exceptions.SSLError as e:
                raise tls_failure(self.client_config, str(e)) from None
            except (urllib3.exceptions.HTTPError, OSError) as e:
                status, data = 0, b""
                err = f"{type(e).__name__}: {first_line(e)}"
                self._debug(f"{method} {path}: {err} (attempt {attempt})")
            else:
                if 200 <= status < 300:
                    return json.loads(data) if data else {}
                if status == 401 and not renewed and self.credentials.renew(generation):
                    # The token expired early or was revoked: once more with a new one, at once.
                    renewed = True
                    self._debug(f"{method} {path}: 401 Unauthorized; renewed the token, retrying")
                    continue
                if status not in _RETRY_STATUSES:
                    raise self._failure(method, path, query, status, data)
                retry_after = _retry_after(resp)
                err = f"{status} {_status_message(data)}"
                self._debug(f"{method} {path}: {err} (attempt {attempt})")
            if attempt == attempts:
                break
            wait = min(self.max_backoff, retry_after if retry_after is not None else delay)
            time.sleep(wait * (0.8 + 0.4 * random.random()))
            delay = min(self.max_backoff, delay * 2)
        raise ApiUnavailable(
            f"the API server kept failing for {method} {path} after {attempts} attempts: {err}",
            hint="check the cluster's health, then re-run or look with `bluegreen status`",
        )

    def _failure(
        self, method: str, path: str, query: dict[str, Any] | None, status: int, data: bytes
    ) -> BluegreenError:
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        message = body.get("message") or data.decode(errors="replace")[:200]
        reason = body.get("reason") or ""
        if status == 401:
            problem, hint = self.credentials.rejected_message()
            return PermissionDenied(problem, hint=hint)
        if status == 403:
            return PermissionDenied(permission_message(method, path, query, message))
        cls = _BY_CODE.get(status, ApiFailure)
        return cls(
            status,
            reason,
            f"{method} {path}: {status} {reason or 'error'}: {message}",
            method=method,
            path=path,
        )

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="kube")
        return self._pool

    def parallel(self, *calls: Callable[[], Any]) -> list[Any]:
        """Run independent reads at once: one round trip of latency instead of one per read."""
        if len(calls) == 1:
            return [calls[0]()]
        futures = [self.pool().submit(c) for c in calls]
        # Every call finishes before any failure is raised: nothing keeps running behind the caller's back.
        wait(futures)
        return [f.result() for f in futures]

    # ------------------------------------------------------------------------------------- typed helpers

    def path(self, kind: Kind, name: str | None = None, sub: str | None = None) -> str:
        p = f"{kind.base}/namespaces/{quote(self.namespace)}/{kind.plural}"
        if name:
            p += "/" + quote(name, safe=":")
        if sub:
            p += "/" + sub
        return p

    def get(self, kind: Kind, name: str) -> Obj | None:
        try:
            return self.request("GET", self.path(kind, name))
        except NotFound:
            return None

    def find(self, kind: Kind, name: str) -> Obj | None:
        """One object by name through a list (a Role with `list` but not `get` can read it back)."""
        found = self.items(kind, fields=f"metadata.name={name}")
        return found[0] if found else None

    def listing(self, kind: Kind, *, labels: str | None = None, fields: str | None = None) -> Obj:
        """The whole List (items and metadata.resourceVersion, which a watch starts from)."""
        return self.request("GET", self.path(kind), query={"labelSelector": labels, "fieldSelector": fields})

    def items(self, kind: Kind, *, labels: str | None = None, fields: str | None = None) -> list[Obj]:
        return list(self.listing(kind, labels=labels, fields=fields).get("items") or [])

    def create(self, kind: Kind, obj: Obj) -> Obj:
        return self.request("POST", self.path(kind), body=obj)

    def replace(self, kind: Kind, obj: Obj) -> Obj:
        """PUT: the body's resourceVersion makes it conditional (409 Conflict when it changed)."""
        return self.request("PUT", self.path(kind, obj["metadata"]["name"]), body=obj)

    def patch(self, kind: Kind, name: str, patch: Any, patch_type: Patch) -> Obj:
        return self.request("PATCH", self.path(kind, name), body=patch, content_type=str(patch_type))

    def delete(
        self, kind: Kind, name: str, *, uid: str | None = None, resource_version: str | None = None
    ) -> bool:
        """Delete, only if it is still the object we judged (uid, resourceVersion); False if already gone."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            body["preconditions"] = pre
        try:
            self.request("DELETE", self.path(kind, name), body=body)
            return True
        except NotFound:
            return False

    def check_namespace(self) -> None:
        try:
            self.request("GET", f"/api/v1/namespaces/{quote(self.namespace)}")
        except NotFound:
            raise InputError(
                "--namespace",
                f"namespace {self.namespace!r} does not exist",
                hint="check --namespace or the kubeconfig context's namespace",
            ) from None
        except PermissionDenied:
            pass  # a namespaced Role cannot read Namespaces; the Service read that follows will tell

    def pod_log(self, pod: str, container: str | None, tail_lines: int = 10) -> list[str]:
        query = {"tailLines": tail_lines, "container": container}
        path = self.path(PODS, pod, "log")
        try:
            resp = self._send("GET", path, query, None, None, (5, 10))
            if resp.status == 403:
                return [f"(no logs: {permission_message('GET', path, None, 'forbidden')})"]
            if resp.status != 200:
                return []
            return list(resp.read().decode(errors="replace").splitlines()[-tail_lines:])
        except Exception:  # logs are a courtesy on an error path; never let them mask the real failure
            return []

    # ------------------------------------------------------------------------ intent-level writes

    def apply(self, kind: Kind, desired: Obj, existing: Obj | None) -> tuple[Obj, bool]:
        """Create, or replace in place guarded by ``existing``'s resourceVersion; returns (object, created).

        A 409 means the object appeared meanwhile (our own create whose reply was lost, or a neighbour) or
        changed since it was read (controllers write status all the time): read it again and write again,
        still conditional, a few times. An object that already carries exactly what we send (the same
        labels and annotations, which hold the template hash) is not written twice."""
        name = desired["metadata"]["name"]
        created = existing is None
        for attempt in range(1, 5):
            try:
                if existing is None:
                    return self.create(kind, desired), True
                meta = existing.get("metadata") or {}
                if (
                    attempt > 1
                    and all(
                        (meta.get(k) or {}).get(key) == value
                        for k in ("labels", "annotations")
                        for key, value in (desired["metadata"].get(k) or {}).items()
                    )
                    and (existing.get("spec") or {}).get("replicas")
                    == (desired.get("spec") or {}).get("replicas")
                ):
                    return existing, created  # what we sent is there already (a lost reply)
                body = {
                    **desired,
                    "metadata": {**desired["metadata"], "resourceVersion": version_of(existing)},
                }
                return self.replace(kind, body), created
            except (Conflict, NotFound):
                if attempt == 4:
                    raise
                existing = self.get(kind, name)
        raise AssertionError("unreachable")

    def scale(self, deployment: Obj, replicas: int) -> Obj:
        """Set replicas, only if the Deployment is still the version we judged (a JSON-patch test)."""
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version_of(deployment)},
            {"op": "replace", "path": "/spec/replicas", "value": replicas},
        ]
        return self.patch(DEPLOYMENTS, deployment["metadata"]["name"], ops, Patch.JSON)

    def compare_and_swap(self, kind: Kind, obj: Obj, ops: list[Obj], landed: Callable[[Obj], bool]) -> Obj:
        """A JSON patch whose first op tests the resourceVersion we read: it applies to exactly that object
        or not at all. A lost reply is told apart by reading the object back and asking ``landed``."""
        name = obj["metadata"]["name"]
        try:
            return self.patch(kind, name, ops, Patch.JSON)
        except (ApiFailure, ApiUnavailable) as e:
            try:
                current = self.find(kind, name)
            except BluegreenError as again:
                raise Unverified(
                    f"could not tell whether the change to {kind}/{name} landed: the request failed ({e}) "
                    f"and reading it back failed too ({again})",
                    hint="look now: bluegreen status",
                ) from None
            if current is not None and landed(current):
                self._debug(f"{kind}/{name}: the change landed although its reply was lost")
                return current
            if (
                isinstance(e, Conflict | Invalid)
                and current is not None
                and version_of(current) != version_of(obj)
            ):
                raise ConcurrentChange(
                    f"{kind}/{name} was changed by someone else after bluegreen read it "
                    f"(resourceVersion {version_of(obj)} -> {version_of(current)}); nothing was switched",
                    hint="look at who changed it (kubectl get -o yaml shows managedFields), then re-run",
                ) from None
            raise

    # ------------------------------------------------------------------------------------------- watches

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        stop: threading.Event | None = None,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """Stream (type, object) events; raises Gone when the version is too old (the caller re-lists)."""
        from kubernetes.watch.watch import iter_resp_lines

        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        seen = self.credentials.generation
        resp = self._send("GET", path, query, None, None, (10, timeout_seconds + 10))
        if resp.status == 401 and self.credentials.renew(seen):
            # The token expired between renewals: open the watch again once, with the renewed one.
            resp.response.release_conn()
            resp = self._send("GET", path, query, None, None, (10, timeout_seconds + 10))
        if on_open is not None:
            on_open(resp.response)
        try:
            if resp.status != 200:
                failure = self._failure("GET", path, {"watch": 1}, resp.status, resp.read())
                if isinstance(failure, ApiFailure):
                    failure.retry_after = _retry_after(resp)
                raise failure
            for line in iter_resp_lines(resp.response):
                if stop is not None and stop.is_set():
                    return
                if not line:
                    continue
                ev = json.loads(line)
                if ev.get("type") == "ERROR":
                    st = ev.get("object") or {}
                    raise self._failure(
                        "GET", path, {"watch": 1}, int(st.get("code") or 500), json.dumps(st).encode()
                    )
                yield ev["type"], ev["object"]
        finally:
            resp.response.release_conn()

    def informer(self, kind: Kind, *, labels: str | None = None, fields: str | None = None) -> Informer:
        return Informer(self, kind, label_selector=labels, field_selector=fields)


class Informer:
    """List, then watch, one kind of object, keeping the current objects; every change is announced on
    the queues of whoever waits on it.

    The engine waits on several informers at once (a Deployment and its pods; a Service's EndpointSlices)
    without polling: each runs its watch in a thread and a waiter blocks on its own queue. ``objects`` is
    replaced, never mutated, so a waiter can read it while the watch thread updates it.
    """

    def __init__(
        self, kube: Kube, kind: Kind, *, label_selector: str | None, field_selector: str | None
    ) -> None:
        self.kube = kube
        self.path = kube.path(kind)
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.objects: dict[str, Obj] = {}
        self.error: BaseException | None = None
        self._queues: list[queue.Queue[Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None
        self._open = threading.Event()  # the first watch answered (200), or the informer failed

    def start(self, events: queue.Queue[Any] | None = None, known: Obj | None = None) -> Informer:
        if events is not None:
            self._queues.append(events)
        if known is not None:  # we just wrote it: watch on from its version, no list needed
            self.objects = {known["metadata"]["name"]: known}
            rv = str(known["metadata"]["resourceVersion"])
        else:
            rv = self._list()
        self._notify("synced")
        self._thread = threading.Thread(target=self._run, args=(rv,), daemon=True, name=f"watch {self.path}")
        self._thread.start()
        return self

    def add_queue(self, events: queue.Queue[Any]) -> None:
        self._queues = [*self._queues, events]
        events.put(("synced", self.path))

    def remove_queue(self, events: queue.Queue[Any]) -> None:
        self._queues = [q for q in self._queues if q is not events]

    def _notify(self, what: str) -> None:
        for q in self._queues:
            q.put((what, self.path))

    def _list(self) -> str:
        data = self.kube.request(
            "GET",
            self.path,
            query={"labelSelector": self.label_selector, "fieldSelector": self.field_selector},
        )
        self.objects = {o["metadata"]["name"]: o for o in data.get("items") or []}
        return str(data["metadata"].get("resourceVersion", ""))

    def _run(self, rv: str) -> None:
        failures = 0
        while not self._stop.is_set():
            retry_after: float | None = None
            try:
                for etype, obj in self.kube.watch(
                    self.path,
                    resource_version=rv,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    stop=self._stop,
                    on_open=self._opened,
                ):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    failures = 0
                    if etype == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if etype == "DELETED":
                        self.objects = {k: v for k, v in self.objects.items() if k != name}
                    else:
                        self.objects = {**self.objects, name: obj}
                    self._notify(etype)
                continue  # the server ended the watch (its timeout): watch on from where we are
            except Gone:
                pass  # our version is too old: list again
            except ApiFailure as e:
                if e.code not in _RETRY_STATUSES:
                    self._fail(e)
                    return
                failures, retry_after = failures + 1, e.retry_after
            except BluegreenError as e:
                self._fail(e)
                return
            except Exception as e:  # the connection dropped mid-stream: list again and resume
                failures += 1
                retry_after = None
                if self._stop.is_set():
                    return
                if failures > 5:
                    self._fail(ApiUnavailable(f"watching {self.path} kept failing: {first_line(e)}"))
                    return
            if failures > 5:
                self._fail(ApiUnavailable(f"watching {self.path} kept failing"))
                return
            if failures:
                wait = retry_after if retry_after is not None else retry_base_seconds() * 2**failures
                time.sleep(min(Kube.max_backoff, wait) * (0.8 + 0.4 * random.random()))
                if self._stop.is_set():
                    return
            try:
                rv = self._list()
                self._notify("relisted")
            except BluegreenError as e:
                if self._stop.is_set():
                    return
                self._fail(e)
                return

    def _fail(self, e: BaseException) -> None:
        self.error = e
        self._open.set()
        self._notify("error")

    def ready(self, timeout: float = 30.0) -> None:
        """Block until the watch is open, so a write made after this is seen; raise why it cannot be
        (a missing `watch` permission shows here, before the write, not after it)."""
        self._open.wait(timeout)
        if self.error is not None:
            raise self.error

    def _opened(self, response: Any) -> None:
        self._response = response
        if getattr(response, "status", 200) == 200:
            self._open.set()
        if self._stop.is_set():
            self._interrupt()

    def _interrupt(self) -> None:
        # Unblock the thread's read so the connection closes now, not at the watch's timeout.
        resp = self._response
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.shutdown() if hasattr(resp, "shutdown") else resp.close()

    def stop(self) -> None:
        self._stop.set()
        self._interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)


def _retry_after(resp: Any) -> float | None:
    ra = resp.headers.get("Retry-After") if hasattr(resp, "headers") else None
    return float(ra) if ra and ra.isdigit() else None


def _status_message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))[:200]
    except ValueError:
        return data[:200].decode(errors="replace")
