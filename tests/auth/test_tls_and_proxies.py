"""Custom CAs and proxies: smoke requests go where API calls go, the same way."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen import targets
from bluegreen.errors import InputError
from bluegreen.kube import Kube
from bluegreen.log import StepLog
from bluegreen.settings import Connection
from bluegreen.sim import SimCluster
from bluegreen.smoke import SmokeCheck, run_check

from .conftest import Pki, TlsApi, token_kubeconfig

WEB = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}]}}


@pytest.fixture
def log() -> StepLog:
    return StepLog(io.StringIO(), github=False, tty=False)


def test_smoke_check_uses_the_kubeconfig_ca_even_with_requests_ca_bundle_set(
    tls_api: TlsApi, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: StepLog
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pki.other_ca))
    path = token_kubeconfig(tmp_path / "kc", tls_api.url, tls_api.token, ca=pki.ca)
    kube = Kube(Connection(kubeconfig=str(path)))
    assert kube.request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"
    target = targets.smoke_target(kube, WEB, "proxy")
    result = run_check(SmokeCheck(path="/healthz"), target, log)
    assert result.ok, result.detail
    assert tls_api.seen[-1] == "/api/v1/namespaces/default/services/web:http/proxy/healthz"


def test_untrusted_api_server_certificate_is_one_readable_line_without_retries(
    tls_api: TlsApi, pki: Pki, tmp_path: Path
) -> None:
    path = token_kubeconfig(tmp_path / "kc", tls_api.url, tls_api.token, ca=pki.other_ca)
    kube = Kube(Connection(kubeconfig=str(path)))
    with pytest.raises(InputError) as e:
        kube.request("GET", "/api/v1/namespaces/default")
    line = str(e.value)
    assert "\n" not in line and "ApiException" not in line and "SSLError" not in line
    assert f"cannot trust the API server {tls_api.url} (context 'tls')" in line
    assert "certificate verify failed" in line
    assert "certificate-authority-data" in line


def test_untrusted_certificate_in_a_smoke_check_names_the_fix(
    tls_api: TlsApi, pki: Pki, tmp_path: Path, log: StepLog
) -> None:
    path = token_kubeconfig(tmp_path / "kc", tls_api.url, tls_api.token, ca=pki.other_ca)
    target = targets.smoke_target(Kube(Connection(kubeconfig=str(path))), WEB, "proxy")
    result = run_check(SmokeCheck(path="/"), target, log)
    assert not result.ok
    assert result.detail.startswith("TLS failed for service/web port http via the API server proxy: ")
    assert "certificate verify failed" in result.detail and "certificate-authority-data" in result.detail


def test_wrong_server_name_names_tls_server_name(tls_api: TlsApi, pki: Pki, tmp_path: Path) -> None:
    url = tls_api.url.replace("127.0.0.1", "localhost")
    path = token_kubeconfig(tmp_path / "kc", url, tls_api.token, ca=pki.ca)
    with pytest.raises(InputError) as e:
        Kube(Connection(kubeconfig=str(path))).request("GET", "/api/v1/namespaces/default")
    assert "not for 'localhost'" in str(e.value) and "tls-server-name" in str(e.value)


@pytest.fixture
def proxy() -> Iterator[list[str]]:
    """An HTTP proxy that records what it was asked and refuses it."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's signature
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    seen.append(f"http://127.0.0.1:{server.server_address[1]}")  # seen[0]: the proxy's own URL
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
def test_smoke_requests_honour_no_proxy_like_api_calls(
    variable: str,
    sim: SimCluster,
    kubeconfig: Path,
    proxy: list[str],
    monkeypatch: pytest.MonkeyPatch,
    log: StepLog,
) -> None:
    sim.seed_app("web", replicas=1)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy[0])
    monkeypatch.setenv(variable, "127.0.0.1,localhost")
    kube = Kube(Connection(kubeconfig=str(kubeconfig)))
    service = kube.request("GET", "/api/v1/namespaces/default/services/web")
    result = run_check(SmokeCheck(path="/"), targets.smoke_target(kube, service, "proxy"), log)
    assert result.ok, result.detail
    assert proxy[1:] == []


def test_smoke_requests_take_the_proxy_api_calls_take(
    sim: SimCluster, kubeconfig: Path, proxy: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy[0])
    kube = Kube(Connection(kubeconfig=str(kubeconfig)))
    assert targets.api_server_route(kube) == (True, {"http": proxy[0], "https": proxy[0]})
