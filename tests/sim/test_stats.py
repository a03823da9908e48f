"""Request, connection and serial round-trip counts (sim.stats), and the modelled latency."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from bluegreen.sim import RequestRecord, SimCluster
from bluegreen.sim.stats import Interval, Mark, compute, serial_round_trips


def test_serial_round_trips_is_the_longest_chain() -> None:
    assert serial_round_trips([]) == 0
    # three parallel requests, then one after them all: two round trips
    assert serial_round_trips([(0, 10), (1, 11), (2, 12), (13, 20)]) == 2
    # a long request overlapping two short serial ones: the chain of short ones wins
    assert serial_round_trips([(0, 100), (1, 2), (3, 4)]) == 2
    # touching is not after: the next request starts strictly after the previous one ended
    assert serial_round_trips([(0, 1), (1, 2)]) == 1


def test_compute_window_and_exclusions() -> None:
    ivs = [
        Interval(0, 1, "api", 1),
        Interval(2, 3, "watch", 1),
        Interval(4, 5, "proxy", 2),
        Interval(6, 7, "api", 2),
    ]
    opened = {1: 0.0, 2: 3.5}
    s = compute(ivs, opened)
    assert (s.requests, s.connections, s.round_trips, s.watches) == (4, 2, 3, 1)
    s = compute(ivs, opened, exclude=("proxy",))
    assert (s.requests, s.round_trips) == (3, 2)
    s = compute(ivs, opened, since=Mark(3.6))
    assert (s.requests, s.connections, s.round_trips) == (2, 0, 2)  # connection 2 was opened before


@pytest.fixture
def slow_sim() -> Iterator[SimCluster]:
    # 50 ms: far above thread start-up noise, so parallel requests overlap and serial ones chain
    cluster = SimCluster(latency=0.05).start()
    try:
        cluster.seed_app("web", replicas=1)
        yield cluster
    finally:
        cluster.stop()


def test_serial_requests_on_one_connection(slow_sim: SimCluster) -> None:
    mark = slow_sim.mark()
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(slow_sim.url + "/api/v1/namespaces/default/services/web").ok
    stats = slow_sim.stats(since=mark)
    assert (stats.requests, stats.connections, stats.round_trips, stats.watches) == (3, 1, 3, 0)


def test_new_connections_are_counted(slow_sim: SimCluster) -> None:
    mark = slow_sim.mark()
    for _ in range(2):
        assert requests.get(slow_sim.url + "/api/v1/namespaces/default/services/web").ok
    assert slow_sim.stats(since=mark).connections == 2


def test_parallel_requests_are_one_round_trip(slow_sim: SimCluster) -> None:
    # each request waits in a hook until all three have arrived: they overlap whatever the scheduling
    arrived = threading.Barrier(3, timeout=10)

    def hold(record: RequestRecord) -> None:
        arrived.wait()

    remove = slow_sim.on_request(hold)
    mark = slow_sim.mark()
    url = slow_sim.url + "/api/v1/namespaces/default/services/web"
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(requests.get(url).status_code)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    remove()
    assert results == [200, 200, 200]
    # and one more after them: a second round trip
    assert requests.get(url).ok
    stats = slow_sim.stats(since=mark)
    assert (stats.requests, stats.round_trips, stats.connections) == (4, 2, 4)


def test_watches_never_count_and_proxy_can_be_left_out(slow_sim: SimCluster) -> None:
    mark = slow_sim.mark()
    base = slow_sim.url + "/api/v1/namespaces/default"
    with requests.Session() as s:
        assert s.get(base + "/pods?watch=true&timeoutSeconds=1").ok
        assert s.get(base + "/services/web:http/proxy/").ok
        assert s.get(base + "/services/web").ok
    assert slow_sim.stats(since=mark).round_trips == 2
    stats = slow_sim.stats(since=mark, exclude=("proxy",))
    assert (stats.requests, stats.watches, stats.round_trips) == (2, 1, 1)
    assert [r.kind for r in slow_sim.requests[-3:]] == ["watch", "proxy", "api"]
