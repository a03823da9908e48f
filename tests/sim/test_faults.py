"""Fault injection, the request log and request hooks of the simulated API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import RequestRecord, SimCluster
from tests.helpers import present

SVC_PATH = "/api/v1/namespaces/default/services/web"


@pytest.fixture
def core(kubeconfig: Path) -> client.CoreV1Api:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    api.configuration.retries = 0  # see every failure instead of urllib3's quiet retries
    api.rest_client.pool_manager.connection_pool_kw["retries"] = 0
    return client.CoreV1Api(api)


def raw(sim: SimCluster, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method, sim.url + path, timeout=5, headers={"Authorization": f"Bearer {sim.admin_token}"}, **kw
    )


def test_fault_fails_the_next_matching_requests_then_clears(sim: SimCluster, core: client.CoreV1Api) -> None:
    sim.seed_app("web", replicas=1)
    sim.faults.add(method="GET", path=r"/services/web$", status=500, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            core.read_namespaced_service("web", "default")
        st = json.loads(present(e.value.body))
        assert (e.value.status, st["kind"], st["reason"]) == (500, "Status", "InternalError")
    assert present(core.read_namespaced_service("web", "default").metadata).name == "web"
    core.list_namespaced_service("default")  # the regex did not match the list path
    assert [r.status for r in sim.requests if r.resource == "services"] == [500, 500, 200, 200]


def test_after_skips_matches_and_429_carries_retry_after(sim: SimCluster) -> None:
    sim.seed_app("web", replicas=1)
    sim.faults.add(path=SVC_PATH, status=429, retry_after=2, after=1)
    assert raw(sim, "GET", SVC_PATH).status_code == 200
    throttled = raw(sim, "GET", SVC_PATH)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.json()["reason"] == "TooManyRequests"
    assert raw(sim, "GET", SVC_PATH).status_code == 200


def test_delay_only_fault_lets_the_request_through(sim: SimCluster) -> None:
    sim.seed_app("web", replicas=1)
    fault = sim.faults.add(path=SVC_PATH, delay=0.01)
    assert raw(sim, "GET", SVC_PATH).status_code == 200
    assert fault.fired == 1 and not sim.faults.pending


def test_dropped_connection_has_no_reply(sim: SimCluster, core: client.CoreV1Api) -> None:
    sim.seed_app("web", replicas=1)
    sim.faults.add(method="PATCH", path=SVC_PATH, drop=True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "1"}}})
    assert "x" not in (sim.get("services", "default", "web")["metadata"].get("labels") or {})


def test_lost_reply_applies_the_change(sim: SimCluster, core: client.CoreV1Api) -> None:
    sim.seed_app("web", replicas=1)
    sim.faults.add(method="PATCH", path=SVC_PATH, apply=True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "1"}}})
    assert sim.get("services", "default", "web")["metadata"]["labels"]["x"] == "1"
    assert sim.write_requests()[-1].status == 200  # processed; only the answer was lost


def test_request_log_and_write_requests(sim: SimCluster, core: client.CoreV1Api) -> None:
    sim.seed_app("web", replicas=1)  # direct store writes: not logged
    assert sim.requests == []
    core.read_namespaced_service("web", "default")
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "1"}}})
    core.list_namespaced_pod("default", label_selector="app=web")
    assert [(r.method, r.verb, r.resource, r.name) for r in sim.requests] == [
        ("GET", "get", "services", "web"),
        ("PATCH", "patch", "services", "web"),
        ("GET", "list", "pods", None),
    ]
    assert sim.requests[2].query == "labelSelector=app%3Dweb"
    writes = sim.write_requests()
    assert (
        len(writes) == 1
        and writes[0].verb == "patch"
        and writes[0].user == "admin"
        and writes[0].status == 200
    )


def test_on_request_hook_runs_before_handling_and_can_be_removed(
    sim: SimCluster, core: client.CoreV1Api
) -> None:
    sim.seed_app("web", replicas=1)
    svc = core.read_namespaced_service("web", "default")
    seen: list[RequestRecord] = []

    def concurrent_writer(record: RequestRecord) -> None:
        seen.append(record)
        if record.verb == "patch" and record.resource == "services":
            current = sim.get("services", "default", "web")
            current["spec"]["selector"]["version"] = "green"
            sim.store.update("services", current)

    remove = sim.on_request(concurrent_writer)
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_service(
            "web",
            "default",
            {
                "metadata": {"resourceVersion": present(svc.metadata).resource_version},
                "spec": {"selector": {"app": "web", "version": "blue"}},
            },
        )
    assert e.value.status == 409
    assert seen[-1].status == 409  # the record handed to the hook is completed after handling
    remove()
    core.read_namespaced_service("web", "default")
    assert len(seen) == 1
