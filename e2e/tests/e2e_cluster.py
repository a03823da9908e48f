"""A real control plane on loopback: etcd, kube-apiserver and kube-controller-manager as child processes.

Binaries come from e2e/build.sh (the published Go modules). Certificates are made with the openssl CLI,
so the lane adds no Python dependency. Two users authenticate by static token: an admin
(system:masters) and the deployer, named like the ServiceAccount that deploy/rbac.yaml binds, so the
RoleBinding in that file applies to it unchanged and the real RBAC authorizer decides.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ADMIN_TOKEN = "e2e-admin-token"
# deploy/rbac.yaml binds ServiceAccount `bluegreen`; RBAC matches that subject by its user name.
DEPLOYER_SA = "bluegreen"
# Each test gets a namespace of its own from this pool.
NAMESPACES = [f"e2e-{i:02d}" for i in range(1, 100)]

Obj = dict[str, Any]
PR_SET_PDEATHSIG = 1


def deployer_user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:{DEPLOYER_SA}"


def deployer_token(namespace: str) -> str:
    return f"deployer-{namespace}"


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies (a CI time-out too)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll a start-up condition with a deadline; fail early (with the log's tail) if the process died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            if check():
                return
        except (requests.RequestException, OSError) as e:
            last = repr(e)
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s ({last}):\n{tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path, server_ips: list[str]) -> None:
    """A CA, the API server's serving certificate (SANs for loopback and the pod-host bridge), and the
    service-account signing key."""
    d.mkdir(parents=True, exist_ok=True)
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=bluegreen-e2e-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    sans = ",".join(["DNS:localhost", "DNS:kubernetes.default.svc", *(f"IP:{ip}" for ip in server_ips)])
    (d / "server.ext").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=kube-apiserver",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=d,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
        cwd=d,
    )
    openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


@dataclass
class ControlPlane:
    bin_dir: Path
    work: Path
    advertise_ip: str = "127.0.0.1"
    url: str = ""
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    etcd_url: str = ""

    @property
    def ca(self) -> Path:
        return self.work / "pki" / "ca.crt"

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        out = self.log(name).open("wb")
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        self.procs.append((name, proc))
        return proc

    # ---- start-up ------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        self.work.mkdir(parents=True, exist_ok=True)
        make_certs(self.work / "pki", sorted({"127.0.0.1", self.advertise_ip}))
        self._start_etcd()
        self._start_apiserver()
        self._start_controller_manager()
        return self

    def _start_etcd(self) -> None:
        port = free_port()
        self.etcd_url = f"http://127.0.0.1:{port}"
        proc = self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--data-dir",
                str(self.work / "etcd-data"),
                "--listen-client-url",
                self.etcd_url,
                "--listen-peer-url",
                f"http://127.0.0.1:{free_port()}",
            ],
        )
        wait_for(
            "etcd",
            lambda: self.session().get(f"{self.etcd_url}/health", timeout=2).ok,
            60,
            proc,
            self.log("etcd"),
        )

    def _start_apiserver(self) -> None:
        pki = self.work / "pki"
        tokens = self.work / "tokens.csv"
        # token,user,uid,"groups". The deployer is named like the ServiceAccount deploy/rbac.yaml binds;
        # the file is read once at start-up, so there is one deployer line per test namespace.
        lines = [f'{ADMIN_TOKEN},e2e-admin,e2e-admin,"system:masters"']
        for ns in NAMESPACES:
            lines.append(f"{deployer_token(ns)},{deployer_user(ns)},{ns}-deployer")
        tokens.write_text("\n".join(lines) + "\n")
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        proc = self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--advertise-address={self.advertise_ip}",
                f"--tls-cert-file={pki / 'server.crt'}",
                f"--tls-private-key-file={pki / 'server.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                # Cluster IPs are data only: there is no kube-proxy, nothing ever connects to them.
                "--service-cluster-ip-range=10.213.128.0/24",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                # pods/log goes to the fake kubelet at the node's own address, never through DNS.
                "--kubelet-preferred-address-types=InternalIP",
            ],
        )
        wait_for(
            "kube-apiserver",
            lambda: self.get("/readyz").status_code == 200,
            180,
            proc,
            self.log("kube-apiserver"),
        )

    def _start_controller_manager(self) -> None:
        kubeconfig = self.write_kubeconfig(self.work / "kcm.kubeconfig", ADMIN_TOKEN)
        proc = self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                # What a release needs, and `serviceaccount` because pods are admitted only in namespaces that
                # have their `default` ServiceAccount.
                "--controllers=deployment,replicaset,endpointslice,garbagecollector,namespace,resourcequota,"
                "serviceaccount",
                "--secure-port=0",
                "--concurrent-deployment-syncs=5",
            ],
        )
        # The controller manager has no port to ask: it is up once it created the default ServiceAccount.
        wait_for(
            "kube-controller-manager",
            lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200,
            120,
            proc,
            self.log("kube-controller-manager"),
        )

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            proc.terminate()
        for _name, proc in reversed(self.procs):
            try:
                # kube-apiserver drains for a long while; nothing of this throw-away cluster needs that
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(self.log(name))}")

    # ---- clients -------------------------------------------------------------------------------

    def write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.url, "certificate-authority": str(self.ca)}}
            ],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "u", "namespace": namespace}}],
            "current-context": "e2e",
        }
        path.write_text(json.dumps(doc))
        return path

    def session(self, token: str = ADMIN_TOKEN) -> requests.Session:
        s = requests.Session()
        # REQUESTS_CA_BUNDLE and proxy variables would override our CA and reach past loopback.
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {token}"
        s.verify = str(self.ca)
        return s

    def get(self, path: str) -> requests.Response:
        return self.session().get(self.url + path, timeout=10)


def env_bin_dir() -> Path | None:
    raw = os.environ.get("BLUEGREEN_E2E_BIN")
    return Path(raw) if raw else None
