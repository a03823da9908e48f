"""Smoke checks: HTTP requests to the preview (later the live) Service, or the user's own command.

The HTTP checks go through an ``HttpTarget``: a base URL and a ``requests.Session`` that carries whatever
credentials the route needs (targets.py builds one for the API server's service proxy, or for cluster DNS).
A user's own command gets ``BLUEGREEN_PREVIEW_URL`` pointing at a ``LocalForwarder`` on 127.0.0.1, which
adds those credentials itself, so the command never sees a token.
"""

from __future__ import annotations

import contextlib
import difflib
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from bluegreen.errors import InputError
from bluegreen.log import StepLog

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What a failed check shows of the answer: enough to see the error page, not a whole HTML document.
DETAIL_LINES = 5
DETAIL_CHARS = 500
# Body read for body-contains / json checks; a health endpoint answering more than this is not a health check.
MAX_BODY_BYTES = 1024 * 1024
# The user's command: lines echoed to the log, characters kept per line, lines kept for the report.
COMMAND_LOG_LINES = 500
COMMAND_LINE_CHARS = 1000
COMMAND_DETAIL_LINES = 20
# After SIGTERM on timeout, how long the command's process group gets before SIGKILL.
KILL_GRACE_SECONDS = 5.0


@dataclass
class SmokeCheck:
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_status: list[int] | None = None  # None: any 2xx
    body_contains: str | None = None
    json_equals: dict[str, Any] = field(default_factory=dict)  # dotted path -> expected value
    retries: int = 0
    retry_delay: float = 1.0
    timeout: float = 10.0
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


@dataclass
class HttpTarget:
    base_url: str
    session: requests.Session
    description: str  # for the log: "service/web-preview:8080 via the API server proxy"
    # Passed with every request: requests lets REQUESTS_CA_BUNDLE override a session's own (#3829).
    verify: bool | str = True
    tls_hint: str = ""  # what to fix when the certificate is not trusted

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url(path), verify=self.verify, **kwargs)


@dataclass
class SmokeResult:
    name: str
    method: str
    path: str
    ok: bool
    status: int | None
    seconds: float  # the last attempt's duration
    attempts: int
    detail: str  # why it failed; empty when it passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "ok": self.ok,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "detail": self.detail,
        }


# --------------------------------------------------------------------------------------------------------
# Building checks: --smoke-path and --smoke-file
# --------------------------------------------------------------------------------------------------------


def checks_from_paths(
    paths: Sequence[str], *, retries: int = 0, retry_delay: float = 1.0, timeout: float = 10.0
) -> list[SmokeCheck]:
    checks = []
    for path in paths:
        if not path.startswith("/"):
            raise InputError(
                "--smoke-path", f"{path!r} is not a path", hint=f"write it as '/{path.lstrip('/')}'"
            )
        checks.append(SmokeCheck(path=path, retries=retries, retry_delay=retry_delay, timeout=timeout))
    return checks


_FILE_KEYS = (
    "name",
    "path",
    "method",
    "headers",
    "body",
    "status",
    "body-contains",
    "json",
    "retries",
    "retry-delay",
    "timeout",
)


def load_smoke_file(path: str) -> list[SmokeCheck]:
    """Read checks from YAML: a list of checks, or a mapping with a ``checks`` list."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(
            "--smoke-file",
            f"{path} does not exist",
            hint="check the path (relative to the working directory)",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError("--smoke-file", f"cannot read {path}: {err}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(
            "--smoke-file",
            f"{path} is not valid YAML{where}: {problem}",
            hint="write a YAML list of checks, each a mapping with at least 'path:'",
        ) from None

    if isinstance(doc, dict):
        extra = sorted(set(doc) - {"checks"})
        if extra:
            raise InputError(
                "--smoke-file", f"{path}: unknown top-level key {extra[0]!r}", hint="expected 'checks'"
            )
        doc = doc.get("checks")
    if not isinstance(doc, list):
        raise InputError(
            "--smoke-file",
            f"{path} must hold a list of checks (or 'checks:' with a list)",
            hint="e.g. '- path: /healthz'",
        )
    if not doc:
        raise InputError("--smoke-file", f"{path} holds no checks")
    return [_check_from_mapping(item, n, path) for n, item in enumerate(doc, start=1)]


def _check_from_mapping(item: Any, n: int, file: str) -> SmokeCheck:
    def bad(problem: str, hint: str | None = None) -> InputError:
        where = f"check {n}" + (f" ({item['path']})" if isinstance(item, dict) and "path" in item else "")
        return InputError("--smoke-file", f"{file}: {where}: {problem}", hint=hint)

    if not isinstance(item, dict):
        raise bad(f"must be a mapping with at least 'path', not {_kind(item)}")
    for key in item:
        if key not in _FILE_KEYS:
            close = difflib.get_close_matches(str(key), _FILE_KEYS, n=1)
            raise bad(
                f"unknown key {key!r}",
                hint=f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_FILE_KEYS)}",
            )
    if "path" not in item:
        raise bad("'path' is missing")
    path = item["path"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise bad(f"'path' must be a string starting with '/', not {path!r}")

    check = SmokeCheck(path=path)
    if "name" in item:
        check.name = _as_str(item["name"], "name", bad)
    if "method" in item:
        method = _as_str(item["method"], "method", bad).upper()
        if method not in METHODS:
            raise bad(f"'method' {item['method']!r} is not one of {', '.join(METHODS)}")
        check.method = method
    if "headers" in item:
        check.headers = _headers(item["headers"], bad)
    if "body" in item:
        body = item["body"]
        if isinstance(body, (dict, list)):
            check.body = json.dumps(body)
            if not any(k.lower() == "content-type" for k in check.headers):
                check.headers["Content-Type"] = "application/json"
        elif isinstance(body, str):
            check.body = body
        else:
            raise bad(f"'body' must be a string or a mapping (sent as JSON), not {_kind(body)}")
    if "status" in item:
        check.expect_status = _statuses(item["status"], bad)
    if "body-contains" in item:
        check.body_contains = _as_str(item["body-contains"], "body-contains", bad)
    if "json" in item:
        expected = item["json"]
        if not isinstance(expected, dict) or not expected:
            raise bad("'json' must be a mapping of dotted path -> expected value, e.g. {status: ok}")
        check.json_equals = {str(k): v for k, v in expected.items()}
    if "retries" in item:
        check.retries = int(_number(item["retries"], "retries", bad, integer=True, minimum=0))
    if "retry-delay" in item:
        check.retry_delay = _number(item["retry-delay"], "retry-delay", bad, minimum=0)
    if "timeout" in item:
        check.timeout = _number(item["timeout"], "timeout", bad, minimum=0, exclusive=True)
    return check


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "empty"}.get(type(value), repr(value))


def _as_str(value: Any, key: str, bad: Any) -> str:
    if not isinstance(value, str):
        raise bad(f"{key!r} must be a string, not {_kind(value)}")
    return value


def _headers(value: Any, bad: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise bad(f"'headers' must be a mapping of name -> value, not {_kind(value)}")
    headers = {}
    for name, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise bad(f"header {name!r} must have a string value, not {_kind(v)}")
        headers[str(name)] = str(v)
    return headers


def _statuses(value: Any, bad: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599 for s in items):
        raise bad(f"'status' must be an HTTP status (100-599) or a list of them, not {value!r}")
    return list(items)


def _number(
    value: Any, key: str, bad: Any, *, integer: bool = False, minimum: float, exclusive: bool = False
) -> float:
    allowed = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise bad(f"{key!r} must be {'a whole number' if integer else 'a number'}, not {value!r}")
    if value < minimum or (exclusive and value == minimum):
        raise bad(f"{key!r} must be {'more than' if exclusive else 'at least'} {minimum}, not {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------------------
# Running HTTP checks
# --------------------------------------------------------------------------------------------------------


def run_checks(checks: Sequence[SmokeCheck], target: HttpTarget, log: StepLog) -> list[SmokeResult]:
    """Run every check (a failed one does not stop the others, so the report shows them all)."""
    return [run_check(check, target, log) for check in checks]


def run_check(check: SmokeCheck, target: HttpTarget, log: StepLog) -> SmokeResult:
    attempts = check.retries + 1
    status: int | None = None
    seconds = 0.0
    failure = ""
    for attempt in range(1, attempts + 1):
        status, seconds, why = _attempt(check, target)
        shown = str(status) if status is not None else "no answer"
        line = f"smoke {check.method} {check.path} -> {shown} ({seconds * 1000:.0f} ms)"
        if why is None:
            log.info(line)
            return SmokeResult(check.label, check.method, check.path, True, status, seconds, attempt, "")
        failure = why
        if attempt < attempts:
            log.info(
                f"{line}: {_first_line(failure)}; retrying in {check.retry_delay:g}s (attempt {attempt} of {attempts})"
            )
            # A real wait between attempts: the service may still be warming up.
            time.sleep(check.retry_delay)
        else:
            log.info(f"{line}: {failure}")
    return SmokeResult(check.label, check.method, check.path, False, status, seconds, attempts, failure)


def _attempt(check: SmokeCheck, target: HttpTarget) -> tuple[int | None, float, str | None]:
    """One request: (status or None, seconds, why it failed or None)."""
    started = time.monotonic()
    try:
        with target.request(
            check.method,
            check.path,
            headers=check.headers,
            data=check.body.encode("utf-8") if check.body is not None else None,
            timeout=check.timeout,
            allow_redirects=False,
            stream=True,
        ) as resp:
            body = _read_capped(resp.iter_content(65536))
            seconds = time.monotonic() - started
            text = body.decode(resp.encoding or "utf-8", errors="replace")
            return resp.status_code, seconds, _judge(check, resp.status_code, text)
    except requests.Timeout:
        return (
            None,
            time.monotonic() - started,
            f"no answer from {target.description} within {check.timeout:g}s",
        )
    except requests.exceptions.SSLError as err:
        hint = f"; {target.tls_hint}" if target.tls_hint else ""
        return None, time.monotonic() - started, f"TLS failed for {target.description}: {_reason(err)}{hint}"
    except requests.RequestException as err:
        return None, time.monotonic() - started, f"could not reach {target.description}: {_reason(err)}"


def _read_capped(chunks: Iterable[bytes]) -> bytes:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) >= MAX_BODY_BYTES:
            break
    return bytes(buf[:MAX_BODY_BYTES])


def _judge(check: SmokeCheck, status: int, text: str) -> str | None:
    """Why the answer fails the check, or None when it passes."""
    if check.expect_status is None:
        if not 200 <= status <= 299:
            return f"expected a 2xx status, got {status}{_excerpt(text)}"
    elif status not in check.expect_status:
        wanted = " or ".join(str(s) for s in check.expect_status)
        return f"expected status {wanted}, got {status}{_excerpt(text)}"
    if check.body_contains is not None and check.body_contains not in text:
        return f"expected the body to contain {check.body_contains!r}{_excerpt(text)}"
    if check.json_equals:
        try:
            doc = json.loads(text)
        except ValueError:
            return f"expected a JSON body{_excerpt(text)}"
        for dotted, expected in check.json_equals.items():
            found, actual = lookup(doc, dotted)
            if not found:
                return f"expected JSON {dotted} = {json.dumps(expected)}, but the body has no {dotted}"
            if not _same(actual, expected):
                return f"expected JSON {dotted} = {json.dumps(expected)}, got {json.dumps(actual)}"
    return None


def lookup(doc: Any, dotted: str) -> tuple[bool, Any]:
    """Follow ``data.items.0.name`` into parsed JSON: (found, value)."""
    node = doc
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _same(actual: Any, expected: Any) -> bool:
    # In Python True == 1; in JSON they are different answers.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def _excerpt(text: str) -> str:
    text = text.strip()
    if not text:
        return " (empty body)"
    lines = text.splitlines()
    short = "\n".join(lines[:DETAIL_LINES])[:DETAIL_CHARS]
    more = len(short) < len(text)
    return f"; body: {short}{' ...' if more else ''}"


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _reason(err: BaseException) -> str:
    """The innermost cause of a requests error: 'Connection refused', not three nested reprs."""
    inner: BaseException = err
    for _ in range(10):  # requests -> urllib3 MaxRetryError -> NewConnectionError -> OSError
        nxt = getattr(inner, "reason", None)
        if not isinstance(nxt, BaseException) and inner.args and isinstance(inner.args[0], BaseException):
            nxt = inner.args[0]
        if not isinstance(nxt, BaseException):
            break
        inner = nxt
    # urllib3 prefixes the connection object ("HTTPConnection(host=..., port=...): ") to the useful part.
    text = _CONN_PREFIX.sub("", str(inner))
    return text or type(inner).__name__


_CONN_PREFIX = re.compile(r"^(<[^>]*>|\w+\([^)]*\)): ")


# --------------------------------------------------------------------------------------------------------
# LocalForwarder: 127.0.0.1 -> target, adding the target's credentials
# --------------------------------------------------------------------------------------------------------

# RFC 9110 section 7.6.1: connection-specific headers are not forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _forwardable(
    headers: Iterable[tuple[str, str]], connection: str | None, drop: Iterable[str]
) -> list[tuple[str, str]]:
    """End-to-end headers only; repeated ones (Set-Cookie) stay separate."""
    named = {t.strip().lower() for t in (connection or "").split(",") if t.strip()}
    skip = _HOP_BY_HOP | named | {d.lower() for d in drop}
    return [(name, value) for name, value in headers if name.lower() not in skip]


def _joined(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


class LocalForwarder:
    """A tiny HTTP server on 127.0.0.1 that forwards every request to ``target`` with its credentials.

    Answers are close-delimited (HTTP/1.0 style): each request uses its own connection, which every
    client handles and which spares us re-chunking bodies of unknown length.
    """

    def __init__(self, target: HttpTarget, *, log: StepLog | None = None, timeout: float = 60.0) -> None:
        self.target = target
        self.log = log
        self.timeout = timeout
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalForwarder is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LocalForwarder:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="bluegreen-forwarder", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def rewrite_location(self, location: str) -> str:
        """Point a redirect into the target back at the forwarder, so the client stays on our side."""
        base = self.target.base_url.rstrip("/")
        if location.startswith(base + "/") or location == base:
            return self.url + location[len(base) :]
        prefix = urlsplit(base).path.rstrip("/")
        if prefix and location.startswith(prefix + "/"):
            return location[len(prefix) :]
        return location


def _make_handler(fwd: LocalForwarder) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "bluegreen-forwarder"

        def _forward(self) -> None:
            body = self._read_body()
            headers = _joined(
                _forwardable(
                    self.headers.items(),
                    self.headers.get("Connection"),
                    # Authorization: the session brings the real one; Host/Content-Length: requests sets them.
                    drop=("authorization", "host", "content-length"),
                )
            )
            if "Accept-Encoding" not in self.headers:
                # Else requests would ask for gzip, and we pass bytes through undecoded to a client that
                # never asked for gzip.
                headers["Accept-Encoding"] = "identity"
            try:
                resp = fwd.target.request(
                    self.command,
                    self.path if self.path.startswith("/") else "/" + self.path,
                    headers=headers,
                    data=body,
                    stream=True,
                    allow_redirects=False,
                    timeout=fwd.timeout,
                )
            except requests.RequestException as err:
                self._fail(
                    502, f"bluegreen forwarder: could not reach {fwd.target.description}: {_reason(err)}\n"
                )
                return
            with resp:
                if fwd.log is not None:
                    fwd.log.debug(f"forwarder {self.command} {self.path} -> {resp.status_code}")
                self.send_response(resp.status_code, resp.reason)
                out = _forwardable(resp.raw.headers.items(), resp.headers.get("Connection"), drop=())
                for name, value in out:
                    self.send_header(
                        name, fwd.rewrite_location(value) if name.lower() == "location" else value
                    )
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    # decode_content=False: bytes go back exactly as sent, matching Content-Encoding/Length.
                    for chunk in resp.raw.stream(65536, decode_content=False):
                        self.wfile.write(chunk)
                except Exception as err:
                    # Headers are gone already; closing the connection is the only way to say "broken".
                    if fwd.log is not None:
                        fwd.log.debug(f"forwarder {self.command} {self.path}: answer cut short: {err}")
                    self.close_connection = True

        def _read_body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else None

        def _read_chunked(self) -> bytes:
            buf = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer lines until the blank one.
                    while self.rfile.readline().strip():
                        pass
                    return bytes(buf)
                buf += self.rfile.read(size)
                self.rfile.readline()  # CRLF after each chunk

        def _fail(self, status: int, text: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's signature
            # Access lines would land on stderr between our log lines; the debug line above replaces them.
            pass

    return Handler


# --------------------------------------------------------------------------------------------------------
# The user's own command
# --------------------------------------------------------------------------------------------------------


# The user's command runs under this small supervisor (stdlib only, so it starts fast and needs nothing of
# ours), which leads the command's process group from outside it. It ends with bluegreen, even a SIGKILLed
# one: Linux sends it SIGTERM then (PR_SET_PDEATHSIG; the death signal follows the thread that started
# it, and run_command's thread waits for it). On SIGTERM it ends the command's whole group: SIGTERM, and
# SIGKILL after a grace period. It adopts the command's orphans (PR_SET_CHILD_SUBREAPER), so a
# background job ends with the command instead of outliving it. Its exit status is the command's.
_SUPERVISOR = r"""
import ctypes, os, signal, subprocess, sys
command, parent, grace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
libc = None
if sys.platform.startswith("linux"):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        libc = None
group = 0

def end_group(*_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if group:
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
        signal.signal(signal.SIGALRM, lambda *_: os.killpg(group, signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, grace)
    else:
        os._exit(143)

signal.signal(signal.SIGTERM, end_group)
if os.getppid() != parent:  # bluegreen ended before the death signal was set
    os._exit(143)

def die_with_us():
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)

shell = subprocess.Popen(["/bin/sh", "-c", command], process_group=0, preexec_fn=die_with_us)
group = shell.pid
status = None
while True:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    if pid == shell.pid:
        status = st
        try:  # what it left running in the background ends with it
            os.killpg(group, signal.SIGTERM)
            signal.signal(signal.SIGALRM, lambda *_: os.killpg(group, signal.SIGKILL))
            signal.setitimer(signal.ITIMER_REAL, grace)
        except ProcessLookupError:
            pass
signal.setitimer(signal.ITIMER_REAL, 0)
code = os.waitstatus_to_exitcode(status) if status is not None else 1
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run_command(command: str, preview_url: str, log: StepLog, timeout: float | None) -> SmokeResult:
    """Run ``command`` with a shell; ok iff it exits 0. Its output goes to the log, prefixed."""
    env = {**os.environ, "BLUEGREEN_PREVIEW_URL": preview_url}
    label = command if len(command) <= 200 else command[:197] + "..."
    log.info(f"smoke-command: running with BLUEGREEN_PREVIEW_URL={preview_url}")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _SUPERVISOR, command, str(os.getpid()), str(KILL_GRACE_SECONDS)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session, so no terminal's signals reach it but through us.
            start_new_session=True,
        )
    except OSError as err:
        return SmokeResult(
            "smoke command", "RUN", label, False, None, 0.0, 1, f"could not start the command: {err}"
        )

    tail: deque[str] = deque(maxlen=COMMAND_DETAIL_LINES)
    reader = threading.Thread(
        target=_pump, args=(proc, log, tail), name="bluegreen-smoke-command", daemon=True
    )
    reader.start()
    timed_out = False
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        code = _kill_group(proc)
    except BaseException:
        # bluegreen is being stopped (the CLI turns SIGTERM into KeyboardInterrupt): the command must
        # not outlive it. The supervisor ends the group, with its grace period, on its own.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        raise
    # A grandchild that left the group could hold the pipe open; do not wait on it forever.
    reader.join(timeout=KILL_GRACE_SECONDS)
    seconds = time.monotonic() - started

    output = "\n".join(tail)
    if timed_out:
        why = f"timed out after {timeout:g}s and was stopped"
    elif code == 0:
        why = ""
    elif code < 0:
        why = f"killed by signal {_signal_name(-code)}"
    else:
        why = f"exited with code {code}"
    log.info(f"smoke-command: {why or 'passed'} ({seconds:.1f}s)")
    detail = f"{why}; last output:\n{output}" if why and output else why
    return SmokeResult("smoke command", "RUN", label, not why, None, seconds, 1, detail)


def _pump(proc: subprocess.Popen[bytes], log: StepLog, tail: deque[str]) -> None:
    assert proc.stdout is not None
    shown = 0
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if len(line) > COMMAND_LINE_CHARS:
            line = line[:COMMAND_LINE_CHARS] + " ..."
        tail.append(line)
        shown += 1
        if shown <= COMMAND_LOG_LINES:
            log.info(f"smoke-command | {line}")
    if shown > COMMAND_LOG_LINES:
        log.info(
            f"smoke-command | ... {shown - COMMAND_LOG_LINES} more lines not shown (the last ones are in the report)"
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    # SIGTERM: the supervisor passes it to the command's group, and SIGKILLs that group after the grace
    # period; SIGKILL here only if the supervisor itself hangs.
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS + 2), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(proc.pid, sig)
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def summarize(results: Sequence[SmokeResult]) -> str:
    """One line for the log or an error message: '2 of 3 smoke checks passed; failed: GET /x'."""
    failed = [r for r in results if not r.ok]
    head = f"{len(results) - len(failed)} of {len(results)} smoke checks passed"
    return head + (f"; failed: {', '.join(r.name for r in failed)}" if failed else "")
