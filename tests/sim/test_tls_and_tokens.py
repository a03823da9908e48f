"""TLS with the cluster's own CA, expiring tokens, and users of the exec (credential plugin) kind."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from bluegreen.sim.__main__ import main as sim_main
from bluegreen.sim.clock import FakeClock
from bluegreen.sim.tls import make_certificates
from tests.helpers import present


@pytest.fixture
def tls_sim() -> Iterator[SimCluster]:
    cluster = SimCluster(tls=True, auth=True).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def core_from(path: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(path)))


def test_tls_kubeconfig_carries_the_clusters_own_ca(
    tls_sim: SimCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_certificates(tmp_path / "other")  # a bundle that does not know our CA
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_cert))
    path = tls_sim.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert tls_sim.ca_pem is not None and tls_sim.ca_file is not None
    assert base64.b64decode(cluster["certificate-authority-data"]) == tls_sim.ca_pem
    assert tls_sim.ca_file.read_bytes() == tls_sim.ca_pem
    names = [present(s.metadata).name for s in core_from(path).list_namespaced_service("default").items]
    assert names == []
    assert tls_sim.requests[-1].user == "admin"


def test_tls_is_refused_by_a_client_that_does_not_trust_the_ca(tls_sim: SimCluster, tmp_path: Path) -> None:
    other = make_certificates(tmp_path / "other")
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(
            tls_sim.url + "/version", context=ssl.create_default_context(cafile=str(other.ca_cert))
        )
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    ctx = ssl.create_default_context(cafile=str(tls_sim.ca_file))
    req = urllib.request.Request(
        tls_sim.url + "/version", headers={"Authorization": f"Bearer {tls_sim.admin_token}"}
    )
    with urllib.request.urlopen(req, context=ctx) as resp:  # 127.0.0.1 is in the certificate
        assert json.loads(resp.read())["major"] == "1"


def test_issued_token_expires_on_the_cluster_clock_with_a_401_status(tmp_path: Path) -> None:
    clock = FakeClock()
    sim = SimCluster(clock=clock, auth=True).start()
    try:
        token = sim.issue_token("admin", ttl=60)
        core = core_from(sim.write_kubeconfig(tmp_path / "kc", token=token))
        core.list_namespaced_service("default")
        assert sim.tokens_minted == 1
        clock.advance(59)
        core.list_namespaced_service("default")
        clock.advance(1)
        with pytest.raises(ApiException) as e:
            core.list_namespaced_service("default")
        assert e.value.status == 401
        body = json.loads(present(e.value.body))
        assert (body["kind"], body["reason"], body["message"], body["code"]) == (
            "Status",
            "Unauthorized",
            "Unauthorized",
            401,
        )
        assert sim.requests[-1].status == 401 and sim.requests[-1].user is None
    finally:
        sim.stop()


def test_exec_plugin_under_a_real_plugins_name_mints_tokens_and_refreshes(
    tls_sim: SimCluster, tmp_path: Path
) -> None:
    plugin = tls_sim.install_exec_plugin(tmp_path, "aws")
    path = tls_sim.write_kubeconfig(
        tmp_path / "kc", exec_plugin=plugin, exec_args=["eks", "get-token", "--cluster-name", "sim"]
    )
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert user["exec"]["interactiveMode"] == "Never" and "token" not in user
    core = core_from(path)
    assert tls_sim.tokens_minted == 1
    core.list_namespaced_service("default")
    # a 900 s token is outside the client's five-minute early-refresh window: it is reused
    core.list_namespaced_service("default")
    assert tls_sim.tokens_minted == 1
    assert [r.user for r in tls_sim.requests[-2:]] == ["admin", "admin"]


def test_exec_plugin_short_lived_token_is_refreshed_before_each_request(
    tls_sim: SimCluster, tmp_path: Path
) -> None:
    # the official client refreshes a credential that expires within five minutes before every request
    path = tls_sim.write_kubeconfig(
        tmp_path / "kc", exec_plugin=sys.executable, exec_args=["-m", "bluegreen.sim.credential"], exec_ttl=3
    )
    core = core_from(path)
    core.list_namespaced_service("default")
    core.list_namespaced_service("default")
    assert tls_sim.tokens_minted == 3  # loading the config, then once per request


def test_exec_plugin_user_is_subject_to_rbac(tmp_path: Path) -> None:
    sim = SimCluster(rbac=True).start()
    try:
        sim.grant("dev", "default", [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}])
        plugin = sim.install_exec_plugin(tmp_path, "kubelogin")
        core = core_from(sim.write_kubeconfig(tmp_path / "kc", exec_plugin=plugin, exec_user="dev"))
        core.list_namespaced_service("default")
        with pytest.raises(ApiException) as e:
            core.list_namespaced_pod("default")
        assert e.value.status == 403
        assert 'User "dev" cannot list resource "pods"' in json.loads(present(e.value.body))["message"]
    finally:
        sim.stop()


def test_mint_endpoint_wants_the_mint_secret(sim: SimCluster) -> None:
    req = urllib.request.Request(
        sim.url + "/simulator/tokens",
        data=b'{"user": "admin"}',
        method="POST",
        headers={"Authorization": "Bearer x"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 401
    assert sim.tokens_minted == 0 and sim.requests == []


def test_cli_on_a_port_in_use_says_so_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc = sim_main(["--port", str(port), "--kubeconfig-out", str(tmp_path / "kc"), "--no-seed"])
    out = capsys.readouterr()
    assert rc == 2
    assert out.err == f"port {port} is in use; pass --port\n"
    assert not (tmp_path / "kc").exists()
