"""The simulated cluster: a Kubernetes API server over HTTP plus controllers, for the tests and the demo.

sim = SimCluster().start()
sim.seed_app("web")                       # Deployment web-blue + Service web, ready
path = sim.write_kubeconfig(tmp / "kubeconfig")
...                                       # the official client or kubectl, pointed at ``path``
sim.stop()
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import yaml

from .apps import AppRegistry
from .clock import Clock, FakeClock, RealClock
from .controllers import Controllers, NodeCapacity
from .errors import ApiError
from .quota import admit_pod, parse_quantity
from .resources import RESOURCES
from .server import Auth, Fault, Faults, RequestRecord, SimServer, User
from .stats import Interval, Mark, Stats
from .stats import compute as compute_stats
from .store import Obj, Store
from .tls import Certificates, make_certificates

__all__ = ["ApiError", "Fault", "Faults", "Mark", "RequestRecord", "SimCluster", "Stats", "User"]


class SimCluster:
    def __init__(
        self,
        ready_delay: float = 0.0,
        clock: Clock | None = None,
        auth: bool = False,
        rbac: bool = False,
        termination_delay: float | None = None,
        *,
        latency: float = 0.0,
        tls: bool = False,
        nodes: int = 3,
        node_cpu: str | None = None,
        node_memory: str | None = None,
        max_pods_per_node: int | None = None,
    ) -> None:
        """``termination_delay``: how long a deleted pod stays Terminating on the clock (None: as long as
        ``ready_delay``); 0 removes deleted pods at once, with no Terminating state at all.

        ``latency``: seconds (wall time) every request waits before the server handles it, as if the
        client were far away; a new connection's first request waits one more latency for the TCP
        handshake (two with TLS). See ``stats`` for counting round trips.

        ``tls``: serve https with a certificate from a CA made for this cluster (``ca_file``/``ca_pem``);
        the kubeconfig carries that CA as certificate-authority-data. Needs the ``openssl`` command.

        ``nodes``, ``node_cpu``, ``node_memory``, ``max_pods_per_node``: the worker nodes and what each can
        hold (quantities like "2", "500m", "4Gi"). Given any capacity, pods are placed where their
        requests fit, and a pod that fits nowhere stays Pending with PodScheduled=False, reason
        Unschedulable and the scheduler's message ("0/3 nodes are available: 3 Insufficient cpu. ...")
        until a pod is deleted. Without (the default), every pod is scheduled at once.
        """
        self._own_clock = clock is None
        self.clock: Clock = clock or RealClock()
        self.termination_delay = max(0.0, ready_delay if termination_delay is None else termination_delay)
        self.store = Store(self.clock, graceful_pods=self.termination_delay > 0)
        self.apps = AppRegistry()
        self.controllers = Controllers(
            self.store,
            self.clock,
            self.apps,
            ready_delay=ready_delay,
            termination_delay=self.termination_delay,
            nodes=nodes,
            capacity=None
            if node_cpu is None and node_memory is None and max_pods_per_node is None
            else NodeCapacity(
                cpu=parse_quantity(node_cpu) if node_cpu is not None else None,
                memory=parse_quantity(node_memory) if node_memory is not None else None,
                pods=max_pods_per_node if max_pods_per_node is not None else 110,
            ),
        )
        self.store.admission.append(self._admit_quota)
        self.faults = Faults()
        self.auth = Auth(enabled=auth or rbac, rbac=rbac, now=self.clock.now)
        self.certificates: Certificates | None = make_certificates() if tls else None
        self.server = SimServer(
            self.store,
            self.apps,
            self.auth,
            self.faults,
            latency=latency,
            tls=self.certificates.server_context() if self.certificates else None,
        )
        self._started = False

    def _admit_quota(self, resource: str, obj: Obj) -> None:
        """The ResourceQuota admission plugin, for pods (called by the store inside its lock, so that two
        creates cannot both take the last of a quota)."""
        if resource != "pods":
            return
        ns = obj["metadata"].get("namespace")
        quotas = self.store.list("resourcequotas", ns, copy_items=False)[0]
        if quotas:
            admit_pod(obj, quotas, self.store.list("pods", ns, copy_items=False)[0], self.clock.now())

    # ---- lifecycle ----

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimCluster:
        self.controllers.start()
        try:
            self.server.start(host, port)
        except BaseException:
            self.controllers.stop()  # e.g. the port is taken: leave nothing running
            raise
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self.server.stop()
            self.controllers.stop()
            self._started = False
        if self._own_clock:
            self.clock.stop()
        if self.certificates is not None:
            shutil.rmtree(self.certificates.directory, ignore_errors=True)

    def __enter__(self) -> SimCluster:
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def admin_token(self) -> str:
        return self.auth.admin_token

    @property
    def ca_file(self) -> Path | None:
        """The PEM file of the CA that signed the server certificate (None without tls)."""
        return self.certificates.ca_cert if self.certificates else None

    @property
    def ca_pem(self) -> bytes | None:
        return self.certificates.ca_pem if self.certificates else None

    @property
    def mint_secret(self) -> str:
        """What the credential plugin shows to mint tokens (write_kubeconfig(exec_plugin=...) passes it)."""
        return self.auth.mint_secret

    @property
    def tokens_minted(self) -> int:
        """Tokens issued so far by ``issue_token`` and the credential plugin: a refresh shows as a rise."""
        return self.auth.minted

    def issue_token(self, user: str = "admin", ttl: float = 900.0, groups: tuple[str, ...] = ()) -> str:
        """A token for ``user`` that the cluster refuses (401) ``ttl`` seconds later on its clock (advance a
        FakeClock to expire it). Enforced when the cluster was made with auth=True or rbac=True."""
        return self.auth.issue(user, ttl, groups)[0]

    def install_exec_plugin(self, directory: str | os.PathLike[str], name: str = "kubelogin") -> Path:
        """An executable ``directory/name`` that runs the fake credential plugin (credential.py), for a
        test to put on PATH under a real plugin's name (aws, gke-gcloud-auth-plugin, kubelogin)."""
        from . import credential

        p = Path(directory) / name
        p.write_text(
            f"#!{sys.executable}\n"
            "import runpy\n"
            f"runpy.run_path({str(Path(credential.__file__).resolve())!r}, run_name='__main__')\n"
        )
        p.chmod(0o755)
        return p

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str],
        token: str | None = None,
        namespace: str = "default",
        *,
        exec_plugin: str | os.PathLike[str] | None = None,
        exec_args: list[str] | None = None,
        exec_user: str = "admin",
        exec_ttl: float = 900.0,
        exec_groups: tuple[str, ...] = (),
    ) -> Path:
        """A kubeconfig (mode 0600) whose current context points at this cluster as ``token``'s user; with
        tls, it carries the cluster's CA as certificate-authority-data.

        ``exec_plugin``: instead of a token, a user of the ``exec`` kind that runs this command (the
        credential plugin: ``install_exec_plugin``'s path, or ``sys.executable`` with ``exec_args=["-m",
        "bluegreen.sim.credential"]``); its env tells the plugin where to mint tokens for ``exec_user``
        (with ``exec_groups``) that live ``exec_ttl`` seconds."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.certificates is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.certificates.ca_pem).decode()
        if exec_plugin is not None:
            user_name = exec_user
            env = [
                {"name": "BLUEGREEN_SIM_URL", "value": self.url},
                {"name": "BLUEGREEN_SIM_MINT_SECRET", "value": self.auth.mint_secret},
                {"name": "BLUEGREEN_SIM_USER", "value": exec_user},
                {"name": "BLUEGREEN_SIM_TTL", "value": f"{exec_ttl:g}"},
            ]
            if exec_groups:
                env.append({"name": "BLUEGREEN_SIM_GROUPS", "value": ",".join(exec_groups)})
            if self.ca_file is not None:
                env.append({"name": "BLUEGREEN_SIM_CA", "value": str(self.ca_file)})
            user_entry: dict[str, Any] = {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": os.fspath(exec_plugin),
                    "args": list(exec_args or []),
                    "env": env,
                    "interactiveMode": "Never",
                    "provideClusterInfo": False,
                }
            }
        else:
            token = token or self.auth.admin_token
            user = self.auth.tokens.get(token)
            user_name = user.name if user else "user"
            user_entry = {"token": token}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "sim", "cluster": cluster}],
            "users": [{"name": user_name, "user": user_entry}],
            "contexts": [
                {"name": "sim", "context": {"cluster": "sim", "user": user_name, "namespace": namespace}}
            ],
            "current-context": "sim",
        }
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        os.chmod(p, 0o600)  # also when the file existed before with wider permissions
        return p

    # ---- direct access (bypasses auth, faults and the request log) ----

    def apply(self, obj: Obj) -> Obj:
        """Create the object, or replace it if it exists (status is kept, like a PUT)."""
        resource = _plural_for(obj)
        meta = obj.get("metadata") or {}
        try:
            return self.store.create(resource, obj)
        except ApiError as e:
            if e.code != 409:
                raise
        current = self.store.get(resource, meta.get("namespace"), meta.get("name", ""))
        new = dict(obj)
        new["metadata"] = {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}
        return self.store.update(resource, new)

    def get(self, resource: str, namespace: str | None, name: str) -> Obj:
        return self.store.get(resource, namespace, name)

    def delete(self, resource: str, namespace: str | None, name: str, grace_period: int | None = None) -> Obj:
        """Like a DELETE: a pod turns Terminating (unless ``grace_period=0`` or termination_delay is 0)."""
        return self.store.delete(resource, namespace, name, grace_period=grace_period)

    def wait_idle(self, timeout: float = 5.0) -> None:
        self.controllers.wait_idle(timeout)

    def seed_app(
        self,
        name: str = "web",
        namespace: str = "default",
        image: str = "registry.example/web:1.0",
        replicas: int = 2,
        color: str | None = "blue",
        color_label: str = "version",
        port: int = 8080,
    ) -> None:
        """An app as a user would have it before adopting bluegreen: Deployment ``<name>-<color>`` and a
        Service ``<name>`` selecting it (``color=None``: Deployment ``<name>`` selected by app only); ready."""
        selector = {"app": name} if color is None else {"app": name, color_label: color}
        deployment: Obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name if color is None else f"{name}-{color}",
                "namespace": namespace,
                "labels": dict(selector),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(selector)},
                "template": {
                    "metadata": {"labels": dict(selector)},
                    "spec": {
                        "containers": [
                            {"name": name, "image": image, "ports": [{"containerPort": port, "name": "http"}]}
                        ]
                    },
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "selector": dict(selector),
                "ports": [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}],
            },
        }
        if self.store.get_shared("namespaces", None, namespace) is None:
            self.store.create("namespaces", {"metadata": {"name": namespace}})
        self.apply(deployment)
        self.apply(service)
        b = self.apps.behaviour(image)
        if b.pull_fails or b.crash_loops or b.never_ready:
            self.wait_idle()  # an image made to fail never becomes available: don't wait for it
        else:
            self.wait_available(namespace, deployment["metadata"]["name"])

    def wait_available(self, namespace: str, name: str, timeout: float = 30.0) -> None:
        """Until the Deployment is fully rolled out: a fake clock is advanced timer by timer; on a real
        clock we wait for the store's change notifications (never a fixed sleep)."""
        import threading

        def done() -> bool:
            d = self.store.get_shared("deployments", namespace, name)
            if d is None:
                return False
            st, want = d.get("status") or {}, (d.get("spec") or {}).get("replicas", 1)
            return (
                st.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
                and st.get("availableReplicas", 0) == want
                and st.get("updatedReplicas", 0) == want
                and st.get("replicas", 0) == want
            )

        changed = threading.Event()
        unsubscribe = self.store.subscribe(lambda *_: changed.set())
        try:
            deadline = time.monotonic() + timeout
            while True:
                self.wait_idle()
                if done():
                    return
                if isinstance(self.clock, FakeClock):
                    nxt = self.controllers.next_timer_at()
                    if nxt is None:
                        raise TimeoutError(f"deployment {namespace}/{name} will never become available")
                    self.clock.advance(max(0.0, nxt - self.clock.now()))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"deployment {namespace}/{name} did not become available in {timeout:g}s"
                    )
                changed.wait(min(remaining, 0.5))
                changed.clear()
        finally:
            unsubscribe()

    # ---- observing and steering requests ----

    @property
    def requests(self) -> list[RequestRecord]:
        with self.server._lock:
            return list(self.server.requests)

    def write_requests(self) -> list[RequestRecord]:
        """Requests that tried to change something (create/update/patch/delete), in order."""
        return [r for r in self.requests if r.is_write]

    def clear_requests(self) -> None:
        """Forget the request log (``stats`` counts from the log, so it starts afresh too)."""
        with self.server._lock:
            self.server.requests.clear()

    def mark(self) -> Mark:
        """Now, to count from: ``m = sim.mark(); ...; sim.stats(since=m)``."""
        return Mark(time.monotonic())

    def stats(self, since: Mark | None = None, exclude: Collection[str] = ()) -> Stats:
        """Requests, TCP connections and serial round trips (the critical path; see stats.py) of the
        requests received since ``since``. ``exclude``: kinds left out, among "proxy" (service and pod
        proxy), "log" (pod logs) and "discovery" (/api, /apis, /version); watches never count as round
        trips. Meaningful round-trip counts need ``latency`` well above thread start-up noise (50-100 ms):
        see stats.py."""
        records = self.requests
        now = time.monotonic()
        intervals = [
            Interval(r.started, r.ended or now, r.kind, r.connection)
            for r in records
            if r.started  # records made by hand (tests) have no timing
        ]
        with self.server._lock:
            opened = dict(self.server.connections_opened)
        return compute_stats(intervals, opened, since, exclude)

    def on_request(self, fn: Callable[[RequestRecord], None]) -> Callable[[], None]:
        """Call ``fn(record)`` before each request is handled; returns a function that removes the hook."""
        return self.server.on_request(fn)

    def add_token(self, token: str, user: str, groups: tuple[str, ...] = ()) -> None:
        self.auth.add_token(token, user, groups)

    def grant(self, user: str, namespace: str | None, rules: list[dict[str, Any]]) -> None:
        """Role-like rules for ``user`` in ``namespace`` (None: cluster-wide, like a ClusterRoleBinding)."""
        self.auth.grant(user, namespace, rules)


def _plural_for(obj: Obj) -> str:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    for r in RESOURCES:
        if r.kind == kind and (api_version is None or api_version == r.api_version):
            return r.plural
    raise ValueError(f"the simulated cluster does not serve {api_version}/{kind}")
