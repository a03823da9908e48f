"""Fixtures of the real-control-plane lane: one control plane, pod network and fake kubelet per session;
one namespace per test, with deploy/rbac.yaml applied into it and a kubeconfig for its deployer."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_cluster import ADMIN_TOKEN, NAMESPACES, ControlPlane, deployer_token
from e2e_kubelet import FakeKubelet
from e2e_podnet import HOST_IP, PodNetwork, why_unavailable

E2E = Path(__file__).resolve().parents[1]
REPO = E2E.parent
RBAC = REPO / "deploy" / "rbac.yaml"
BLUEGREEN = Path(sys.executable).with_name("bluegreen")
Obj = dict[str, Any]
# requests lets these override a Session's CA, so the smoke checks would not trust the kubeconfig's CA
# (see test_release.py::test_smoke_checks_trust_the_kubeconfig_ca_despite_requests_ca_bundle).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def bin_dir() -> Path:
    """BLUEGREEN_E2E_BIN (set by `make e2e`), else build (a no-op when the cache is current)."""
    raw = os.environ.get("BLUEGREEN_E2E_BIN")
    if raw:
        return Path(raw)
    out = subprocess.run(["bash", str(E2E / "build.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


# ---- session: the control plane ------------------------------------------------------------------


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bluegreen-e2e-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def podnet(work_dir: Path) -> Iterator[PodNetwork | None]:
    reason = why_unavailable()
    net: PodNetwork | None = None
    if reason is None:
        try:
            net = PodNetwork(log_dir=work_dir).create()
        except RuntimeError as e:
            reason = str(e)
    if net is None:
        print(f"\npod network unavailable ({reason}): tests that need pods skip", file=sys.stderr)
    os.environ["BLUEGREEN_E2E_NO_PODNET"] = reason or ""
    yield net
    if net is not None:
        net.destroy()


@pytest.fixture(scope="session")
def control_plane(work_dir: Path, podnet: PodNetwork | None) -> Iterator[ControlPlane]:
    cp = ControlPlane(bin_dir(), work_dir, advertise_ip=HOST_IP if podnet else "127.0.0.1")
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kubelet(control_plane: ControlPlane, podnet: PodNetwork | None) -> Iterator[FakeKubelet | None]:
    if podnet is None:
        yield None
        return
    pki = control_plane.work / "pki"
    k = FakeKubelet(control_plane.url, control_plane.session(), podnet, control_plane.work)
    k.start(pki / "server.crt", pki / "server.key")
    yield k
    k.stop()


_pool = iter(NAMESPACES)


# ---- per test: a namespace -----------------------------------------------------------------------


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]

    @property
    def log(self) -> str:
        return self.stderr


@dataclass
class Env:
    """One test's namespace on the real control plane, with the admin's and the deployer's view of it."""

    cp: ControlPlane
    ns: str
    dir: Path
    admin_kubeconfig: Path
    deployer_kubeconfig: Path
    kubelet: FakeKubelet | None
    admin: requests.Session = field(init=False)
    live_before: str = ""

    def __post_init__(self) -> None:
        self.admin = self.cp.session(ADMIN_TOKEN)

    # -- REST, as the admin
    def path(self, resource: str, name: str = "", group: str = "") -> str:
        prefix = "/api/v1" if not group else f"/apis/{group}"
        return f"{self.cp.url}{prefix}/namespaces/{self.ns}/{resource}" + (f"/{name}" if name else "")

    def get(self, resource: str, name: str, group: str = "") -> Obj:
        r = self.admin.get(self.path(resource, name, group), timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def create(self, resource: str, obj: Obj, group: str = "") -> Obj:
        r = self.admin.post(self.path(resource, group=group), json=obj, timeout=10)
        if not r.ok:
            raise RuntimeError(f"create {resource}: {r.status_code} {r.text}")
        return dict(r.json())

    def patch(self, resource: str, name: str, body: Any, kind: str = "merge", group: str = "") -> Obj:
        r = self.admin.patch(
            self.path(resource, name, group),
            data=json.dumps(body),
            headers={"Content-Type": f"application/{kind}-patch+json"},
            timeout=10,
        )
        if not r.ok:
            raise RuntimeError(f"patch {resource}/{name}: {r.status_code} {r.text}")
        return dict(r.json())

    def live_view(self, service: str = "web") -> str:
        """The live Service's selector and annotations, byte for byte (what a failed release must keep)."""
        svc = self.get("services", service)
        return json.dumps(
            {"selector": svc["spec"].get("selector"), "annotations": svc["metadata"].get("annotations")},
            sort_keys=True,
        )

    # -- the CLI, as a subprocess: what a CI job runs
    def run(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        timeout: float = 240,
        extra_env: dict[str, str] | None = None,
    ) -> CliResult:
        out = self.dir / "outputs.env"
        out.unlink(missing_ok=True)
        if kubeconfig is None:
            # what the deployer's run found, for tests asserting that a failed run left it unchanged
            self.live_before = self.live_view()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "BLUEGREEN_")) and k not in CA_BUNDLE_VARIABLES
        }
        env.update(extra_env or {})
        proc = subprocess.run(
            [
                str(BLUEGREEN),
                *args,
                "--namespace",
                self.ns,
                "--kubeconfig",
                str(kubeconfig or self.deployer_kubeconfig),
                "--output-file",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        outputs = {}
        if out.exists():
            for line in out.read_text().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    outputs[k] = v.strip("'")
        return CliResult(proc.returncode, proc.stdout, proc.stderr, outputs)

    # -- seeding, as the admin
    def seed_app(
        self,
        name: str = "web",
        image: str = "registry.example/web:1.0",
        replicas: int = 2,
        color: str | None = "blue",
    ) -> None:
        selector = {"app": name} if color is None else {"app": name, "version": color}
        deployment: Obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name if color is None else f"{name}-{color}", "labels": dict(selector)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(selector)},
                "template": {
                    "metadata": {"labels": dict(selector)},
                    "spec": {
                        "containers": [
                            {"name": name, "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}
                        ]
                    },
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "selector": dict(selector),
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        }
        self.create("deployments", deployment, group="apps/v1")
        self.create("services", service)
        self.wait_available(name if color is None else f"{name}-{color}")

    def wait_available(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.get("deployments", name, group="apps/v1")
            st = d.get("status") or {}
            want = d["spec"]["replicas"]
            if (
                st.get("observedGeneration") == d["metadata"]["generation"]
                and st.get("updatedReplicas") == want
                and st.get("availableReplicas") == want
                and st.get("replicas") == want
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(f"deployment {name} not available: {json.dumps(d.get('status'))}")


def rbac_manifests(namespace: str) -> list[Obj]:
    """deploy/rbac.yaml for one namespace."""
    return in_namespace([d for d in yaml.safe_load_all(RBAC.read_text()) if d], namespace)


def in_namespace(docs: list[Obj], namespace: str) -> list[Obj]:
    """Every object, and the ServiceAccount subject, moved to `namespace` (the file may name `default` or
    no namespace at all)."""
    docs = copy.deepcopy(docs)
    for d in docs:
        d["metadata"]["namespace"] = namespace
        for s in d.get("subjects") or []:
            # A subject without a namespace is the binding's own: keep it so, as `kubectl apply -n` would.
            if s.get("kind") == "ServiceAccount" and "namespace" in s:
                s["namespace"] = namespace
    return docs


PLURAL = {
    "ServiceAccount": ("serviceaccounts", "v1"),
    "Role": ("roles", "rbac.authorization.k8s.io/v1"),
    "RoleBinding": ("rolebindings", "rbac.authorization.k8s.io/v1"),
}


def apply_rbac(env: Env, docs: list[Obj]) -> None:
    for d in docs:
        resource, gv = PLURAL[d["kind"]]
        env.create(resource, d, group="" if gv == "v1" else gv)


def make_env(cp: ControlPlane, kubelet: FakeKubelet | None, base: Path, rbac: list[Obj] | None = None) -> Env:
    ns = next(_pool)
    d = base / ns
    d.mkdir(parents=True)
    admin = cp.session(ADMIN_TOKEN)
    r = admin.post(f"{cp.url}/api/v1/namespaces", json={"metadata": {"name": ns}}, timeout=10)
    r.raise_for_status()
    env = Env(
        cp,
        ns,
        d,
        cp.write_kubeconfig(d / "admin" / "kubeconfig", ADMIN_TOKEN, ns),
        cp.write_kubeconfig(d / "deployer" / "kubeconfig", deployer_token(ns), ns),
        kubelet,
    )
    apply_rbac(env, rbac_manifests(ns) if rbac is None else in_namespace(rbac, ns))
    # Pods are admitted only once the namespace's `default` ServiceAccount exists (the controller makes it).
    sa = f"{cp.url}/api/v1/namespaces/{ns}/serviceaccounts/default"
    deadline = time.monotonic() + 30
    while admin.get(sa, timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {ns}")
        time.sleep(0.1)
    return env


@pytest.fixture
def needs_pods(podnet: PodNetwork | None) -> None:
    if podnet is None:
        pytest.skip(f"no pod network: {os.environ.get('BLUEGREEN_E2E_NO_PODNET')}")


@pytest.fixture
def env(
    control_plane: ControlPlane, kubelet: FakeKubelet | None, needs_pods: None, tmp_path: Path
) -> Iterator[Env]:
    e = make_env(control_plane, kubelet, tmp_path)
    seen = len(kubelet.errors) if kubelet is not None else 0
    yield e
    control_plane.check_alive()
    if kubelet is not None:
        assert not kubelet.errors[seen:], kubelet.errors[seen:]
    # Deleting the namespace is asynchronous (the namespace controller empties it); nobody waits for it.
    e.admin.delete(f"{control_plane.url}/api/v1/namespaces/{e.ns}", timeout=10)


@pytest.fixture
def fresh_namespace(control_plane: ControlPlane) -> Iterator[Callable[[], str]]:
    """A namespace name from the pool, not yet created (for tests that create it themselves)."""
    taken: list[str] = []

    def take() -> str:
        taken.append(next(_pool))
        return taken[-1]

    yield take
    for ns in taken:
        control_plane.session().delete(f"{control_plane.url}/api/v1/namespaces/{ns}", timeout=10)
