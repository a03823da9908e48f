"""The release lock's renewal, release and take-over detection, against the simulated cluster.

Both clocks are fakes: the wall clock only feeds the times written for humans, the monotonic one is what
every judgement of expiry uses. Tests call ``renew()`` themselves; the background thread renews every
duration/3 of real time, which these tests never reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bluegreen.errors import ConcurrentChange, LockHeld
from bluegreen.kube import LEASES, Kube
from bluegreen.lock import ReleaseLock, lease_name
from bluegreen.settings import Connection
from bluegreen.sim import SimCluster


class Clocks:
    def __init__(self) -> None:
        self.wall_now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
        self.mono_now = 1000.0

    def wall(self) -> datetime:
        return self.wall_now

    def monotonic(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        self.wall_now += timedelta(seconds=seconds)
        self.mono_now += seconds


def make_lock(kubeconfig: Path, clocks: Clocks, identity: str = "run-1") -> ReleaseLock:
    kube = Kube(Connection(kubeconfig=str(kubeconfig)))
    return ReleaseLock(
        kube, "web", duration=30, identity=identity, monotonic=clocks.monotonic, wall=clocks.wall
    )


def spec(sim: SimCluster) -> dict[str, Any]:
    return dict(sim.get("leases", "default", lease_name("web"))["spec"])


def set_holder(sim: SimCluster, holder: str) -> None:
    lease = sim.get("leases", "default", lease_name("web"))
    lease["spec"]["holderIdentity"] = holder
    sim.apply(lease)


def test_renewal_moves_renew_time_and_keeps_acquire_time(sim: SimCluster, kubeconfig: Path) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    first = spec(sim)
    clocks.advance(20)
    assert lock.renew()
    after = spec(sim)
    assert after["holderIdentity"] == "run-1"
    assert after["acquireTime"] == first["acquireTime"]
    assert after["renewTime"] > first["renewTime"]
    clocks.advance(20)  # 40 s since acquire, 20 s since the last renewal: still ours
    lock.check()
    assert lock.release() is None
    assert spec(sim).get("holderIdentity") in (None, "")


def test_a_renewal_that_finds_the_lease_taken_over_marks_the_lock_lost(
    sim: SimCluster, kubeconfig: Path
) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    set_holder(sim, "github:shop/web/actions/runs/4242#1/deploy/ab12cd")
    assert not lock.renew()
    assert lock.lost and "github:shop/web/actions/runs/4242#1/deploy/ab12cd" in lock.lost
    with pytest.raises(ConcurrentChange) as err:
        lock.check()
    assert err.value.exit_code == 4
    assert "https://github.com/shop/web/actions/runs/4242" in str(err.value)
    # a lost lock is not released by us: the new holder keeps it
    assert lock.release() is None
    assert spec(sim)["holderIdentity"] == "github:shop/web/actions/runs/4242#1/deploy/ab12cd"


def test_a_renewal_that_finds_a_change_it_did_not_write_marks_the_lock_lost(
    sim: SimCluster, kubeconfig: Path
) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    lease = sim.get("leases", "default", lease_name("web"))
    lease["spec"]["renewTime"] = "2030-01-01T00:00:00.000000Z"  # someone else wrote our record
    sim.apply(lease)
    assert not lock.renew()
    assert lock.lost and "changed by someone else" in lock.lost
    with pytest.raises(ConcurrentChange):
        lock.check()


def test_a_renewal_never_recreates_a_deleted_lease(sim: SimCluster, kubeconfig: Path) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    sim.delete("leases", "default", lease_name("web"))
    assert not lock.renew()
    assert lock.lost and "deleted" in lock.lost
    assert sim.store.get_shared("leases", "default", lease_name("web")) is None


def test_a_renewal_whose_reply_was_lost_keeps_the_lock(sim: SimCluster, kubeconfig: Path) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    clocks.advance(10)
    # The PATCH lands, its reply is lost; the retry's resourceVersion test then fails.
    sim.faults.add(method="PATCH", path=r"/leases/", apply=True, count=1)
    assert lock.renew()
    assert lock.lost is None
    clocks.advance(10)
    assert lock.renew()
    assert lock.release() is None


def test_renewals_failing_for_a_whole_lease_duration_mark_the_lock_lost(
    sim: SimCluster, kubeconfig: Path
) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    sim.faults.add(method="PATCH", path=r"/leases/", status=503, count=None)
    clocks.advance(10)
    assert not lock.renew()
    assert lock.lost is None, "one failed renewal is retried; the lease outlives it"
    clocks.advance(20)  # 30 s since the last renewal that landed: another run may take the lease now
    assert not lock.renew()
    assert lock.lost and "could not be renewed for 30s" in lock.lost
    with pytest.raises(ConcurrentChange):
        lock.check()


def test_check_fails_once_our_last_renewal_is_a_lease_duration_old(sim: SimCluster, kubeconfig: Path) -> None:
    """Even before the renewal thread notices (it may be stuck in a request), check() judges by our clock."""
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    clocks.advance(29)
    lock.check()
    clocks.advance(1)
    with pytest.raises(ConcurrentChange, match="not renewed for 30s"):
        lock.check()


def test_check_lease_on_a_lease_held_by_another_names_it(sim: SimCluster, kubeconfig: Path) -> None:
    clocks = Clocks()
    lock = make_lock(kubeconfig, clocks)
    lock.acquire()
    lock.check_lease(lock.kube.get(LEASES, lock.name))
    set_holder(sim, "run-2")
    with pytest.raises(ConcurrentChange, match="now held by run-2") as err:
        lock.check_lease(lock.kube.get(LEASES, lock.name))
    assert err.value.exit_code == 4


def test_a_second_lock_sees_the_first_while_it_renews_and_takes_it_once_it_stops(
    sim: SimCluster, kubeconfig: Path
) -> None:
    clocks = Clocks()
    first = make_lock(kubeconfig, clocks, "run-1")
    first.acquire()
    second = make_lock(kubeconfig, clocks, "run-2")
    with pytest.raises(LockHeld, match="held by run-1"):
        second.acquire()
    for _ in range(3):  # run-1 renews every 20 s: its record keeps changing, so it never expires
        clocks.advance(20)
        assert first.renew()
        with pytest.raises(LockHeld, match="held by run-1"):
            second.acquire()
    clocks.advance(29)  # run-1 stopped renewing (crashed): 29 s unchanged is not yet 30
    with pytest.raises(LockHeld, match="free in 1s"):
        second.acquire()
    clocks.advance(1)
    assert second.acquire() is None
    assert spec(sim)["holderIdentity"] == "run-2"
    assert spec(sim)["leaseTransitions"] == 1
    assert not first.renew() and first.lost and "run-2" in first.lost
