"""The release lock (Lease bluegreen-<service>): one release at a time, never a lock taken from a live run,
and never a lock that outlives its run.

These drive ReleaseLock against the simulated cluster. Expiry is judged on an injected monotonic clock
(never on the holder's timestamps), so no test sleeps; waits are driven by the Lease watch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bluegreen.errors import ConcurrentChange, LockHeld
from bluegreen.kube import LEASES, Kube
from bluegreen.lock import ReleaseLock, describe_holder, holder_identity, lease_name
from bluegreen.settings import Connection
from bluegreen.sim import RequestRecord, SimCluster
from tests.safety import NS, WEB, lease_holder

OTHER = "github:shop/web/actions/runs/4242#1"
OTHER_URL = "https://github.com/shop/web/actions/runs/4242"


class Ticks:
    """Our monotonic clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hold_lease(
    sim: SimCluster, *, holder: str | None = OTHER, age: float = 1.0, duration: int = 60, service: str = WEB
) -> datetime:
    """A Lease as another run holds it (renewed ``age`` seconds ago by the real clock); returns its
    acquireTime."""
    acquired = datetime.now(UTC) - timedelta(seconds=age + 5)
    spec: dict[str, Any] = {
        "leaseDurationSeconds": duration,
        "acquireTime": stamp(acquired),
        "renewTime": stamp(datetime.now(UTC) - timedelta(seconds=age)),
        "leaseTransitions": 3,
    }
    if holder is not None:
        spec["holderIdentity"] = holder
    sim.apply(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": lease_name(service), "namespace": NS},
            "spec": spec,
        }
    )
    return acquired


def make_lock(
    kubeconfig: Path,
    *,
    identity: str | None = None,
    duration: float = 60,
    ticks: Callable[[], float] | None = None,
    wall: Callable[[], datetime] | None = None,
    service: str = WEB,
) -> ReleaseLock:
    kube = Kube(Connection(kubeconfig=str(kubeconfig)))
    return ReleaseLock(
        kube,
        service,
        duration=duration,
        identity=identity,
        monotonic=ticks or Ticks(),
        wall=wall or (lambda: datetime.now(UTC)),
    )


def lease_writes(sim: SimCluster) -> list[RequestRecord]:
    return [r for r in sim.write_requests() if r.resource == "leases"]


def test_held_lease_blocks_a_second_run_and_names_holder_and_since(sim: SimCluster, kubeconfig: Path) -> None:
    since = hold_lease(sim)
    sim.clear_requests()
    with pytest.raises(LockHeld) as err:
        make_lock(kubeconfig).acquire()
    message = str(err.value)
    assert err.value.exit_code == 4
    assert OTHER in message and since.strftime("%Y-%m-%dT%H:%M:%SZ") in message
    assert OTHER_URL in message, "exit 4 names the other bluegreen run (issue 10.16)"
    assert "free in 60s unless it renews" in message
    assert "--force-unlock" in message and "--lock-wait" in message
    assert lease_writes(sim) == [], "the blocked run must not touch the other run's lock"
    assert lease_holder(sim) == OTHER
    # what `status` shows: the holder and its own times, no judgement by our clock
    described = describe_holder(sim.get("leases", NS, lease_name(WEB)))
    assert described and OTHER in described and "by the holder's clock" in described


def test_a_runner_whose_clock_is_90s_fast_cannot_take_a_lease_renewed_3s_ago(
    sim: SimCluster, kubeconfig: Path
) -> None:
    """Issue 10.2: the old lock compared the holder's renewTime with the local wall clock."""
    hold_lease(sim, age=3, duration=60)
    fast = make_lock(kubeconfig, wall=lambda: datetime.now(UTC) + timedelta(seconds=90))
    with pytest.raises(LockHeld, match="held by github:shop/web"):
        fast.acquire()
    assert lease_holder(sim) == OTHER


def test_a_lease_whose_record_stays_unchanged_for_its_duration_on_our_clock_is_taken(
    sim: SimCluster, kubeconfig: Path
) -> None:
    hold_lease(sim, age=1, duration=60)
    ticks = Ticks()
    lock = make_lock(kubeconfig, ticks=ticks)
    with pytest.raises(LockHeld, match="free in 60s"):
        lock.acquire()
    ticks.advance(59)
    with pytest.raises(LockHeld, match="free in 1s"):
        lock.acquire()
    ticks.advance(1)
    assert lock.acquire() is None, "an expired lease is taken, not forced"
    lease = sim.get("leases", NS, lease_name(WEB))
    assert lease["spec"]["holderIdentity"] == lock.identity
    assert lease["spec"]["leaseTransitions"] == 4, "taking a lease over counts as a transition"
    assert lock.release() is None
    assert not lease_holder(sim)


def test_a_holder_that_renews_is_never_taken_from_however_old_its_timestamps_look(
    sim: SimCluster, kubeconfig: Path
) -> None:
    hold_lease(sim, age=3600, duration=60)  # its clock is an hour slow: its renewTime looks ancient
    ticks = Ticks()
    lock = make_lock(kubeconfig, ticks=ticks)
    for _ in range(3):
        with pytest.raises(LockHeld):
            lock.acquire()
        ticks.advance(40)
        hold_lease(sim, age=3600, duration=60)  # it renews: a new resourceVersion
    with pytest.raises(LockHeld, match="free in 60s"):
        lock.acquire()


def test_a_released_lease_is_taken_at_once(sim: SimCluster, kubeconfig: Path) -> None:
    hold_lease(sim, holder=None, age=0)
    lock = make_lock(kubeconfig)
    assert lock.acquire() is None
    assert lease_holder(sim) == lock.identity


def test_force_takes_a_held_lease_and_says_whom_it_overrode(sim: SimCluster, kubeconfig: Path) -> None:
    hold_lease(sim)
    lock = make_lock(kubeconfig)
    overridden = lock.acquire(force=True)
    assert overridden and OTHER in overridden
    assert lease_holder(sim) == lock.identity
    assert lock.release() is None
    assert not lease_holder(sim)


def test_lease_released_after_the_run_so_the_next_run_starts_at_once(
    sim: SimCluster, kubeconfig: Path
) -> None:
    first = make_lock(kubeconfig, duration=600)
    first.acquire()
    assert first.release() is None
    assert not lease_holder(sim)
    # ...so the next run starts at once, with a 600 s lock that nobody waits out.
    nxt = make_lock(kubeconfig, duration=600)
    assert nxt.acquire() is None
    assert nxt.release() is None


def test_release_gives_back_only_a_lease_that_is_still_ours(sim: SimCluster, kubeconfig: Path) -> None:
    lock = make_lock(kubeconfig)
    lock.acquire()
    hold_lease(sim)  # someone forced it meanwhile; our renewal has not noticed yet
    assert lock.release() is None
    assert lease_holder(sim) == OTHER


def test_two_jobs_of_one_workflow_run_do_not_share_the_lock(sim: SimCluster, kubeconfig: Path) -> None:
    job = {"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "shop/web"}
    hold_lease(sim, holder=holder_identity({**job, "GITHUB_JOB": "deploy-eu"}))
    lock = make_lock(kubeconfig, identity=holder_identity({**job, "GITHUB_JOB": "deploy-us"}))
    with pytest.raises(LockHeld, match="deploy-eu"):
        lock.acquire()


def test_racing_for_a_free_lease_only_one_wins(sim: SimCluster, kubeconfig: Path) -> None:
    """We read 'no Lease'; another run's create lands first: ours must see 409 and back off."""
    raced: list[str] = []

    def create_it_first(rec: RequestRecord) -> None:
        if rec.method == "POST" and rec.resource == "leases" and not raced:
            raced.append("x")
            hold_lease(sim, age=0)

    sim.on_request(create_it_first)
    with pytest.raises(LockHeld, match=OTHER):
        make_lock(kubeconfig).acquire(seen=None)
    assert raced and lease_holder(sim) == OTHER


@pytest.mark.parametrize("existing", ["absent", "released"])
def test_two_acquirers_racing_exactly_one_wins(sim: SimCluster, kubeconfig: Path, existing: str) -> None:
    """Both read the same Lease (or its absence) in their snapshot, then write at once: the resourceVersion
    precondition (or create's AlreadyExists) lets exactly one through."""
    if existing == "released":
        hold_lease(sim, holder=None)
    seen = None if existing == "absent" else sim.get("leases", NS, lease_name(WEB))
    locks = [make_lock(kubeconfig, identity=f"run-{i}") for i in range(2)]
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(lock: ReleaseLock) -> None:
        start.wait()
        try:
            lock.acquire(seen=seen)
            outcomes[lock.identity] = "won"
        except LockHeld as e:
            outcomes[lock.identity] = str(e)

    threads = [threading.Thread(target=run, args=(lock,)) for lock in locks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [who for who, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == 2 and len(winners) == 1, outcomes
    loser = next(who for who in outcomes if who not in winners)
    assert f"held by {winners[0]}" in outcomes[loser]
    assert lease_holder(sim) == winners[0]


def test_a_take_over_is_found_by_the_next_renewal_and_check_stops_the_run(
    sim: SimCluster, kubeconfig: Path
) -> None:
    lock = make_lock(kubeconfig)
    lock.acquire()
    other = make_lock(kubeconfig, identity=OTHER + "/deploy/ab12cd")
    assert other.acquire(force=True)
    lock.renew()
    with pytest.raises(ConcurrentChange) as err:
        lock.check()
    assert err.value.exit_code == 4
    assert OTHER in str(err.value) and OTHER_URL in str(err.value)
    with pytest.raises(ConcurrentChange, match="taken over by github:shop/web"):
        lock.check_lease(lock.kube.get(LEASES, lock.name))
    assert lock.release() is None
    assert lease_holder(sim) == other.identity


def test_services_whose_long_names_share_60_characters_get_their_own_leases(
    sim: SimCluster, kubeconfig: Path
) -> None:
    """Issue 10.15: names were cut at 63 characters, so such Services shared one lease."""
    common = "checkout-" + "x" * 51
    eu = make_lock(kubeconfig, service=common + "-eu")
    us = make_lock(kubeconfig, service=common + "-us")
    assert eu.acquire() is None
    assert us.acquire() is None, "a release of one Service must not block the other"
    assert eu.name != us.name
    assert sim.get("leases", NS, eu.name)["spec"]["holderIdentity"] == eu.identity
    assert sim.get("leases", NS, us.name)["spec"]["holderIdentity"] == us.identity


# ------------------------------------------------------------------------------------- --lock-wait


def test_wait_returns_as_soon_as_the_holder_releases(sim: SimCluster, kubeconfig: Path) -> None:
    """Issue 10.13. Our clock never moves here, so only the Lease watch can end the wait."""
    holder = make_lock(kubeconfig, identity="run-1")
    holder.acquire()
    waiting = threading.Event()
    said: list[str] = []
    result: list[object] = []

    def on_wait(line: str) -> None:
        said.append(line)
        waiting.set()

    def wait_for_it() -> None:
        try:
            result.append(make_lock(kubeconfig, identity="run-2").acquire(wait=3600, on_wait=on_wait))
        except Exception as e:
            result.append(e)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert waiting.wait(timeout=60)
    assert holder.release() is None
    waiter.join(timeout=60)
    assert result == [None]
    assert lease_holder(sim) == "run-2"
    assert len(said) == 1 and said[0].startswith(f"lease/{lease_name(WEB)} is held by run-1 (acquired ")
    assert said[0].endswith("free in 60s unless it renews")


def test_wait_takes_a_lease_whose_holder_stopped_renewing(sim: SimCluster, kubeconfig: Path) -> None:
    """The holder renews once while we wait (the count starts again), then goes silent."""
    hold_lease(sim, duration=60)
    ticks = Ticks()
    said: list[str] = []

    def on_wait(line: str) -> None:
        said.append(line)
        if len(said) == 1:
            ticks.advance(59)
            hold_lease(sim, duration=60)  # it renews: our watch sees a new record
        else:
            ticks.advance(60)  # silent for its whole duration on our clock

    lock = make_lock(kubeconfig, ticks=ticks)
    assert lock.acquire(wait=3600, on_wait=on_wait) is None
    assert len(said) == 2, said
    assert lease_holder(sim) == lock.identity


def test_wait_that_runs_out_says_who_holds_it(sim: SimCluster, kubeconfig: Path) -> None:
    hold_lease(sim, duration=60)
    ticks = Ticks()
    lock = make_lock(kubeconfig, ticks=ticks)
    with pytest.raises(LockHeld) as err:
        lock.acquire(wait=30, on_wait=lambda _line: ticks.advance(31))
    assert "after waiting 30s" in str(err.value) and OTHER in str(err.value)
    assert "free in 29s" in str(err.value)
    assert lease_holder(sim) == OTHER


# ------------------------------------------------------------------------------------- lost replies


def test_a_lost_reply_to_our_create_still_leaves_the_lock_ours(sim: SimCluster, kubeconfig: Path) -> None:
    sim.faults.add(method="POST", path=r"/leases", apply=True, count=1)
    lock = make_lock(kubeconfig)
    assert lock.acquire() is None
    assert [r.method for r in lease_writes(sim)][:2] == ["POST", "POST"], "the create was sent again"
    assert lease_holder(sim) == lock.identity
    lock.check()
    assert lock.release() is None


def test_a_forced_take_whose_reply_was_lost_still_names_whom_it_overrode(
    sim: SimCluster, kubeconfig: Path
) -> None:
    hold_lease(sim)
    sim.faults.add(method="PATCH", path=r"/leases/", apply=True, count=1)
    lock = make_lock(kubeconfig)
    overridden = lock.acquire(force=True)
    assert [r.method for r in lease_writes(sim)][:2] == ["PATCH", "PATCH"], "the take was sent again"
    assert overridden and OTHER in overridden
    assert lease_holder(sim) == lock.identity
