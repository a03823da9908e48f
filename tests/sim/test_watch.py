"""Watch streams of the simulated API server: events, selectors, 410 Expired, shutdown."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from tests.helpers import as_model, present


def lease(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "spec": {}}


@pytest.fixture
def leases(kubeconfig: Path) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def raw_watch(sim: SimCluster, path: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` events of a watch stream (fewer if the server ends it)."""
    events: list[dict[str, Any]] = []
    with requests.get(
        sim.url + path, stream=True, timeout=5, headers={"Authorization": f"Bearer {sim.admin_token}"}
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["Transfer-Encoding"] == "chunked"
        for line in resp.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) == n:
                break
    return events


def test_watch_from_list_resource_version_sees_changes_in_order(
    leases: client.CoordinationV1Api, sim: SimCluster
) -> None:
    leases.create_namespaced_lease("default", as_model(client.V1Lease, lease("before")))
    rv = present(leases.list_namespaced_lease("default").metadata).resource_version
    sim.store.create("leases", lease("a"))
    current = sim.get("leases", "default", "a")
    current["spec"] = {"holderIdentity": "me"}
    sim.store.update("leases", current)
    sim.delete("leases", "default", "a")

    seen = []
    w = watch.Watch()
    for ev in w.stream(leases.list_namespaced_lease, "default", resource_version=rv, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_resource_version_starts_with_current_objects(leases: client.CoordinationV1Api) -> None:
    leases.create_namespaced_lease("default", as_model(client.V1Lease, lease("x")))
    w = watch.Watch()
    first = next(iter(w.stream(leases.list_namespaced_lease, "default", timeout_seconds=1)))
    w.stop()
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "x")


def test_watch_filters_by_label_and_field_selector(sim: SimCluster) -> None:
    rv = sim.store.resource_version
    sim.store.create("leases", lease("a", {"tier": "web"}))
    sim.store.create("leases", lease("b", {"tier": "db"}))
    sim.store.create("leases", lease("c", {"tier": "web"}))
    sim.store.create("leases", lease("end", {"tier": "web"}))  # the marker that ends both reads
    base = f"/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=true&resourceVersion={rv}"
    by_label = raw_watch(sim, base + "&labelSelector=tier%3Dweb", 3)
    assert [e["object"]["metadata"]["name"] for e in by_label] == ["a", "c", "end"]
    by_field = raw_watch(sim, base + "&fieldSelector=metadata.name%3Db", 1)
    assert [e["object"]["metadata"]["name"] for e in by_field] == ["b"]


def test_too_old_resource_version_is_an_error_event_with_410(
    sim: SimCluster, leases: client.CoordinationV1Api
) -> None:
    sim.store.history_limit = 3
    old_rv = sim.store.resource_version
    for i in range(6):
        sim.store.create("leases", lease(f"l{i}"))
    events = raw_watch(
        sim, f"/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=1&resourceVersion={old_rv}", 2
    )
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    st = events[0]["object"]
    assert (st["kind"], st["code"], st["reason"]) == ("Status", 410, "Expired")
    assert st["message"].startswith(f"too old resource version: {old_rv} (")
    # the official client turns it into an ApiException(410) after one retry
    with pytest.raises(ApiException) as e:
        list(
            watch.Watch().stream(
                leases.list_namespaced_lease, "default", resource_version=old_rv, timeout_seconds=5
            )
        )
    assert e.value.status == 410


def test_stop_closes_open_watch_streams(kubeconfig: Path) -> None:
    sim = SimCluster().start()
    try:
        api = client.CoordinationV1Api(
            config.new_client_from_config(
                config_file=str(sim.write_kubeconfig(kubeconfig.parent / "own-kubeconfig"))
            )
        )
        started = threading.Event()
        finished = threading.Event()

        def watcher() -> None:
            try:
                for _ in watch.Watch().stream(api.list_namespaced_lease, "default", _request_timeout=30):
                    pass
            except Exception:
                pass  # a closed connection is fine: we only care that the stream ends
            finished.set()

        sim.on_request(lambda rec: started.set() if rec.verb == "watch" else None)
        t = threading.Thread(target=watcher, daemon=True)
        t.start()
        assert started.wait(5)
    finally:
        sim.stop()
    assert finished.wait(5), "watch stream still open after stop()"


def test_objects_entering_and_leaving_a_label_selection_are_added_and_deleted(sim: SimCluster) -> None:
    rv = sim.store.resource_version
    sim.store.create("leases", lease("a", {"tier": "db"}))
    moved = sim.get("leases", "default", "a")
    moved["metadata"]["labels"] = {"tier": "web"}
    sim.store.update("leases", moved)
    back = sim.get("leases", "default", "a")
    back["metadata"]["labels"] = {"tier": "db"}
    sim.store.update("leases", back)
    events = raw_watch(
        sim,
        f"/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=1&resourceVersion={rv}"
        "&labelSelector=tier%3Dweb",
        2,
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_an_object_leaving_the_selection_is_deleted_with_its_previous_content_and_the_event_rv(
    sim: SimCluster,
) -> None:
    # cache_watcher.go convertToWatchEvent: "return a delete event with the previous object content, but
    # with the event's resource version"
    rv = sim.store.resource_version
    sim.store.create("leases", lease("a", {"tier": "web"}))
    moved = sim.get("leases", "default", "a")
    moved["metadata"]["labels"] = {"tier": "db"}
    left = sim.store.update("leases", moved)
    events = raw_watch(
        sim,
        f"/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=1&resourceVersion={rv}"
        "&labelSelector=tier%3Dweb",
        2,
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
    gone = events[1]["object"]["metadata"]
    assert gone["labels"] == {"tier": "web"}
    assert gone["resourceVersion"] == left["metadata"]["resourceVersion"]


def test_too_old_message_names_the_newest_version_no_longer_served(sim: SimCluster) -> None:
    # watch_cache.go: "too old resource version: %d (%d)", resourceVersion, oldest-1
    sim.store.history_limit = 2
    old_rv = sim.store.resource_version
    for i in range(4):
        sim.store.create("leases", lease(f"l{i}"))
    oldest_kept = int(sim.store.resource_version) - 1
    events = raw_watch(
        sim, f"/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=1&resourceVersion={old_rv}", 1
    )
    assert events[0]["object"]["message"] == f"too old resource version: {old_rv} ({oldest_kept - 1})"


@pytest.mark.parametrize(
    "query, code", [("fieldSelector=spec.holderIdentity%3Dx", 400), ("timeoutSeconds=soon", 400)]
)
def test_bad_watch_parameters_are_400_before_the_stream(sim: SimCluster, query: str, code: int) -> None:
    resp = requests.get(
        f"{sim.url}/apis/coordination.k8s.io/v1/namespaces/default/leases?watch=1&{query}",
        headers={"Authorization": f"Bearer {sim.admin_token}"},
        timeout=5,
    )
    assert resp.status_code == code and resp.json()["reason"] == "BadRequest"
