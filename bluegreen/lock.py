"""The release lock: one coordination.k8s.io/v1 Lease per Service, so two releases never overlap.

The Lease is held for ``duration`` seconds and renewed in the background while the release runs; a run
that crashed simply stops renewing and its lock expires by itself. Every write carries the Lease's
resourceVersion, so two runs racing for it cannot both win.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bluegreen.errors import BluegreenError, LockHeld
from bluegreen.kube import COORDINATION, ApiFailure, Kube

Obj = dict[str, Any]


def lease_name(service: str) -> str:
    return f"bluegreen-{service}"[:63].rstrip("-")


def holder_identity(env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Who holds the lock, as a person reading `status` would want to know it, plus a per-run nonce:
    two jobs of one workflow run (a matrix) share every CI variable but must not share the lock."""
    nonce = uuid.uuid4().hex[:6]
    if env.get("GITHUB_RUN_ID"):
        repo = env.get("GITHUB_REPOSITORY", "")
        job = f"/{env['GITHUB_JOB']}" if env.get("GITHUB_JOB") else ""
        return (
            f"github:{repo}/actions/runs/{env['GITHUB_RUN_ID']}#{env.get('GITHUB_RUN_ATTEMPT', '1')}"
            f"{job}/{nonce}"
        )
    if env.get("CI_JOB_ID"):
        return f"gitlab:{env.get('CI_PROJECT_PATH', '')}/jobs/{env['CI_JOB_ID']}/{nonce}"
    if env.get("BUILD_TAG"):
        return f"jenkins:{env['BUILD_TAG']}/{nonce}"
    return f"{socket.gethostname()}:{os.getpid()}/{nonce}"


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(ts, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def held_by_other(lease: Obj, me: str, now: datetime) -> str | None:
    """PURE: a description of the live holder if someone else holds the lease, else None."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder or holder == me:
        return None
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    if renewed is None:
        return None
    age = (now - renewed).total_seconds()
    if age > duration:
        return None  # expired: its holder stopped renewing (crashed or killed)
    since = spec.get("acquireTime") or spec.get("renewTime")
    return f"{holder} (since {since}; it expires {max(0, int(duration - age))}s after its last renewal if that run died)"


class ReleaseLock:
    def __init__(
        self,
        kube: Kube,
        service: str,
        *,
        duration: float,
        identity: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.name = lease_name(service)
        self.service = service
        self.duration = int(duration)
        self.identity = identity or holder_identity()
        self.clock = clock
        self.lost: str | None = (
            None  # why we no longer hold it (someone forced it), checked before the switch
        )
        self._lease: Obj | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _spec(self, acquire: bool, transitions: int) -> Obj:
        now = _micro(self.clock())
        spec: Obj = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if acquire:
            spec["acquireTime"] = now
        return spec

    def acquire(self, *, force: bool = False) -> str | None:
        """Take the lock; returns the holder we overrode when forced. Raises LockHeld when held."""
        overridden = None
        for _ in range(3):
            lease = self.kube.get(COORDINATION, "leases", self.name)
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": self.kube.namespace,
                        "labels": {"app.kubernetes.io/managed-by": "bluegreen"},
                    },
                    "spec": self._spec(True, 0),
                }
                try:
                    self._lease = self.kube.create(COORDINATION, "leases", body)
                    break
                except ApiFailure as e:
                    if e.code == 409:
                        continue  # someone created it between our read and our create: look again
                    raise
            other = held_by_other(lease, self.identity, self.clock())
            if other and not force:
                raise LockHeld(
                    f"another release of service {self.service!r} is in progress: lease/{self.name} is held by {other}",
                    hint="wait for it to finish, or pass --force-unlock if you are sure that run is gone",
                )
            if other:
                overridden = other
            spec = lease.get("spec") or {}
            transitions = int(spec.get("leaseTransitions") or 0) + (
                1 if spec.get("holderIdentity") != self.identity else 0
            )
            lease["spec"] = {**spec, **self._spec(True, transitions)}
            try:
                self._lease = self.kube.replace(COORDINATION, "leases", lease)
                break
            except ApiFailure as e:
                if e.code == 409:
                    continue
                raise
        else:
            raise LockHeld(
                f"could not take lease/{self.name}: it kept changing under us (another release is starting)"
            )
        self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="lease-renew")
        self._thread.start()
        return overridden

    def _renew_loop(self) -> None:
        interval = max(1.0, self.duration / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except Exception:  # a missed renewal is retried next interval; the lease outlives one miss
                if self.lost:
                    return

    def renew(self) -> None:
        with self._mutex:
            if self._lease is None or self.lost:
                return
            lease = dict(self._lease)
            lease["spec"] = {**lease["spec"], "renewTime": _micro(self.clock())}
            try:
                # A short budget: a renewal must finish well within the lease, or the next one tries again.
                self._lease = self.kube.request(
                    "PUT",
                    self.kube.path(COORDINATION, "leases", self.name),
                    body=lease,
                    timeout=(5, 10),
                    attempts=2,
                )
            except ApiFailure as e:
                if e.code == 409:
                    current = self.kube.get(COORDINATION, "leases", self.name)
                    holder = ((current or {}).get("spec") or {}).get("holderIdentity")
                    if holder != self.identity:
                        self.lost = f"lease/{self.name} was taken over by {holder or 'nobody'}"
                        return
                    self._lease = current
                raise

    def release(self) -> str | None:
        """Give the lock up (also after a failure), keeping the Lease object for the next run to reuse.

        Never raises: a release that cannot be recorded must not hide how the release itself went. It
        returns a warning instead; the lock then expires after its duration."""
        self._stop.set()
        with self._mutex:
            if self._lease is None or self.lost:
                return None
            lease = dict(self._lease)
            lease["spec"] = {**lease["spec"], "holderIdentity": None, "renewTime": _micro(self.clock())}
            try:
                try:
                    self.kube.replace(COORDINATION, "leases", lease)
                except ApiFailure:
                    current = self.kube.get(COORDINATION, "leases", self.name)
                    if current and (current.get("spec") or {}).get("holderIdentity") == self.identity:
                        current["spec"]["holderIdentity"] = None
                        self.kube.replace(COORDINATION, "leases", current)
            except BluegreenError as e:
                return (
                    f"lease/{self.name} could not be released ({e}); it expires by itself "
                    f"{self.duration}s after its last renewal"
                )
            finally:
                self._lease = None
        return None
