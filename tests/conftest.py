"""Shared fixtures: a simulated cluster per test, started on a free port in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen.sim import SimCluster


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    cluster = SimCluster(ready_delay=0.0).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return sim.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine's backoff between retries is real time; tests shorten it rather than wait.
    monkeypatch.setenv("BLUEGREEN_RETRY_BASE_SECONDS", "0.001")
    # The drain before scale-down is real time; tests that are about it set their own.
    monkeypatch.setenv("BLUEGREEN_SCALE_DOWN_DELAY", "0")
