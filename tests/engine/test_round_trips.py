"""Serial round trips, counted at the simulator: what a runner far from its API server waits for.

The simulator adds latency to every request so that requests sent together overlap and count once
(bluegreen/sim/stats.py says why counts need it). These are counts, not times: they fail when a change
adds a request in series, whatever the machine's speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen.sim import SimCluster
from tests.helpers import run_cli

LATENCY = 0.05
V1, V2, V3 = "registry.example/web:1.0", "registry.example/web:2.0", "registry.example/web:3.0"
# Excluded besides watches: traffic to the app (smoke checks through the service proxy) and pod logs.
NOT_API = ("proxy", "log", "discovery")


@pytest.fixture
def slow() -> Iterator[SimCluster]:
    cluster = SimCluster(ready_delay=0.0, latency=LATENCY).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _release(sim: SimCluster, kubeconfig: Path, image: str, *args: str) -> tuple[int, int]:
    mark = sim.mark()
    r = run_cli(kubeconfig, "deploy", "--service", "web", "--image", image, "--smoke-path", "/healthz", *args)
    assert r.exit_code == 0, r.log
    stats = sim.stats(since=mark, exclude=NOT_API)
    return stats.round_trips, stats.requests


def test_a_release_makes_at_most_8_serial_round_trips(slow: SimCluster, tmp_path: Path) -> None:
    slow.seed_app("web", image=V1, replicas=2, color="blue")
    kubeconfig = slow.write_kubeconfig(tmp_path / "kubeconfig")
    first, _ = _release(slow, kubeconfig, V2)
    second, _ = _release(slow, kubeconfig, V3)  # reuses the idle colour: a replace instead of a create
    assert first <= 8, first
    assert second <= 8, second


def test_a_rollback_makes_at_most_4_serial_round_trips(slow: SimCluster, tmp_path: Path) -> None:
    slow.seed_app("web", image=V1, replicas=2, color="blue")
    kubeconfig = slow.write_kubeconfig(tmp_path / "kubeconfig")
    _release(slow, kubeconfig, V2)
    mark = slow.mark()
    r = run_cli(kubeconfig, "rollback", "--service", "web")
    assert r.exit_code == 0, r.log
    assert slow.stats(since=mark, exclude=NOT_API).round_trips <= 4


def _requests_for(replicas: int, tmp_path: Path) -> int:
    with SimCluster(ready_delay=0.0) as sim:
        sim.seed_app("web", image=V1, replicas=replicas, color="blue")
        kubeconfig = sim.write_kubeconfig(tmp_path / f"kubeconfig-{replicas}")
        mark = sim.mark()
        r = run_cli(kubeconfig, "deploy", "--service", "web", "--image", V2)
        assert r.exit_code == 0, r.log
        return sim.stats(since=mark, exclude=NOT_API).requests


def test_requests_per_release_are_the_same_for_1_and_50_replicas(tmp_path: Path) -> None:
    # No latency needed: this counts requests, not round trips. Pods are watched, never fetched one by one.
    assert _requests_for(1, tmp_path) == _requests_for(50, tmp_path)
