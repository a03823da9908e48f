"""Server-side Table printing, as ``kubectl get`` receives it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bluegreen.sim.tables import human_duration, to_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def ago(seconds: int) -> str:
    return datetime.fromtimestamp(NOW - seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: int = 300) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), "uid": f"uid-{name}"}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 5, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def cells(table: dict) -> list[list]:
    return [row["cells"] for row in table["rows"]]


def names(table: dict) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"]]


def test_deployment_table() -> None:
    dep = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": meta("web-green", 185),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web", "version": "green"}},
            "template": {
                "spec": {
                    "containers": [{"name": "web", "image": "web:2"}, {"name": "proxy", "image": "envoy:1"}]
                }
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    table = to_table("deployments", [dep], NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert names(table) == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert cells(table) == [
        ["web-green", "2/3", 3, 2, "3m5s", "web,proxy", "web:2,envoy:1", "app=web,version=green"]
    ]
    obj = table["rows"][0]["object"]
    assert obj == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dep["metadata"],
    }


def test_include_object_modes() -> None:
    dep = {"metadata": meta("a"), "spec": {}}
    assert to_table("deployments", [dep], NOW, include_object="Object")["rows"][0]["object"] is dep
    assert to_table("deployments", [dep], NOW, include_object="None")["rows"][0]["object"] is None
    assert to_table("deployments", [], NOW, resource_version="42")["metadata"] == {"resourceVersion": "42"}


def test_replicaset_table() -> None:
    rs = {
        "metadata": meta("web-green-abc", 60),
        "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    table = to_table("replicasets", [rs], NOW)
    assert names(table)[:5] == ["Name", "Desired", "Current", "Ready", "Age"]
    assert cells(table)[0][:5] == ["web-green-abc", 2, 2, 1, "60s"]


def pod(**status: object) -> dict:
    return {
        "metadata": meta("web-1", 30),
        "spec": {"containers": [{"name": "web"}], "nodeName": "sim"},
        "status": {"phase": "Running", "podIP": "10.0.0.7", **status},
    }


def test_pod_running_ready() -> None:
    p = pod(
        containerStatuses=[
            {"name": "web", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": ago(20)}}}
        ]
    )
    table = to_table("pods", [p], NOW)
    assert names(table) == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    assert cells(table) == [["web-1", "1/1", "Running", 0, "30s", "10.0.0.7", "sim", "<none>", "<none>"]]


def test_pod_waiting_reason_and_restarts_with_last_restart() -> None:
    p = pod(
        containerStatuses=[
            {
                "name": "web",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(75)}},
            }
        ]
    )
    row = cells(to_table("pods", [p], NOW))[0]
    assert row[1:4] == ["0/1", "CrashLoopBackOff", "4 (75s ago)"]


def test_pod_image_pull_backoff_and_terminating() -> None:
    p = pod(
        phase="Pending",
        containerStatuses=[
            {
                "name": "web",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff"}},
            }
        ],
    )
    assert cells(to_table("pods", [p], NOW))[0][2] == "ImagePullBackOff"
    p = pod(containerStatuses=[{"name": "web", "ready": True, "state": {"running": {}}}])
    p["metadata"]["deletionTimestamp"] = ago(1)
    assert cells(to_table("pods", [p], NOW))[0][2] == "Terminating"


def test_pod_succeeded_row_has_completed_condition() -> None:
    p = pod(
        phase="Succeeded",
        containerStatuses=[{"name": "web", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
    )
    row = to_table("pods", [p], NOW)["rows"][0]
    assert row["cells"][2] == "Completed"
    assert row["conditions"][0]["reason"] == "Succeeded"


def test_service_table() -> None:
    svc = {
        "metadata": meta("web", 7200),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "selector": {"version": "blue", "app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}],
        },
    }
    lb = {
        "metadata": meta("lb"),
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]},
    }
    table = to_table("services", [svc, lb], NOW)
    assert names(table) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert cells(table) == [
        ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "120m", "app=web,version=blue"],
        ["lb", "LoadBalancer", "<none>", "<pending>", "80:30080/TCP", "5m", "<none>"],
    ]


def test_endpoints_table_truncates_after_three() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 8080}]}],
    }
    empty = {"metadata": meta("none")}
    assert cells(to_table("endpoints", [ep, empty], NOW)) == [
        ["web", "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...", "5m"],
        ["none", "<none>", "5m"],
    ]


def test_endpointslice_table() -> None:
    es = {
        "metadata": meta("web-abc"),
        "addressType": "IPv4",
        "ports": [{"port": 8080}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    }
    bare = {"metadata": meta("bare"), "addressType": "IPv4"}
    assert cells(to_table("endpointslices", [es, bare], NOW)) == [
        ["web-abc", "IPv4", "8080", "10.0.0.1,10.0.0.2", "5m"],
        ["bare", "IPv4", "<unset>", "<unset>", "5m"],
    ]


def test_lease_namespace_and_event_tables() -> None:
    lease = {"metadata": meta("bluegreen-web"), "spec": {"holderIdentity": "runner-1"}}
    assert cells(to_table("leases", [lease], NOW)) == [["bluegreen-web", "runner-1", "5m"]]
    ns = {"metadata": meta("default", 3 * 86400), "status": {"phase": "Active"}}
    assert cells(to_table("namespaces", [ns], NOW)) == [["default", "Active", "3d"]]
    event = {
        "metadata": meta("web.1"),
        "type": "Normal",
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set web-green-abc to 2 ",
        "firstTimestamp": ago(40),
        "lastTimestamp": ago(10),
        "count": 3,
        "source": {"component": "deployment-controller"},
        "involvedObject": {"kind": "Deployment", "name": "web-green"},
    }
    table = to_table("events", [event], NOW)
    assert names(table)[:4] == ["Last Seen", "Type", "Reason", "Object"]
    assert cells(table) == [
        [
            "10s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web-green",
            "",
            "deployment-controller",
            "Scaled up replica set web-green-abc to 2",
            "40s",
            3,
            "web.1",
        ]
    ]


def test_missing_creation_timestamp_prints_unknown() -> None:
    assert cells(to_table("leases", [{"metadata": {"name": "x"}}], NOW)) == [["x", "", "<unknown>"]]


def test_generic_fallback_is_the_default_table_convertor() -> None:
    table = to_table("configmaps", [{"metadata": meta("cm")}], NOW)
    assert names(table) == ["Name", "Created At"]
    assert cells(table) == [["cm", ago(300)]]
