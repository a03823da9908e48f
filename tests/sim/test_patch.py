"""JSON patch, merge patch and strategic merge patch as the API server applies them."""

from __future__ import annotations

import copy

import pytest

from bluegreen.sim.errors import ApiError
from bluegreen.sim.patch import (
    JSON_PATCH_FAILED_MESSAGE,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web-blue",
            "namespace": "default",
            "resourceVersion": "7",
            "labels": {"app": "web", "version": "blue"},
            "finalizers": ["a", "b"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web", "version": "blue"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "web:1.0",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                },
            },
        },
    }


def assert_patch_failed(exc: pytest.ExceptionInfo[ApiError], cause: str) -> None:
    err = exc.value
    assert (err.code, err.reason, err.message) == (422, "Invalid", JSON_PATCH_FAILED_MESSAGE)
    assert err.status()["details"] == {}
    assert str(err.__cause__) == cause


# ---------------------------------------------------------------- JSON patch


def test_json_patch_replace_and_add_leave_input_untouched() -> None:
    doc = deployment()
    before = copy.deepcopy(doc)
    out = json_patch(
        doc,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        ],
    )
    assert out["spec"]["replicas"] == 5
    assert out["metadata"]["labels"]["tier"] == "front"
    assert doc == before


def test_json_patch_test_op_guards_the_change() -> None:
    ops: list[dict] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "replace", "path": "/spec/replicas", "value": 0},
    ]
    assert json_patch(deployment(), ops)["spec"]["replicas"] == 0


def test_json_patch_failing_test_is_422_with_the_servers_generic_message() -> None:
    ops: list[dict] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "6"},
        {"op": "replace", "path": "/spec/replicas", "value": 0},
    ]
    with pytest.raises(ApiError) as exc:
        json_patch(deployment(), ops)
    assert_patch_failed(exc, "testing value /metadata/resourceVersion failed: test failed")
    assert exc.value.status()["reason"] == "Invalid"


def test_json_patch_test_compares_types_strictly() -> None:
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": "1"}])
    json_patch({"a": {"b": [1, 2]}}, [{"op": "test", "path": "/a", "value": {"b": [1, 2]}}])


def test_json_patch_test_of_missing_key_against_null_passes() -> None:
    json_patch({"a": 1}, [{"op": "test", "path": "/missing", "value": None}])
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/missing", "value": "x"}])


def test_json_patch_pointer_escaping() -> None:
    doc = {"metadata": {"annotations": {"bluegreen.dev/active-color": "blue", "a~b": "1"}}}
    out = json_patch(
        doc,
        [
            {"op": "replace", "path": "/metadata/annotations/bluegreen.dev~1active-color", "value": "green"},
            {"op": "remove", "path": "/metadata/annotations/a~0b"},
            {"op": "add", "path": "/metadata/annotations/x~01", "value": "tilde-one"},
        ],
    )
    assert out["metadata"]["annotations"] == {"bluegreen.dev/active-color": "green", "x~1": "tilde-one"}


def test_json_patch_array_append_insert_and_negative_index() -> None:
    doc = {"l": ["a", "b"]}
    assert json_patch(doc, [{"op": "add", "path": "/l/-", "value": "c"}])["l"] == ["a", "b", "c"]
    assert json_patch(doc, [{"op": "add", "path": "/l/0", "value": "z"}])["l"] == ["z", "a", "b"]
    assert json_patch(doc, [{"op": "add", "path": "/l/2", "value": "z"}])["l"] == ["a", "b", "z"]
    assert json_patch(doc, [{"op": "remove", "path": "/l/-1"}])["l"] == ["a"]


def test_json_patch_move_and_copy() -> None:
    doc = {"a": {"x": 1}, "b": {}}
    assert json_patch(doc, [{"op": "move", "from": "/a/x", "path": "/b/y"}]) == {"a": {}, "b": {"y": 1}}
    out = json_patch(doc, [{"op": "copy", "from": "/a", "path": "/b/c"}])
    assert out == {"a": {"x": 1}, "b": {"c": {"x": 1}}}
    out["b"]["c"]["x"] = 2
    assert out["a"]["x"] == 1  # a copy, not an alias


def test_json_patch_replace_root() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}


@pytest.mark.parametrize(
    ("ops", "cause"),
    [
        (
            [{"op": "remove", "path": "/spec/affinity"}],
            "error in remove for path: '/spec/affinity': Unable to remove nonexistent key: affinity: missing value",
        ),
        (
            [{"op": "add", "path": "/nope/x", "value": 1}],
            'add operation does not apply: doc is missing path: "/nope/x": missing value',
        ),
        (
            [{"op": "replace", "path": "/spec/template/spec/containers/9/image", "value": "x"}],
            "replace operation does not apply: doc is missing path: /spec/template/spec/containers/9/image: missing value",
        ),
        (
            [{"op": "add", "path": "/spec/template/spec/containers/7", "value": {}}],
            "error in add for path: '/spec/template/spec/containers/7': Unable to access invalid index: 7: "
            "invalid index referenced",
        ),
        (
            [{"op": "add", "path": "/spec/template/spec/containers/x", "value": {}}],
            "error in add for path: '/spec/template/spec/containers/x': value was not a proper array index: 'x': "
            'strconv.Atoi: parsing "x": invalid syntax',
        ),
        ([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
        (
            [{"op": "test", "value": 1}],
            "test operation failed to decode path: operation missing path field: missing value",
        ),
        (
            [{"op": "move", "path": "/a"}],
            "move operation failed to decode from: operation, missing from field: missing value",
        ),
    ],
)
def test_json_patch_invalid_operations_are_422(ops: list[dict], cause: str) -> None:
    with pytest.raises(ApiError) as exc:
        json_patch(deployment(), ops)
    assert_patch_failed(exc, cause)


def test_json_patch_replace_of_missing_object_key_adds_it_like_the_server() -> None:
    # evanphx/json-patch v4 (what the apiserver vendors) does not reject this
    assert json_patch({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1}]) == {"a": {"b": 1}}


def test_json_patch_body_that_is_not_a_list_is_400() -> None:
    with pytest.raises(ApiError) as exc:
        json_patch({}, {"op": "add"})  # type: ignore[arg-type]
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert "jsonpatch.Patch" in exc.value.message


def test_json_patch_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(ApiError) as exc:
        json_patch({"a": 1}, ops)
    assert (exc.value.code, exc.value.reason) == (413, "RequestEntityTooLarge")


# ---------------------------------------------------------------- merge patch


def test_merge_patch_null_deletes_and_lists_are_replaced() -> None:
    doc = deployment()
    out = merge_patch(
        doc,
        {
            "metadata": {"labels": {"version": None, "tier": "web"}},
            "spec": {"template": {"spec": {"containers": [{"name": "only"}]}}},
        },
    )
    assert out["metadata"]["labels"] == {"app": "web", "tier": "web"}
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "only"}]
    assert doc["metadata"]["labels"]["version"] == "blue"


def test_merge_patch_new_objects_lose_their_nulls() -> None:
    assert merge_patch({}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


def test_merge_patch_rejects_non_object() -> None:
    with pytest.raises(ApiError) as exc:
        merge_patch({}, None)  # type: ignore[arg-type]
    assert (exc.value.code, exc.value.message) == (400, "Invalid JSON Patch")


# ---------------------------------------------------------------- strategic merge patch


def containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


def test_smp_merges_container_by_name_and_keeps_the_others() -> None:
    doc = deployment()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2.0"}]}}}}
    out = strategic_merge_patch(doc, patch, "Deployment")
    assert [c["name"] for c in containers(out)] == ["web", "sidecar"]
    web = containers(out)[0]
    assert web["image"] == "web:2.0"
    assert web["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]  # untouched fields stay
    assert containers(doc)[0]["image"] == "web:1.0"  # input untouched


def test_smp_new_container_goes_first_like_the_server() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(out)] == ["debug", "web", "sidecar"]


def test_smp_patch_delete_removes_a_list_element() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(out)] == ["web"]


def test_smp_patch_replace_on_a_list() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "solo", "image": "s"}]}}
        }
    }
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert containers(out) == [{"name": "solo", "image": "s"}]


def test_smp_patch_replace_and_delete_on_a_map() -> None:
    out = strategic_merge_patch(
        deployment(), {"metadata": {"labels": {"$patch": "replace", "only": "me"}}}, "Deployment"
    )
    assert out["metadata"]["labels"] == {"only": "me"}
    out = strategic_merge_patch(deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, "Deployment")
    assert out["spec"]["strategy"] == {}


def test_smp_patch_merge_directive_is_rejected_like_the_server() -> None:
    with pytest.raises(ApiError) as exc:
        strategic_merge_patch(deployment(), {"metadata": {"labels": {"$patch": "merge"}}}, "Deployment")
    assert exc.value.code == 500
    assert exc.value.message.startswith("unknown patch type: merge in map:")


def test_smp_null_deletes_a_key() -> None:
    out = strategic_merge_patch(
        deployment(),
        {"metadata": {"labels": {"version": None}}, "spec": {"strategy": {"rollingUpdate": None}}},
        "Deployment",
    )
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_smp_env_merges_by_name_and_nested_null_inside_element() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}
                    ]
                }
            }
        }
    }
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    env = containers(out)[0]["env"]
    assert {e["name"]: e["value"] for e in env} == {"A": "1", "B": "20", "C": "3"}


def test_smp_lists_without_merge_key_are_replaced() -> None:
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert out["spec"]["template"]["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_smp_service_ports_merge_by_port() -> None:
    svc = {
        "spec": {
            "selector": {"app": "web", "version": "blue"},
            "ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}],
        }
    }
    out = strategic_merge_patch(
        svc,
        {"spec": {"selector": {"version": "green"}, "ports": [{"port": 80, "targetPort": 9090}]}},
        "Service",
    )
    assert out["spec"]["selector"] == {"app": "web", "version": "green"}
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]


def test_smp_conditions_merge_by_type() -> None:
    doc = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "False"},
                {"type": "Progressing", "status": "True"},
            ]
        }
    }
    out = strategic_merge_patch(
        doc, {"status": {"conditions": [{"type": "Available", "status": "True"}]}}, "Deployment"
    )
    assert out["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "True"},
    ]


def test_smp_owner_references_merge_by_uid() -> None:
    doc = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    out = strategic_merge_patch(doc, {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}, "Pod")
    assert {r["uid"] for r in out["metadata"]["ownerReferences"]} == {"1", "2"}


def test_smp_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    out = strategic_merge_patch(deployment(), {"metadata": {"finalizers": ["b", "c"]}}, "Deployment")
    assert sorted(out["metadata"]["finalizers"]) == ["a", "b", "c"]
    out = strategic_merge_patch(
        deployment(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "Deployment"
    )
    assert out["metadata"]["finalizers"] == ["b"]


def test_smp_set_element_order_is_honoured() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                    "containers": [{"name": "web", "image": "web:3"}],
                }
            }
        }
    }
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(out)] == ["sidecar", "web"]
    assert containers(out)[1]["image"] == "web:3"
    assert "$setElementOrder/containers" not in out["spec"]["template"]["spec"]


def test_smp_set_element_order_must_match_the_patch_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"name": "other", "image": "x"}],
                }
            }
        }
    }
    with pytest.raises(ApiError) as exc:
        strategic_merge_patch(deployment(), patch, "Deployment")
    assert exc.value.code == 500
    assert "doesn't match $setElementOrder list" in exc.value.message


def test_smp_retain_keys_clears_other_fields() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_retain_keys_must_list_every_patched_field() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(ApiError) as exc:
        strategic_merge_patch(deployment(), patch, "Deployment")
    assert (exc.value.code, exc.value.message) == (400, "invalid patch format of retainKeys")


def test_smp_bad_deletion_list_key_is_400() -> None:
    with pytest.raises(ApiError) as exc:
        strategic_merge_patch(
            deployment(), {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}, "Deployment"
        )
    assert (exc.value.code, exc.value.message) == (400, "invalid patch format of primitive list")


def test_smp_list_element_without_merge_key_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "nameless"}]}}}}
    with pytest.raises(ApiError) as exc:
        strategic_merge_patch(deployment(), patch, "Deployment")
    assert "does not contain declared merge key: name" in exc.value.message


def test_smp_new_fields_carry_no_directives_or_nulls() -> None:
    out = strategic_merge_patch(
        {},
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "a", "image": "a", "args": None},
                            {"name": "b", "$patch": "delete"},
                        ]
                    }
                }
            }
        },
        "Deployment",
    )
    assert containers(out) == [{"name": "a", "image": "a"}]
