"""Graceful pod termination: a deleted pod stays Terminating for ``termination_delay``, then goes.

A SimCluster on a fake clock, ready at once (ready_delay=0) but slow to stop (termination_delay=5); every
test awaits with ``wait_idle`` and moves time with ``clock.advance``, none sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bluegreen.sim import SimCluster
from bluegreen.sim.clock import FakeClock

Obj = dict[str, Any]
NS = "default"
DELAY = 5.0


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    cluster = SimCluster(ready_delay=0.0, clock=FakeClock(), termination_delay=DELAY).start()
    try:
        cluster.seed_app("web", replicas=2)
        yield cluster
    finally:
        cluster.stop()


def advance(sim: SimCluster, seconds: float) -> None:
    assert isinstance(sim.clock, FakeClock)
    sim.clock.advance(seconds)
    sim.wait_idle()


def pods(sim: SimCluster) -> list[Obj]:
    return sim.store.list("pods", NS, label_selector="app=web")[0]


def terminating(sim: SimCluster) -> list[Obj]:
    return [p for p in pods(sim) if p["metadata"].get("deletionTimestamp")]


def running(sim: SimCluster) -> list[Obj]:
    return [p for p in pods(sim) if not p["metadata"].get("deletionTimestamp")]


def ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def api(sim: SimCluster, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.admin_token}", **kw.pop("headers", {})}
    return requests.request(method, sim.url + path, headers=headers, timeout=5, **kw)


def delete_pod(sim: SimCluster, name: str, **kw: Any) -> requests.Response:
    resp = api(sim, "DELETE", f"/api/v1/namespaces/{NS}/pods/{name}", **kw)
    sim.wait_idle()
    return resp


def test_a_deleted_pod_is_terminating_then_removed_after_the_delay(sim: SimCluster) -> None:
    victim = pods(sim)[0]
    name = victim["metadata"]["name"]
    now = sim.clock.now()
    resp = delete_pod(sim, name)
    assert resp.status_code == 200
    body = resp.json()
    # the registry answers with the pod, deletionTimestamp = now + terminationGracePeriodSeconds (30)
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    assert body["metadata"]["deletionTimestamp"] == sim.clock.isoformat(now + 30)

    pod = sim.get("pods", NS, name)
    assert pod["metadata"]["deletionTimestamp"] == body["metadata"]["deletionTimestamp"]
    assert not ready(pod)
    assert all(not cs["ready"] for cs in pod["status"]["containerStatuses"])
    assert pod["status"]["phase"] == "Running"  # the containers are still stopping

    advance(sim, DELAY - 0.5)
    assert sim.store.get_shared("pods", NS, name) is not None
    advance(sim, 0.5)
    assert sim.store.get_shared("pods", NS, name) is None

    events = [e for e in sim.store.list("events", NS)[0] if e["involvedObject"]["name"] == name]
    assert ("Killing", "Stopping container web") in {(e["reason"], e["message"]) for e in events}


def test_a_grace_period_shorter_than_the_delay_cuts_it_short(sim: SimCluster) -> None:
    name = pods(sim)[0]["metadata"]["name"]
    resp = delete_pod(sim, name, params={"gracePeriodSeconds": "2"})
    assert resp.json()["metadata"]["deletionGracePeriodSeconds"] == 2
    advance(sim, 2.0)
    assert sim.store.get_shared("pods", NS, name) is None


def test_grace_period_zero_removes_at_once(sim: SimCluster) -> None:
    first, second = (p["metadata"]["name"] for p in pods(sim))
    resp = delete_pod(sim, first, json={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert resp.status_code == 200
    assert sim.store.get_shared("pods", NS, first) is None

    # a second delete may shorten a pending one; 0 forces it (kubectl delete --force --grace-period=0)
    delete_pod(sim, second)
    assert sim.get("pods", NS, second)["metadata"]["deletionGracePeriodSeconds"] == 30
    again = delete_pod(sim, second)  # same period again: nothing changes
    assert again.json()["metadata"]["deletionGracePeriodSeconds"] == 30
    delete_pod(sim, second, params={"gracePeriodSeconds": "0"})
    assert sim.store.get_shared("pods", NS, second) is None


def test_an_unscheduled_pod_is_removed_at_once(sim: SimCluster) -> None:
    sim.wait_idle()
    sim.controllers.stop()  # nobody binds it
    sim.store.create(
        "pods",
        {
            "metadata": {"name": "bare", "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "registry.example/web:1.0"}]},
        },
    )
    sim.store.delete("pods", NS, "bare")
    assert sim.store.get_shared("pods", NS, "bare") is None


def test_the_replicaset_replaces_a_terminating_pod_at_once_and_stops_counting_it(sim: SimCluster) -> None:
    name = pods(sim)[0]["metadata"]["name"]
    delete_pod(sim, name)
    assert len(running(sim)) == 2 and [p["metadata"]["name"] for p in terminating(sim)] == [name]
    assert all(ready(p) for p in running(sim))

    rs = sim.store.list("replicasets", NS, label_selector="app=web")[0][0]
    assert rs["status"]["replicas"] == 2
    assert rs["status"]["readyReplicas"] == 2 and rs["status"]["availableReplicas"] == 2
    assert rs["status"]["terminatingReplicas"] == 1
    d = sim.get("deployments", NS, "web-blue")
    assert (
        d["status"]["replicas"],
        d["status"]["readyReplicas"],
        d["status"]["availableReplicas"],
        d["status"]["terminatingReplicas"],
    ) == (2, 2, 2, 1)

    advance(sim, DELAY)
    assert len(pods(sim)) == 2 and not terminating(sim)
    # 0 is written, not omitted: the 1.37 controllers always set this pointer field
    assert sim.get("replicasets", NS, rs["metadata"]["name"])["status"]["terminatingReplicas"] == 0
    assert sim.get("deployments", NS, "web-blue")["status"]["terminatingReplicas"] == 0


def test_scaling_down_leaves_pods_terminating(sim: SimCluster) -> None:
    d = sim.get("deployments", NS, "web-blue")
    d["spec"]["replicas"] = 1
    sim.apply(d)
    sim.wait_idle()
    assert len(running(sim)) == 1 and len(terminating(sim)) == 1
    status = sim.get("deployments", NS, "web-blue")["status"]
    assert status["replicas"] == 1 and status["availableReplicas"] == 1 and status["terminatingReplicas"] == 1
    advance(sim, DELAY)
    assert len(pods(sim)) == 1


def test_endpointslice_flags_a_terminating_pod_and_endpoints_drop_it(sim: SimCluster) -> None:
    victim = pods(sim)[0]
    ip = victim["status"]["podIP"]
    delete_pod(sim, victim["metadata"]["name"])

    endpoints = sim.store.list("endpointslices", NS, label_selector="kubernetes.io/service-name=web")[0][0][
        "endpoints"
    ]
    by_ip = {e["addresses"][0]: e["conditions"] for e in endpoints}
    assert by_ip[ip] == {"ready": False, "serving": False, "terminating": True}
    others = [c for a, c in by_ip.items() if a != ip]
    assert others and all(c == {"ready": True, "serving": True, "terminating": False} for c in others)

    eps = sim.get("endpoints", NS, "web")
    listed = [
        a["ip"] for ss in eps["subsets"] for k in ("addresses", "notReadyAddresses") for a in ss.get(k) or []
    ]
    assert ip not in listed and len(listed) == 2

    advance(sim, DELAY)
    endpoints = sim.store.list("endpointslices", NS, label_selector="kubernetes.io/service-name=web")[0][0][
        "endpoints"
    ]
    assert ip not in {e["addresses"][0] for e in endpoints}


def test_endpoint_conditions_follow_pod_to_endpoint() -> None:
    from bluegreen.sim.controllers import endpoint_conditions

    def pod(ready: bool, deleting: bool) -> Obj:
        meta: Obj = {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {"name": "p"}
        return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}

    # still serving while it drains (a real kubelet keeps probing readiness): ready=false, serving=true
    assert endpoint_conditions(pod(True, True), False) == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }
    assert endpoint_conditions(pod(True, True), True) == {"ready": True, "serving": True, "terminating": True}
    assert endpoint_conditions(pod(False, False), True) == {
        "ready": True,
        "serving": False,
        "terminating": False,
    }
    assert endpoint_conditions(pod(True, False), False) == {
        "ready": True,
        "serving": True,
        "terminating": False,
    }


def test_publish_not_ready_addresses_keeps_a_terminating_pod_listed(sim: SimCluster) -> None:
    svc = sim.get("services", NS, "web")
    svc["spec"]["publishNotReadyAddresses"] = True
    sim.apply(svc)
    sim.wait_idle()
    victim = pods(sim)[0]
    delete_pod(sim, victim["metadata"]["name"])
    slices = sim.store.list("endpointslices", NS, label_selector="kubernetes.io/service-name=web")[0]
    cond = {e["addresses"][0]: e["conditions"] for e in slices[0]["endpoints"]}[victim["status"]["podIP"]]
    assert cond == {"ready": True, "serving": False, "terminating": True}
    eps = sim.get("endpoints", NS, "web")
    assert victim["status"]["podIP"] in [a["ip"] for ss in eps["subsets"] for a in ss.get("addresses") or []]
    # ... but the service proxy never picks it
    answered = {
        api(sim, "GET", f"/api/v1/namespaces/{NS}/services/web:http/proxy/").json()["pod"] for _ in range(6)
    }
    assert victim["metadata"]["name"] not in answered and len(answered) == 2


def test_the_proxy_never_routes_to_a_terminating_pod(sim: SimCluster) -> None:
    victim = pods(sim)[0]["metadata"]["name"]
    delete_pod(sim, victim)
    answered = {
        api(sim, "GET", f"/api/v1/namespaces/{NS}/services/web:http/proxy/").json()["pod"] for _ in range(6)
    }
    assert victim not in answered and len(answered) == 2


def test_watch_sees_the_deletion_timestamp_then_the_deletion(sim: SimCluster) -> None:
    name = pods(sim)[0]["metadata"]["name"]
    rv = sim.store.resource_version
    delete_pod(sim, name)
    advance(sim, DELAY)
    events: list[Obj] = []
    with api(
        sim,
        "GET",
        f"/api/v1/namespaces/{NS}/pods",
        params={"watch": "1", "resourceVersion": rv, "fieldSelector": f"metadata.name={name}"},
        stream=True,
    ) as resp:
        for line in resp.iter_lines():
            if line:
                events.append(json.loads(line))
            if events and events[-1]["type"] == "DELETED":
                break
    types = [e["type"] for e in events]
    assert types[0] == "MODIFIED" and types[-1] == "DELETED" and set(types[1:-1]) <= {"MODIFIED"}
    assert events[0]["object"]["metadata"]["deletionTimestamp"]
    assert events[-1]["object"]["metadata"]["deletionTimestamp"]


def test_deleting_a_deployment_leaves_its_pods_terminating(sim: SimCluster) -> None:
    resp = api(sim, "DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/web-blue")
    sim.wait_idle()
    assert resp.status_code == 200
    assert not sim.store.list("replicasets", NS)[0]
    assert len(terminating(sim)) == 2 and not running(sim)
    advance(sim, DELAY)
    assert not pods(sim)


def test_recreate_waits_for_the_old_pods_to_be_gone(sim: SimCluster) -> None:
    d = sim.get("deployments", NS, "web-blue")
    d["spec"]["strategy"] = {"type": "Recreate"}
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/web:2.0"
    sim.apply(d)
    sim.wait_idle()
    assert len(terminating(sim)) == 2 and not running(sim)
    advance(sim, DELAY)
    images = [p["spec"]["containers"][0]["image"] for p in pods(sim)]
    assert images == ["registry.example/web:2.0"] * 2


def test_kubectl_get_pods_shows_terminating(sim: SimCluster) -> None:
    name = pods(sim)[0]["metadata"]["name"]
    delete_pod(sim, name)
    table = api(
        sim,
        "GET",
        f"/api/v1/namespaces/{NS}/pods",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    ).json()
    status = {row["cells"][0]: row["cells"][2] for row in table["rows"]}
    assert status[name] == "Terminating"
    assert sorted(status.values()) == ["Running", "Running", "Terminating"]


def test_no_termination_delay_removes_pods_at_once() -> None:
    sim = SimCluster(ready_delay=0.0, clock=FakeClock()).start()
    try:
        sim.seed_app("web", replicas=2)
        name = pods(sim)[0]["metadata"]["name"]
        sim.delete("pods", NS, name)
        assert sim.store.get_shared("pods", NS, name) is None
    finally:
        sim.stop()
