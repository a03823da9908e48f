"""Bearer-token authentication and RBAC of the simulated API server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from tests.helpers import present


@pytest.fixture
def rbac_sim() -> Iterator[SimCluster]:
    cluster = SimCluster(rbac=True).start()
    try:
        cluster.seed_app("web", replicas=1)
        yield cluster
    finally:
        cluster.stop()


def core_as(sim: SimCluster, tmp_path: Path, token: str | None) -> client.CoreV1Api:
    path = sim.write_kubeconfig(tmp_path / f"kubeconfig-{token}", token=token)
    return client.CoreV1Api(config.new_client_from_config(config_file=str(path)))


def test_kubeconfig_is_private_and_points_at_the_cluster(sim: SimCluster, kubeconfig: Path) -> None:
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    text = kubeconfig.read_text()
    assert sim.url in text and sim.admin_token in text and "namespace: default" in text


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_unknown_or_missing_token_is_401(rbac_sim: SimCluster, tmp_path: Path, token: str | None) -> None:
    core = core_as(rbac_sim, tmp_path, "wrong-token")
    if token is None:
        core.api_client.configuration.api_key = {}
    with pytest.raises(ApiException) as e:
        core.list_namespaced_service("default")
    assert e.value.status == 401
    assert json.loads(present(e.value.body))["message"] == "Unauthorized"
    assert rbac_sim.requests[-1].status == 401 and rbac_sim.requests[-1].user is None


def test_admin_token_may_do_anything(rbac_sim: SimCluster, tmp_path: Path) -> None:
    core = core_as(rbac_sim, tmp_path, None)
    assert [present(s.metadata).name for s in core.list_namespaced_service("default").items] == ["web"]
    assert rbac_sim.requests[-1].user == "admin"


def test_rbac_denies_what_was_not_granted_with_real_message(rbac_sim: SimCluster, tmp_path: Path) -> None:
    rbac_sim.add_token("dev-token", "dev")
    rbac_sim.grant(
        "dev", "default", [{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]
    )
    core = core_as(rbac_sim, tmp_path, "dev-token")
    assert present(core.read_namespaced_service("web", "default").metadata).name == "web"
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "y"}}})
    st = json.loads(present(e.value.body))
    assert e.value.status == 403 and st["reason"] == "Forbidden"
    assert st["message"] == (
        'services "web" is forbidden: User "dev" cannot patch resource "services" '
        'in API group "" in the namespace "default"'
    )
    assert "x" not in (rbac_sim.get("services", "default", "web")["metadata"].get("labels") or {})
    with pytest.raises(ApiException) as e:
        core.list_namespaced_service("kube-system")
    assert e.value.status == 403  # the grant is for namespace default only


def test_rbac_cluster_scope_message(rbac_sim: SimCluster, tmp_path: Path) -> None:
    rbac_sim.add_token("dev-token", "dev")
    core = core_as(rbac_sim, tmp_path, "dev-token")
    with pytest.raises(ApiException) as e:
        core.list_namespace()
    assert json.loads(present(e.value.body))["message"] == (
        'namespaces is forbidden: User "dev" cannot list resource "namespaces" in API group "" at the cluster scope'
    )


def test_rbac_subresources_groups_and_resource_names(rbac_sim: SimCluster, tmp_path: Path) -> None:
    rbac_sim.add_token("dev-token", "dev")
    rbac_sim.grant(
        "dev",
        "default",
        [
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]},
            {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "verbs": ["get"],
                "resourceNames": ["other"],
            },
        ],
    )
    path = rbac_sim.write_kubeconfig(tmp_path / "kc", token="dev-token")
    apps = client.AppsV1Api(config.new_client_from_config(config_file=str(path)))
    assert present(apps.read_namespaced_deployment_scale("web-blue", "default").spec).replicas == 1
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment("web-blue", "default")
    assert e.value.status == 403
    assert json.loads(present(e.value.body))["message"] == (
        'deployments.apps "web-blue" is forbidden: User "dev" cannot get resource "deployments" in API group '
        '"apps" in the namespace "default"'
    )
