"""Exec credential plugins: run when installed, one clear line when not, and nothing on stderr."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bluegreen import kubeconfig
from bluegreen.errors import InputError
from bluegreen.kube import Kube
from bluegreen.settings import Connection
from bluegreen.sim import SimCluster

from .conftest import PLUGINS, Plugins, exec_kubeconfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", PLUGINS)
def test_exec_plugin_kubeconfig_works_end_to_end(
    command: str, plugins: Plugins, auth_sim: SimCluster, tmp_path: Path
) -> None:
    path = exec_kubeconfig(tmp_path / "kubeconfig", auth_sim.url, command=command)
    kube = Kube(Connection(kubeconfig=str(path)))
    assert kube.namespace == "default"
    services = kube.request("GET", "/api/v1/namespaces/default/services")
    assert [s["metadata"]["name"] for s in services["items"]] == ["web"]
    assert auth_sim.requests[-1].user == "eks-user"
    assert plugins.runs == 1  # a token valid for an hour is reused


def test_missing_plugin_is_one_line_naming_user_command_and_ways_forward(
    auth_sim: SimCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    path = exec_kubeconfig(tmp_path / "kubeconfig", auth_sim.url, command="aws", user="eks")
    with caplog.at_level(logging.DEBUG), pytest.raises(InputError) as e:
        kubeconfig.load(Connection(kubeconfig=str(path)))
    line = str(e.value)
    assert "\n" not in line
    assert "kubeconfig user 'eks' runs 'aws' (exec credential plugin), which is not installed" in line
    assert "with a token" in line and "README: Authentication" in line
    assert not caplog.records  # the client never ran it, so it logged nothing
    assert auth_sim.requests == []


def test_missing_plugin_in_a_container_points_at_host_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(kubeconfig, "in_container", lambda: True)
    path = exec_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", command="kubelogin", user="aks")
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection(kubeconfig=str(path)))
    assert "user 'aks' runs 'kubelogin'" in str(e.value) and "not installed in this container" in str(e.value)
    assert "host mode: uses: " in str(e.value)


def _load_in_subprocess(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter, as the CLI runs: logging has no handlers, so a `logging.error` would print.
    script = (
        "import sys\n"
        "from bluegreen import kubeconfig\n"
        "from bluegreen.errors import BluegreenError\n"
        "from bluegreen.settings import Connection\n"
        "try:\n"
        f"    kubeconfig.load(Connection(kubeconfig={str(path)!r}))\n"
        "except BluegreenError as e:\n"
        "    print(e)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_plugin_prints_no_error_root_line(tmp_path: Path) -> None:
    path = exec_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", command="aws")
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    done = _load_in_subprocess(path, env)
    assert "ERROR:root" not in done.stderr and done.stderr == ""
    assert "runs 'aws' (exec credential plugin), which is not installed" in done.stdout


def test_failing_plugin_is_named_with_its_error_and_no_error_root_line(
    plugins: Plugins, tmp_path: Path
) -> None:
    path = exec_kubeconfig(
        tmp_path / "kubeconfig", "http://127.0.0.1:1", command="aws", env={"FAKE_PLUGIN_FAIL": "1"}
    )
    done = _load_in_subprocess(path, dict(os.environ))
    assert "ERROR:root" not in done.stderr and done.stderr == ""
    assert "kubeconfig user 'eks' runs 'aws' (exec credential plugin), which failed" in done.stdout
    assert "not logged in" in done.stdout


def test_client_log_records_go_to_our_debug() -> None:
    seen: list[str] = []
    kubeconfig.quiet_client_logs(seen.append)
    try:
        logging.getLogger("kubernetes.client.rest").warning("from the client")
        assert seen == ["kubernetes.client.rest: from the client"]
    finally:
        assert kubeconfig._quiet is not None
        logging.getLogger().removeHandler(kubeconfig._quiet)
        kubeconfig._quiet = None


def test_exec_plugin_output_reaches_the_sim_as_the_token(
    plugins: Plugins, auth_sim: SimCluster, tmp_path: Path
) -> None:
    path = exec_kubeconfig(tmp_path / "kubeconfig", auth_sim.url)
    kube = Kube(Connection(kubeconfig=str(path)))
    assert kube.credentials.token() == "tok-1"
    assert kube.credentials.plugin == "aws" and kube.credentials.renewable
    assert (
        json.loads(json.dumps(kube.request("GET", "/api/v1/namespaces/default")))["metadata"]["name"]
        == "default"
    )
