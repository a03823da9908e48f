"""The HTTP face of the simulated cluster: the Kubernetes REST API over the stdlib ``ThreadingHTTPServer``.

Routing follows the real API server's request-info rules (``/api/v1/namespaces/NS/RES/NAME/SUB``), answers
carry real ``Status`` bodies, and writes go through the Store, so the official client and kubectl talk to it
as to a real cluster. Places where we knowingly differ say so in a comment.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import errors, stats
from .errors import ApiError
from .resources import RESOURCES, Resource, api_resource_list, group_versions, lookup
from .store import Obj, Store, WatchEvent

if TYPE_CHECKING:
    from .apps import AppRegistry

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# kinds whose registry sets ReturnDeletedObject (or, for namespaces, answers with the object itself): a
# delete answers with the object, every other kind with a Success Status
_RETURN_DELETED_OBJECT = frozenset({"pods", "namespaces", "services"})
_TYPE_META = ("apiVersion", "kind")
# the real server's default --max-request-body-bytes (3 MiB); beyond it: 413 RequestEntityTooLarge
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
# what POST/PUT bodies may be (NegotiateInputSerializer); we differ: protobuf is listed but not decoded
_BODY_MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
# namespaces/NAME/<these> are subresources of the namespace, not resources inside it (real RequestInfo rule)
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
MINT_PATH = "/simulator/tokens"  # where credential.py mints tokens (kept in step with credential.MINT_PATH)


# ---- request info ----------------------------------------------------------------------------------


@dataclass
class RequestInfo:
    """What the real server's RequestInfoFactory derives from a URL, used for routing and RBAC."""

    is_resource: bool
    verb: str
    group: str = ""
    version: str = ""
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    rest: str = ""  # the path after a proxy subresource


def request_info(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    parts = [unquote(p) for p in path.strip("/").split("/") if p != ""] if path.strip("/") else []
    method_verb = (
        method.lower()
        if method not in _METHOD_VERBS and method != "GET"
        else _METHOD_VERBS.get(method, "get")
    )
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(False, method_verb)
    if not rest:
        return RequestInfo(False, method_verb, group, version)
    info = RequestInfo(True, method_verb, group, version)
    if rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            info.resource, info.name = "namespaces", rest[1]
            info.namespace = None
            rest = rest[2:]
            if rest:
                info.subresource = rest[0]
            return _verb_for(info, method, query)
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3:
        info.rest = "/".join(rest[3:])
    return _verb_for(info, method, query)


def _verb_for(info: RequestInfo, method: str, query: dict[str, str]) -> RequestInfo:
    if method == "GET":
        if info.name is None:
            info.verb = "watch" if query.get("watch") in ("true", "1") else "list"
        else:
            info.verb = "get"
    else:
        info.verb = _METHOD_VERBS.get(method, method.lower())
        if method == "DELETE" and info.name is None:
            info.verb = "deletecollection"
    return info


# ---- request log, faults, auth ---------------------------------------------------------------------


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    user: str | None
    verb: str
    resource: str | None
    namespace: str | None
    name: str | None
    subresource: str | None = None
    # when the server received the request and answered it (time.monotonic), and on which connection
    started: float = 0.0
    ended: float = 0.0
    connection: int = 0

    @property
    def is_write(self) -> bool:
        return self.verb in _WRITE_VERBS

    @property
    def kind(self) -> str:
        """What ``sim.stats`` counts it as: "watch", "proxy", "log", "discovery" or "api"."""
        if self.verb == "watch":
            return "watch"
        if self.subresource in (stats.PROXY, stats.LOG):
            return self.subresource
        return "api" if self.resource else stats.DISCOVERY


@dataclass
class Fault:
    method: str | None
    path: re.Pattern[str] | None
    status: int | None
    count: int | None  # None: forever
    delay: float
    drop: bool
    retry_after: float | None
    after: int
    body: dict[str, Any] | str | None
    apply: bool
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path is None or self.path.search(path) is not None
        )

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count


class Faults:
    """Injected failures: the next ``count`` matching requests (after skipping ``after``) fail, wait or drop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        count: int | None = 1,
        delay: float = 0.0,
        drop: bool = False,
        retry_after: float | None = None,
        after: int = 0,
        body: dict[str, Any] | str | None = None,
        apply: bool = False,
    ) -> Fault:
        """``status`` defaults to 500, except for a fault that only delays (``delay`` given, no status):
        that one delays the request and then lets it through. ``drop=True`` closes the connection without
        a reply; with ``apply=True`` the request is processed first (a lost reply). ``count=None``: forever."""
        if status is None and not drop and not apply and delay == 0.0:
            status = 500
        if apply:
            drop = True
        fault = Fault(
            method,
            re.compile(path) if path else None,
            status,
            count,
            delay,
            drop,
            retry_after,
            after,
            body,
            apply,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that fires for this request, if any (counts it)."""
        with self._lock:
            for f in self._faults:
                if f.exhausted or not f.matches(method, path):
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                f.fired += 1
                return f
        return None

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ("system:authenticated",)

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


@dataclass
class Auth:
    """Bearer tokens -> users, and Role-like grants per (user, namespace); namespace None = cluster-wide."""

    enabled: bool = False
    rbac: bool = False
    admin_token: str = field(default_factory=lambda: "sim-admin-" + secrets.token_hex(8))
    tokens: dict[str, User] = field(default_factory=dict)
    grants: dict[str, list[tuple[str | None, dict[str, Any]]]] = field(default_factory=dict)
    # token -> when it stops being accepted, on ``now`` (the cluster's clock); tokens not here never expire
    expiry: dict[str, float] = field(default_factory=dict)
    now: Callable[[], float] = time.time
    # the secret a credential plugin shows to mint tokens (POST /simulator/tokens), and how many it minted
    mint_secret: str = field(default_factory=lambda: "sim-mint-" + secrets.token_hex(16))
    minted: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.tokens[self.admin_token] = User("admin", ("system:masters", "system:authenticated"))

    def add_token(
        self, token: str, user: str, groups: tuple[str, ...] = (), expires_at: float | None = None
    ) -> None:
        """``user`` "admin" or a ``groups`` with "system:masters" may do anything; ``expires_at`` is a
        time on the cluster's clock after which the token is refused with 401 (when auth is on)."""
        with self._lock:
            self.tokens[token] = User(user, tuple(groups) + ("system:authenticated",))
            if expires_at is not None:
                self.expiry[token] = expires_at
            else:
                self.expiry.pop(token, None)

    def issue(self, user: str, ttl: float, groups: tuple[str, ...] = ()) -> tuple[str, float]:
        """A new token for ``user`` that expires ``ttl`` seconds from now; returns (token, expiry time).
        ``user`` "admin" gets the admin's groups, like the admin token."""
        token = "sim-token-" + secrets.token_hex(16)
        if user == "admin" and not groups:
            groups = ("system:masters",)
        expires_at = self.now() + ttl
        self.add_token(token, user, groups, expires_at)
        with self._lock:
            self.minted += 1
        return token, expires_at

    def grant(self, user: str, namespace: str | None, rules: list[dict[str, Any]]) -> None:
        with self._lock:
            self.grants.setdefault(user, []).extend((namespace, dict(r)) for r in rules)

    def authenticate(self, authorization: str | None) -> User | None:
        if not self.enabled and not self.rbac:
            # no authentication configured: everybody is the admin (like a local dev cluster)
            token = (authorization or "").removeprefix("Bearer ").strip()
            with self._lock:
                return self.tokens.get(token) or User("admin", ("system:masters", "system:authenticated"))
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        with self._lock:
            expires_at = self.expiry.get(token)
            if expires_at is not None and self.now() >= expires_at:
                return None  # the real server answers an expired token like an unknown one: 401
            return self.tokens.get(token)

    def allowed(self, user: User, info: RequestInfo) -> bool:
        if not self.rbac or user.is_admin or not info.is_resource:
            return True  # discovery and /version are open to every authenticated user (system:discovery)
        res = info.resource or ""
        combined = f"{res}/{info.subresource}" if info.subresource else res
        with self._lock:
            grants = list(self.grants.get(user.name, []))
        for ns, rule in grants:
            if ns is not None and ns != info.namespace:
                continue
            if not _in(rule.get("apiGroups", []), info.group) or not _in(rule.get("verbs", []), info.verb):
                continue
            resources = rule.get("resources", [])
            if not (
                "*" in resources
                or combined in resources
                or (info.subresource and f"*/{info.subresource}" in resources)
            ):
                continue
            names = rule.get("resourceNames")
            if names and (info.name is None or info.name not in names):
                continue
            return True
        return False


def _in(allowed: list[str], value: str) -> bool:
    return "*" in allowed or value in allowed


# ---- the server --------------------------------------------------------------------------------------

RequestHook = Callable[[RequestRecord], None]


class _DropConnection(Exception):
    """Close the connection without a reply (fault injection)."""


class SimServer:
    def __init__(
        self,
        store: Store,
        apps: AppRegistry | None,
        auth: Auth,
        faults: Faults,
        *,
        latency: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``latency``: seconds every request waits before it is handled (a watch: before its response
        headers), as if the client were that far away; the first request on a new connection waits once
        more (the TCP handshake), twice more with ``tls`` (the TLS 1.3 handshake)."""
        self.store = store
        self.apps = apps
        self.auth = auth
        self.faults = faults
        self.latency = max(0.0, latency)
        self.tls = tls
        self.requests: list[RequestRecord] = []
        # connection id -> when it was accepted (time.monotonic); ids count up from 1
        self.connections_opened: dict[int, float] = {}
        self._conn_seq = itertools.count(1)
        self._hooks: list[RequestHook] = []
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._rr: dict[tuple[str, str], int] = {}

    # lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="sim-apiserver",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def stop(self) -> None:
        self._stopping.set()
        self.store.close()  # ends open watch streams
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_all()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # hooks and log

    def on_request(self, fn: RequestHook) -> Callable[[], None]:
        with self._lock:
            self._hooks.append(fn)

        def remove() -> None:
            with self._lock:
                if fn in self._hooks:
                    self._hooks.remove(fn)

        return remove

    def run_hooks(self, record: RequestRecord) -> None:
        with self._lock:
            hooks = list(self._hooks)
        for fn in hooks:
            fn(record)

    def log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def new_connection(self) -> int:
        with self._lock:
            n = next(self._conn_seq)
            self.connections_opened[n] = time.monotonic()
        return n

    def pick_round_robin(self, key: tuple[str, str], n: int) -> int:
        with self._lock:
            i = self._rr.get(key, 0)
            self._rr[key] = i + 1
        return i % n

    def wait(self, seconds: float) -> None:
        """Sleep for a fault's delay, but wake up when the server stops."""
        self._stopping.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler], sim: SimServer) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.sim.tls is not None:
            # the handshake happens in the handler's thread (setup), not in the accepting one
            sock = self.sim.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def close_all(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watch streams, like the real server
    disable_nagle_algorithm = True  # else keep-alive requests wait ~40 ms on delayed ACKs
    server: _HTTPServer

    conn_id = 0
    handshake_pending = True  # the first request on a connection also pays the connection's set-up

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)
        self.conn_id = self.server.sim.new_connection()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True
                self.rfile = io.BytesIO(b"")  # nothing to read: handle() ends at once
            finally:
                with contextlib.suppress(OSError):
                    self.connection.settimeout(None)

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is sim.requests

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    # ---- the request pipeline: auth -> hooks -> faults -> RBAC -> handler -> log ----

    def _serve(self, method: str) -> None:
        sim = self.server.sim
        started = time.monotonic()
        split = urlsplit(self.path)
        self.url_path, self.raw_query = split.path, split.query
        if self.url_path == MINT_PATH:
            self._mint(method)  # the credential plugin's side door: not an API request, not counted
            return
        self._delay()
        self.query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.body, self.body_error = b"", None
        try:
            self.body = self._read_body()
        except ApiError as e:
            # answered after authentication, like the real server, which reads the body in the handler
            self.body_error = e
            self.close_connection = True  # the rest of the body is unread: this connection cannot be reused
        self.drop_after = False
        self.logged = False
        info = request_info(method, self.url_path, self.query)
        self.info = info
        user = sim.auth.authenticate(self.headers.get("Authorization"))
        record = RequestRecord(
            method,
            self.url_path,
            self.raw_query,
            0,
            user.name if user else None,
            info.verb,
            info.resource,
            info.namespace,
            info.name,
            info.subresource,
            started=started,
            connection=self.conn_id,
        )
        self.record = record
        try:
            if user is None:
                raise errors.unauthorized()
            sim.run_hooks(record)
            fault = sim.faults.take(method, self.url_path)
            if fault is not None:
                if fault.delay:
                    sim.wait(fault.delay)
                if fault.drop and not fault.apply:
                    raise _DropConnection()
                if fault.status is not None and not fault.apply:
                    self._send_fault(fault)
                    return
            if not sim.auth.allowed(user, info):
                raise errors.forbidden(
                    user.name,
                    info.verb,
                    info.resource or "",
                    info.group,
                    info.namespace,
                    info.name,
                    info.subresource,
                )
            if fault is not None and fault.apply:
                self.drop_after = True
            self._route(method, info)
        except _DropConnection:
            if not self.logged:
                record.status = 0  # no reply was sent (a drop fault applied after the work keeps its status)
                sim.log(record)
            self._drop()
            return
        except ApiError as e:
            self._send_status(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the simulator: answer like the real server would, keep serving
            self._send_status(errors.internal_error(f"{type(e).__name__}: {e}"))
        if not self.logged:
            sim.log(record)

    drop_after = False
    logged = False

    def _delay(self) -> None:
        """The modelled distance to the client (SimServer.latency); a new connection's first request also
        pays for the TCP handshake, and for the TLS one on https."""
        sim = self.server.sim
        wait = sim.latency
        if self.handshake_pending:
            self.handshake_pending = False
            wait += sim.latency * (2 if sim.tls is not None else 1)
        if wait > 0:
            sim.wait(wait)

    def _mint(self, method: str) -> None:
        """POST /simulator/tokens with ``Authorization: Bearer <mint secret>`` and {"user", "groups",
        "ttl"}: a token that expires, for the credential plugin (credential.py). Not a Kubernetes API."""
        auth = self.server.sim.auth
        try:
            body = json.loads(self._read_body() or b"{}")
        except (ValueError, ApiError):
            body = None
        if method != "POST" or (self.headers.get("Authorization") or "") != f"Bearer {auth.mint_secret}":
            self._reply_plain(401, errors.unauthorized().status())
            return
        if not isinstance(body, dict) or not isinstance(body.get("user"), str):
            self._reply_plain(
                400, errors.bad_request('the body must be {"user": NAME, "ttl": SECONDS}').status()
            )
            return
        ttl = float(body.get("ttl") or 900)
        groups = tuple(str(g) for g in body.get("groups") or ())
        token, expires_at = auth.issue(body["user"], ttl, groups)
        self._reply_plain(
            201,
            {
                "token": token,
                "expirationTimestamp": self.server.sim.store.clock.isoformat(expires_at),
                "expiresIn": ttl,
            },
        )

    def _reply_plain(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.record.ended = time.monotonic()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    body_error: ApiError | None = None

    def _read_body(self) -> bytes:
        """The request body, never more than MAX_REQUEST_BODY_BYTES; a malformed length is a 400, not a
        crash or a read that waits for bytes that never come."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = (self.headers.get("Content-Length") or "").strip()
        if not raw:
            return b""
        if not raw.isdigit():
            raise errors.bad_request(f"invalid Content-Length {raw!r}")
        length = int(raw)
        if length > MAX_REQUEST_BODY_BYTES:
            raise errors.request_entity_too_large(MAX_REQUEST_BODY_BYTES)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise errors.bad_request("invalid chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_REQUEST_BODY_BYTES:
                raise errors.request_entity_too_large(MAX_REQUEST_BODY_BYTES)
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    # ---- responses ----

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.record.status = status
        if self.drop_after:
            # the change is applied, but the answer is lost on the way back (fault apply=True)
            self.server.sim.log(self.record)
            self.logged = True
            raise _DropConnection()
        # log before replying, so a client that has its answer always finds the record (and its end)
        self.record.ended = time.monotonic()
        self.server.sim.log(self.record)
        self.logged = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers)

    def _send_status(self, e: ApiError, headers: dict[str, str] | None = None) -> None:
        self._send_json(e.code, e.status(), headers)

    def _send_fault(self, f: Fault) -> None:
        status = f.status or 500
        headers: dict[str, str] = {}
        if f.retry_after is not None:
            headers["Retry-After"] = (
                str(int(f.retry_after)) if float(f.retry_after).is_integer() else str(f.retry_after)
            )
        if isinstance(f.body, str):
            self._send(status, f.body.encode(), "text/plain; charset=utf-8", headers)
            return
        if isinstance(f.body, dict):
            self._send_json(status, f.body, headers)
            return
        if status == 429:
            err = errors.too_many_requests()
        elif status == 503:
            err = errors.service_unavailable("the server is currently unable to handle the request")
        elif status == 504:
            err = ApiError(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted, "
                "but may still be processing the request",
            )
        elif status == 409:
            name = self.info.name or ""
            err = errors.conflict(self.info.resource or "", self.info.group, name)
        else:
            err = (
                errors.internal_error("injected fault")
                if status >= 500
                else ApiError(status, "", "injected fault")
            )
        self._send_status(err, headers)

    # ---- routing ----

    def _route(self, method: str, info: RequestInfo) -> None:
        if self.body_error is not None:
            raise self.body_error
        if not info.is_resource:
            self._discovery(method, info)
            return
        r = lookup(info.group, info.version, info.resource or "")
        if r is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if info.subresource and info.subresource not in r.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if info.subresource == "proxy":
            self._proxy(method, r, info)
            return
        if info.subresource == "log":
            self._pod_log(info)
            return
        if self.query.get("dryRun"):
            # we differ: the real server runs admission + validation without persisting
            raise errors.bad_request("dryRun is not supported by the simulated cluster")
        handler = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
        }.get(info.verb)
        if handler is None:
            raise errors.method_not_allowed(method)
        handler(r, info)

    def _discovery(self, method: str, info: RequestInfo) -> None:
        if method != "GET":
            raise errors.method_not_allowed(method)
        path = self.url_path.rstrip("/")
        if path == "/version":
            self._send_json(200, KUBE_VERSION)
        elif path == "/api":
            self._send_json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.headers.get("Host", "")}
                    ],
                },
            )
        elif path == "/apis":
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                }
                for g, vs in group_versions().items()
            ]
            self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        elif info.group and not info.version and path == f"/apis/{info.group}":
            self._api_group(info.group)
        elif path == "/api/v1" or (
            info.group
            and info.version
            and any(r.group == info.group and r.version == info.version for r in RESOURCES)
        ):
            self._send_json(200, api_resource_list(info.group, info.version))
        else:
            # includes /openapi/v2 and /openapi/v3: kubectl get / rollout status work without them
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _api_group(self, group: str) -> None:
        vs = group_versions().get(group)
        if not vs:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._send_json(
            200,
            {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]},
            },
        )

    # ---- CRUD ----

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _table(self, r: Resource, items: list[Obj], rv: str | None) -> None:
        from .tables import to_table

        table = to_table(
            r.plural,
            items,
            self.server.sim.store.clock.now(),
            include_object=self.query.get("includeObject") or "Metadata",
            resource_version=rv,
        )
        self._send_json(200, table)

    def _get(self, r: Resource, info: RequestInfo) -> None:
        store = self.server.sim.store
        obj = store.get_shared(r.plural, info.namespace, info.name or "")
        if obj is None:
            raise errors.not_found(r.plural, r.group, info.name or "")
        if info.subresource == "scale":
            self._send_json(200, _scale_of(obj))
        elif self._wants_table():
            self._table(r, [obj], None)
        else:
            self._send_json(200, obj)

    def _list(self, r: Resource, info: RequestInfo) -> None:
        items, rv = self.server.sim.store.list(
            r.plural,
            info.namespace,
            self.query.get("labelSelector"),
            self.query.get("fieldSelector"),
            copy_items=False,
        )
        # limit/continue are ignored: we always return the whole list (the client pages transparently)
        if self._wants_table():
            self._table(r, items, rv)
            return
        self._send_json(
            200,
            {
                "kind": r.list_kind,
                "apiVersion": r.api_version,
                "metadata": {"resourceVersion": rv},
                # as the real server encodes a list: only the list carries apiVersion/kind, its items do not
                "items": [{k: v for k, v in o.items() if k not in _TYPE_META} for o in items],
            },
        )

    def _json_body(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, RecursionError) as e:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None

    def _decoded_body(self) -> Any:
        """A POST/PUT body: JSON (also when no Content-Type is given) or YAML; any other type is a 415 with
        the real server's wording."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in ("", "application/json", "*/*"):
            return self._json_body()
        if ctype == "application/yaml":
            import yaml

            try:
                return yaml.safe_load(self.body or b"null")
            except yaml.YAMLError as e:
                raise errors.bad_request(f"error converting YAML to JSON: {e}") from None
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted "
            f"media types include: {', '.join(_BODY_MEDIA_TYPES)}",
        )

    def _object_body(self, r: Resource, info: RequestInfo) -> Obj:
        body = self._decoded_body()
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request could not be decoded as an object")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if r.namespaced:
            if meta.get("namespace") and meta["namespace"] != info.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = info.namespace
        if body.get("kind") and body["kind"] != r.kind and info.subresource != "scale":
            raise errors.bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API version ({r.api_version})"
                if body.get("apiVersion") != r.api_version
                else f"kind {body['kind']} does not match expected {r.kind}"
            )
        return body

    def _create(self, r: Resource, info: RequestInfo) -> None:
        if info.name is not None:
            raise errors.method_not_allowed("POST")
        body = self._object_body(r, info)
        if r.namespaced and not info.namespace:
            raise errors.bad_request("the server could not find the requested resource")
        if body["metadata"].get("resourceVersion"):
            # storage.ErrResourceVersionSetOnCreate: not an API status, so the client sees a 500 with no reason
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if "status" in r.subresources and r.plural != "namespaces":
            body.pop("status", None)  # the real server ignores status on create for these kinds
        created = self.server.sim.store.create(r.plural, body)
        self._send_json(201, created)

    def _update(self, r: Resource, info: RequestInfo) -> None:
        store = self.server.sim.store
        if info.subresource == "scale":
            body = self._decoded_body()
            self._send_json(200, self._write_scale(r, info, body))
            return
        body = self._object_body(r, info)
        name = body["metadata"].get("name")
        if name != info.name:
            raise errors.bad_request(
                f"the name of the object ({name}) does not match the name on the URL ({info.name})"
            )
        if (
            r.plural == "leases"
            and info.subresource is None
            and store.get_shared(r.plural, info.namespace, name) is None
        ):
            # leaseStrategy.AllowCreateOnUpdate is true: a PUT to a missing Lease creates it
            body["metadata"].pop("resourceVersion", None)
            self._send_json(201, store.create(r.plural, body))
            return
        updated = store.update(r.plural, body, subresource=info.subresource)
        self._send_json(200, updated)

    def _write_scale(self, r: Resource, info: RequestInfo, scale: Any) -> Obj:
        store = self.server.sim.store
        if not isinstance(scale, dict) or not isinstance((scale.get("spec") or {}).get("replicas", 0), int):
            raise errors.bad_request("the body of the request could not be decoded as a Scale")
        cur = store.get(r.plural, info.namespace, info.name or "")
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != cur["metadata"]["resourceVersion"]:
            raise errors.conflict(r.plural, r.group, info.name or "")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                info.name or "",
                [
                    (
                        "spec.replicas",
                        "FieldValueInvalid",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        cur["spec"]["replicas"] = replicas
        return _scale_of(store.update(r.plural, cur))

    def _patch(self, r: Resource, info: RequestInfo) -> None:
        from . import patch as patching

        store = self.server.sim.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        name = info.name or ""
        if ctype == "application/apply-patch+yaml":
            self._apply_patch(r, info)
            return
        if ctype not in (
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ):
            raise errors.unsupported_media_type()
        patch_doc = self._json_body()
        kind = "Scale" if info.subresource == "scale" else r.kind
        for _ in range(10):  # the real server retries a patch internally on a concurrent write
            cur = store.get(r.plural, info.namespace, name)
            base = _scale_of(cur) if info.subresource == "scale" else cur
            if ctype == "application/json-patch+json":
                if not isinstance(patch_doc, list):
                    raise errors.bad_request(
                        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                    )
                patched = patching.json_patch(base, patch_doc)
            elif not isinstance(patch_doc, dict):
                raise errors.bad_request(
                    "json: cannot unmarshal into Go value of type map[string]interface {}"
                )
            elif ctype == "application/merge-patch+json":
                patched = patching.merge_patch(base, patch_doc)
            else:
                patched = patching.strategic_merge_patch(base, patch_doc, kind)
            # a resourceVersion the patch sets is a precondition, exactly like a PUT; without one the
            # patch applies to whatever is current (the server retries on a concurrent write)
            want = (patched.get("metadata") or {}).get("resourceVersion") if _sets_rv(patch_doc) else None
            if want and want != cur["metadata"]["resourceVersion"]:
                raise errors.conflict(r.plural, r.group, name)
            try:
                if info.subresource == "scale":
                    patched.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
                    self._send_json(200, self._write_scale(r, info, patched))
                    return
                meta = patched.setdefault("metadata", {})
                if meta.get("name") != name:
                    raise errors.bad_request(
                        f"the name of the object ({meta.get('name')}) does not match the name on "
                        f"the URL ({name})"
                    )
                meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
                if r.namespaced:
                    meta["namespace"] = info.namespace
                updated = store.update(r.plural, patched, subresource=info.subresource)
            except ApiError as e:
                if e.code == 409 and e.reason == "Conflict" and not want:
                    continue  # somebody wrote in between: patch the new version
                raise
            self._send_json(200, updated)
            return
        raise errors.conflict(r.plural, r.group, name)

    def _apply_patch(self, r: Resource, info: RequestInfo) -> None:
        """Server-side apply, minimally: create if missing, else a JSON merge of the applied config.
        We differ from the real server: no field ownership (managedFields), so no apply conflicts."""
        import yaml

        from . import patch as patching

        if not self.query.get("fieldManager"):
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
            )
        try:
            doc = yaml.safe_load(self.body or b"{}")
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error decoding YAML: {e}") from None
        if not isinstance(doc, dict):
            raise errors.bad_request("the body of the request could not be decoded as an object")
        store = self.server.sim.store
        doc.setdefault("metadata", {})
        if r.namespaced:
            doc["metadata"]["namespace"] = info.namespace
        if store.get_shared(r.plural, info.namespace, info.name or "") is None:
            doc["metadata"].setdefault("name", info.name)
            self._send_json(201, store.create(r.plural, doc))
            return
        cur = store.get(r.plural, info.namespace, info.name or "")
        patched = patching.merge_patch(cur, doc)
        self._send_json(200, store.update(r.plural, patched, subresource=info.subresource))

    def _delete(self, r: Resource, info: RequestInfo) -> None:
        opts = self._json_body() if self.body else {}
        opts = opts if isinstance(opts, dict) else {}
        policy = self.query.get("propagationPolicy") or opts.get("propagationPolicy")
        orphan = opts.get("orphanDependents")
        if "orphanDependents" in self.query:
            orphan = self.query["orphanDependents"] in ("true", "1")
        causes: list[tuple[str, str, str]] = []
        if orphan is not None and policy is not None:
            causes.append(
                (
                    "propagationPolicy",
                    "FieldValueInvalid",
                    f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set',
                )
            )
        if policy is not None and policy not in _PROPAGATION_POLICIES:
            causes.append(
                (
                    "propagationPolicy",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", '
                    '"nil"',
                )
            )
        if causes:
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", causes)
        # we differ: Foreground deletes at once too (no foregroundDeletion finalizer, no deletionTimestamp)
        propagation = policy or ("Orphan" if orphan else "Background")
        pre = opts.get("preconditions") or {}
        gone = self.server.sim.store.delete(
            r.plural,
            info.namespace,
            info.name or "",
            propagation=propagation,
            precondition_rv=pre.get("resourceVersion"),
            precondition_uid=pre.get("uid"),
            grace_period=self._grace_period(opts),
        )
        if r.plural in _RETURN_DELETED_OBJECT:
            # these kinds answer with the object: a pod still Terminating, or as it was when it went
            self._send_json(200, gone)
            return
        details: dict[str, Any] = {"name": info.name, "kind": r.plural, "uid": gone["metadata"]["uid"]}
        if r.group:
            details["group"] = r.group
        self._send_json(
            200,
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details},
        )

    def _grace_period(self, opts: dict[str, Any]) -> int | None:
        """DeleteOptions.gracePeriodSeconds, from the query (kubectl --grace-period) or the body."""
        raw = self.query.get("gracePeriodSeconds")
        if raw is not None:
            try:
                return int(raw)
            except ValueError:
                raise errors.bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
        value = opts.get("gracePeriodSeconds")
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise errors.bad_request("DeleteOptions.gracePeriodSeconds must be an integer")
        return value

    # ---- watch ----

    def _watch(self, r: Resource, info: RequestInfo) -> None:
        store = self.server.sim.store
        from .store import _field_matcher, _label_matcher

        lsel = _label_matcher(self.query.get("labelSelector"))
        fsel = _field_matcher(
            self.query.get("fieldSelector"), r.plural
        )  # unsupported fields: 400, as on list
        raw_timeout = self.query.get("timeoutSeconds") or "0"
        if not raw_timeout.isdigit():
            raise errors.bad_request(f'strconv.ParseInt: parsing "{raw_timeout}": invalid syntax')
        timeout = float(raw_timeout) or None
        # wall time, not the sim clock: timeoutSeconds bounds a real connection even under a FakeClock
        deadline = None if timeout is None else time.monotonic() + timeout
        bookmarks = self.query.get("allowWatchBookmarks") in ("true", "1")
        rv_param = self.query.get("resourceVersion") or ""

        def wanted(resource: str, obj: Obj) -> bool:
            if resource != r.plural:
                return False
            meta = obj["metadata"]
            if r.namespaced and info.namespace and meta.get("namespace") != info.namespace:
                return False
            if lsel is not None and not lsel.matches(meta.get("labels") or {}):
                return False
            return fsel is None or fsel.matches(obj)

        initial: list[Obj] = []
        if rv_param in ("", "0"):
            # no resourceVersion: start with synthetic ADDED events for what exists now
            initial, list_rv = store.list(r.plural, info.namespace, lsel, fsel, copy_items=False)
            last = int(list_rv)
        else:
            try:
                last = int(rv_param)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{rv_param}"') from None
        self.record.status = 200
        self.record.ended = time.monotonic()
        self.server.sim.log(self.record)
        self.logged = True
        if self.drop_after:
            raise _DropConnection()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True  # simpler than reusing a connection after a stream
        try:
            for obj in initial:
                self._chunk({"type": "ADDED", "object": obj})
            try:
                store.events_since(last)
            except ApiError as e:
                # like the real server: a 200 stream whose only event is an ERROR carrying the 410 Status
                self._chunk({"type": "ERROR", "object": e.status()})
                return
            while not store.closed:
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    return
                try:
                    events: list[WatchEvent] = store.wait_events(last, wait)
                except ApiError as e:
                    self._chunk({"type": "ERROR", "object": e.status()})
                    return
                for ev in events:
                    last = ev.rv
                    now_in = wanted(ev.resource, ev.obj)
                    was_in = ev.old is not None and wanted(ev.resource, ev.old)
                    if ev.type == "MODIFIED" and now_in != was_in:
                        # like the watch cache: an object entering the selection is ADDED; one leaving it is
                        # DELETED, carrying its previous content with this event's resourceVersion
                        if now_in:
                            self._chunk({"type": "ADDED", "object": ev.obj})
                        else:
                            assert ev.old is not None
                            gone = {
                                **ev.old,
                                "metadata": {**ev.old["metadata"], "resourceVersion": str(ev.rv)},
                            }
                            self._chunk({"type": "DELETED", "object": gone})
                    elif now_in:
                        self._chunk({"type": ev.type, "object": ev.obj})
                if not events and bookmarks:
                    self._chunk(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": r.kind,
                                "apiVersion": r.api_version,
                                "metadata": {"resourceVersion": str(max(last, int(store.resource_version)))},
                            },
                        }
                    )
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- subresources: log and proxy ----

    def _pod_log(self, info: RequestInfo) -> None:
        store = self.server.sim.store
        pod = store.get("pods", info.namespace, info.name or "")
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = self.query.get("container")
        if not container:
            if len(containers) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {info.name}, choose one of: "
                    f"[{' '.join(containers)}]"
                )
            container = containers[0]
        elif container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {info.name}")
        tail = self.query.get("tailLines")
        lines = (
            self.server.sim.apps.logs(pod, container, int(tail) if tail else None)
            if self.server.sim.apps
            else []
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        self._send(200, text.encode(), "text/plain")

    def _proxy(self, method: str, r: Resource, info: RequestInfo) -> None:
        sim = self.server.sim
        if r.plural != "services":
            pod = sim.store.get("pods", info.namespace, info.name or "")
            self._forward(method, pod, info)
            return
        scheme, svc_name, port = _split_scheme_name_port(info.name or "")
        if svc_name is None:
            raise errors.bad_request(f'invalid service request "{info.name}"')
        svc = sim.store.get("services", info.namespace, svc_name)
        if port.isdigit():
            names = [p.get("name", "") for p in svc["spec"].get("ports") or [] if p.get("port") == int(port)]
            if not names:
                raise errors.service_unavailable(f'no service port {port} found for service "{svc_name}"')
            port = names[0]
        eps = sim.store.get("endpoints", info.namespace, svc_name)
        subsets = eps.get("subsets") or []
        if not subsets:
            raise errors.service_unavailable(f'no endpoints available for service "{svc_name}"')
        # like the real server, the port is matched by name: "web" alone only reaches an unnamed port
        addresses = [
            a
            for ss in subsets
            if any(p.get("name", "") == port for p in ss.get("ports") or [])
            for a in ss.get("addresses") or []
        ]
        pods = []
        for a in addresses:
            ref = a.get("targetRef") or {}
            if ref.get("kind") == "Pod":
                pod_obj = sim.store.get_shared(
                    "pods", ref.get("namespace") or info.namespace, ref.get("name", "")
                )
                # never a terminating pod, even one a publishNotReadyAddresses Service still lists
                if pod_obj is not None and not pod_obj["metadata"].get("deletionTimestamp"):
                    pods.append(pod_obj)
        if not pods:
            raise errors.service_unavailable(f'no endpoints available for service "{info.name}"')
        # we differ: round-robin instead of random, so tests can reason about which pod answered
        pod = pods[sim.pick_round_robin((info.namespace or "", svc_name), len(pods))]
        self._forward(method, copy.deepcopy(pod), info)

    def _forward(self, method: str, pod: Obj, info: RequestInfo) -> None:
        apps = self.server.sim.apps
        if apps is None:
            raise errors.service_unavailable("error trying to reach service: no apps registered")
        path = "/" + info.rest
        if self.url_path.endswith("/") and info.rest:
            path += "/"
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host")}
        status, resp_headers, body = apps.serve(pod, method, path, self.raw_query, headers, self.body)
        ctype = next((v for k, v in resp_headers.items() if k.lower() == "content-type"), "text/plain")
        extra = {k: v for k, v in resp_headers.items() if k.lower() not in ("content-type", "content-length")}
        self._send(status, body, ctype, extra)


def _sets_rv(patch_doc: Any) -> bool:
    if isinstance(patch_doc, list):
        return any(
            isinstance(op, dict)
            and op.get("op") in ("add", "replace", "copy", "move")
            and op.get("path") in ("/metadata/resourceVersion", "/metadata")
            for op in patch_doc
        )
    meta = patch_doc.get("metadata") if isinstance(patch_doc, dict) else None
    return isinstance(meta, dict) and "resourceVersion" in meta


def _split_scheme_name_port(id_: str) -> tuple[str, str | None, str]:
    """``[scheme:]name[:port]`` as utilnet.SplitSchemeNamePort parses it."""
    parts = id_.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return "", None, ""
    if not name or scheme not in ("", "http", "https"):
        return "", None, ""
    return scheme, name, port


def _scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={labels[k]}" for k in sorted(labels)),
        },
    }
