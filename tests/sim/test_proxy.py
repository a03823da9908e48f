"""The service proxy (/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH) and pod logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import requests
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from tests.helpers import present


def get(sim: SimCluster, path: str) -> requests.Response:
    return requests.get(sim.url + path, timeout=5, headers={"Authorization": f"Bearer {sim.admin_token}"})


def hand_made_backend(sim: SimCluster, ready: bool = True) -> None:
    """A selector-less Service with hand-written Endpoints (no controller touches those), and two pods."""
    for name in ("p1", "p2"):
        sim.store.create(
            "pods",
            {
                "metadata": {
                    "name": name,
                    "namespace": "default",
                    "labels": {"app": "manual", "version": "green"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/manual:2.0",
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
                "status": {"phase": "Running", "podIP": f"10.0.0.{name[-1]}"},
            },
        )
    sim.store.create(
        "services",
        {
            "metadata": {"name": "manual", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
    )
    addresses: list[dict[str, Any]] = [
        {"ip": f"10.0.0.{n[-1]}", "targetRef": {"kind": "Pod", "name": n, "namespace": "default"}}
        for n in ("p1", "p2")
    ]
    subsets = [
        {
            "addresses" if ready else "notReadyAddresses": addresses,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]
    sim.store.create(
        "endpoints", {"metadata": {"name": "manual", "namespace": "default"}, "subsets": subsets}
    )


@pytest.mark.parametrize("ref", ["manual:http", "manual:80", "http:manual:80", "https:manual:http"])
def test_proxy_reaches_a_ready_pod_by_port_name_or_number(sim: SimCluster, ref: str) -> None:
    hand_made_backend(sim)
    resp = get(sim, f"/api/v1/namespaces/default/services/{ref}/proxy/hello?x=1")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["pod"] in ("p1", "p2") and doc["path"] == "/hello" and doc["version"] == "2.0"
    record = sim.requests[-1]
    assert (record.verb, record.resource, record.subresource, record.name) == (
        "get",
        "services",
        "proxy",
        ref,
    )


def test_proxy_round_robins_over_ready_pods(sim: SimCluster) -> None:
    hand_made_backend(sim)
    pods = {
        get(sim, "/api/v1/namespaces/default/services/manual:http/proxy/").json()["pod"] for _ in range(4)
    }
    assert pods == {"p1", "p2"}


def test_proxy_without_ready_endpoints_is_503(sim: SimCluster) -> None:
    hand_made_backend(sim, ready=False)
    resp = get(sim, "/api/v1/namespaces/default/services/manual:http/proxy/")
    assert resp.status_code == 503
    assert resp.json()["message"] == 'no endpoints available for service "manual:http"'
    sim.store.update("endpoints", {"metadata": {"name": "manual", "namespace": "default"}, "subsets": []})
    resp = get(sim, "/api/v1/namespaces/default/services/manual:http/proxy/")
    assert (resp.status_code, resp.json()["reason"]) == (503, "ServiceUnavailable")
    assert resp.json()["message"] == 'no endpoints available for service "manual"'


def test_proxy_port_rules_follow_the_real_server(sim: SimCluster) -> None:
    hand_made_backend(sim)
    unknown_number = get(sim, "/api/v1/namespaces/default/services/manual:81/proxy/")
    assert unknown_number.status_code == 503
    assert unknown_number.json()["message"] == 'no service port 81 found for service "manual"'
    # no port given only matches an unnamed port, as on a real cluster
    assert get(sim, "/api/v1/namespaces/default/services/manual/proxy/").status_code == 503


def test_proxy_to_unknown_service_is_404(sim: SimCluster) -> None:
    resp = get(sim, "/api/v1/namespaces/default/services/nope:http/proxy/")
    assert resp.status_code == 404 and resp.json()["message"] == 'services "nope" not found'


def test_official_client_proxy_and_endpoints_follow_readiness(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app("web", replicas=2)
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    # annotated `-> str`, but with _preload_content=False the client hands back the raw urllib3 response
    resp = cast(
        urllib3.HTTPResponse,
        core.connect_get_namespaced_service_proxy_with_path(
            "web:http", "default", "version", _preload_content=False
        ),
    )
    doc = json.loads(resp.data)
    assert doc["color"] == "blue" and doc["version"] == "1.0"

    client.AppsV1Api(core.api_client).patch_namespaced_deployment_scale(
        "web-blue", "default", {"spec": {"replicas": 0}}
    )
    sim.wait_idle()
    with pytest.raises(ApiException) as e:
        core.connect_get_namespaced_service_proxy_with_path("web:http", "default", "version")
    assert e.value.status == 503


def test_pod_log_with_tail_lines(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app("web", replicas=1)
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    pod = present(
        present(core.list_namespaced_pod("default", label_selector="app=web").items[0].metadata).name
    )
    full = core.read_namespaced_pod_log(pod, "default")
    assert "web 1.0 starting" in full
    assert core.read_namespaced_pod_log(pod, "default", tail_lines=1).strip() == full.strip().splitlines()[-1]
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod_log(pod, "default", container="nope")
    assert e.value.status == 400
