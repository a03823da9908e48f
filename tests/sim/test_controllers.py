"""The controllers of the simulated cluster, driven through the Store with a fake clock.

Every test awaits the simulation with ``wait_idle`` (and moves time with ``clock.advance``); none sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bluegreen.sim import SimCluster
from bluegreen.sim.apps import AppRegistry
from bluegreen.sim.clock import FakeClock
from bluegreen.sim.controllers import Controllers, go_duration, pod_template_hash, resolve_int_or_percent
from bluegreen.sim.errors import ApiError, conflict
from bluegreen.sim.store import Store

Obj = dict[str, Any]
NS = "default"


class Cluster:
    """Store + controllers on a fake clock, with small helpers to write and read objects."""

    def __init__(self, ready_delay: float = 0.0, store: Store | None = None) -> None:
        self.clock = FakeClock()
        self.store = store or Store(self.clock)
        self.apps = AppRegistry()
        self.ctl = Controllers(self.store, self.clock, self.apps, ready_delay=ready_delay)

    def settle(self) -> None:
        self.ctl.wait_idle(timeout=10.0)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def deploy(self, name: str, image: str, replicas: int = 3, labels: Obj | None = None, **spec: Any) -> Obj:
        labels = labels or {"app": name}
        obj = {
            "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "ports": [{"name": "http", "containerPort": 8080}],
                            }
                        ]
                    },
                },
                **spec,
            },
        }
        created = self.store.create("deployments", obj)
        self.settle()
        return created

    def edit(self, resource: str, name: str, fn: Any) -> Obj:
        obj = self.store.get(resource, NS, name)
        fn(obj)
        updated = self.store.update(resource, obj)
        self.settle()
        return updated

    def set_image(self, name: str, image: str) -> Obj:
        def change(d: Obj) -> None:
            d["spec"]["template"]["spec"]["containers"][0]["image"] = image

        return self.edit("deployments", name, change)

    def scale(self, name: str, replicas: int) -> Obj:
        def change(d: Obj) -> None:
            d["spec"]["replicas"] = replicas

        return self.edit("deployments", name, change)

    def service(self, name: str, selector: dict[str, str], target_port: int | str = "http") -> Obj:
        svc = self.store.create(
            "services",
            {
                "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
                "spec": {
                    "selector": selector,
                    "ports": [{"name": "http", "port": 80, "targetPort": target_port}],
                },
            },
        )
        self.settle()
        return svc

    def get(self, resource: str, name: str) -> Obj:
        return self.store.get(resource, NS, name)

    def pods(self, **labels: str) -> list[Obj]:
        return [
            p
            for p in self.store.list("pods", NS)[0]
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]

    def replicasets(self, deployment: str) -> list[Obj]:
        return [
            rs
            for rs in self.store.list("replicasets", NS)[0]
            if any(ref["name"] == deployment for ref in rs["metadata"].get("ownerReferences") or [])
        ]

    def events(self, name: str | None = None, reason: str | None = None) -> list[Obj]:
        return [
            e
            for e in self.store.list("events", NS)[0]
            if (name is None or e["involvedObject"]["name"] == name)
            and (reason is None or e["reason"] == reason)
        ]

    def slices(self, service: str) -> list[Obj]:
        return [
            s
            for s in self.store.list("endpointslices", NS)[0]
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == service
        ]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.ctl.start()
    try:
        yield c
        assert c.ctl.errors == []
    finally:
        c.ctl.stop()


@pytest.fixture
def slow_cluster() -> Iterator[Cluster]:
    """Pods take 2 simulated seconds to become ready."""
    c = Cluster(ready_delay=2.0)
    c.ctl.start()
    try:
        yield c
        assert c.ctl.errors == []
    finally:
        c.ctl.stop()


def condition(obj: Obj, type_: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def waiting_reason(pod: Obj) -> str | None:
    return (pod["status"]["containerStatuses"][0]["state"].get("waiting") or {}).get("reason")


# ---- pure helpers ----------------------------------------------------------------------------------


def test_percentages_round_like_the_deployment_controller() -> None:
    assert resolve_int_or_percent("25%", 3, round_up=True) == 1
    assert resolve_int_or_percent("25%", 3, round_up=False) == 0
    assert resolve_int_or_percent(2, 3, round_up=False) == 2


def test_go_durations() -> None:
    assert [go_duration(s) for s in (10, 20, 80, 160, 300)] == ["10s", "20s", "1m20s", "2m40s", "5m0s"]


def test_template_hash_ignores_its_own_label_and_follows_the_template() -> None:
    t1 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "a:1"}]}}
    t1_hashed = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "x"}},
        "spec": {"containers": [{"name": "w", "image": "a:1"}]},
    }
    t2 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "a:2"}]}}
    assert pod_template_hash(t1) == pod_template_hash(t1_hashed)
    assert pod_template_hash(t1) != pod_template_hash(t2)
    assert set(pod_template_hash(t1)) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert pod_template_hash(t1, 1) != pod_template_hash(t1)


# ---- deployments -----------------------------------------------------------------------------------


def test_deployment_becomes_available_with_real_status(cluster: Cluster) -> None:
    cluster.deploy("web-green", "registry.example/web:1.0", replicas=3)

    [rs] = cluster.replicasets("web-green")
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-green-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web-green", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == h
    [owner] = rs["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web-green", True)
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "terminatingReplicas": 0,  # always written by the 1.37 controller
        "observedGeneration": 1,
    }

    pods = cluster.pods(app="web-green")
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
        assert len(pod["metadata"]["name"]) == len(rs["metadata"]["name"]) + 6
        assert pod["metadata"]["labels"]["pod-template-hash"] == h
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["spec"]["nodeName"]
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"].startswith("10.244.")
        assert [c["type"] for c in pod["status"]["conditions"]] == [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        assert condition(pod, "Ready")["status"] == "True"
        cs = pod["status"]["containerStatuses"][0]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
    assert len({p["status"]["podIP"] for p in pods}) == 3

    d = cluster.get("deployments", "web-green")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = d["status"]
    assert {
        k: status.get(k)
        for k in (
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        )
    } == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": None,
    }
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert available["message"] == "Deployment has minimum availability."
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'


def test_readiness_follows_the_clock(slow_cluster: Cluster) -> None:
    c = slow_cluster
    c.deploy("web", "r/web:1.0", replicas=2)
    pods = c.pods(app="web")
    assert {p["status"]["phase"] for p in pods} == {"Pending"}
    assert {waiting_reason(p) for p in pods} == {"ContainerCreating"}
    d = c.get("deployments", "web")
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert condition(d, "Progressing")["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    assert d["status"]["unavailableReplicas"] == 2

    c.advance(1.0)  # started, readiness probe not passed yet
    pods = c.pods(app="web")
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert not any(condition(p, "Ready")["status"] == "True" for p in pods)
    assert condition(pods[0], "Ready")["message"] == "containers with unready status: [web]"

    c.advance(1.0)
    assert all(condition(p, "Ready")["status"] == "True" for p in c.pods(app="web"))
    d = c.get("deployments", "web")
    assert d["status"]["availableReplicas"] == 2
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_slow_images_take_ten_times_as_long(slow_cluster: Cluster) -> None:
    c = slow_cluster
    c.deploy("web", "r/web:1.0-slow", replicas=1)
    c.advance(19.0)
    assert condition(c.pods(app="web")[0], "Ready")["status"] == "False"
    c.advance(1.0)
    assert condition(c.pods(app="web")[0], "Ready")["status"] == "True"


def test_rolling_update_creates_a_second_replicaset_and_converges(slow_cluster: Cluster) -> None:
    c = slow_cluster
    c.deploy("web", "r/web:1.0", replicas=4)
    c.advance(2.0)
    [old_rs] = c.replicasets("web")

    # watch every pod change: surge and unavailability must stay within 25% of 4 (1 each)
    counts: list[tuple[int, int]] = []

    def observe(event_type: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            pods = c.pods(app="web")
            counts.append((len(pods), sum(1 for p in pods if is_ready(p))))

    c.store.subscribe(observe)

    c.set_image("web", "r/web:2.0")
    for _ in range(10):
        c.advance(2.0)
    rss = {rs["metadata"]["name"]: rs for rs in c.replicasets("web")}
    assert len(rss) == 2
    new_rs = next(rs for name, rs in rss.items() if name != old_rs["metadata"]["name"])
    assert rss[old_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    assert new_rs["spec"]["replicas"] == 4
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert {p["spec"]["containers"][0]["image"] for p in c.pods(app="web")} == {"r/web:2.0"}
    assert len(c.pods(app="web")) == 4
    assert max(total for total, _ in counts) <= 5
    assert min(ready for _, ready in counts) >= 3

    d = c.get("deployments", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["observedGeneration"] == 2
    assert (d["status"]["replicas"], d["status"]["updatedReplicas"], d["status"]["availableReplicas"]) == (
        4,
        4,
        4,
    )
    assert (
        condition(d, "Progressing")["message"]
        == f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.'
    )
    messages = [e["message"] for e in c.events("web", "ScalingReplicaSet")]
    assert f"Scaled up replica set {new_rs['metadata']['name']} from 0 to 1" in messages
    assert f"Scaled down replica set {old_rs['metadata']['name']} from 1 to 0" in messages


def test_rolling_back_reuses_the_old_replicaset_with_a_new_revision(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0")
    [first] = cluster.replicasets("web")
    cluster.set_image("web", "r/web:2.0")
    cluster.set_image("web", "r/web:1.0")
    rss = cluster.replicasets("web")
    assert len(rss) == 2
    back = next(rs for rs in rss if rs["metadata"]["name"] == first["metadata"]["name"])
    assert back["spec"]["replicas"] == 3
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    d = cluster.get("deployments", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_recreate_removes_old_pods_before_creating_new_ones(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", strategy={"type": "Recreate"})
    mixed: list[set[str]] = []

    def observe(event_type: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            mixed.append({p["spec"]["containers"][0]["image"] for p in cluster.pods(app="web")})

    cluster.store.subscribe(observe)
    cluster.set_image("web", "r/web:2.0")
    assert not any(len(images) > 1 for images in mixed)
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods(app="web")} == {"r/web:2.0"}
    assert len(cluster.pods(app="web")) == 3
    assert condition(cluster.get("deployments", "web"), "Available")["status"] == "True"


def test_scale_to_zero_and_back(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=2)
    [rs] = cluster.replicasets("web")
    cluster.scale("web", 0)
    assert cluster.pods(app="web") == []
    d = cluster.get("deployments", "web")
    assert "replicas" not in d["status"] and "availableReplicas" not in d["status"]
    assert condition(d, "Available")["status"] == "True"
    deleted = [e["message"] for e in cluster.events(rs["metadata"]["name"], "SuccessfulDelete")]
    assert len(deleted) == 2 and all(m.startswith(f"Deleted pod: {rs['metadata']['name']}-") for m in deleted)

    cluster.scale("web", 3)
    assert len(cluster.pods(app="web")) == 3
    [same_rs] = cluster.replicasets("web")
    assert same_rs["metadata"]["uid"] == rs["metadata"]["uid"]
    assert same_rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert cluster.get("deployments", "web")["status"]["availableReplicas"] == 3


def test_scaling_during_a_stuck_rollout_is_proportional(cluster: Cluster) -> None:
    # the example of the Kubernetes documentation ("Proportional scaling")
    cluster.deploy(
        "web",
        "r/web:1.0",
        replicas=10,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}},
    )
    [old] = cluster.replicasets("web")
    cluster.set_image("web", "r/web:2.0-pullfail")
    sizes = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in cluster.replicasets("web")}
    new_name = next(n for n in sizes if n != old["metadata"]["name"])
    assert (sizes[old["metadata"]["name"]], sizes[new_name]) == (8, 5)
    cluster.scale("web", 15)
    sizes = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in cluster.replicasets("web")}
    assert (sizes[old["metadata"]["name"]], sizes[new_name]) == (11, 7)


def test_scaling_down_removes_not_ready_pods_first(slow_cluster: Cluster) -> None:
    c = slow_cluster
    c.deploy("web", "r/web:1.0", replicas=2)
    c.advance(2.0)
    c.scale("web", 3)  # the third pod is not ready yet
    fresh = [p["metadata"]["name"] for p in c.pods(app="web") if condition(p, "Ready")["status"] == "False"]
    assert len(fresh) == 1
    c.scale("web", 2)
    assert fresh[0] not in {p["metadata"]["name"] for p in c.pods(app="web")}


def test_a_paused_deployment_waits_until_resumed(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=2)

    def pause_and_change(d: Obj) -> None:
        d["spec"]["paused"] = True
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "r/web:2.0"

    cluster.edit("deployments", "web", pause_and_change)
    assert len(cluster.replicasets("web")) == 1
    progressing = condition(cluster.get("deployments", "web"), "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")

    def resume(d: Obj) -> None:
        d["spec"]["paused"] = False

    cluster.edit("deployments", "web", resume)
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods(app="web")} == {"r/web:2.0"}
    assert condition(cluster.get("deployments", "web"), "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_deleting_a_replicaset_recreates_it(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=2)
    [rs] = cluster.replicasets("web")
    cluster.store.delete("replicasets", NS, rs["metadata"]["name"])
    cluster.settle()
    [again] = cluster.replicasets("web")
    assert again["metadata"]["name"] == rs["metadata"]["name"]
    assert again["metadata"]["uid"] != rs["metadata"]["uid"]
    assert len(cluster.pods(app="web")) == 2


def test_deleting_a_deployment_takes_its_pods_and_endpoints(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=2)
    cluster.service("web", {"app": "web"})
    cluster.store.delete("deployments", NS, "web")
    cluster.settle()
    assert cluster.replicasets("web") == [] and cluster.pods(app="web") == []
    assert "subsets" not in cluster.get("endpoints", "web")
    [s] = cluster.slices("web")
    assert s["endpoints"] is None and s["ports"] is None  # the placeholder, as the real server returns it


# ---- failures chosen by the image ----------------------------------------------------------------


def test_pullfail_reports_errimagepull_then_backoff(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:2.0-pullfail", replicas=1)
    [pod] = cluster.pods(app="web")
    assert pod["status"]["phase"] == "Pending"
    assert waiting_reason(pod) == "ErrImagePull"
    assert (
        'failed to pull and unpack image "r/web:2.0-pullfail"'
        in pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    )
    assert "podIP" in pod["status"]

    cluster.advance(1.0)
    [pod] = cluster.pods(app="web")
    state = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert state == {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "r/web:2.0-pullfail"'}
    reasons = [(e["type"], e["reason"], e["message"]) for e in cluster.events(pod["metadata"]["name"])]
    assert ("Normal", "Pulling", 'Pulling image "r/web:2.0-pullfail"') in reasons
    assert ("Warning", "Failed", "Error: ErrImagePull") in reasons
    assert ("Normal", "BackOff", 'Back-off pulling image "r/web:2.0-pullfail"') in reasons
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in reasons
    d = cluster.get("deployments", "web")
    assert condition(d, "Available")["status"] == "False"


def test_crashloop_restarts_with_growing_backoff(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:2.0-crashloop", replicas=1)
    [pod] = cluster.pods(app="web")
    cs = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Running"
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=web pod=")
    assert cs["restartCount"] == 1 and cs["ready"] is False
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"

    cluster.advance(10.0)
    [pod] = cluster.pods(app="web")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 2
    assert cs["state"]["waiting"]["message"].startswith("back-off 20s ")
    [backoff] = cluster.events(pod["metadata"]["name"], "BackOff")
    assert backoff["count"] == 2 and backoff["type"] == "Warning"
    assert backoff["involvedObject"]["fieldPath"] == "spec.containers{web}"
    assert cluster.apps.logs(pod)[-1].startswith("FATAL")


def test_never_ready_runs_but_is_not_ready(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:2.0-never-ready", replicas=2)
    pods = cluster.pods(app="web")
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert {condition(p, "Ready")["reason"] for p in pods} == {"ContainersNotReady"}
    assert all(p["status"]["containerStatuses"][0]["started"] for p in pods)
    unhealthy = cluster.events(pods[0]["metadata"]["name"], "Unhealthy")
    assert unhealthy and unhealthy[0]["message"].startswith("Readiness probe failed")
    d = cluster.get("deployments", "web")
    assert d["status"].get("readyReplicas") is None and d["status"]["unavailableReplicas"] == 2


def test_progress_deadline_exceeded(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:2.0-never-ready", replicas=2, progressDeadlineSeconds=30)
    [rs] = cluster.replicasets("web")
    cluster.advance(25.0)
    assert condition(cluster.get("deployments", "web"), "Progressing")["status"] == "True"
    cluster.advance(10.0)
    progressing = condition(cluster.get("deployments", "web"), "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'


def test_a_fixed_image_after_the_deadline_progresses_again(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:2.0-pullfail", replicas=1, progressDeadlineSeconds=10)
    cluster.advance(15.0)
    assert condition(cluster.get("deployments", "web"), "Progressing")["reason"] == "ProgressDeadlineExceeded"
    cluster.set_image("web", "r/web:2.1")
    d = cluster.get("deployments", "web")
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert condition(d, "Available")["status"] == "True"


# ---- endpoints and endpointslices ----------------------------------------------------------------


def test_endpoints_follow_readiness(slow_cluster: Cluster) -> None:
    c = slow_cluster
    c.deploy("web", "r/web:1.0", replicas=2)
    svc = c.service("web", {"app": "web"})
    assert "subsets" not in c.get("endpoints", "web")  # no pod has an IP yet
    c.advance(1.0)
    [subset] = c.get("endpoints", "web")["subsets"]
    assert "addresses" not in subset and len(subset["notReadyAddresses"]) == 2
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    [s] = c.slices("web")
    assert [e["conditions"]["ready"] for e in s["endpoints"]] == [False, False]

    c.advance(1.0)
    [subset] = c.get("endpoints", "web")["subsets"]
    assert "notReadyAddresses" not in subset
    pods = {p["metadata"]["name"]: p for p in c.pods(app="web")}
    for addr in subset["addresses"]:
        pod = pods[addr["targetRef"]["name"]]
        assert addr["ip"] == pod["status"]["podIP"]
        assert addr["targetRef"] == {
            "kind": "Pod",
            "namespace": NS,
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
    [s] = c.slices("web")
    assert s["metadata"]["name"].startswith("web-") and len(s["metadata"]["name"]) == len("web-") + 5
    assert (
        s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    )
    assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [e["conditions"] for e in s["endpoints"]] == [
        {"ready": True, "serving": True, "terminating": False}
    ] * 2
    assert {e["targetRef"]["name"] for e in s["endpoints"]} == set(pods)


def test_service_selector_switch_moves_endpoints(cluster: Cluster) -> None:
    cluster.deploy("web-blue", "r/web:1.0", replicas=2, labels={"app": "web", "version": "blue"})
    cluster.deploy("web-green", "r/web:2.0", replicas=2, labels={"app": "web", "version": "green"})
    cluster.service("web", {"app": "web", "version": "blue"}, target_port=8080)
    blue_ips = {p["status"]["podIP"] for p in cluster.pods(version="blue")}
    green_ips = {p["status"]["podIP"] for p in cluster.pods(version="green")}
    assert {a["ip"] for a in cluster.get("endpoints", "web")["subsets"][0]["addresses"]} == blue_ips
    [before] = cluster.slices("web")

    def switch(svc: Obj) -> None:
        svc["spec"]["selector"]["version"] = "green"

    cluster.edit("services", "web", switch)

    assert {a["ip"] for a in cluster.get("endpoints", "web")["subsets"][0]["addresses"]} == green_ips
    [after] = cluster.slices("web")
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert {e["addresses"][0] for e in after["endpoints"]} == green_ips


def test_publish_not_ready_addresses(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0-never-ready", replicas=1)
    cluster.store.create(
        "services",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "selector": {"app": "web"},
                "publishNotReadyAddresses": True,
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    cluster.settle()
    assert len(cluster.get("endpoints", "web")["subsets"][0]["addresses"]) == 1
    [s] = cluster.slices("web")
    assert s["endpoints"][0]["conditions"] == {"ready": True, "serving": False, "terminating": False}


def test_endpoints_are_written_only_when_they_change(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=2)
    cluster.service("web", {"app": "web"})
    rv = cluster.get("endpoints", "web")["metadata"]["resourceVersion"]
    [s] = cluster.slices("web")

    def annotate(svc: Obj) -> None:
        svc["metadata"]["annotations"] = {"note": "unrelated"}

    cluster.edit("services", "web", annotate)
    assert cluster.get("endpoints", "web")["metadata"]["resourceVersion"] == rv
    assert cluster.slices("web")[0]["metadata"]["resourceVersion"] == s["metadata"]["resourceVersion"]


def test_deleting_a_service_deletes_its_endpoints(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=1)
    cluster.service("web", {"app": "web"})
    cluster.store.delete("services", NS, "web")
    cluster.settle()
    with pytest.raises(ApiError):
        cluster.get("endpoints", "web")
    assert cluster.slices("web") == []


def test_a_bare_pod_is_scheduled_and_run(cluster: Cluster) -> None:
    cluster.store.create(
        "pods",
        {
            "metadata": {"name": "debug", "namespace": NS},
            "spec": {"containers": [{"name": "sh", "image": "r/tools:1"}]},
        },
    )
    cluster.settle()
    pod = cluster.get("pods", "debug")
    assert pod["spec"]["nodeName"] and condition(pod, "Ready")["status"] == "True"
    assert [e["reason"] for e in cluster.events("debug")] == ["Scheduled", "Pulled", "Created", "Started"]


# ---- events and concurrency ------------------------------------------------------------------------


def test_events_name_what_happened(cluster: Cluster) -> None:
    cluster.deploy("web", "r/web:1.0", replicas=1)
    [rs] = cluster.replicasets("web")
    [pod] = cluster.pods(app="web")
    [scaling] = cluster.events("web", "ScalingReplicaSet")
    assert scaling["message"] == f"Scaled up replica set {rs['metadata']['name']} from 0 to 1"
    assert scaling["involvedObject"]["kind"] == "Deployment"
    assert scaling["source"] == {"component": "deployment-controller"}
    [created] = cluster.events(rs["metadata"]["name"], "SuccessfulCreate")
    assert created["message"] == f"Created pod: {pod['metadata']['name']}"
    assert created["involvedObject"]["uid"] == rs["metadata"]["uid"]
    started = cluster.events(pod["metadata"]["name"], "Started")[0]
    assert started["source"]["component"] == "kubelet" and started["count"] == 1


class ConflictingStore(Store):
    """Answers 409 to the first few writes of each (resource, subresource), as if someone else wrote."""

    def __init__(self, clock: FakeClock, conflicts: int = 2) -> None:
        super().__init__(clock)
        self.left: dict[tuple[str, str | None], int] = {}
        self.conflicts = conflicts
        self.armed = False

    def update(self, resource: str, obj: Obj, *, subresource: str | None = None) -> Obj:
        key = (resource, subresource)
        if self.armed and resource in ("deployments", "replicasets", "pods"):
            n = self.left.setdefault(key, self.conflicts)
            if n > 0:
                self.left[key] = n - 1
                raise conflict(resource, "apps", obj["metadata"]["name"])
        return super().update(resource, obj, subresource=subresource)


def test_conflicts_are_retried() -> None:
    clock = FakeClock()
    store = ConflictingStore(clock)
    c = Cluster(store=store)
    c.clock = clock
    c.ctl = Controllers(store, clock, c.apps)
    # the controllers write a Deployment only through /status (like the real one), so plain Deployment
    # writes are the test's own: let those through
    store.left[("deployments", None)] = 0
    store.armed = True
    c.ctl.start()
    try:
        c.deploy("web", "r/web:1.0", replicas=2)
        c.set_image("web", "r/web:2.0")
        d = c.get("deployments", "web")
        assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
        assert d["status"]["updatedReplicas"] == 2
        assert all(v == 0 for v in store.left.values())
        assert c.ctl.errors == []
    finally:
        c.ctl.stop()


def test_stepping_without_the_worker_thread() -> None:
    c = Cluster()
    c.store.create(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "r/web:1"}]},
                },
            },
        },
    )
    c.ctl.reconcile_now()
    assert c.get("deployments", "web")["status"]["availableReplicas"] == 2


def test_stepping_with_a_ready_delay() -> None:
    c = Cluster(ready_delay=3.0)
    c.store.create(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "r/web:1"}]},
                },
            },
        },
    )
    c.settle()
    assert c.get("deployments", "web")["status"].get("availableReplicas") is None
    assert c.ctl.next_timer_at() == pytest.approx(c.clock.now() + 0.9)  # the container starts
    c.advance(3.0)
    assert c.get("deployments", "web")["status"]["availableReplicas"] == 1


def test_fifty_replicas_settle(cluster: Cluster) -> None:
    cluster.deploy("big", "r/web:1.0", replicas=50)
    cluster.service("big", {"app": "big"})
    assert cluster.get("deployments", "big")["status"]["availableReplicas"] == 50
    assert len(cluster.get("endpoints", "big")["subsets"][0]["addresses"]) == 50


# ---- through the SimCluster facade -----------------------------------------------------------------


def test_seeded_app_is_available_over_http(sim: SimCluster) -> None:
    sim.seed_app("web", replicas=3, image="registry.example/web:1.0")
    headers = {"Authorization": f"Bearer {sim.admin_token}"}
    d = requests.get(
        f"{sim.url}/apis/apps/v1/namespaces/default/deployments/web-blue", headers=headers, timeout=5
    ).json()
    assert d["status"]["availableReplicas"] == 3
    assert condition(d, "Available")["status"] == "True"
    eps = requests.get(
        f"{sim.url}/api/v1/namespaces/default/endpoints/web", headers=headers, timeout=5
    ).json()
    assert len(eps["subsets"][0]["addresses"]) == 3


def test_sim_cluster_with_a_fake_clock_waits_for_readiness() -> None:
    clock = FakeClock()
    sim = SimCluster(ready_delay=5.0, clock=clock).start()
    try:
        sim.seed_app("web", replicas=2, image="registry.example/web:1.0-never-ready")
        assert sim.get("deployments", "default", "web-blue")["status"].get("availableReplicas") is None
        clock.advance(700.0)
        sim.wait_idle()
        d = sim.get("deployments", "default", "web-blue")
        assert condition(d, "Progressing")["reason"] == "ProgressDeadlineExceeded"
        assert sim.controllers.errors == []
    finally:
        sim.stop()


def test_wait_idle_times_out_while_a_reconcile_is_stuck(cluster: Cluster) -> None:
    release = threading.Event()

    def block(event_type: str, resource: str, obj: Obj) -> None:
        # subscribers run in the writer's thread: here, the controllers' worker
        if resource == "replicasets" and threading.current_thread().name == "sim-controllers":
            release.wait(timeout=10)

    unsubscribe = cluster.store.subscribe(block)
    cluster.store.create(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "r/web:1"}]},
                },
            },
        },
    )
    try:
        with pytest.raises(
            TimeoutError, match=r"still busy after 0.05s \(working on deployment default/web;"
        ):
            cluster.ctl.wait_idle(timeout=0.05)
    finally:
        unsubscribe()
        release.set()
    cluster.settle()
    assert cluster.get("deployments", "web")["status"]["availableReplicas"] == 1


def test_controllers_started_late_pick_up_existing_objects() -> None:
    c = Cluster()
    c.store.create(
        "services",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    c.store.create(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "r/web:1"}]},
                },
            },
        },
    )
    c.ctl.start()
    try:
        c.settle()
        assert len(c.get("endpoints", "web")["subsets"][0]["addresses"]) == 2
        assert c.get("endpoints", "web")["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    finally:
        c.ctl.stop()


def test_failing_pods_are_visible_over_http(sim: SimCluster) -> None:
    sim.seed_app("web", replicas=1, image="registry.example/web:2.0-pullfail")
    headers = {"Authorization": f"Bearer {sim.admin_token}"}
    pods = requests.get(
        f"{sim.url}/api/v1/namespaces/default/pods",
        params={"labelSelector": "app=web"},
        headers=headers,
        timeout=5,
    ).json()["items"]
    [pod] = pods
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] in (
        "ErrImagePull",
        "ImagePullBackOff",
    )
    events = requests.get(
        f"{sim.url}/api/v1/namespaces/default/events",
        params={"fieldSelector": f"involvedObject.name={pod['metadata']['name']}"},
        headers=headers,
        timeout=5,
    ).json()["items"]
    assert "Error: ErrImagePull" in [e["message"] for e in events]
    assert {e["involvedObject"]["name"] for e in events} == {pod["metadata"]["name"]}


def test_switching_the_service_over_http_moves_traffic(sim: SimCluster) -> None:
    sim.seed_app("web", replicas=2, image="registry.example/web:1.0", color="blue")
    sim.seed_app("web", replicas=2, image="registry.example/web:2.0", color="green")  # re-applies Service web
    headers = {"Authorization": f"Bearer {sim.admin_token}"}
    base = f"{sim.url}/api/v1/namespaces/default/services"
    requests.patch(
        f"{base}/web",
        json={"spec": {"selector": {"app": "web", "version": "blue"}}},
        headers={**headers, "Content-Type": "application/merge-patch+json"},
        timeout=5,
    ).raise_for_status()
    sim.wait_idle()
    assert requests.get(f"{base}/web:http/proxy/", headers=headers, timeout=5).json()["color"] == "blue"

    requests.patch(
        f"{base}/web",
        json={"spec": {"selector": {"app": "web", "version": "green"}}},
        headers={**headers, "Content-Type": "application/merge-patch+json"},
        timeout=5,
    ).raise_for_status()
    sim.wait_idle()
    green = {
        p["status"]["podIP"]
        for p in sim.store.list("pods", "default")[0]
        if p["metadata"]["labels"].get("version") == "green"
    }
    eps = requests.get(
        f"{sim.url}/api/v1/namespaces/default/endpoints/web", headers=headers, timeout=5
    ).json()
    assert {a["ip"] for a in eps["subsets"][0]["addresses"]} == green
    answers = [
        requests.get(f"{base}/web:http/proxy/version", headers=headers, timeout=5).json() for _ in range(2)
    ]
    assert {(a["color"], a["version"], a["path"]) for a in answers} == {("green", "2.0", "/version")}
