"""ResourceQuota (admission, status, ReplicaFailure) and node capacity (unschedulable pods)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from bluegreen.sim.clock import FakeClock
from bluegreen.sim.quota import canonical, parse_quantity
from tests.helpers import as_model, present


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("500m", "500m"),
        ("1000m", "1"),
        ("1.5", "1500m"),
        ("0.5", "500m"),
        ("2000", "2k"),
        ("1Gi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1024Mi", "1Gi"),
        ("512", "512"),
        ("1k", "1k"),
        ("1M", "1M"),
        ("1G", "1G"),
        ("100Ki", "100Ki"),
    ],
)
def test_quantities_print_in_canonical_form(text: str, shown: str) -> None:
    assert canonical(parse_quantity(text)) == shown


def test_sums_keep_the_first_terms_format() -> None:
    total = parse_quantity("0") + parse_quantity("512Mi") + parse_quantity("512Mi")
    assert str(total) == "1Gi"
    assert str(parse_quantity("500m") + parse_quantity("500m")) == "1"


def deployment(name: str, replicas: int, resources: dict[str, Any] | None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": "registry.example/web:1.0"}
    if resources is not None:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def quota(hard: dict[str, str], name: str = "compute") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hard": hard},
    }


@pytest.fixture
def fake_sim() -> Iterator[tuple[SimCluster, FakeClock]]:
    clock = FakeClock()
    cluster = SimCluster(clock=clock).start()
    try:
        yield cluster, clock
    finally:
        cluster.stop()


def test_quota_refuses_a_pod_with_the_real_message(sim: SimCluster, kubeconfig: Path) -> None:
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    core.create_namespaced_resource_quota(
        "default", as_model(client.V1ResourceQuota, quota({"requests.cpu": "1000m", "pods": "5"}))
    )
    sim.wait_idle()
    q = core.read_namespaced_resource_quota("compute", "default")
    assert present(q.spec).hard == {"requests.cpu": "1", "pods": "5"}
    assert present(q.status).used == {"requests.cpu": "0", "pods": "0"}

    def pod(name: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {
                "containers": [{"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "600m"}}}]
            },
        }

    core.create_namespaced_pod("default", as_model(client.V1Pod, pod("a")))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("default", as_model(client.V1Pod, pod("b")))
    body = json.loads(present(e.value.body))
    assert (e.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, '
        "used: requests.cpu=600m, limited: requests.cpu=1"
    )
    assert body["details"] == {"name": "b", "kind": "pods"}
    sim.wait_idle()
    assert present(core.read_namespaced_resource_quota("compute", "default").status).used == {
        "requests.cpu": "600m",
        "pods": "1",
    }


def test_quota_on_cpu_wants_every_container_to_say(sim: SimCluster) -> None:
    sim.apply(quota({"limits.cpu": "2", "requests.memory": "1Gi"}))
    with pytest.raises(Exception) as e:
        sim.store.create(
            "pods",
            {
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "x:1"}]},
            },
        )
    assert str(e.value) == (
        'pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: c; requests.memory for: c'
    )


def test_replicaset_reports_failed_create_and_the_deployment_copies_it(
    fake_sim: tuple[SimCluster, FakeClock],
) -> None:
    sim, clock = fake_sim
    sim.apply(quota({"requests.cpu": "1"}))
    sim.apply(deployment("web-green", 3, {"requests": {"cpu": "500m"}}))
    sim.wait_idle()
    rs = sim.store.list("replicasets")[0][0]
    cond = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")
    pod_prefix = rs["metadata"]["name"] + "-"
    assert (cond["status"], cond["reason"]) == ("True", "FailedCreate")
    assert cond["message"].startswith(f'pods "{pod_prefix}')
    assert cond["message"].endswith(
        '" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=1, '
        "limited: requests.cpu=1"
    )
    d = sim.get("deployments", "default", "web-green")
    dcond = next(c for c in d["status"]["conditions"] if c["type"] == "ReplicaFailure")
    assert {k: dcond[k] for k in ("status", "reason", "message")} == {
        "status": "True",
        "reason": "FailedCreate",
        "message": cond["message"],
    }
    events = [e for e in sim.store.list("events")[0] if e["reason"] == "FailedCreate"]
    assert events and events[0]["type"] == "Warning"
    assert events[0]["message"] == "Error creating: " + cond["message"]
    assert events[0]["involvedObject"]["name"] == rs["metadata"]["name"]
    # more quota: the ReplicaSet creates the last pod and both conditions go away
    sim.apply(quota({"requests.cpu": "2"}))
    sim.wait_available("default", "web-green")
    assert "ReplicaFailure" not in [
        c["type"] for c in sim.get("deployments", "default", "web-green")["status"]["conditions"]
    ]
    rs = sim.get("replicasets", "default", rs["metadata"]["name"])
    assert "conditions" not in rs["status"] and rs["status"]["replicas"] == 3


def test_terminating_pods_still_use_quota() -> None:
    clock = FakeClock()
    sim = SimCluster(clock=clock, ready_delay=1.0, termination_delay=5.0).start()
    try:
        sim.apply(quota({"pods": "2"}))
        sim.apply(deployment("web", 2, None))
        sim.wait_available("default", "web")
        name = sim.store.list("pods")[0][0]["metadata"]["name"]
        sim.delete("pods", "default", name)
        sim.wait_idle()
        rs = sim.store.list("replicasets")[0][0]
        assert [c["reason"] for c in rs["status"].get("conditions", [])] == ["FailedCreate"]
        sim.wait_available("default", "web")  # the terminating pod goes, the replacement comes
    finally:
        sim.stop()


def test_unschedulable_pod_condition_and_event() -> None:
    clock = FakeClock()
    sim = SimCluster(clock=clock, nodes=3, node_cpu="1").start()
    try:
        sim.apply(deployment("web", 7, {"requests": {"cpu": "500m"}}))
        sim.wait_idle()
        pods = sim.store.list("pods")[0]
        pending = [p for p in pods if not p["spec"].get("nodeName")]
        assert len(pods) == 7 and len(pending) == 1
        cond = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
        message = (
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod."
        )
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", message)
        assert pending[0]["status"]["phase"] == "Pending"
        events = [e for e in sim.store.list("events")[0] if e["reason"] == "FailedScheduling"]
        assert [(e["type"], e["message"], e["source"]["component"]) for e in events] == [
            ("Warning", message, "default-scheduler")
        ]
        # scaled to 6 and a bound pod deleted: the scheduler places what is left
        bound = next(p for p in pods if p["spec"].get("nodeName"))
        sim.apply(deployment("web", 6, {"requests": {"cpu": "500m"}}))
        sim.delete("pods", "default", bound["metadata"]["name"], grace_period=0)
        sim.wait_available("default", "web")
        assert all(p["spec"].get("nodeName") for p in sim.store.list("pods")[0])
    finally:
        sim.stop()


def test_too_many_pods_and_mixed_reasons_are_counted_per_node() -> None:
    sim = SimCluster(clock=FakeClock(), nodes=2, node_memory="1Gi", max_pods_per_node=1).start()
    try:
        sim.apply(deployment("a", 1, {"requests": {"memory": "512Mi"}}))
        sim.apply(deployment("b", 2, {"requests": {"memory": "768Mi"}}))
        sim.wait_idle()
        pending = [p for p in sim.store.list("pods")[0] if not p["spec"].get("nodeName")]
        assert len(pending) == 1
        cond = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
        assert cond["message"] == (
            "0/2 nodes are available: 2 Insufficient memory, 2 Too many pods. preemption: 0/2 nodes are "
            "available: 2 No preemption victims found for incoming pod."
        )
    finally:
        sim.stop()
