"""The release lock's renewal, release and take-over detection, against the simulated cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bluegreen.errors import LockHeld
from bluegreen.lock import ReleaseLock, lease_name
from bluegreen.settings import Connection
from bluegreen.sim import SimCluster


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_lock(kubeconfig: Path, clock: Clock, identity: str = "run-1") -> ReleaseLock:
    from bluegreen.kube import Kube

    kube = Kube(Connection(kubeconfig=str(kubeconfig)))
    return ReleaseLock(kube, "web", duration=30, identity=identity, clock=clock)


def spec(sim: SimCluster) -> dict:  # type: ignore[type-arg]
    return dict(sim.get("leases", "default", lease_name("web"))["spec"])


def test_renewal_moves_renew_time_and_keeps_acquire_time(sim: SimCluster, kubeconfig: Path) -> None:
    clock = Clock()
    lock = make_lock(kubeconfig, clock)
    lock.acquire()
    first = spec(sim)
    clock.now += timedelta(seconds=20)
    lock.renew()
    after = spec(sim)
    assert after["holderIdentity"] == "run-1"
    assert after["acquireTime"] == first["acquireTime"]
    assert after["renewTime"] > first["renewTime"]
    assert lock.release() is None
    assert spec(sim).get("holderIdentity") in (None, "")


def test_a_renewal_that_finds_the_lease_taken_over_marks_the_lock_lost(
    sim: SimCluster, kubeconfig: Path
) -> None:
    clock = Clock()
    lock = make_lock(kubeconfig, clock)
    lock.acquire()
    lease = sim.get("leases", "default", lease_name("web"))
    lease["spec"]["holderIdentity"] = "someone-with-force-unlock"
    sim.apply(lease)
    lock.renew()
    assert lock.lost and "someone-with-force-unlock" in lock.lost
    # a lost lock is not released by us: the new holder keeps it
    assert lock.release() is None
    assert spec(sim)["holderIdentity"] == "someone-with-force-unlock"


def test_a_second_lock_sees_the_first_until_it_expires(sim: SimCluster, kubeconfig: Path) -> None:
    clock = Clock()
    first = make_lock(kubeconfig, clock, "run-1")
    first.acquire()
    second = make_lock(kubeconfig, clock, "run-2")
    with pytest.raises(LockHeld, match="held by run-1"):
        second.acquire()
    clock.now += timedelta(seconds=31)  # run-1 stopped renewing (crashed): its lease expires
    assert second.acquire() is None
    assert spec(sim)["holderIdentity"] == "run-2"
    assert spec(sim)["leaseTransitions"] == 1
