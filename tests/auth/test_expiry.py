"""Tokens that expire: every API call and the smoke proxy session use the current one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bluegreen import targets
from bluegreen.errors import PermissionDenied
from bluegreen.kube import SERVICES, Kube
from bluegreen.log import StepLog
from bluegreen.settings import Connection
from bluegreen.sim import SimCluster
from bluegreen.smoke import LocalForwarder, SmokeCheck, run_check, run_command

from .conftest import Plugins, exec_kubeconfig, revoke, token_kubeconfig

NAMESPACE = "/api/v1/namespaces/default"


@pytest.fixture
def log() -> StepLog:
    return StepLog(io.StringIO(), github=False, tty=False)


@pytest.fixture
def kube(plugins: Plugins, auth_sim: SimCluster, tmp_path: Path) -> Kube:
    return Kube(Connection(kubeconfig=str(exec_kubeconfig(tmp_path / "kubeconfig", auth_sim.url))))


def users(sim: SimCluster) -> list[str | None]:
    return [r.user for r in sim.requests]


def test_expired_token_is_renewed_when_its_expiration_timestamp_passes(
    plugins: Plugins, auth_sim: SimCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PLUGIN_FIRST_EXPIRED", "1")
    kube = Kube(Connection(kubeconfig=str(exec_kubeconfig(tmp_path / "kubeconfig", auth_sim.url))))
    assert plugins.runs == 1
    for _ in range(3):
        kube.request("GET", NAMESPACE)
    # The first token had expired: renewed before the first request, then the new one is kept.
    assert plugins.runs == 2
    assert kube.credentials.token() == "tok-2"
    assert [r.status for r in auth_sim.requests] == [200, 200, 200]


def test_token_expiring_mid_run_is_renewed_for_api_calls(
    kube: Kube, plugins: Plugins, auth_sim: SimCluster
) -> None:
    kube.request("GET", NAMESPACE)
    revoke(auth_sim, "tok-1")
    kube.request("GET", NAMESPACE)  # 401, renewed, retried once
    kube.request("GET", NAMESPACE)
    assert plugins.runs == 2
    assert [r.status for r in auth_sim.requests] == [200, 401, 200, 200]


def test_token_expiring_mid_run_is_renewed_for_the_proxy_session(
    kube: Kube, plugins: Plugins, auth_sim: SimCluster, log: StepLog
) -> None:
    service = kube.request("GET", kube.path(SERVICES, "web"))
    target = targets.smoke_target(kube, service, "proxy")
    check = SmokeCheck(path="/")
    assert run_check(check, target, log).ok
    revoke(auth_sim, "tok-1")
    assert run_check(check, target, log).ok
    assert run_check(check, target, log).ok
    assert plugins.runs == 2
    assert [r.status for r in auth_sim.requests if "/proxy" in r.path] == [200, 401, 200, 200]


def test_forwarder_for_a_smoke_command_uses_the_current_token(
    kube: Kube, plugins: Plugins, auth_sim: SimCluster, log: StepLog, tmp_path: Path
) -> None:
    service = kube.request("GET", kube.path(SERVICES, "web"))
    target = targets.smoke_target(kube, service, "proxy")
    fetch = "python3 -c \"import os, urllib.request; urllib.request.urlopen(os.environ['BLUEGREEN_PREVIEW_URL'] + '/')\""
    with LocalForwarder(target, log=log) as fwd:
        assert run_command(fetch, fwd.url, log, 30).ok
        revoke(auth_sim, "tok-1")
        assert run_command(fetch, fwd.url, log, 30).ok
    assert plugins.runs == 2


def test_revoked_static_token_says_what_to_do(auth_sim: SimCluster, tmp_path: Path) -> None:
    auth_sim.add_token("static", "ci")
    kube = Kube(Connection(kubeconfig=str(token_kubeconfig(tmp_path / "kc", auth_sim.url, "static"))))
    kube.request("GET", NAMESPACE)
    revoke(auth_sim, "static")
    with pytest.raises(PermissionDenied) as e:
        kube.request("GET", NAMESPACE)
    assert "rejected the credentials of kubeconfig user 'ci' (401 Unauthorized)" in str(e.value)
    assert "kubectl create token" in str(e.value)
    assert [r.status for r in auth_sim.requests] == [200, 401]  # nothing to renew: no retry


def test_plugin_token_the_server_never_accepts_is_tried_twice_then_named(
    kube: Kube, plugins: Plugins, auth_sim: SimCluster
) -> None:
    for n in range(1, 21):
        revoke(auth_sim, f"tok-{n}")
    with pytest.raises(PermissionDenied) as e:
        kube.request("GET", NAMESPACE)
    assert "exec plugin 'aws'" in str(e.value) and "also after asking the plugin for a new one" in str(
        e.value
    )
    assert plugins.runs == 2
    assert [r.status for r in auth_sim.requests] == [401, 401]
