"""Smoke checks against a small local HTTP server standing in for the preview Service."""

from __future__ import annotations

import http.server
import io
import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bluegreen.errors import InputError
from bluegreen.log import StepLog
from bluegreen.smoke import (
    HttpTarget,
    LocalForwarder,
    SmokeCheck,
    checks_from_paths,
    load_smoke_file,
    lookup,
    run_checks,
    run_command,
    summarize,
)

# What the API server's service proxy looks like; the fake app serves under it.
PROXY_PREFIX = "/api/v1/namespaces/default/services/web-preview:8080/proxy"


class App(http.server.BaseHTTPRequestHandler):
    """A fake app: a few fixed paths, and /echo which reports the request it got."""

    protocol_version = "HTTP/1.1"
    flaky_failures: dict[str, int] = {}
    seen: list[dict[str, Any]] = []

    def _answer(
        self, status: int, body: bytes, ctype: str = "text/plain", extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.removeprefix(PROXY_PREFIX)
        App.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        route = path.split("?", 1)[0]
        if route == "/healthz":
            self._answer(200, b"ok")
        elif route == "/json":
            doc = {
                "status": "ok",
                "ready": True,
                "count": 1,
                "data": {"items": [{"name": "a"}, {"name": "b"}]},
            }
            self._answer(200, json.dumps(doc).encode(), "application/json")
        elif route == "/fail":
            self._answer(500, b"".join(f"line {i}\n".encode() for i in range(1, 20)))
        elif route == "/flaky":
            left = App.flaky_failures.get("flaky", 0)
            if left > 0:
                App.flaky_failures["flaky"] = left - 1
                self._answer(503, b"warming up")
            else:
                self._answer(200, b"ok")
        elif route == "/redirect":
            self._answer(302, b"", extra={"Location": f"http://{self.headers['Host']}{PROXY_PREFIX}/healthz"})
        elif route == "/cookies":
            self.send_response(200)
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/echo":
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
            self._answer(201, json.dumps(doc).encode(), "application/json")
        else:
            self._answer(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def app() -> Iterator[str]:
    App.flaky_failures = {}
    App.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def target(app: str) -> Iterator[HttpTarget]:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer cluster-token"
    with session:
        yield HttpTarget(app + PROXY_PREFIX, session, "service/web-preview:8080 via the API server proxy")


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def log(out: io.StringIO) -> StepLog:
    return StepLog(out, github=False, tty=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- HTTP checks -----------------------------------------------------------------------------------------


def test_passing_check_logs_one_kubectl_style_line(
    target: HttpTarget, log: StepLog, out: io.StringIO
) -> None:
    [result] = run_checks([SmokeCheck("/healthz")], target, log)
    assert result.ok and result.status == 200 and result.attempts == 1 and result.detail == ""
    assert result.name == "GET /healthz"
    assert "smoke GET /healthz -> 200 (" in out.getvalue()
    assert out.getvalue().rstrip().endswith("ms)")


def test_failing_status_shows_expectation_and_a_short_body(target: HttpTarget, log: StepLog) -> None:
    [result] = run_checks([SmokeCheck("/fail", headers={"X-Api-Key": "key-sekrit"})], target, log)
    assert not result.ok and result.status == 500
    assert result.detail.startswith("expected a 2xx status, got 500; body: line 1\nline 2")
    assert "line 5" in result.detail and "line 6" not in result.detail
    # Request headers may carry tokens: never in the report.
    assert "sekrit" not in result.detail and "cluster-token" not in result.detail


def test_expected_status_list(target: HttpTarget, log: StepLog) -> None:
    results = run_checks(
        [SmokeCheck("/nope", expect_status=[404]), SmokeCheck("/healthz", expect_status=[204, 404])],
        target,
        log,
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].detail.startswith("expected status 204 or 404, got 200")


def test_redirect_is_not_followed(target: HttpTarget, log: StepLog) -> None:
    [result] = run_checks([SmokeCheck("/redirect", expect_status=[302])], target, log)
    assert result.ok and result.status == 302


def test_body_contains(target: HttpTarget, log: StepLog) -> None:
    results = run_checks(
        [SmokeCheck("/healthz", body_contains="ok"), SmokeCheck("/healthz", body_contains="ready")],
        target,
        log,
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].detail == "expected the body to contain 'ready'; body: ok"


def test_json_equals_with_dotted_paths(target: HttpTarget, log: StepLog) -> None:
    good = SmokeCheck(
        "/json", json_equals={"status": "ok", "data.items.1.name": "b", "ready": True, "count": 1}
    )
    wrong = SmokeCheck("/json", json_equals={"data.items.0.name": "z"})
    missing = SmokeCheck("/json", json_equals={"data.items.5.name": "a"})
    not_bool = SmokeCheck("/json", json_equals={"count": True})
    not_json = SmokeCheck("/healthz", json_equals={"status": "ok"})
    results = run_checks([good, wrong, missing, not_bool, not_json], target, log)
    assert [r.ok for r in results] == [True, False, False, False, False]
    assert results[1].detail == 'expected JSON data.items.0.name = "z", got "a"'
    assert "has no data.items.5.name" in results[2].detail
    assert results[3].detail == "expected JSON count = true, got 1"
    assert results[4].detail.startswith("expected a JSON body")


def test_lookup() -> None:
    doc = {"a": {"b": [10, {"c": None}]}}
    assert lookup(doc, "a.b.0") == (True, 10)
    assert lookup(doc, "a.b.1.c") == (True, None)
    assert lookup(doc, "a.x") == (False, None)
    assert lookup(doc, "a.b.c") == (False, None)


def test_retries_until_the_service_answers(target: HttpTarget, log: StepLog, out: io.StringIO) -> None:
    App.flaky_failures["flaky"] = 2
    [result] = run_checks([SmokeCheck("/flaky", retries=3, retry_delay=0)], target, log)
    assert result.ok and result.attempts == 3
    assert out.getvalue().count("retrying in 0s") == 2
    assert "(attempt 1 of 4)" in out.getvalue()


def test_gives_up_after_the_last_retry(target: HttpTarget, log: StepLog) -> None:
    App.flaky_failures["flaky"] = 5
    [result] = run_checks([SmokeCheck("/flaky", retries=1, retry_delay=0)], target, log)
    assert not result.ok and result.attempts == 2 and result.status == 503
    assert "warming up" in result.detail


def test_connection_refused_is_a_failed_attempt_not_a_crash(log: StepLog) -> None:
    port = closed_port()
    target = HttpTarget(f"http://127.0.0.1:{port}", requests.Session(), f"127.0.0.1:{port}")
    results = run_checks([SmokeCheck("/healthz", retries=1, retry_delay=0), SmokeCheck("/x")], target, log)
    assert [r.ok for r in results] == [False, False]
    assert results[0].status is None and results[0].attempts == 2
    assert results[0].detail.startswith(f"could not reach 127.0.0.1:{port}: ")
    assert "refused" in results[0].detail.lower()
    assert "object at 0x" not in results[0].detail


def test_post_sends_body_and_headers(target: HttpTarget, log: StepLog) -> None:
    check = SmokeCheck("/echo", method="POST", headers={"X-Test": "1"}, body='{"a": 1}', expect_status=[201])
    [result] = run_checks([check], target, log)
    assert result.ok
    seen = App.seen[-1]
    assert seen["path"] == PROXY_PREFIX + "/echo"
    assert seen["headers"]["X-Test"] == "1"
    assert seen["headers"]["Authorization"] == "Bearer cluster-token"


def test_summarize() -> None:
    checks = run_checks([], HttpTarget("http://x", requests.Session(), "x"), StepLog(io.StringIO()))
    assert checks == []
    from bluegreen.smoke import SmokeResult

    results = [
        SmokeResult("GET /a", "GET", "/a", True, 200, 0.1, 1, ""),
        SmokeResult("GET /b", "GET", "/b", False, 500, 0.1, 1, "x"),
    ]
    assert summarize(results) == "1 of 2 smoke checks passed; failed: GET /b"


# -- building checks -------------------------------------------------------------------------------------


def test_checks_from_paths() -> None:
    checks = checks_from_paths(["/healthz", "/ready?full=1"])
    assert [(c.method, c.path, c.expect_status) for c in checks] == [
        ("GET", "/healthz", None),
        ("GET", "/ready?full=1", None),
    ]
    with pytest.raises(InputError) as err:
        checks_from_paths(["healthz"])
    assert err.value.input_name == "--smoke-path"
    assert "'/healthz'" in str(err.value)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "smoke.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_load_smoke_file_all_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        checks:
          - path: /healthz
          - name: create order
            path: /orders
            method: post
            headers: {X-Test: 1}
            body: {item: book, qty: 2}
            status: [200, 201]
            body-contains: created
            json: {status: ok, data.items.0.name: a}
            retries: 3
            retry-delay: 0.5
            timeout: 2
          - path: /raw
            body: plain text
            status: 204
        """,
    )
    first, second, third = load_smoke_file(path)
    assert first == SmokeCheck("/healthz")
    assert second.name == "create order" and second.label == "create order"
    assert second.method == "POST"
    assert second.headers == {"X-Test": "1", "Content-Type": "application/json"}
    assert json.loads(second.body or "") == {"item": "book", "qty": 2}
    assert second.expect_status == [200, 201]
    assert second.body_contains == "created"
    assert second.json_equals == {"status": "ok", "data.items.0.name": "a"}
    assert (second.retries, second.retry_delay, second.timeout) == (3, 0.5, 2.0)
    assert third.body == "plain text" and third.expect_status == [204] and third.headers == {}


def test_load_smoke_file_plain_list(tmp_path: Path) -> None:
    assert [c.path for c in load_smoke_file(write(tmp_path, "- path: /a\n- path: /b\n"))] == ["/a", "/b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- path: /a\n  stauts: 200\n", "check 1 (/a): unknown key 'stauts'; did you mean 'status'?"),
        ("- path: /a\n- path: b\n", "check 2 (b): 'path' must be a string starting with '/'"),
        ("- method: GET\n", "check 1: 'path' is missing"),
        ("- path: /a\n  status: ok\n", "'status' must be an HTTP status (100-599)"),
        ("- path: /a\n  status: [200, 700]\n", "'status' must be an HTTP status"),
        ("- path: /a\n  retries: yes\n", "'retries' must be a whole number, not True"),
        ("- path: /a\n  retries: -1\n", "'retries' must be at least 0"),
        ("- path: /a\n  timeout: 0\n", "'timeout' must be more than 0"),
        ("- path: /a\n  method: FETCH\n", "'method' 'FETCH' is not one of GET"),
        ("- path: /a\n  headers: [a]\n", "'headers' must be a mapping"),
        ("- path: /a\n  body: 3\n", "'body' must be a string or a mapping"),
        ("- path: /a\n  json: [1]\n", "'json' must be a mapping"),
        ("- /healthz\n", "check 1: must be a mapping with at least 'path'"),
        ("path: /a\n", "unknown top-level key 'path'"),
        ("checks: []\n", "holds no checks"),
        ("", "must hold a list of checks"),
        ("- path: /a\n  status: [200\n", "is not valid YAML at line"),
    ],
)
def test_load_smoke_file_errors_name_the_check_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError) as err:
        load_smoke_file(write(tmp_path, text))
    assert err.value.input_name == "--smoke-file"
    assert expected in str(err.value)


def test_load_smoke_file_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_smoke_file(str(tmp_path / "nope.yaml"))


# -- the local forwarder ---------------------------------------------------------------------------------


def test_forwarder_swaps_the_callers_authorization_for_the_sessions(target: HttpTarget) -> None:
    with LocalForwarder(target) as fwd:
        assert fwd.url.startswith("http://127.0.0.1:")
        resp = requests.post(
            fwd.url + "/echo?a=1&b=two",
            data=b"payload",
            headers={"Authorization": "Bearer stolen", "X-Custom": "kept", "Proxy-Authorization": "x"},
            timeout=5,
        )
    assert resp.status_code == 201
    echo = resp.json()
    assert echo["method"] == "POST"
    assert echo["path"] == PROXY_PREFIX + "/echo?a=1&b=two"
    assert echo["body"] == "payload"
    assert echo["headers"]["authorization"] == "Bearer cluster-token"
    assert echo["headers"]["x-custom"] == "kept"
    assert "proxy-authorization" not in echo["headers"]
    assert "stolen" not in json.dumps(echo)


def test_forwarder_passes_status_and_headers_back(target: HttpTarget) -> None:
    with LocalForwarder(target) as fwd:
        url = fwd.url
        fail = requests.get(fwd.url + "/fail", timeout=5)
        head = requests.head(fwd.url + "/healthz", timeout=5)
        redirect = requests.get(fwd.url + "/redirect", allow_redirects=False, timeout=5)
        followed = requests.get(fwd.url + "/redirect", timeout=5)
    assert fail.status_code == 500 and fail.text.startswith("line 1\n")
    assert head.status_code == 200 and head.content == b""
    # A redirect into the proxied Service comes back pointing at the forwarder, not the API server.
    assert redirect.headers["Location"] == url + "/healthz"
    assert followed.status_code == 200 and followed.text == "ok"


def test_forwarder_keeps_repeated_headers_and_encoding_choice(target: HttpTarget) -> None:
    with LocalForwarder(target) as fwd:
        cookies = requests.get(fwd.url + "/cookies", timeout=5)
        plain = urllib.request.urlopen(fwd.url + "/echo", data=b"")  # sends no Accept-Encoding
        asked = requests.get(fwd.url + "/echo", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert cookies.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert json.loads(plain.read())["headers"]["accept-encoding"] == "identity"
    assert asked.json()["headers"]["accept-encoding"] == "gzip"


def test_forwarder_reads_a_chunked_request_body(target: HttpTarget) -> None:
    with LocalForwarder(target) as fwd:
        resp = requests.put(fwd.url + "/echo", data=iter([b"ab", b"cd"]), timeout=5)
    assert resp.json()["body"] == "abcd"


def test_forwarder_answers_502_when_the_target_is_down() -> None:
    port = closed_port()
    down = HttpTarget(f"http://127.0.0.1:{port}", requests.Session(), "service/web-preview")
    with LocalForwarder(down) as fwd:
        resp = requests.get(fwd.url + "/healthz", timeout=5)
    assert resp.status_code == 502
    assert "could not reach service/web-preview" in resp.text


def test_forwarder_url_requires_running() -> None:
    with pytest.raises(RuntimeError):
        _ = LocalForwarder(HttpTarget("http://x", requests.Session(), "x")).url


# -- the user's command ----------------------------------------------------------------------------------


def test_command_sees_the_preview_url_and_its_output_is_logged(log: StepLog, out: io.StringIO) -> None:
    result = run_command(
        'echo "url=$BLUEGREEN_PREVIEW_URL"; echo second >&2', "http://127.0.0.1:1234", log, 10
    )
    assert result.ok and result.detail == "" and result.method == "RUN"
    assert "smoke-command | url=http://127.0.0.1:1234" in out.getvalue()
    assert "smoke-command | second" in out.getvalue()
    assert "smoke-command: passed" in out.getvalue()


def test_command_inherits_the_environment(log: StepLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEGREEN_TEST_INHERITED", "yes")
    result = run_command('test "$BLUEGREEN_TEST_INHERITED" = yes', "http://x", log, 10)
    assert result.ok


def test_failing_command_keeps_the_last_20_lines(log: StepLog) -> None:
    result = run_command("for i in $(seq 1 50); do echo out $i; done; exit 3", "http://x", log, 10)
    assert not result.ok
    assert result.detail.startswith("exited with code 3; last output:\nout 31\n")
    assert result.detail.endswith("out 50")
    assert "out 30\n" not in result.detail


def test_command_timeout_kills_the_process_group(log: StepLog, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # A background child in the same group must die too, or it would outlive the release.
    command = (
        f"sh -c 'echo $$ > {pidfile}; exec sleep 30' & until [ -s {pidfile} ]; do sleep 0.01; done; sleep 30"
    )
    result = run_command(command, "http://x", log, 1)
    assert not result.ok
    assert result.detail.startswith("timed out after 1s")
    # The child held the output pipe, which run_command drained to the end: it has exited
    # (at most a zombie waiting for init to reap it).
    stat = Path(f"/proc/{pidfile.read_text().strip()}/stat")
    if stat.exists():
        assert stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_command_reaches_the_preview_through_the_forwarder(
    target: HttpTarget, log: StepLog, out: io.StringIO
) -> None:
    script = (
        "import os, urllib.request; "
        "r = urllib.request.urlopen(os.environ['BLUEGREEN_PREVIEW_URL'] + '/echo', data=b'x'); "
        "print('auth', 'cluster-token' in r.read().decode())"
    )
    with LocalForwarder(target) as fwd:
        result = run_command(f'"{sys.executable}" -c "{script}"', fwd.url, log, 30)
    assert result.ok, result.detail
    assert "smoke-command | auth True" in out.getvalue()


# A bluegreen stand-in: runs a smoke command that never ends, as the CLI would (SIGTERM -> KeyboardInterrupt).
_RUNNER = """
import signal, sys
from bluegreen.log import StepLog
from bluegreen.smoke import run_command

def terminated(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, terminated)
try:
    run_command(sys.argv[1], "http://x", StepLog(github=False, tty=False), None)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def _await_gone(pids: list[int], deadline: float = 20.0) -> list[int]:
    # Awaiting another process's death without being its parent: poll its /proc entry, with a deadline.
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _start_runner(tmp_path: Path) -> tuple[Any, list[int]]:
    shell_pid, job_pid = tmp_path / "shell.pid", tmp_path / "job.pid"
    # The shell itself, and a background job of it: both must end with bluegreen.
    command = f"sleep 1000 & echo $! > {job_pid}; echo $$ > {shell_pid}; wait"
    root = Path(__file__).resolve().parents[2]
    runner = subprocess.Popen([sys.executable, "-c", _RUNNER, command], cwd=root, stderr=subprocess.DEVNULL)
    pids: list[int] = []
    end = time.monotonic() + 30
    while time.monotonic() < end and not pids:
        if shell_pid.exists() and shell_pid.read_text().strip() and job_pid.read_text().strip():
            pids = [int(shell_pid.read_text()), int(job_pid.read_text())]
        else:
            time.sleep(0.02)
    assert pids, "the smoke command did not start"
    return runner, pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_smoke_command_dies_when_bluegreen_is_killed(tmp_path: Path) -> None:
    runner, pids = _start_runner(tmp_path)
    assert all(_alive(p) for p in pids)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert _await_gone(pids) == []


def test_smoke_command_dies_when_bluegreen_is_terminated(tmp_path: Path) -> None:
    runner, pids = _start_runner(tmp_path)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 130
    assert _await_gone(pids) == []
