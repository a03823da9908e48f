"""The only module that talks to the Kubernetes API.

It uses the official client for what is hard to get right (kubeconfig, auth plugins, TLS, proxies) and
sends plain JSON on its REST layer, so the rest of bluegreen works on plain dicts that pure code can
test. Here live: retries with capped backoff, watches, and the translation of API errors into lines a
person reading a CI log can act on (403 -> which verb on which resource the account needs).
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
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
import yaml

from bluegreen.errors import ApiUnavailable, BluegreenError, InputError, PermissionDenied
from bluegreen.settings import Connection
from bluegreen.smoke import HttpTarget

Obj = dict[str, Any]

# (group path prefix, plural) for what we touch; the path grammar is the API server's.
CORE = "/api/v1"
APPS = "/apis/apps/v1"
DISCOVERY = "/apis/discovery.k8s.io/v1"
COORDINATION = "/apis/coordination.k8s.io/v1"

_RETRY_STATUSES = {429, 500, 502, 503, 504}
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiFailure(BluegreenError):
    """An API answer we did not want; callers that expect some (404, 409, 422) catch this."""

    def __init__(self, code: int, reason: str, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.method = method
        self.path = path
        self.retry_after: float | None = None  # seconds, from a 429/503's Retry-After header


class Gone(ApiFailure):
    """410: the watch's resourceVersion is too old; list again."""


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


class Kube:
    """A connection to one cluster and namespace. Every method returns plain JSON dicts."""

    attempts = 6
    max_backoff = 8.0

    def __init__(self, connection: Connection, *, debug: Callable[[str], None] | None = None) -> None:
        from kubernetes import client, config  # slow import: only commands that need the API pay for it

        self._debug = debug or (lambda _msg: None)
        self.configuration = client.Configuration()
        in_cluster = False
        try:
            no_file = (
                not connection.kubeconfig
                and not os.environ.get("KUBECONFIG")
                and not os.path.exists(os.path.expanduser("~/.kube/config"))
            )
            if no_file and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=self.configuration)
                in_cluster = True
            elif no_file:
                raise InputError(
                    "--kubeconfig",
                    "no cluster configuration found ($KUBECONFIG is unset, there is "
                    "no ~/.kube/config, and this is not a pod with a service account)",
                    hint="pass --kubeconfig (the Action's `kubeconfig` input) or set KUBECONFIG",
                )
            else:
                if connection.context:
                    _check_context(connection)
                config.load_kube_config(
                    config_file=connection.kubeconfig,
                    context=connection.context,
                    client_configuration=self.configuration,
                    persist_config=False,
                )
        except config.ConfigException as e:
            raise InputError(
                "--kubeconfig",
                f"cannot load the cluster configuration: {_first_line(e)}",
                hint="check the kubeconfig's current context, cluster and user entries",
            ) from None
        except (OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError) as e:
            # Never echo the file's content: it holds credentials.
            raise InputError(
                "--kubeconfig",
                f"is not a readable kubeconfig ({type(e).__name__})",
                hint="give a kubeconfig YAML file (kubectl config view --raw prints one)",
            ) from None
        # urllib3 would retry 429/503 itself, sleeping a whole Retry-After; our own loop caps the wait.
        self.configuration.retries = False
        self.in_cluster = in_cluster
        self.namespace = connection.namespace or self._default_namespace(connection, in_cluster)
        self.api = client.ApiClient(self.configuration)
        self.host = self.configuration.host.rstrip("/")

    @staticmethod
    def _default_namespace(connection: Connection, in_cluster: bool) -> str:
        if in_cluster:
            try:
                with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                    return f.read().strip() or "default"
            except OSError:
                return "default"
        from kubernetes import config

        try:
            contexts, active = config.list_kube_config_contexts(config_file=connection.kubeconfig)
        except Exception:
            return "default"
        chosen = active
        if connection.context:
            chosen = next((c for c in contexts if c.get("name") == connection.context), None)
            if chosen is None:
                raise InputError(
                    "--context",
                    f"context {connection.context!r} is not in the kubeconfig",
                    hint=f"known contexts: {', '.join(c.get('name', '') for c in contexts)}",
                )
        return ((chosen or {}).get("context") or {}).get("namespace") or "default"

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

        Every write we make is safe to repeat: it carries a precondition (resourceVersion, a JSON-patch
        test, or create's AlreadyExists), so a retry after a lost reply fails cleanly and the caller
        re-reads to learn whether the first attempt landed; or it is idempotent (scale to a count, delete).
        """
        import urllib3

        delay = retry_base_seconds()
        attempts = attempts or self.attempts
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                resp = self._send(method, path, query, body, content_type, timeout)
                data = resp.read()
                status = resp.status
            except (urllib3.exceptions.HTTPError, OSError) as e:
                status, data = 0, b""
                err = f"{type(e).__name__}: {_first_line(e)}"
                self._debug(f"{method} {path}: {err} (attempt {attempt})")
            else:
                if 200 <= status < 300:
                    return json.loads(data) if data else {}
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
            return PermissionDenied(
                "the API server rejected our credentials (401 Unauthorized)",
                hint="check the kubeconfig's token or certificate",
            )
        if status == 403:
            return PermissionDenied(permission_message(method, path, query, message))
        if status == 410:
            return Gone(status, reason, message, method=method, path=path)
        return ApiFailure(
            status,
            reason,
            f"{method} {path}: {status} {reason or 'error'}: {message}",
            method=method,
            path=path,
        )

    # ------------------------------------------------------------------------------------- typed helpers

    def path(
        self,
        base: str,
        resource: str,
        name: str | None = None,
        sub: str | None = None,
        namespace: str | None = None,
    ) -> str:
        p = f"{base}/namespaces/{quote(namespace or self.namespace)}/{resource}"
        if name:
            p += "/" + quote(name, safe=":")
        if sub:
            p += "/" + sub
        return p

    def get(self, base: str, resource: str, name: str) -> Obj | None:
        try:
            return self.request("GET", self.path(base, resource, name))
        except ApiFailure as e:
            if e.code == 404:
                return None
            raise

    def list_objects(
        self,
        base: str,
        resource: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        return self.request(
            "GET",
            self.path(base, resource),
            query={"labelSelector": label_selector, "fieldSelector": field_selector},
        )

    def create(self, base: str, resource: str, obj: Obj) -> Obj:
        return self.request("POST", self.path(base, resource), body=obj)

    def replace(self, base: str, resource: str, obj: Obj) -> Obj:
        return self.request("PUT", self.path(base, resource, obj["metadata"]["name"]), body=obj)

    def patch(
        self, base: str, resource: str, name: str, patch: Any, content_type: str, sub: str | None = None
    ) -> Obj:
        return self.request(
            "PATCH", self.path(base, resource, name, sub), body=patch, content_type=content_type
        )

    def delete(self, base: str, resource: str, name: str, *, resource_version: str | None = None) -> None:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            self.request("DELETE", self.path(base, resource, name), body=body)
        except ApiFailure as e:
            if e.code != 404:
                raise

    def check_namespace(self) -> None:
        try:
            self.request("GET", f"{CORE}/namespaces/{quote(self.namespace)}")
        except ApiFailure as e:
            if e.code == 404:
                raise InputError(
                    "--namespace",
                    f"namespace {self.namespace!r} does not exist",
                    hint="check --namespace or the kubeconfig context's namespace",
                ) from None
            raise
        except PermissionDenied:
            pass  # a namespaced Role cannot read Namespaces; the Service read that follows will tell

    def pod_log(self, pod: str, container: str | None, tail_lines: int = 10) -> list[str]:
        query = {"tailLines": tail_lines, "container": container}
        try:
            resp = self._send("GET", self.path(CORE, "pods", pod, "log"), query, None, None, (5, 10))
            if resp.status == 403:
                return [
                    f"(no logs: {permission_message('GET', self.path(CORE, 'pods', pod, 'log'), None, 'forbidden')})"
                ]
            if resp.status != 200:
                return []
            return list(resp.read().decode(errors="replace").splitlines()[-tail_lines:])
        except Exception:  # logs are a courtesy on an error path; never let them mask the real failure
            return []

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

    def informer(
        self,
        base: str,
        resource: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        return Informer(self, base, resource, label_selector=label_selector, field_selector=field_selector)

    # -------------------------------------------------------------------------------- smoke test targets

    def proxy_target(self, service: str, port: str) -> HttpTarget:
        """Through the API server's service proxy: works from any runner that reaches the API."""
        cfg = self.configuration
        session = requests.Session()
        token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            session.headers["Authorization"] = token
        if cfg.cert_file and cfg.key_file:
            session.cert = (cfg.cert_file, cfg.key_file)
        session.verify = (cfg.ssl_ca_cert or True) if cfg.verify_ssl else False
        if cfg.proxy:
            session.proxies = {"http": cfg.proxy, "https": cfg.proxy}
        base = f"{self.host}{self.path(CORE, 'services', f'{service}:{port}', 'proxy')}"
        return HttpTarget(
            base_url=base,
            session=session,
            description=f"service/{service} port {port} via the API server proxy",
        )

    def direct_target(self, service: str, port: int) -> HttpTarget:
        """Through cluster DNS, for runners inside the cluster."""
        return HttpTarget(
            base_url=f"http://{service}.{self.namespace}.svc:{port}",
            session=requests.Session(),
            description=f"service/{service} port {port} via cluster DNS",
        )


class Informer:
    """List, then watch, one kind of object, keeping the current objects; every change is announced on
    the queues of whoever waits on it.

    The engine waits on several informers at once (a Deployment and its pods; a Service's EndpointSlices)
    without polling: each runs its watch in a thread and a waiter blocks on its own queue. ``objects`` is
    replaced, never mutated, so a waiter can read it while the watch thread updates it.
    """

    def __init__(
        self, kube: Kube, base: str, resource: str, *, label_selector: str | None, field_selector: str | None
    ) -> None:
        self.kube = kube
        self.path = kube.path(base, resource)
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.objects: dict[str, Obj] = {}
        self.error: BaseException | None = None
        self._queues: list[queue.Queue[Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: Any = None

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
                    self._fail(ApiUnavailable(f"watching {self.path} kept failing: {_first_line(e)}"))
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
        self._notify("error")

    def _opened(self, response: Any) -> None:
        self._response = response
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


def _check_context(connection: Connection) -> None:
    from kubernetes import config

    contexts, _ = config.list_kube_config_contexts(config_file=connection.kubeconfig)
    names = [c.get("name", "") for c in contexts or []]
    if connection.context not in names:
        raise InputError(
            "--context",
            f"context {connection.context!r} is not in the kubeconfig",
            hint=f"pass one of: {', '.join(names) or '(none defined)'}",
        )


def _retry_after(resp: Any) -> float | None:
    ra = resp.headers.get("Retry-After") if hasattr(resp, "headers") else None
    return float(ra) if ra and ra.isdigit() else None


def _status_message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))[:200]
    except ValueError:
        return data[:200].decode(errors="replace")


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__
