"""kubectl, the other client users point at a cluster, against the simulated API server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bluegreen.sim import SimCluster

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def kubectl(kubeconfig: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    # a private discovery cache: every test's server has a new port anyway
    return subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--request-timeout",
            "10s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_get_deployments_and_services_as_tables(sim: SimCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sim.seed_app("web", replicas=2)
    out = kubectl(kubeconfig, tmp_path, "get", "deployments,services")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("deployment.apps/web-blue") and "2/2" in line for line in lines), out.stdout
    assert any(line.startswith("service/web") and "80/TCP" in line for line in lines), out.stdout


def test_rollout_status_waits_for_the_deployment(sim: SimCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sim.seed_app("web", replicas=2)
    out = kubectl(kubeconfig, tmp_path, "rollout", "status", "deployment/web-blue", "--timeout=20s")
    assert out.returncode == 0, out.stderr
    assert 'deployment "web-blue" successfully rolled out' in out.stdout


def test_unknown_object_is_reported_like_a_real_cluster(
    sim: SimCluster, kubeconfig: Path, tmp_path: Path
) -> None:
    out = kubectl(kubeconfig, tmp_path, "get", "deployment", "ghost")
    assert out.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "ghost" not found' in out.stderr
