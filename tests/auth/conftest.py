"""Fixtures for authentication tests: fake exec credential plugins, kubeconfigs that use them, and a
TLS server with its own CA (the shared simulator speaks plain HTTP with static tokens)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bluegreen.sim import SimCluster

PLUGINS = ("aws", "gke-gcloud-auth-plugin", "kubelogin")
EXEC_API = "client.authentication.k8s.io/v1beta1"

# Prints an ExecCredential: token "<prefix>-<n>" for its n-th run (the count kept in a file), expiring
# EXPIRES_IN seconds from now; FIRST_EXPIRED=1 makes the first token expired already; FAIL=1 fails.
FAKE_PLUGIN = """#!{python}
import datetime, json, os, sys
state = os.environ["FAKE_PLUGIN_STATE"]
if os.environ.get("FAKE_PLUGIN_FAIL") == "1":
    sys.stderr.write("error: not logged in\\n")
    sys.exit(1)
path = os.path.join(state, "count")
n = int(open(path).read()) + 1 if os.path.exists(path) else 1
open(path, "w").write(str(n))
expires_in = float(os.environ.get("FAKE_PLUGIN_EXPIRES_IN", "3600"))
if n == 1 and os.environ.get("FAKE_PLUGIN_FIRST_EXPIRED") == "1":
    expires_in = -60
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)
info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO", "{{}}"))
print(json.dumps({{
    "apiVersion": info.get("apiVersion", "{api}"),
    "kind": "ExecCredential",
    "status": {{"token": "tok-%d" % n, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}},
}}))
"""


@dataclass
class Plugins:
    bin: Path
    state: Path

    @property
    def runs(self) -> int:
        count = self.state / "count"
        return int(count.read_text()) if count.exists() else 0


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """Fake `aws`, `gke-gcloud-auth-plugin` and `kubelogin` on PATH."""
    bin_dir, state = tmp_path / "bin", tmp_path / "plugin-state"
    bin_dir.mkdir()
    state.mkdir()
    for name in PLUGINS:
        script = bin_dir / name
        script.write_text(FAKE_PLUGIN.format(python=sys.executable, api=EXEC_API))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PLUGIN_STATE", str(state))
    return Plugins(bin_dir, state)


def exec_kubeconfig(
    path: Path,
    server: str,
    *,
    command: str = "aws",
    user: str = "eks",
    env: dict[str, str] | None = None,
    ca: Path | None = None,
) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    args = {"aws": ["eks", "get-token", "--cluster-name", "prod"], "kubelogin": ["get-token"]}.get(
        command, []
    )
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": cluster}],
        "users": [
            {
                "name": user,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API,
                        "command": command,
                        "args": args,
                        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": user, "namespace": "default"}}],
        "current-context": "prod",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def auth_sim() -> Iterator[SimCluster]:
    """A simulator that demands a token; the fake plugins' tokens tok-1..tok-20 belong to 'eks-user'."""
    cluster = SimCluster(auth=True).start()
    try:
        for n in range(1, 21):
            cluster.add_token(f"tok-{n}", "eks-user")
        cluster.seed_app("web", replicas=1)
        yield cluster
    finally:
        cluster.stop()


def revoke(sim: SimCluster, token: str) -> None:
    """What an expiry looks like to the client: the server stops accepting the token."""
    with sim.auth._lock:
        del sim.auth.tokens[token]


# ---------------------------------------------------------------------------------------------- TLS


@dataclass
class Pki:
    ca: Path  # signs the server's certificate
    other_ca: Path  # an unrelated CA, for a bundle that must not be used
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    for name in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN=bluegreen test {name}",
            cwd=d,
        )  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1", cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=d,
    )  # fmt: skip
    return Pki(d / "ca.crt", d / "other-ca.crt", d / "server.crt", d / "server.key")


@dataclass
class TlsApi:
    """An HTTPS stand-in for the API server: a Namespace, and a service proxy that answers 'ok'."""

    url: str
    token: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def tls_api(pki: Pki) -> Iterator[TlsApi]:
    api = TlsApi(url="", token="tls-token")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.seen.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self._send(401, {"kind": "Status", "code": 401, "message": "Unauthorized"})
            elif "/proxy" in self.path:
                self._send(200, {"status": "ok"})
            else:
                self._send(200, {"kind": "Namespace", "metadata": {"name": "default"}})

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's signature
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    api.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def token_kubeconfig(path: Path, server: str, token: str, ca: Path | None = None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tls", "cluster": cluster}],
        "users": [{"name": "ci", "user": {"token": token}}],
        "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "ci", "namespace": "default"}}],
        "current-context": "tls",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
