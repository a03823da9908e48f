"""The release lock: one coordination.k8s.io/v1 Lease per Service, so two releases never overlap.

Expiry is judged as client-go's leader election judges it: we note the holder's record (holderIdentity,
renewTime, resourceVersion) and when *we* saw it on our own monotonic clock; the lease is expired only if
that record stays unchanged for leaseDurationSeconds measured on our clock. Another machine's timestamps
are never compared with ours, so a runner whose clock is fast cannot take a live run's lock. A released
lease (empty holderIdentity) is free at once. renewTime and acquireTime are still written, for humans.

Every write is a JSON patch whose first op tests the resourceVersion we read, so two runs racing for the
lease cannot both win, and a write never resurrects a Lease someone deleted.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from bluegreen.errors import ApiUnavailable, BluegreenError, ConcurrentChange, LockHeld
from bluegreen.kube import LEASES, Conflict, Informer, Invalid, Kube, NotFound, Patch, version_of

Obj = dict[str, Any]

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
# Write conflicts in a row (each means someone else wrote the Lease) before we give up taking it.
_MAX_RACES = 5


class _Unset(Enum):
    TOKEN = 0


UNSET = _Unset.TOKEN


# ------------------------------------------------------------------------------------------- names


def lease_name(service: str) -> str:
    """``bluegreen-<service>``; a name too long for 63 characters is cut and given a hash of the full name,
    so Services that share their first characters never share a lease. The hash joins with a dot, which a
    Service name cannot hold, so a cut name never equals the lease of another, shorter Service."""
    name = f"bluegreen-{service}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(service.encode()).hexdigest()[:10]
    return f"{name[: 63 - 11].rstrip('-.')}.{digest}"


def holder_identity(env: Mapping[str, str] = os.environ) -> str:
    """Who holds the lock, as a person reading `status` would want to know it, plus a per-run nonce:
    two jobs of one workflow run (a matrix) share every CI variable but must not share the lock."""
    nonce = uuid.uuid4().hex[:6]
    if env.get("GITHUB_RUN_ID"):
        host = _host(env.get("GITHUB_SERVER_URL", ""))
        at = f"@{host}" if host and host != "github.com" else ""
        repo = env.get("GITHUB_REPOSITORY", "")
        job = f"/{env['GITHUB_JOB']}" if env.get("GITHUB_JOB") else ""
        return (
            f"github{at}:{repo}/actions/runs/{env['GITHUB_RUN_ID']}#{env.get('GITHUB_RUN_ATTEMPT', '1')}"
            f"{job}/{nonce}"
        )
    if env.get("CI_JOB_ID"):
        host = _host(env.get("CI_SERVER_URL", ""))
        at = f"@{host}" if host else ""
        return f"gitlab{at}:{env.get('CI_PROJECT_PATH', '')}/jobs/{env['CI_JOB_ID']}/{nonce}"
    if env.get("BUILD_TAG"):
        return f"jenkins:{env['BUILD_TAG']}/{nonce}"
    return f"{socket.gethostname()}:{os.getpid()}/{nonce}"


def _host(url: str) -> str:
    return urlsplit(url).netloc if "://" in url else ""


_NONCE = re.compile(r"/[0-9a-f]{6}$")
_GITHUB = re.compile(
    r"^github(?:@(?P<host>[^:/]+))?:(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)(?P<rest>.*)$"
)
_GITLAB = re.compile(r"^gitlab(?:@(?P<host>[^:/]+))?:(?P<project>.+)/jobs/(?P<job>\d+)$")
_JENKINS = re.compile(r"^jenkins:(?P<tag>.+)$")
_PROCESS = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<pid>\d+)$")


def _release_link(identity: str) -> str | None:
    """PURE: the human name of the bluegreen run behind a holder identity, None if it is not one of ours."""
    bare = _NONCE.sub("", identity)
    if m := _GITHUB.match(bare):
        url = f"https://{m['host'] or 'github.com'}/{m['repo']}/actions/runs/{m['run']}"
        attempt, _, job = m["rest"].lstrip("#").partition("/")
        extra = [f"job {job}"] if job else []
        if attempt.isdigit() and attempt != "1":
            extra.append(f"attempt {attempt}")
        return f"GitHub Actions run {url}" + (f" ({', '.join(extra)})" if extra else "")
    if m := _GITLAB.match(bare):
        if m["host"]:
            return f"GitLab CI job https://{m['host']}/{m['project']}/-/jobs/{m['job']}"
        return f"GitLab CI job {m['job']} of {m['project']}"
    if m := _JENKINS.match(bare):
        return f"Jenkins build {m['tag']}"
    if bare != identity and (m := _PROCESS.match(bare)):
        return f"process {m['pid']} on host {m['host']}"
    return None


def other_release(identity: str) -> str:
    """PURE: a holder identity as a person reads it, e.g. "another bluegreen run: GitHub Actions run
    https://github.com/shop/web/actions/runs/4242"; an identity bluegreen did not write is quoted as is."""
    link = _release_link(identity)
    return f"another bluegreen run: {link}" if link else f"another holder: {identity}"


def _that_is(identity: str) -> str:
    link = _release_link(identity)
    return f"; that is another bluegreen run: {link}" if link else ""


# ------------------------------------------------------------------------------------------- times


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime(MICRO_TIME)


def _human_time(ts: str | None) -> str:
    """A holder's MicroTime to the second, for people; an unreadable one as it stands."""
    if not ts:
        return "an unknown time"
    for fmt in (MICRO_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(ts, fmt).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            continue
    return ts


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------ pure judgement


def _spec(lease: Obj | None) -> Obj:
    return dict((lease or {}).get("spec") or {})


def holder_of(lease: Obj | None) -> str:
    """PURE: the holder's identity, "" when the lease is released (or absent)."""
    return str(_spec(lease).get("holderIdentity") or "")


def describe_holder(lease: Obj | None) -> str | None:
    """PURE: who holds the lease and since when, by the holder's own record (for `status`). Says nothing
    about expiry: only a run that watches the record on its own clock can judge that."""
    holder = holder_of(lease)
    if not holder:
        return None
    spec = _spec(lease)
    parts = [f"acquired {_human_time(spec.get('acquireTime'))}"]
    if spec.get("renewTime"):
        parts.append(f"renewed at {_human_time(spec.get('renewTime'))} by the holder's clock")
    if spec.get("leaseDurationSeconds"):
        parts.append(f"lease duration {spec['leaseDurationSeconds']}s")
    return f"{holder} ({', '.join(parts)})"


@dataclass(frozen=True)
class Observation:
    """A holder's record as we saw it, and when, on our own clock (client-go's observedRecord and
    observedTime). ``seen_at`` moves only when the record changes."""

    holder: str
    renew_time: str
    version: str
    duration: float
    seen_at: float

    @property
    def record(self) -> tuple[str, str, str]:
        return (self.holder, self.renew_time, self.version)


def observe(lease: Obj, now: float, previous: Observation | None, default_duration: float) -> Observation:
    """PURE: the observation after reading ``lease`` at ``now`` (our clock): the previous one if the record
    is unchanged (so its age keeps growing), else a new one seen now."""
    spec = _spec(lease)
    duration = spec.get("leaseDurationSeconds")
    seen = Observation(
        holder=holder_of(lease),
        renew_time=str(spec.get("renewTime") or ""),
        version=version_of(lease),
        # A record without a valid duration gets ours: we never judge a lease free sooner than our own.
        duration=float(duration) if isinstance(duration, int) and duration > 0 else default_duration,
        seen_at=now,
    )
    if previous is not None and previous.record == seen.record:
        return previous
    return seen


def free_in(obs: Observation, now: float) -> float:
    """PURE: seconds (our clock) until the observed lease is free if its record stays unchanged; <= 0 means
    free now. A released lease is free at once."""
    if not obs.holder:
        return 0.0
    return obs.seen_at + obs.duration - now


def held_line(lease: Obj, obs: Observation, now: float) -> str:
    """PURE: "held by X (acquired T by its clock); free in 42s unless it renews"."""
    acquired = _human_time(_spec(lease).get("acquireTime") or _spec(lease).get("renewTime"))
    left = max(0, math.ceil(free_in(obs, now)))
    return f"held by {obs.holder} (acquired {acquired} by its clock); free in {left}s unless it renews"


# --------------------------------------------------------------------------------------------- the lock


class ReleaseLock:
    """The lease of one Service, taken by this run: acquire, renewed in the background, checked before
    every destructive write, released at the end."""

    def __init__(
        self,
        kube: Kube,
        service: str,
        *,
        duration: float,
        identity: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.kube = kube
        self.service = service
        self.name = lease_name(service)
        self.duration = float(duration)
        self.identity = identity or holder_identity()
        self.monotonic = monotonic
        self.wall = wall
        # Why we no longer hold the lease (taken over, changed, or not renewed in time); None while held.
        self.lost: str | None = None
        self._lease: Obj | None = None  # the Lease as we last wrote it, while we hold it
        self._renewed_at = 0.0  # our clock, when the last successful write was sent
        self._observed: Observation | None = None  # another holder's record, kept across acquire() calls
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------------------------ acquire

    def acquire(
        self,
        *,
        force: bool = False,
        wait: float = 0.0,
        seen: Obj | None | _Unset = UNSET,
        on_wait: Callable[[str], None] | None = None,
    ) -> str | None:
        """Take the lease; returns who held it when ``force`` overrode a live holder (for a warning).

        ``seen``: the Lease as the caller already read it (None: absent), saving a read. A lease held by
        another run raises LockHeld, unless ``wait`` > 0: then we watch the Lease until it is released, or
        its record stays unchanged for its duration on our clock, or ``wait`` runs out (LockHeld).
        ``on_wait`` hears who holds it and when it frees, each time that changes."""
        deadline = self.monotonic() + max(0.0, wait)
        lease = self.kube.get(LEASES, self.name) if isinstance(seen, _Unset) else seen
        watch = _LeaseWatch(self.kube, self.name)
        told: list[Observation] = []
        overridden: str | None = None
        races = 0
        try:
            while True:
                live = self._live_other(lease)
                if live is not None and lease is not None and not force:
                    self._wait_step(lease, live, deadline, wait, watch, on_wait, told)
                    lease = watch.current()
                    continue
                if live is not None:  # kept if a retry then finds our own lost write
                    overridden = describe_holder(lease)
                if (self._create() if lease is None else self._take(lease)) is not None:
                    break
                races += 1
                if races >= _MAX_RACES:
                    raise LockHeld(
                        f"could not take lease/{self.name}: it kept changing under us "
                        "(another release is starting)",
                        hint="look with `bluegreen status`, then re-run",
                    )
                lease = self.kube.get(LEASES, self.name)
        finally:
            watch.stop()
        self._observed = None
        self.lost = None
        if self._thread is None or not self._thread.is_alive():  # one renewer per lock, even if re-taken
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._renew_loop, args=(self._stop,), daemon=True, name=f"renew {self.name}"
            )
            self._thread.start()
        return overridden

    def _live_other(self, lease: Obj | None) -> Observation | None:
        """Our observation of ``lease`` if another run holds it and it has not expired on our clock; None
        when it is absent, released, ours, or its record stayed unchanged for its duration."""
        if lease is None:
            return None
        now = self.monotonic()
        obs = self._observed = observe(lease, now, self._observed, self.duration)
        if obs.holder in ("", self.identity) or free_in(obs, now) <= 0:
            return None
        return obs

    def _wait_step(
        self,
        lease: Obj,
        obs: Observation,
        deadline: float,
        wait: float,
        watch: _LeaseWatch,
        on_wait: Callable[[str], None] | None,
        told: list[Observation],
    ) -> None:
        """Raise LockHeld if ``wait`` ran out; else block until the Lease changes or, unchanged, expires."""
        now = self.monotonic()
        if deadline - now <= 0:
            raise self._held(lease, obs, now, waited=wait)
        if on_wait is not None and obs not in told:  # once per record, not per wake-up
            on_wait(f"lease/{self.name} is {held_line(lease, obs, now)}")
            told.append(obs)
        watch.start(lease)
        later = self.monotonic()  # on_wait may take a while (or, in tests, move the clock)
        watch.wait(min(deadline - later, free_in(obs, later)))

    def _held(self, lease: Obj, obs: Observation, now: float, *, waited: float) -> LockHeld:
        still = f" still in progress after waiting {waited:g}s" if waited > 0 else " in progress"
        return LockHeld(
            f"another release of service {self.service!r} is{still}: lease/{self.name} is "
            f"{held_line(lease, obs, now)}{_that_is(obs.holder)}",
            hint="wait for it (--lock-wait), or pass --force-unlock if you are sure that run is gone",
        )

    def _new_spec(self, previous: Obj | None) -> Obj:
        """Our record: acquireTime is kept when we re-take our own lease, else it is now; a change of holder
        counts as a transition."""
        prev = _spec(previous)
        now = _micro(self.wall())
        ours = previous is not None and holder_of(previous) == self.identity
        transitions = int(prev.get("leaseTransitions") or 0)
        return {
            **prev,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.duration)),
            "acquireTime": prev.get("acquireTime") if ours and prev.get("acquireTime") else now,
            "renewTime": now,
            "leaseTransitions": transitions + (0 if ours or previous is None else 1),
        }

    def _create(self) -> Obj | None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.kube.namespace,
                "labels": {"app.kubernetes.io/managed-by": "bluegreen"},
            },
            "spec": self._new_spec(None),
        }
        sent = self.monotonic()
        try:
            created = self.kube.create(LEASES, body)
        except Conflict:
            return None  # someone created it between our read and our create (or our lost reply did)
        self._hold(created, sent)
        return created

    def _take(self, lease: Obj) -> Obj | None:
        sent = self.monotonic()
        try:
            taken = self._write(lease, self._new_spec(lease))
        except (Conflict, Invalid, NotFound):
            return None  # it changed since we judged it: judge again
        self._hold(taken, sent)
        return taken

    def _hold(self, lease: Obj, sent: float) -> None:
        with self._mutex:
            self._lease = lease
            self._renewed_at = sent

    def _write(self, lease: Obj, spec: Obj, *, budget: bool = False) -> Obj:
        """Replace the spec, only if the Lease is still the version we read (a JSON-patch test)."""
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version_of(lease)},
            {"op": "replace", "path": "/spec", "value": spec},
        ]
        if not budget:
            return self.kube.patch(LEASES, self.name, ops, Patch.JSON)
        # A renewal must finish well within the lease, or the next one tries again.
        t = max(1.0, min(5.0, self.duration / 6))
        return self.kube.request(
            "PATCH",
            self.kube.path(LEASES, self.name),
            body=ops,
            content_type=str(Patch.JSON),
            timeout=(t, t),
            attempts=2,
        )

    # ------------------------------------------------------------------------------------ renewal

    def _renew_loop(self, stop: threading.Event) -> None:
        interval = max(1.0, self.duration / 3)
        while not stop.wait(interval):
            self.renew()
            if self.lost:
                return

    def renew(self) -> bool:
        """Write a new renewTime; True if it landed. Never raises: a failed renewal is tried again next
        interval, and one that finds the lease taken or changed, or fails for a whole lease duration on our
        clock, sets ``lost``."""
        with self._mutex:
            if self._lease is None or self.lost:
                return False
            mine = self._lease
            spec = {**_spec(mine), "renewTime": _micro(self.wall())}
            sent = self.monotonic()
            try:
                self._lease = self._write(mine, spec, budget=True)
                self._renewed_at = sent
                return True
            except (Conflict, Invalid, NotFound):
                pass
            except BluegreenError as e:
                self._lost_if_overdue(e)
                return False
            try:
                current = self.kube.get(LEASES, self.name)
            except BluegreenError as e:
                self._lost_if_overdue(e)
                return False
            if holder_of(current) == self.identity and _spec(current).get("renewTime") == spec["renewTime"]:
                self._lease, self._renewed_at = current, sent  # our write landed; its reply was lost
                return True
            self.lost = self._why_lost(mine, current)
            return False

    def _lost_if_overdue(self, error: BluegreenError) -> None:
        overdue = self.monotonic() - self._renewed_at
        if overdue >= self.duration:
            self.lost = (
                f"lease/{self.name} could not be renewed for {overdue:.0f}s ({error}); "
                "another run may have taken it"
            )

    def _why_lost(self, mine: Obj, current: Obj | None) -> str:
        if current is None:
            return f"lease/{self.name} was deleted while this run held it"
        holder = holder_of(current)
        if holder != self.identity:
            return f"lease/{self.name} was taken over by {holder or 'nobody'}{_that_is(holder)}"
        return (
            f"lease/{self.name} was changed by someone else while this run held it "
            f"(resourceVersion {version_of(mine)} -> {version_of(current)})"
        )

    # ------------------------------------------------------------------------------------- checks

    def check(self) -> None:
        """Raise ConcurrentChange (exit 4) if we no longer hold the lease: ``lost`` is set, or our last
        successful renewal is a whole lease duration old on our clock (another run may take it now)."""
        # No mutex: a renewal in flight holds it, and this check must not wait for that request.
        held = self._lease is not None
        overdue = self.monotonic() - self._renewed_at
        if held and not self.lost and overdue >= self.duration:
            self.lost = f"lease/{self.name} was not renewed for {overdue:.0f}s; another run may have taken it"
        if self.lost:
            raise ConcurrentChange(
                f"{self.lost}; stopped before the next write",
                hint="see what the other run did with `bluegreen status`, then re-run if needed",
            )

    def check_lease(self, lease: Obj | None) -> None:
        """Given a freshly read Lease (read beside the Service before a destructive write), raise
        ConcurrentChange (exit 4) if it is no longer held by us, saying who holds it now."""
        self.check()
        if lease is None:
            reason = f"lease/{self.name} was deleted while this run held it"
        elif (holder := holder_of(lease)) != self.identity:
            who = f"{holder}{_that_is(holder)}" if holder else "nobody (it was released)"
            reason = f"lease/{self.name} is now held by {who}"
        else:
            return
        raise ConcurrentChange(
            f"{reason}; stopped before the next write",
            hint="see what the other run did with `bluegreen status`, then re-run if needed",
        )

    # ------------------------------------------------------------------------------------ release

    def release(self) -> str | None:
        """Give the lease up (also after a failure), keeping the Lease object for the next run to reuse.

        Only if it is still ours: the write tests the resourceVersion. Never raises: a release that cannot be
        recorded must not hide how the release itself went. It returns a warning instead; the lease then
        expires by itself."""
        self._stop.set()  # a renewal in flight holds the mutex: we give the lease back after it
        self._thread = None
        with self._mutex:
            mine, self._lease = self._lease, None
            if mine is None or self.lost:
                return None
            try:
                for _ in range(2):
                    spec = {k: v for k, v in _spec(mine).items() if k != "holderIdentity"}
                    spec["renewTime"] = _micro(self.wall())
                    try:
                        self._write(mine, spec)
                        return None
                    except (Conflict, Invalid):
                        current = self.kube.get(LEASES, self.name)
                    except NotFound:
                        return None
                    if current is None or holder_of(current) != self.identity:
                        return None  # no longer ours: nothing to give back
                    mine = current
                raise ApiUnavailable("it kept changing under us")
            except BluegreenError as e:
                return (
                    f"lease/{self.name} could not be released ({e}); "
                    f"it expires by itself {self.duration:g}s after its last renewal"
                )
            except Exception as e:  # never let a release hide the outcome of the run
                return f"lease/{self.name} could not be released ({type(e).__name__}: {e})"


class _LeaseWatch:
    """The Lease, watched only once we have to wait for it: no polling, no list (it starts from the version
    we read), and a wake-up for every change."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube = kube
        self.name = name
        self.events: queue.Queue[Any] = queue.Queue()
        self.informer: Informer | None = None

    def start(self, known: Obj) -> None:
        if self.informer is None:
            self.informer = self.kube.informer(LEASES, fields=f"metadata.name={self.name}")
            self.informer.start(self.events, known=known)

    def wait(self, timeout: float) -> None:
        """Block until the watch reports something or ``timeout`` seconds pass, then drain the queue."""
        try:
            if timeout > 0:
                self.events.get(timeout=timeout)
            else:
                self.events.get_nowait()
        except queue.Empty:
            pass
        while not self.events.empty():
            self.events.get_nowait()
        if self.informer is not None and self.informer.error is not None:
            raise self.informer.error

    def current(self) -> Obj | None:
        return self.informer.objects.get(self.name) if self.informer is not None else None

    def stop(self) -> None:
        if self.informer is not None:
            self.informer.stop()
