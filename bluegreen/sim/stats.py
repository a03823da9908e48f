"""Counting what a client costs the API server: requests, TCP connections, and serial round trips.

A client far from its API server pays one network round trip per request it has to wait for. What
matters for a tool like ours is not how many requests it sends, but how many it sends *one after the
other*: requests sent in parallel cost one round trip together. From the server's side every request
is an interval [received, responded]; the **serial round trips** of a stretch of work are the largest
number of those intervals that form a chain, each received after the previous one was answered (a
client cannot send a request that depends on an answer before it has that answer). Greedy by end time
finds the longest such chain.

The measure is only meaningful with an added latency (``SimCluster(latency=...)``) well above the
noise of starting a thread or scheduling one: without it, two requests a client sends "in parallel"
may well be handled one after the other (the second thread started a millisecond late, after the
first was answered) and count as two round trips. With 50-100 ms of latency two parallel requests
overlap for almost all of it, and only truly serial requests chain. Use such a latency in tests that
assert counts; watches are never counted (they are long-lived streams, not round trips).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

# kinds of request that a caller may leave out of the counts (besides watches, which never count)
PROXY = "proxy"  # services/NAME/proxy and pods/NAME/proxy: traffic to the app, not to the API
LOG = "log"  # pods/NAME/log
DISCOVERY = "discovery"  # /api, /apis, /version, ...: what client libraries fetch on their own


@dataclass(frozen=True)
class Interval:
    """One request as the server saw it: received at ``start``, answered at ``end`` (monotonic seconds)."""

    start: float
    end: float
    kind: str  # "api", "watch", PROXY, LOG or DISCOVERY
    connection: int


@dataclass(frozen=True)
class Mark:
    """A point in time to count from: ``sim.stats(since=sim.mark())``."""

    at: float


@dataclass(frozen=True)
class Stats:
    requests: int  # requests received (watches included, excluded kinds not)
    connections: (
        int  # TCP connections that carried at least one of those requests and were opened in the window
    )
    round_trips: int  # serial round trips on the critical path (watches never count)
    watches: int  # watch requests among ``requests``


def serial_round_trips(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals that form a chain, each starting after the previous one ended.
    Greedy by end time is optimal (the classic interval-scheduling argument)."""
    count, last_end = 0, float("-inf")
    for start, end in sorted(intervals, key=lambda iv: iv[1]):
        if start > last_end:
            count += 1
            last_end = end
    return count


def compute(
    intervals: Iterable[Interval],
    connections_opened: dict[int, float],
    since: Mark | None = None,
    exclude: Collection[str] = (),
) -> Stats:
    """Stats over the requests received at or after ``since`` whose kind is not in ``exclude``."""
    t0 = since.at if since is not None else float("-inf")
    chosen = [iv for iv in intervals if iv.start >= t0 and iv.kind not in exclude]
    conns = {iv.connection for iv in chosen if connections_opened.get(iv.connection, t0) >= t0}
    return Stats(
        requests=len(chosen),
        connections=len(conns),
        round_trips=serial_round_trips((iv.start, iv.end) for iv in chosen if iv.kind != "watch"),
        watches=sum(1 for iv in chosen if iv.kind == "watch"),
    )
