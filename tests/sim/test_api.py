"""The simulated API server's CRUD, patch and validation behaviour, seen through the official client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bluegreen.sim import SimCluster
from tests.helpers import as_model, present


def api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def deployment(
    name: str = "app",
    labels: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    image: str = "registry.example/app:1.0",
    replicas: int = 1,
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector or dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {"name": "main", "image": image},
                        {"name": "side", "image": "registry.example/side:1"},
                    ]
                },
            },
        },
    }


def status_of(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(present(e.body))
    return body


@pytest.fixture
def apps_api(kubeconfig: Path) -> client.AppsV1Api:
    return client.AppsV1Api(api(kubeconfig))


@pytest.fixture
def core(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(api(kubeconfig))


def test_create_returns_201_with_server_fields_and_defaults(apps_api: client.AppsV1Api) -> None:
    obj, code, _ = apps_api.create_namespaced_deployment_with_http_info(
        "default", as_model(client.V1Deployment, deployment())
    )
    assert code == 201
    meta = present(obj.metadata)
    assert meta.uid and meta.resource_version and meta.generation == 1
    assert meta.creation_timestamp is not None
    strategy = present(present(obj.spec).strategy)
    assert strategy.type == "RollingUpdate"
    assert present(strategy.rolling_update).max_surge == "25%"
    assert obj.spec.revision_history_limit == 10 and obj.spec.progress_deadline_seconds == 600
    got = apps_api.read_namespaced_deployment("app", "default")
    assert present(got.metadata).uid == meta.uid


def test_service_defaults_and_cluster_ip_kept_on_replace(core: client.CoreV1Api) -> None:
    svc = core.create_namespaced_service(
        "default",
        as_model(
            client.V1Service,
            {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ),
    )
    spec = present(svc.spec)
    assert spec.type == "ClusterIP" and spec.cluster_ip
    ports = present(spec.ports)
    assert ports[0].target_port == 80 and ports[0].protocol == "TCP"
    body = core.api_client.sanitize_for_serialization(svc)
    del body["spec"]["clusterIP"], body["spec"]["clusterIPs"]
    replaced = core.replace_namespaced_service("web", "default", body)
    assert present(replaced.spec).cluster_ip == spec.cluster_ip


def test_create_in_missing_namespace_is_404(apps_api: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as e:
        apps_api.create_namespaced_deployment("nope", as_model(client.V1Deployment, deployment()))
    assert e.value.status == 404
    assert status_of(e.value)["message"] == 'namespaces "nope" not found'


def test_create_twice_is_409_already_exists(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    with pytest.raises(ApiException) as e:
        apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    assert e.value.status == 409
    st = status_of(e.value)
    assert st["reason"] == "AlreadyExists" and st["message"] == 'deployments.apps "app" already exists'


def test_get_missing_is_404_with_real_status(apps_api: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as e:
        apps_api.read_namespaced_deployment("ghost", "default")
    st = status_of(e.value)
    assert (e.value.status, st["kind"], st["reason"]) == (404, "Status", "NotFound")
    assert st["message"] == 'deployments.apps "ghost" not found'
    assert st["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_list_filters_by_label_and_field_selector_and_carries_list_metadata(
    apps_api: client.AppsV1Api, sim: SimCluster
) -> None:
    apps_api.create_namespaced_deployment(
        "default", as_model(client.V1Deployment, deployment("a", {"app": "a", "tier": "web"}))
    )
    apps_api.create_namespaced_deployment(
        "default", as_model(client.V1Deployment, deployment("b", {"app": "b", "tier": "db"}))
    )
    sim.store.create("namespaces", {"metadata": {"name": "other"}})
    apps_api.create_namespaced_deployment(
        "other", as_model(client.V1Deployment, deployment("c", {"app": "c", "tier": "web"}))
    )

    web = apps_api.list_namespaced_deployment("default", label_selector="tier=web")
    assert [present(d.metadata).name for d in web.items] == ["a"]
    assert web.kind == "DeploymentList" and web.api_version == "apps/v1"
    assert int(present(present(web.metadata).resource_version)) >= int(
        present(present(web.items[0].metadata).resource_version)
    )
    by_name = apps_api.list_namespaced_deployment("default", field_selector="metadata.name=b")
    assert [present(d.metadata).name for d in by_name.items] == ["b"]
    everywhere = apps_api.list_deployment_for_all_namespaces(label_selector="tier=web")
    assert sorted(present(present(d.metadata).name) for d in everywhere.items) == ["a", "c"]


def test_namespaces_are_cluster_scoped_and_defaults_exist(core: client.CoreV1Api) -> None:
    names = [present(n.metadata).name for n in core.list_namespace().items]
    assert "default" in names and "kube-system" in names
    assert present(core.read_namespace("default").status).phase == "Active"


def test_replace_with_stale_resource_version_is_409_conflict(apps_api: client.AppsV1Api) -> None:
    first = apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    apps_api.patch_namespaced_deployment("app", "default", {"metadata": {"labels": {"x": "1"}}})
    first.spec.replicas = 3
    with pytest.raises(ApiException) as e:
        apps_api.replace_namespaced_deployment("app", "default", first)
    assert e.value.status == 409
    assert status_of(e.value)["message"] == (
        'Operation cannot be fulfilled on deployments.apps "app": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_patch_carrying_a_stale_resource_version_is_409(apps_api: client.AppsV1Api) -> None:
    first = apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    apps_api.patch_namespaced_deployment("app", "default", {"spec": {"replicas": 2}})
    with pytest.raises(ApiException) as e:
        apps_api.patch_namespaced_deployment(
            "app",
            "default",
            {
                "metadata": {"resourceVersion": present(first.metadata).resource_version},
                "spec": {"replicas": 5},
            },
        )
    assert e.value.status == 409 and status_of(e.value)["reason"] == "Conflict"
    assert apps_api.read_namespaced_deployment("app", "default").spec.replicas == 2


def test_patch_without_resource_version_survives_a_concurrent_write(
    apps_api: client.AppsV1Api, sim: SimCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    real_update = sim.store.update
    interfered: list[bool] = []

    def update_after_someone_else(resource: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if resource == "deployments" and not interfered:
            interfered.append(True)  # another writer gets in between the patch's read and its write
            other = sim.get("deployments", "default", "app")
            other["metadata"].setdefault("labels", {})["other"] = "writer"
            real_update("deployments", other)
        return real_update(resource, obj, **kw)

    monkeypatch.setattr(sim.store, "update", update_after_someone_else)
    patched = apps_api.patch_namespaced_deployment("app", "default", {"spec": {"replicas": 4}})
    assert (
        interfered
        and patched.spec.replicas == 4
        and present(present(patched.metadata).labels)["other"] == "writer"
    )


def test_selector_not_matching_template_is_422_with_real_wording(apps_api: client.AppsV1Api) -> None:
    bad = deployment("app", labels={"app": "app"}, selector={"app": "other"})
    with pytest.raises(ApiException) as e:
        apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, bad))
    st = status_of(e.value)
    assert e.value.status == 422 and st["reason"] == "Invalid"
    assert st["message"] == (
        'Deployment.apps "app" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"app"}: `selector` does not match template `labels`'
    )
    assert st["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_selector_is_immutable(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment(
        "default", as_model(client.V1Deployment, deployment("app", {"app": "app", "v": "1"}))
    )
    with pytest.raises(ApiException) as e:
        apps_api.patch_namespaced_deployment(
            "app", "default", {"spec": {"selector": {"matchLabels": {"app": None}}}}
        )
    st = status_of(e.value)
    assert e.value.status == 422
    assert st["message"].endswith(
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"v":"1"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )


def test_invalid_name_is_422(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service(
            "default",
            as_model(client.V1Service, {"metadata": {"name": "Web_1"}, "spec": {"ports": [{"port": 80}]}}),
        )
    assert e.value.status == 422
    assert status_of(e.value)["message"].startswith(
        'Service "Web_1" is invalid: metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 label must '
    )
    # 1.37 (RelaxedServiceNameValidation, GA): a Service name may start with a digit
    core.create_namespaced_service(
        "default",
        as_model(client.V1Service, {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}),
    )


def test_json_patch_with_failing_test_op_is_422_and_changes_nothing(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 7},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    with pytest.raises(ApiException) as e:
        apps_api.patch_namespaced_deployment("app", "default", ops)
    assert e.value.status == 422
    assert apps_api.read_namespaced_deployment("app", "default").spec.replicas == 1


def test_json_patch_applies(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    assert apps_api.patch_namespaced_deployment("app", "default", ops).spec.replicas == 4


def _patch(sim: SimCluster, path: str, body: Any, content_type: str) -> requests.Response:
    return requests.patch(
        sim.url + path,
        data=json.dumps(body),
        timeout=5,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {sim.admin_token}"},
    )


def test_merge_patch_replaces_lists_strategic_merges_containers_by_name(
    apps_api: client.AppsV1Api, sim: SimCluster
) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    path = "/apis/apps/v1/namespaces/default/deployments/app"
    change = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "main", "image": "registry.example/app:2.0"}]}}
        }
    }

    smp = _patch(sim, path, change, "application/strategic-merge-patch+json").json()
    containers = smp["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("main", "registry.example/app:2.0"),
        ("side", "registry.example/side:1"),
    ]

    merged = _patch(sim, path, change, "application/merge-patch+json").json()
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_unknown_patch_type_is_415(apps_api: client.AppsV1Api, sim: SimCluster) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    for ctype in ("text/plain", "application/json"):
        resp = _patch(sim, "/apis/apps/v1/namespaces/default/deployments/app", {}, ctype)
        assert resp.status_code == 415 and resp.json()["reason"] == "UnsupportedMediaType"
        # the real server's wording: go-restful refuses the route, the generic Status carries its text
        assert resp.json()["message"] == "415: Unsupported Media Type" and resp.json()["details"] == {}


def test_generation_bumps_on_spec_changes_only(apps_api: client.AppsV1Api, sim: SimCluster) -> None:
    apps_api.create_namespaced_deployment(
        "default", as_model(client.V1Deployment, deployment("app", {"app": "app"}))
    )
    # a ReplicaSet bumps only on spec changes; labels (metadata) do not
    rs = deployment("rs", {"app": "rs"})
    rs["kind"] = "ReplicaSet"
    del rs["spec"]["replicas"]
    sim.store.create("replicasets", {**rs, "metadata": {"name": "rs", "namespace": "default"}})
    labelled = apps_api.patch_namespaced_replica_set("rs", "default", {"metadata": {"labels": {"a": "b"}}})
    assert present(labelled.metadata).generation == 1
    current = sim.get("deployments", "default", "app")
    current["status"] = {"observedGeneration": 1, "replicas": 1}
    status_only = sim.store.update("deployments", current, subresource="status")
    assert status_only["metadata"]["generation"] == 1
    spec = apps_api.patch_namespaced_deployment("app", "default", {"spec": {"replicas": 2}})
    assert present(spec.metadata).generation == 2
    assert int(present(present(spec.metadata).resource_version)) > int(
        status_only["metadata"]["resourceVersion"]
    )


def test_deployment_generation_bumps_on_annotation_changes_but_not_on_the_controllers_revision(
    apps_api: client.AppsV1Api, sim: SimCluster
) -> None:
    # pkg/registry/apps/deployment/strategy.go: annotation updates bump the generation (they are copied to
    # the ReplicaSet); the controller writes deployment.kubernetes.io/revision through /status, which doesn't
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    sim.wait_idle()
    settled = sim.get("deployments", "default", "app")
    assert settled["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert settled["metadata"]["generation"] == 1
    annotated = apps_api.patch_namespaced_deployment(
        "app", "default", {"metadata": {"annotations": {"a": "b"}}}
    )
    assert present(annotated.metadata).generation == 2
    labelled = apps_api.patch_namespaced_deployment("app", "default", {"metadata": {"labels": {"x": "y"}}})
    assert present(labelled.metadata).generation == 2
    sim.wait_idle()
    assert sim.get("deployments", "default", "app")["status"]["observedGeneration"] == 2
    # /status may change annotations but not labels (deploymentStatusStrategy)
    via_status = apps_api.patch_namespaced_deployment_status(
        "app", "default", {"metadata": {"labels": {"x": "z"}, "annotations": {"c": "d"}}}
    )
    status_meta = present(via_status.metadata)
    assert present(status_meta.labels)["x"] == "y" and present(status_meta.annotations)["c"] == "d"
    assert status_meta.generation == 2


def test_main_resource_update_cannot_change_status(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    patched = apps_api.patch_namespaced_deployment("app", "default", {"status": {"collisionCount": 9}})
    assert present(patched.status).collision_count is None
    via_status = apps_api.patch_namespaced_deployment_status(
        "app", "default", {"status": {"collisionCount": 9}}
    )
    assert present(via_status.status).collision_count == 9 and present(via_status.metadata).generation == 1


def test_scale_subresource(apps_api: client.AppsV1Api) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    scale = apps_api.read_namespaced_deployment_scale("app", "default")
    assert (scale.kind, present(scale.spec).replicas, present(scale.status).selector) == (
        "Scale",
        1,
        "app=app",
    )
    apps_api.patch_namespaced_deployment_scale("app", "default", {"spec": {"replicas": 3}})
    assert apps_api.read_namespaced_deployment("app", "default").spec.replicas == 3


def test_delete_returns_status_and_cascades_to_dependents(
    apps_api: client.AppsV1Api, sim: SimCluster
) -> None:
    owner = apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app", "uid": present(owner.metadata).uid}
    child = sim.store.create(
        "leases", {"metadata": {"name": "child", "namespace": "default", "ownerReferences": [ref]}}
    )
    grandchild_ref = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "name": "child",
        "uid": child["metadata"]["uid"],
    }
    sim.store.create(
        "leases",
        {"metadata": {"name": "grandchild", "namespace": "default", "ownerReferences": [grandchild_ref]}},
    )
    sim.store.create("leases", {"metadata": {"name": "unrelated", "namespace": "default"}})

    st = apps_api.delete_namespaced_deployment("app", "default")
    assert isinstance(st, dict)  # the client returns the Status undecoded
    assert st["kind"] == "Status" and st["status"] == "Success" and st["details"]["name"] == "app"
    leases = [
        present(lease.metadata).name
        for lease in client.CoordinationV1Api(apps_api.api_client).list_namespaced_lease("default").items
    ]
    assert leases == ["unrelated"]
    with pytest.raises(ApiException) as e:
        apps_api.read_namespaced_deployment("app", "default")
    assert e.value.status == 404


def test_put_with_name_not_matching_url_is_400(core: client.CoreV1Api) -> None:
    core.create_namespaced_service(
        "default",
        as_model(client.V1Service, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    body = {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 80}]}}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_service("web", "default", as_model(client.V1Service, body))
    assert e.value.status == 400


def test_discovery_lists_served_groups(kubeconfig: Path) -> None:
    c = api(kubeconfig)
    groups = {g.name for g in client.ApisApi(c).get_api_versions().groups}
    assert {"apps", "discovery.k8s.io", "coordination.k8s.io"} <= groups
    resources = {r.name for r in client.AppsV1Api(c).get_api_resources().resources}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= resources
    assert client.VersionApi(c).get_code().major == "1"


# ---- Leases: typed decoding and validation (pkg/apis/coordination/validation, metav1.MicroTime) ----

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def _raw(
    sim: SimCluster, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.request(
        method,
        sim.url + path,
        data=body,
        timeout=5,
        headers={"Authorization": f"Bearer {sim.admin_token}", **(headers or {})},
    )


def _lease_body(name: str = "lock", **spec: Any) -> bytes:
    return json.dumps(
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": spec}
    ).encode()


def test_lease_micro_times_must_be_rfc3339_micro_and_come_back_in_utc(sim: SimCluster) -> None:
    ok = _raw(
        sim,
        "POST",
        LEASES,
        _lease_body(renewTime="2026-01-01T02:00:00.123456+02:00"),
        {"Content-Type": "application/json"},
    )
    assert ok.status_code == 201 and ok.json()["spec"]["renewTime"] == "2026-01-01T00:00:00.123456Z"
    bad = _raw(sim, "POST", LEASES, _lease_body("other", renewTime="2026-01-01T00:00:00Z"))
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"
    assert bad.json()["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: parsing time '
        '"2026-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": '
        'cannot parse "Z" as ".000000"'
    )
    wrong_type = _raw(sim, "POST", LEASES, _lease_body("third", leaseDurationSeconds="15"))
    assert wrong_type.status_code == 400 and "of type int32" in wrong_type.json()["message"]


def test_lease_duration_must_be_positive(sim: SimCluster) -> None:
    resp = _raw(sim, "POST", LEASES, _lease_body(leaseDurationSeconds=0, leaseTransitions=-1))
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Lease.coordination.k8s.io "lock" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be '
        "greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]"
    )


def test_put_to_a_missing_lease_creates_it(sim: SimCluster) -> None:
    # leaseStrategy.AllowCreateOnUpdate is true
    resp = _raw(sim, "PUT", f"{LEASES}/lock", _lease_body(holderIdentity="me", leaseDurationSeconds=15))
    assert resp.status_code == 201 and sim.get("leases", "default", "lock")["spec"]["holderIdentity"] == "me"
    missing = _raw(
        sim,
        "PUT",
        "/api/v1/namespaces/default/services/nope",
        json.dumps({"metadata": {"name": "nope"}, "spec": {"ports": [{"port": 80}]}}).encode(),
    )
    assert missing.status_code == 404


def test_create_with_a_resource_version_is_refused(sim: SimCluster) -> None:
    # storage.ErrResourceVersionSetOnCreate is not an API status: a 500 without a reason
    body = json.dumps({"metadata": {"name": "x", "resourceVersion": "7"}, "spec": {}}).encode()
    resp = _raw(sim, "POST", LEASES, body)
    assert resp.status_code == 500 and "reason" not in resp.json()
    assert resp.json()["message"] == "resourceVersion should not be set on objects to be created"


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"propagationPolicy": "Sometimes"},
            'propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil"',
        ),
        (
            {"propagationPolicy": "Orphan", "orphanDependents": True},
            'propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set',
        ),
    ],
)
def test_delete_options_are_validated(sim: SimCluster, options: dict[str, Any], message: str) -> None:
    sim.store.create("leases", {"metadata": {"name": "lock", "namespace": "default"}, "spec": {}})
    resp = _raw(sim, "DELETE", f"{LEASES}/lock", json.dumps(options).encode())
    assert resp.status_code == 422
    assert resp.json()["message"] == f'DeleteOptions.meta.k8s.io "" is invalid: {message}'
    assert "name" not in resp.json()["details"]
    assert sim.get("leases", "default", "lock")


# ---- malformed requests: always a Status answer, never a crash or a hang ----


def test_request_bodies_are_decoded_by_content_type(sim: SimCluster) -> None:
    yaml_body = b"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: from-yaml}\nspec: {}\n"
    assert _raw(sim, "POST", LEASES, yaml_body, {"Content-Type": "application/yaml"}).status_code == 201
    resp = _raw(sim, "POST", LEASES, _lease_body("x"), {"Content-Type": "text/plain"})
    assert resp.status_code == 415 and resp.json()["reason"] == "UnsupportedMediaType"
    assert resp.json()["message"].startswith(
        "the body of the request was in an unknown format - accepted media "
        "types include: application/json, application/yaml"
    )
    bad_json = _raw(sim, "POST", LEASES, b"{nope", {"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["reason"] == "BadRequest"
    deep = _raw(sim, "POST", LEASES, b"[" * 100000 + b"]" * 100000)
    assert deep.status_code == 400


def _send_raw(sim: SimCluster, request: bytes) -> bytes:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(sim.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "length, status", [("abc", b"400"), ("-5", b"400"), (str(3 * 1024 * 1024 + 1), b"413")]
)
def test_bad_or_huge_content_length_is_answered_not_waited_for(
    sim: SimCluster, length: str, status: bytes
) -> None:
    reply = _send_raw(
        sim,
        f"POST {LEASES} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}".encode(),
    )
    assert reply.split(b" ")[1] == status
    if status == b"413":
        assert b"Request entity too large: limit is 3145728" in reply


def test_chunked_request_body(sim: SimCluster) -> None:
    body = _lease_body("chunked")
    reply = _send_raw(
        sim,
        f"POST {LEASES} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n",
    )
    assert reply.split(b" ")[1] == b"201"
    assert sim.get("leases", "default", "chunked")


def test_delete_preconditions_and_answers_word_like_the_real_server(
    apps_api: client.AppsV1Api, sim: SimCluster
) -> None:
    apps_api.create_namespaced_deployment("default", as_model(client.V1Deployment, deployment()))
    dep_path = "/apis/apps/v1/namespaces/default/deployments/app"
    uid = sim.store.get("deployments", "default", "app")["metadata"]["uid"]
    opts = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "wrong"}}
    resp = _raw(sim, "DELETE", dep_path, json.dumps(opts).encode(), {"Content-Type": "application/json"})
    st = resp.json()
    assert resp.status_code == 409 and st["reason"] == "Conflict"
    # the registry's BeforeDelete names the Kind, not the resource
    assert st["details"] == {"name": "app", "group": "apps", "kind": "Deployment"}
    assert st["message"] == (
        f'Operation cannot be fulfilled on Deployment.apps "app": the UID in the precondition (wrong) does not '
        f"match the UID in record ({uid}). The object might have been deleted and then recreated"
    )
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    svc_path = "/api/v1/namespaces/default/services"
    created = _raw(
        sim, "POST", svc_path, json.dumps(svc).encode(), {"Content-Type": "application/json"}
    ).json()
    rv = created["metadata"]["resourceVersion"]
    opts = {"preconditions": {"resourceVersion": "1"}}
    st = _raw(sim, "DELETE", svc_path + "/web", json.dumps(opts).encode()).json()
    assert st["details"] == {"name": "web", "kind": "Service"}
    assert st["message"] == (
        'Operation cannot be fulfilled on Service "web": the ResourceVersion in the precondition (1) does not '
        f"match the ResourceVersion in record ({rv}). The object might have been modified"
    )
    # a Service's registry returns the deleted object (ReturnDeletedObject); a Deployment's a Status
    gone = _raw(sim, "DELETE", svc_path + "/web").json()
    assert gone["kind"] == "Service" and gone["metadata"]["uid"] == created["metadata"]["uid"]
    assert _raw(sim, "DELETE", dep_path).json()["kind"] == "Status"


def test_list_items_carry_no_type_meta(sim: SimCluster) -> None:
    assert (
        _raw(sim, "POST", LEASES, _lease_body("x"), {"Content-Type": "application/json"}).status_code == 201
    )
    body = _raw(sim, "GET", LEASES).json()
    assert body["kind"] == "LeaseList" and body["apiVersion"] == "coordination.k8s.io/v1"
    assert body["items"] and all("kind" not in i and "apiVersion" not in i for i in body["items"])
