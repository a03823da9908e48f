"""The simulated cluster: a Kubernetes API server over HTTP plus controllers, for the tests and the demo.

sim = SimCluster().start()
sim.seed_app("web")                       # Deployment web-blue + Service web, ready
path = sim.write_kubeconfig(tmp / "kubeconfig")
...                                       # the official client or kubectl, pointed at ``path``
sim.stop()
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .apps import AppRegistry
from .clock import Clock, FakeClock, RealClock
from .controllers import Controllers
from .errors import ApiError
from .resources import RESOURCES
from .server import Auth, Fault, Faults, RequestRecord, SimServer, User
from .store import Obj, Store

__all__ = ["ApiError", "Fault", "Faults", "RequestRecord", "SimCluster", "User"]


class SimCluster:
    def __init__(
        self,
        ready_delay: float = 0.0,
        clock: Clock | None = None,
        auth: bool = False,
        rbac: bool = False,
        termination_delay: float | None = None,
    ) -> None:
        """``termination_delay``: how long a deleted pod stays Terminating on the clock (None: as long as
        ``ready_delay``); 0 removes deleted pods at once, with no Terminating state at all."""
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
        )
        self.faults = Faults()
        self.auth = Auth(enabled=auth or rbac, rbac=rbac)
        self.server = SimServer(self.store, self.apps, self.auth, self.faults)
        self._started = False

    # ---- lifecycle ----

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimCluster:
        self.controllers.start()
        self.server.start(host, port)
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self.server.stop()
            self.controllers.stop()
            self._started = False
        if self._own_clock:
            self.clock.stop()

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

    def write_kubeconfig(
        self, path: str | os.PathLike[str], token: str | None = None, namespace: str = "default"
    ) -> Path:
        """A kubeconfig (mode 0600) whose current context points at this cluster as ``token``'s user."""
        token = token or self.auth.admin_token
        user = self.auth.tokens.get(token)
        user_name = user.name if user else "user"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": user_name, "user": {"token": token}}],
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
        with self.server._lock:
            self.server.requests.clear()

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
