"""plan.py: every decision the release and rollback make from what the cluster shows, on small dicts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bluegreen import plan as pl
from bluegreen import state as st
from bluegreen.errors import ExitCode, InputError, NothingToRollBack
from bluegreen.readiness import image_of_pod as rd_image_of_pod

try:
    from bluegreen.sim.errors import ApiError
    from bluegreen.sim.patch import json_patch
except ImportError:  # the simulator is optional for these pure tests
    json_patch = None  # type: ignore[assignment]
    ApiError = Exception  # type: ignore[assignment,misc]

needs_sim_patch = pytest.mark.skipif(json_patch is None, reason="bluegreen.sim.patch not available")

Obj = dict[str, Any]
NS = "default"
IMAGE_1 = "registry.example/web:1.0"
IMAGE_2 = "registry.example/web:2.0"
IMAGE_3 = "registry.example/web:3.0"


# ------------------------------------------------------------------------------------------------ fixtures


def container(name: str = "app", image: str = IMAGE_1) -> Obj:
    return {"name": name, "image": image, "ports": [{"containerPort": 8080}]}


def deployment(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    replicas: int | None = 2,
    containers: list[Obj] | None = None,
    meta_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = NS,
) -> Obj:
    """A Deployment as the API server returns it: selector == pod template labels, with server fields."""
    labels = {"app": "web"} if labels is None else labels
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "resourceVersion": "41",
        "generation": 3,
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "labels": dict(meta_labels if meta_labels is not None else labels),
    }
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    spec: Obj = {
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels), "creationTimestamp": None},
            "spec": {"containers": copy.deepcopy(containers) if containers is not None else [container()]},
        },
        "strategy": {"type": "RollingUpdate"},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": spec,
        "status": {
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 3,
        },
    }


def colored(
    color: str,
    *,
    image: str = IMAGE_1,
    replicas: int | None = 2,
    name: str | None = None,
    label: str = "version",
    containers: list[Obj] | None = None,
) -> Obj:
    return deployment(
        name or f"web-{color}",
        labels={"app": "web", label: color},
        replicas=replicas,
        containers=containers if containers is not None else [container(image=image)],
    )


def service(
    selector: dict[str, str] | None = None,
    *,
    name: str = "web",
    rv: str = "100",
    annotations: dict[str, str] | None = None,
) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "resourceVersion": rv, "uid": "svc-uid"}
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    spec: Obj = {
        "type": "ClusterIP",
        "clusterIP": "10.0.0.10",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
    }
    if selector is not None:
        spec["selector"] = dict(selector)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def live_on(color: str, **kw: Any) -> Obj:
    return service({"app": "web", "version": color}, **kw)


def manifest(
    *,
    labels: dict[str, str] | None = None,
    match: dict[str, str] | None = None,
    containers: list[Obj] | None = None,
    replicas: int | None = 5,
    **top: Any,
) -> Obj:
    labels = {"app": "web"} if labels is None else labels
    spec: Obj = {
        "selector": {"matchLabels": dict(labels if match is None else match)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "containers": containers
                if containers is not None
                else [container(image="registry.example/web:from-manifest")]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    doc: Obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "whatever"}, "spec": spec}
    doc.update(top)
    return doc


def release(
    svc: Obj,
    deployments: list[Obj],
    *,
    image: str = IMAGE_2,
    color_label: str = "version",
    deployment: str | None = None,
    container: str | None = None,
    manifest: Obj | None = None,
    preview_name: str = "web-preview",
    existing_preview: Obj | None = None,
) -> pl.ReleasePlan:
    return pl.plan_release(
        svc,
        deployments,
        image=image,
        color_label=color_label,
        deployment=deployment,
        container=container,
        manifest=manifest,
        preview_name=preview_name,
        existing_preview=existing_preview,
    )


def input_error(excinfo: pytest.ExceptionInfo[InputError], flag: str) -> str:
    err = excinfo.value
    assert err.input_name == flag
    assert err.exit_code == ExitCode.USAGE
    assert str(err).startswith(flag + ": ")
    return str(err)


# ---------------------------------------------------------------------------------------------- helpers


def test_selects_needs_a_nonempty_selector_and_every_key() -> None:
    assert pl.selects({"app": "web"}, {"app": "web", "version": "blue"})
    assert not pl.selects({"app": "web", "version": "blue"}, {"app": "web"})
    assert not pl.selects({"app": "web"}, {"app": "api"})
    assert not pl.selects({}, {"app": "web"})


def test_matching_uses_pod_template_labels_not_deployment_labels() -> None:
    only_meta = deployment("meta", labels={"app": "other"}, meta_labels={"app": "web"})
    by_template = deployment("tmpl", labels={"app": "web", "tier": "front"}, meta_labels={})
    assert [pl.name_of(d) for d in pl.matching({"app": "web"}, [only_meta, by_template])] == ["tmpl"]


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("web-blue", "web"),
        ("web-green", "web"),
        ("web", "web"),
        ("web-bluegreen", "web-bluegreen"),
        ("blue", "blue"),
        ("web-blue-green", "web-blue"),
    ],
)
def test_base_name_strips_one_colour_suffix(name: str, base: str) -> None:
    assert pl.base_name(name) == base


def test_replicas_of_defaults_to_one_but_keeps_zero() -> None:
    assert pl.replicas_of(deployment("a", replicas=None)) == 1
    assert pl.replicas_of(deployment("a", replicas=0)) == 0
    assert pl.replicas_of(deployment("a", replicas=4)) == 4


def test_image_of_first_or_named_container() -> None:
    d = deployment("a", containers=[container("side", "side:1"), container("app", IMAGE_1)])
    assert pl.image_of(d) == "side:1"
    assert pl.image_of(d, "app") == IMAGE_1
    assert pl.image_of(d, "nope") is None


def test_image_of_pod() -> None:
    pod = {"spec": {"containers": [container("side", "side:1"), container("app", IMAGE_2)]}}
    assert rd_image_of_pod(pod, "app") == IMAGE_2
    assert rd_image_of_pod(pod, "nope") is None
    assert rd_image_of_pod({}, "app") is None


# ------------------------------------------------------------------------------------------ choose_container


def test_choose_container_single_container_without_flag() -> None:
    assert pl.choose_container(deployment("a"), None, "deployment 'a'") == "app"


def test_choose_container_requested_one_among_several() -> None:
    d = deployment("a", containers=[container("app"), container("side", "side:1")])
    assert pl.choose_container(d, "side", "deployment 'a'") == "side"


def test_choose_container_requested_but_missing_lists_the_containers() -> None:
    d = deployment("a", containers=[container("app"), container("side", "side:1")])
    with pytest.raises(InputError) as e:
        pl.choose_container(d, "web", "deployment 'a'")
    msg = input_error(e, "--container")
    assert "deployment 'a' has no container 'web'" in msg
    assert "its containers are: app, side" in msg


def test_choose_container_several_without_flag() -> None:
    d = deployment("a", containers=[container("app"), container("side", "side:1")])
    with pytest.raises(InputError) as e:
        pl.choose_container(d, None, "deployment 'a'")
    msg = input_error(e, "--container")
    assert "has 2 containers (app, side)" in msg
    assert "pass --container" in msg


def test_choose_container_none_at_all() -> None:
    with pytest.raises(InputError) as e:
        pl.choose_container(deployment("a", containers=[]), None, "--manifest")
    assert "--manifest has 0 containers" in input_error(e, "--container")


# --------------------------------------------------------------------------------------------- colored_copy


def test_colored_copy_colours_metadata_selector_and_template_and_keeps_only_the_app() -> None:
    src = deployment(
        "web",
        containers=[container("app"), container("side", "side:1")],
        annotations={
            "team": "shop",
            "deployment.kubernetes.io/revision": "7",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    )
    src["spec"]["paused"] = True
    before = copy.deepcopy(src)
    out = pl.colored_copy(
        src,
        name="web-green",
        namespace="prod",
        color_label="version",
        color="green",
        image=IMAGE_2,
        container="app",
    )
    assert src == before, "the source must not be modified"
    assert out["apiVersion"] == "apps/v1" and out["kind"] == "Deployment"
    assert out["metadata"] == {
        "name": "web-green",
        "namespace": "prod",
        "labels": {"app": "web", "version": "green", st.MANAGED_BY_KEY: st.MANAGED_BY},
        "annotations": {"team": "shop", st.ANN_TEMPLATE_HASH: st.template_hash(out["spec"]["template"])},
    }
    assert "status" not in out
    assert out["spec"]["selector"] == {"matchLabels": {"app": "web", "version": "green"}}
    assert out["spec"]["template"]["metadata"] == {"labels": {"app": "web", "version": "green"}}
    assert "paused" not in out["spec"]
    assert [(c["name"], c["image"]) for c in out["spec"]["template"]["spec"]["containers"]] == [
        ("app", IMAGE_2),
        ("side", "side:1"),
    ]
    assert out["spec"]["replicas"] == 2
    assert out["spec"]["strategy"] == {"type": "RollingUpdate"}
    # the managed-by label is metadata only, never in the selector or pods
    assert st.MANAGED_BY_KEY not in out["spec"]["selector"]["matchLabels"]
    assert st.MANAGED_BY_KEY not in out["spec"]["template"]["metadata"]["labels"]


def test_colored_copy_without_image_keeps_images_and_omits_empty_annotations() -> None:
    src = deployment("web", annotations={"deployment.kubernetes.io/revision": "1"})
    out = pl.colored_copy(
        src, name="web-blue", namespace=NS, color_label="version", color="blue", image=None, container="app"
    )
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_1
    assert "annotations" not in out["metadata"]


def test_colored_copy_overrides_a_colour_already_there_and_creates_missing_maps() -> None:
    src = colored("blue")
    src["spec"]["selector"] = {}
    del src["spec"]["template"]["metadata"]
    out = pl.colored_copy(
        src, name="web-green", namespace=NS, color_label="version", color="green", image=None, container="app"
    )
    assert out["spec"]["selector"] == {"matchLabels": {"version": "green"}}
    assert out["spec"]["template"]["metadata"] == {"labels": {"version": "green"}}
    assert out["metadata"]["labels"]["version"] == "green"


# -------------------------------------------------------------------------------------------- check_manifest


def test_check_manifest_accepts_a_valid_deployment() -> None:
    pl.check_manifest(manifest(), NS)
    pl.check_manifest(manifest(metadata={"name": "x", "namespace": NS}), NS)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (manifest(kind="Service"), "is not a Deployment (kind: Service)"),
        ({"apiVersion": "apps/v1"}, "is not a Deployment (kind: None)"),
        ([manifest()], "is not a Deployment (kind: list)"),
        ("kind: Deployment", "is not a Deployment (kind: str)"),
        (manifest(apiVersion="extensions/v1beta1"), "apiVersion 'extensions/v1beta1' is not apps/v1"),
        (
            manifest(metadata={"namespace": "prod"}),
            "is for namespace 'prod', but the release is in 'default'",
        ),
        ({"apiVersion": "apps/v1", "kind": "Deployment"}, "has no spec.template.spec.containers"),
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": None}},
            "has no spec.template.spec.containers",
        ),
        (manifest(containers=[]), "has no containers"),
        (
            manifest(labels={"app": "web"}, match={"app": "api"}),
            "spec.selector.matchLabels does not match spec.template.metadata.labels",
        ),
        (manifest(labels={"app": "web"}, match={}), "spec.selector.matchLabels does not match"),
    ],
)
def test_check_manifest_rejects(doc: Any, words: str) -> None:
    with pytest.raises(InputError) as e:
        pl.check_manifest(doc, NS)
    assert words in input_error(e, "--manifest")


# ---------------------------------------------------------------------------------------------- find_live


def test_find_live_returns_the_colour_and_the_deployment_serving_it() -> None:
    color, live = pl.find_live(live_on("blue"), [colored("green"), colored("blue")], "version")
    assert color == "blue"
    assert pl.name_of(live) == "web-blue"


def test_find_live_with_another_colour_label() -> None:
    svc = service({"app": "web", "track": "green"})
    color, live = pl.find_live(
        svc, [colored("blue", label="track"), colored("green", label="track")], "track"
    )
    assert (color, pl.name_of(live)) == ("green", "web-green")


def test_find_live_service_without_selector() -> None:
    with pytest.raises(InputError) as e:
        pl.find_live(service(None), [colored("blue")], "version")
    assert "service 'web' has no selector" in input_error(e, "--service")


def test_find_live_service_with_empty_selector() -> None:
    with pytest.raises(InputError) as e:
        pl.find_live(service({}), [colored("blue")], "version")
    assert "has no selector" in input_error(e, "--service")


def test_find_live_colour_value_not_blue_or_green() -> None:
    svc = service({"app": "web", "version": "v2"})
    with pytest.raises(InputError) as e:
        pl.find_live(svc, [deployment("web-v2", labels={"app": "web", "version": "v2"})], "version")
    assert "selects version=v2, which is not blue or green" in input_error(e, "--color-label")


def test_find_live_no_matching_deployment() -> None:
    with pytest.raises(InputError) as e:
        pl.find_live(live_on("blue"), [colored("green"), deployment("api", labels={"app": "api"})], "version")
    msg = input_error(e, "--service")
    assert "no Deployment's pod template matches service 'web' selector app=web,version=blue" in msg


def test_find_live_two_matching_deployments() -> None:
    twin = colored("blue", name="web-blue-2")
    with pytest.raises(InputError) as e:
        pl.find_live(live_on("blue"), [twin, colored("blue")], "version")
    assert (
        "2 Deployments match service 'web' selector app=web,version=blue: web-blue, web-blue-2"
        in input_error(e, "--service")
    )


def test_find_live_uncoloured_service_is_served_by_the_uncoloured_deployment() -> None:
    color, live = pl.find_live(service({"app": "web"}), [deployment("web")], "version")
    assert color is None
    assert pl.name_of(live) == "web"


def test_find_live_interrupted_adoption_prefers_the_uncoloured_original() -> None:
    # the Service has no colour key yet, so it selects the blue copy's pods too
    color, live = pl.find_live(service({"app": "web"}), [colored("blue"), deployment("web")], "version")
    assert color is None
    assert pl.name_of(live) == "web"


def test_find_live_uncoloured_service_with_only_a_coloured_deployment_behind_it() -> None:
    color, live = pl.find_live(service({"app": "web"}), [colored("blue")], "version")
    assert (color, pl.name_of(live)) == (None, "web-blue")


def test_find_live_two_uncoloured_deployments() -> None:
    with pytest.raises(InputError) as e:
        pl.find_live(service({"app": "web"}), [deployment("web"), deployment("web2")], "version")
    assert "2 Deployments match" in input_error(e, "--service")


# ------------------------------------------------------------------------------------- plan_release: normal


def test_first_release_blue_to_green() -> None:
    svc = live_on("blue")
    deps = [colored("blue", replicas=3)]
    before = copy.deepcopy((svc, deps))
    plan = release(svc, deps)
    assert (svc, deps) == before, "planning must not modify its inputs"
    assert plan.namespace == NS and plan.service == "web"
    assert (plan.live_color, plan.idle_color) == ("blue", "green")
    assert plan.live_deployment == "web-blue"
    assert plan.live_image == IMAGE_1
    assert plan.live_replicas == 3
    assert plan.adoption is None
    assert plan.target_name == "web-green"
    assert plan.target_exists is False
    assert (plan.container, plan.image) == ("app", IMAGE_2)
    t = plan.target
    assert t["metadata"]["namespace"] == NS
    assert t["metadata"]["labels"] == {"app": "web", "version": "green", st.MANAGED_BY_KEY: st.MANAGED_BY}
    assert t["spec"]["selector"] == {"matchLabels": {"app": "web", "version": "green"}}
    assert t["spec"]["template"]["metadata"]["labels"] == {"app": "web", "version": "green"}
    assert t["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_2
    assert t["spec"]["replicas"] == 3
    assert not {"uid", "resourceVersion", "generation", "creationTimestamp"} & set(t["metadata"])
    assert "status" not in t


def test_first_release_preview_service() -> None:
    plan = release(live_on("blue"), [colored("blue")])
    assert plan.preview_exists is False
    assert plan.preview_name == "web-preview"
    assert plan.preview == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web-preview",
            "namespace": NS,
            "labels": {st.ROLE_KEY: st.ROLE_PREVIEW, st.MANAGED_BY_KEY: st.MANAGED_BY},
            "annotations": {st.PREFIX + "preview-of": "web"},
        },
        # the nodePort of the live Service is not copied: it belongs to that Service alone
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web", "version": "green"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def test_second_release_green_to_blue_reuses_the_existing_deployment() -> None:
    svc = live_on("green")
    old_blue = colored("blue", image=IMAGE_1, replicas=0)  # scaled to zero after the first switch
    plan = release(svc, [old_blue, colored("green", image=IMAGE_2, replicas=4)], image=IMAGE_3)
    assert (plan.live_color, plan.idle_color) == ("green", "blue")
    assert plan.live_deployment == "web-green"
    assert plan.live_image == IMAGE_2
    assert plan.target_name == "web-blue"
    assert plan.target_exists is True
    assert plan.target["spec"]["replicas"] == 4, "scaled back up to the live replica count"
    assert plan.target["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_3
    assert plan.target["spec"]["selector"] == old_blue["spec"]["selector"]
    assert plan.preview["spec"]["selector"] == {"app": "web", "version": "blue"}


def test_live_deployment_without_colour_suffix_in_its_name() -> None:
    live = deployment("frontend", labels={"app": "web", "version": "blue"})
    plan = release(live_on("blue"), [live])
    assert plan.live_deployment == "frontend"
    assert plan.target_name == "frontend-green"


def test_replicas_unset_on_live_means_one() -> None:
    plan = release(live_on("blue"), [colored("blue", replicas=None)])
    assert plan.live_replicas == 1
    assert plan.target["spec"]["replicas"] == 1


def test_deployment_flag_sets_the_base_name() -> None:
    plan = release(live_on("blue"), [colored("blue")], deployment="shop")
    assert plan.target_name == "shop-green"
    assert plan.live_deployment == "web-blue"


def test_deployment_flag_naming_the_live_deployment_as_target() -> None:
    # live is named web-green but serves blue: the new colour's Deployment would be the live one
    live = colored("blue", name="web-green")
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [live])
    assert "the new colour's Deployment 'web-green' is the live one" in input_error(e, "--deployment")


def test_service_with_another_colour_label() -> None:
    svc = service({"app": "web", "track": "blue"})
    plan = release(svc, [colored("blue", label="track")], color_label="track")
    assert plan.target["spec"]["selector"]["matchLabels"] == {"app": "web", "track": "green"}
    assert "version" not in plan.target["spec"]["template"]["metadata"]["labels"]
    assert plan.preview["spec"]["selector"] == {"app": "web", "track": "green"}


def test_release_colour_value_not_blue_or_green() -> None:
    svc = service({"app": "web", "version": "canary"})
    with pytest.raises(InputError) as e:
        release(svc, [deployment("web-canary", labels={"app": "web", "version": "canary"})])
    input_error(e, "--color-label")


def test_release_service_without_selector() -> None:
    with pytest.raises(InputError) as e:
        release(service(None), [colored("blue")])
    input_error(e, "--service")


def test_release_no_matching_deployment() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("green"), [colored("blue")])
    input_error(e, "--service")


def test_release_two_matching_deployments() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue"), colored("blue", name="web-blue-copy")])
    input_error(e, "--service")


def two_containers(app_image: str = IMAGE_1) -> list[Obj]:
    return [container("side", "registry.example/logger:9"), container("app", app_image)]


def test_container_flag_chooses_which_container_gets_the_image() -> None:
    plan = release(live_on("blue"), [colored("blue", containers=two_containers())], container="app")
    assert plan.container == "app"
    assert plan.live_image == IMAGE_1
    cs = {c["name"]: c["image"] for c in plan.target["spec"]["template"]["spec"]["containers"]}
    assert cs == {"side": "registry.example/logger:9", "app": IMAGE_2}


def test_container_flag_names_a_missing_container() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], container="web")
    msg = input_error(e, "--container")
    assert "deployment 'web-blue' has no container 'web'" in msg


def test_several_containers_without_container_flag() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue", containers=two_containers())])
    assert "deployment 'web-blue' has 2 containers (side, app)" in input_error(e, "--container")


# ------------------------------------------------------------------------------------ plan_release: manifest


def test_manifest_is_the_source_of_the_new_colour() -> None:
    m = manifest(metadata={"name": "ignored", "namespace": NS, "annotations": {"owner": "shop"}})
    m["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "MODE", "value": "new"}]
    before = copy.deepcopy(m)
    plan = release(live_on("blue"), [colored("blue", replicas=2)], manifest=m)
    assert m == before
    t = plan.target
    assert t["metadata"]["name"] == "web-green"
    assert t["metadata"]["annotations"] == {
        "owner": "shop",
        st.ANN_TEMPLATE_HASH: st.template_hash(t["spec"]["template"]),
    }
    assert t["spec"]["replicas"] == 5, "a manifest's replica count is kept"
    c = t["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == IMAGE_2
    assert c["env"] == [{"name": "MODE", "value": "new"}]
    assert t["spec"]["selector"]["matchLabels"] == {"app": "web", "version": "green"}
    assert plan.live_image == IMAGE_1
    assert plan.live_replicas == 2


def test_manifest_container_flag_is_checked_against_the_manifest() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=manifest(), container="side")
    assert "--manifest has no container 'side'" in input_error(e, "--container")


def test_manifest_with_sidecar_first_records_the_live_image_of_the_chosen_container() -> None:
    live = colored("blue", containers=two_containers(IMAGE_1))
    m = manifest(containers=two_containers("registry.example/web:from-manifest"))
    plan = release(live_on("blue"), [live], manifest=m, container="app")
    assert plan.container == "app"
    assert plan.live_image == IMAGE_1


def test_describe_with_manifest_tells_the_replicas_that_will_be_created() -> None:
    plan = release(live_on("blue"), [colored("blue", replicas=2)], manifest=manifest(replicas=5))
    assert plan.target["spec"]["replicas"] == 5
    assert plan.describe()[0].startswith("create deployment.apps/web-green (5 replicas,")


def test_manifest_renaming_the_container_records_the_live_deployments_only_image() -> None:
    m = manifest(containers=[container("server", "registry.example/web:from-manifest")])
    plan = release(live_on("blue"), [colored("blue", image=IMAGE_1)], manifest=m)
    assert plan.container == "server"
    assert plan.live_image == IMAGE_1


def test_manifest_not_a_deployment() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=manifest(kind="StatefulSet"))
    assert "is not a Deployment (kind: StatefulSet)" in input_error(e, "--manifest")


def test_manifest_wrong_api_version() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=manifest(apiVersion="apps/v1beta2"))
    assert "apiVersion 'apps/v1beta2' is not apps/v1" in input_error(e, "--manifest")


def test_manifest_wrong_namespace() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=manifest(metadata={"namespace": "prod"}))
    assert "namespace 'prod'" in input_error(e, "--manifest")


def test_manifest_selector_does_not_match_its_template() -> None:
    with pytest.raises(InputError) as e:
        release(
            live_on("blue"),
            [colored("blue")],
            manifest=manifest(labels={"app": "web"}, match={"app": "web", "tier": "x"}),
        )
    assert "spec.selector.matchLabels does not match" in input_error(e, "--manifest")


def test_manifest_template_labels_lack_the_service_selector() -> None:
    m = manifest(labels={"app": "shop", "tier": "front"})
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=m)
    msg = input_error(e, "--manifest")
    assert "pod template labels lack the Service's selector app=web" in msg
    assert "version" not in msg.split(";")[0], "the colour label is added by bluegreen, not missing"


def test_manifest_with_extra_labels_is_fine() -> None:
    m = manifest(labels={"app": "web", "tier": "front"}, match={"app": "web"})
    plan = release(live_on("blue"), [colored("blue")], manifest=m)
    assert plan.target["spec"]["template"]["metadata"]["labels"] == {
        "app": "web",
        "tier": "front",
        "version": "green",
    }
    assert plan.target["spec"]["selector"] == {"matchLabels": {"app": "web", "version": "green"}}


# ------------------------------------------------------------------------------ plan_release: existing target


def test_existing_target_with_another_selector_cannot_be_reused() -> None:
    odd = deployment("web-green", labels={"app": "web", "version": "green", "extra": "1"})
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue"), odd])
    msg = input_error(e, "--deployment")
    assert "deployment 'web-green' exists with selector app=web,version=green,extra=1" in msg
    assert "immutable" in msg and "delete deployment 'web-green'" in msg


def test_existing_target_that_already_receives_live_traffic() -> None:
    # no colour key yet: the Service selects app=web, i.e. also the pods of a web-green lying around
    svc = service({"app": "web"})
    with pytest.raises(InputError) as e:
        release(svc, [deployment("web"), colored("green")])
    assert "deployment 'web-green' already receives live traffic" in input_error(e, "--service")


# ----------------------------------------------------------------------------------- plan_release: preview


def preview_obj(labels: dict[str, str] | None) -> Obj:
    meta: Obj = {"name": "web-preview", "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"selector": {"app": "web"}}}


def test_existing_preview_made_by_bluegreen_is_updated() -> None:
    plan = release(
        live_on("blue"), [colored("blue")], existing_preview=preview_obj({st.ROLE_KEY: st.ROLE_PREVIEW})
    )
    assert plan.preview_exists is True


@pytest.mark.parametrize("labels", [None, {}, {"app": "web"}, {st.ROLE_KEY: "other"}])
def test_existing_preview_not_made_by_bluegreen_is_refused(labels: dict[str, str] | None) -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], existing_preview=preview_obj(labels))
    assert "service 'web-preview' exists and was not made by bluegreen" in input_error(e, "--preview-service")


def test_custom_preview_name() -> None:
    assert release(live_on("blue"), [colored("blue")], preview_name="canary").preview_name == "canary"


# ------------------------------------------------------------------------------------ plan_release: adoption


def test_adoption_copies_the_uncoloured_deployment_as_blue() -> None:
    svc = service({"app": "web"})
    original = deployment("web", replicas=3, annotations={"deployment.kubernetes.io/revision": "4"})
    plan = release(svc, [original])
    a = plan.adoption
    assert a is not None
    assert a.original == "web"
    assert a.blue_exists is False
    assert a.selector == {"app": "web", "version": "blue"}
    assert pl.name_of(a.blue) == "web-blue"
    assert a.blue["spec"]["selector"]["matchLabels"] == {"app": "web", "version": "blue"}
    assert a.blue["spec"]["template"]["metadata"]["labels"] == {"app": "web", "version": "blue"}
    assert a.blue["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_1, "same image"
    assert a.blue["spec"]["replicas"] == 3
    assert "annotations" not in a.blue["metadata"]
    assert (plan.live_color, plan.idle_color) == ("blue", "green")
    assert plan.live_deployment == "web-blue"
    assert plan.live_image == IMAGE_1
    assert plan.target_name == "web-green"
    assert plan.target_exists is False
    assert plan.target["spec"]["selector"]["matchLabels"] == {"app": "web", "version": "green"}
    assert plan.target["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_2
    assert plan.preview["spec"]["selector"] == {"app": "web", "version": "green"}


def test_interrupted_adoption_finds_the_blue_copy_already_there() -> None:
    plan = release(service({"app": "web"}), [deployment("web"), colored("blue")])
    assert plan.adoption is not None
    assert plan.adoption.original == "web"
    assert plan.adoption.blue_exists is True
    assert plan.target_name == "web-green"


def test_interrupted_adoption_with_a_blue_deployment_of_another_selector_is_refused() -> None:
    odd_blue = deployment("web-blue", labels={"app": "other", "version": "blue"})
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [deployment("web"), odd_blue])
    assert "immutable" in input_error(e, "--deployment")


def test_adoption_with_deployment_flag() -> None:
    plan = release(service({"app": "web"}), [deployment("legacy")], deployment="shop")
    assert plan.adoption is not None
    assert pl.name_of(plan.adoption.blue) == "shop-blue"
    assert plan.target_name == "shop-green"
    assert plan.live_deployment == "shop-blue"


def test_adoption_when_the_uncoloured_deployment_is_already_named_blue() -> None:
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [deployment("web-blue")])
    msg = input_error(e, "--deployment")
    assert "the uncoloured Deployment is already named 'web-blue'" in msg
    assert "pass --deployment" in msg


def test_adoption_with_deployment_flag_avoids_the_name_clash() -> None:
    plan = release(service({"app": "web"}), [deployment("web-blue")], deployment="web2")
    assert plan.adoption is not None and pl.name_of(plan.adoption.blue) == "web2-blue"


def test_adoption_when_the_uncoloured_deployment_is_named_green() -> None:
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [deployment("web-green")])
    assert "'web-green' is the live one" in input_error(e, "--deployment")


def test_adoption_needs_a_container_choice_on_the_live_deployment() -> None:
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [deployment("web", containers=two_containers())])
    assert "deployment 'web' has 2 containers" in input_error(e, "--container")


def test_adoption_with_container_flag() -> None:
    plan = release(service({"app": "web"}), [deployment("web", containers=two_containers())], container="app")
    assert plan.adoption is not None
    assert plan.live_image == IMAGE_1
    blue_images = [c["image"] for c in plan.adoption.blue["spec"]["template"]["spec"]["containers"]]
    assert blue_images == ["registry.example/logger:9", IMAGE_1]


def test_adoption_with_manifest() -> None:
    plan = release(service({"app": "web"}), [deployment("web")], manifest=manifest())
    assert plan.adoption is not None
    assert plan.target["spec"]["template"]["metadata"]["labels"] == {"app": "web", "version": "green"}
    assert plan.target["spec"]["replicas"] == 5


# ---------------------------------------------------------------------------------------------- describe


def test_describe_a_release() -> None:
    plan = release(live_on("blue"), [colored("blue", replicas=3)])
    assert plan.describe() == [
        f"create deployment.apps/web-green (3 replicas, container app image {IMAGE_2})",
        "create service/web-preview (selector app=web,version=green)",
        "run smoke checks through the preview Service",
        "switch service/web: version blue -> green",
        f"previous colour blue stays on deployment.apps/web-blue (image {IMAGE_1})",
    ]


def test_describe_an_update_of_existing_objects() -> None:
    plan = release(
        live_on("green"),
        [colored("blue"), colored("green")],
        existing_preview=preview_obj({st.ROLE_KEY: st.ROLE_PREVIEW}),
    )
    lines = plan.describe()
    assert lines[0].startswith("update deployment.apps/web-blue ")
    assert lines[1].startswith("update service/web-preview ")


def test_describe_an_adoption() -> None:
    plan = release(service({"app": "web"}), [deployment("web"), colored("blue")])
    lines = plan.describe()
    assert lines[:3] == [
        "adopt: service/web selects no colour yet",
        f"  update deployment.apps/web-blue (copy of deployment.apps/web, same image {IMAGE_1})",
        "  switch service/web selector to app=web,version=blue",
    ]
    assert lines[3].startswith("create deployment.apps/web-green ")


# ------------------------------------------------------------------------------------------- switch_patch


ANN = {st.ANN_ACTIVE_COLOR: "blue", st.ANN_ACTIVE_IMAGE: IMAGE_1, "team": "shop", "old": "x"}


def test_switch_patch_with_existing_annotations() -> None:
    svc = live_on("blue", annotations=ANN)
    ops = pl.switch_patch(
        svc,
        color_label="version",
        to_color="green",
        annotations={
            st.ANN_ACTIVE_COLOR: "green",
            st.ANN_ACTIVE_IMAGE: IMAGE_1,
            "old": None,
            "never-there": None,
            st.ANN_PREVIOUS_COLOR: "blue",
        },
    )
    assert ops == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
        {"op": "test", "path": "/spec/selector/version", "value": "blue"},
        {"op": "add", "path": "/spec/selector/version", "value": "green"},
        {"op": "add", "path": "/metadata/annotations/bluegreen.dev~1active-color", "value": "green"},
        {"op": "remove", "path": "/metadata/annotations/old"},
        {"op": "add", "path": "/metadata/annotations/bluegreen.dev~1previous-color", "value": "blue"},
    ]


def test_switch_patch_without_annotations_adds_the_map_without_none_values() -> None:
    svc = live_on("blue")
    ops = pl.switch_patch(
        svc,
        color_label="version",
        to_color="green",
        annotations={st.ANN_ACTIVE_COLOR: "green", st.ANN_PREVIOUS_COLOR: None},
    )
    assert ops[-1] == {"op": "add", "path": "/metadata/annotations", "value": {st.ANN_ACTIVE_COLOR: "green"}}
    assert len(ops) == 4


def test_switch_patch_without_annotations_and_nothing_to_record() -> None:
    ops = pl.switch_patch(live_on("blue"), color_label="version", to_color="green", annotations={"a": None})
    assert [o["op"] for o in ops] == ["test", "test", "add"]


def test_switch_patch_removing_every_annotation_removes_the_map() -> None:
    svc = live_on("blue", annotations={"old": "x", "a/b": "y"})
    ops = pl.switch_patch(
        svc,
        color_label="version",
        to_color="green",
        annotations={"old": None, "a/b": None, "never-there": None},
    )
    assert ops[-1] == {"op": "remove", "path": "/metadata/annotations"}
    assert len(ops) == 4


def test_switch_patch_of_an_uncoloured_service_has_no_selector_test() -> None:
    ops = pl.switch_patch(service({"app": "web"}), color_label="version", to_color="blue", annotations={})
    assert ops == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
        {"op": "add", "path": "/spec/selector/version", "value": "blue"},
    ]


def test_switch_patch_escapes_json_pointer_keys() -> None:
    svc = service({"app": "web", "example.com/colour~x": "blue"}, annotations={"a~1b": "old"})
    ops = pl.switch_patch(
        svc, color_label="example.com/colour~x", to_color="green", annotations={"a~1b": None, "x/y~z": "v"}
    )
    paths = [o["path"] for o in ops]
    assert paths == [
        "/metadata/resourceVersion",
        "/spec/selector/example.com~1colour~0x",
        "/spec/selector/example.com~1colour~0x",
        "/metadata/annotations/a~01b",  # '~' escaped before '/', so "~1" stays a literal "~1"
        "/metadata/annotations/x~1y~0z",
    ]


@needs_sim_patch
def test_switch_patch_applied_does_what_is_intended() -> None:
    svc = live_on("blue", annotations=ANN)
    wanted = {st.ANN_ACTIVE_COLOR: "green", st.ANN_PREVIOUS_COLOR: "blue", "old": None, "gone": None}
    out = json_patch(svc, pl.switch_patch(svc, color_label="version", to_color="green", annotations=wanted))
    assert out["spec"]["selector"] == {"app": "web", "version": "green"}
    assert out["metadata"]["annotations"] == {
        st.ANN_ACTIVE_COLOR: "green",
        st.ANN_PREVIOUS_COLOR: "blue",
        st.ANN_ACTIVE_IMAGE: IMAGE_1,
        "team": "shop",
    }
    assert out["spec"]["ports"] == svc["spec"]["ports"]


@needs_sim_patch
def test_switch_patch_applied_to_a_service_without_annotations_and_colour() -> None:
    svc = service({"app": "web"})
    out = json_patch(
        svc,
        pl.switch_patch(
            svc, color_label="version", to_color="blue", annotations={st.ANN_ACTIVE_COLOR: "blue", "x": None}
        ),
    )
    assert out["spec"]["selector"] == {"app": "web", "version": "blue"}
    assert out["metadata"]["annotations"] == {st.ANN_ACTIVE_COLOR: "blue"}


@needs_sim_patch
def test_switch_patch_applied_with_escaped_keys() -> None:
    svc = service({"app": "web", "example.com/colour~x": "blue"}, annotations={"a~1b": "old", "a/b": "keep"})
    ops = pl.switch_patch(
        svc, color_label="example.com/colour~x", to_color="green", annotations={"a~1b": None, "x/y~z": "v"}
    )
    out = json_patch(svc, ops)
    assert out["spec"]["selector"] == {"app": "web", "example.com/colour~x": "green"}
    assert out["metadata"]["annotations"] == {"a/b": "keep", "x/y~z": "v"}


@needs_sim_patch
def test_switch_patch_applied_removing_every_annotation_leaves_no_empty_map() -> None:
    svc = live_on("blue", annotations={"old": "x", "a/b": "y"})
    out = json_patch(
        svc,
        pl.switch_patch(svc, color_label="version", to_color="green", annotations={"old": None, "a/b": None}),
    )
    assert "annotations" not in out["metadata"]
    assert out["spec"]["selector"]["version"] == "green"


@needs_sim_patch
def test_switch_patch_fails_on_a_stale_resource_version() -> None:
    read = live_on("blue", rv="100")
    ops = pl.switch_patch(read, color_label="version", to_color="green", annotations={"a": "b"})
    now = live_on("blue", rv="101")  # someone wrote the Service since we read it
    with pytest.raises(ApiError) as e:
        json_patch(now, ops)
    assert e.value.code == 422


@needs_sim_patch
def test_switch_patch_fails_when_the_selector_moved_under_the_same_rv() -> None:
    ops = pl.switch_patch(live_on("blue"), color_label="version", to_color="green", annotations={})
    with pytest.raises(ApiError) as e:
        json_patch(live_on("green"), ops)
    assert e.value.code == 422


@needs_sim_patch
def test_switch_patch_records_a_state_that_reads_back() -> None:
    svc = live_on("blue", annotations={st.ANN_PREVIOUS_IMAGE: "stale", "team": "shop"})
    new = st.after_switch(
        st.read_state(svc),
        to_color="green",
        to_image=IMAGE_2,
        from_color="blue",
        from_image=IMAGE_1,
        from_replicas=3,
        color_label="version",
        action="deploy",
        time="2024-05-01T10:00:00Z",
        release_id="r1",
        run_url=None,
    )
    out = json_patch(
        svc, pl.switch_patch(svc, color_label="version", to_color="green", annotations=st.to_annotations(new))
    )
    assert st.read_state(out) == new
    assert out["metadata"]["annotations"]["team"] == "shop"


# ----------------------------------------------------------------------------------------- plan_rollback


def recorded(
    live: str,
    *,
    previous: str | None,
    active_image: str = IMAGE_2,
    previous_image: str | None = IMAGE_1,
    previous_replicas: int | None = 3,
    color_label: str | None = "version",
    history: list[Obj] | None = None,
    selector_color: str | None = None,
) -> Obj:
    """The live Service after a bluegreen deploy, with its state annotations."""
    state = st.ReleaseState(
        active_color=live,
        previous_color=previous,
        active_image=active_image,
        previous_image=previous_image,
        previous_replicas=previous_replicas,
        color_label=color_label,
        release_id="r2",
        history=tuple(st.HistoryEntry.from_dict(h) for h in (history or [])),
    )
    ann = {k: v for k, v in st.to_annotations(state).items() if v is not None}
    label = color_label or st.DEFAULT_COLOR_LABEL
    return service({"app": "web", label: selector_color or live}, annotations=ann)


def test_rollback_plan_switches_back_to_the_previous_colour() -> None:
    svc = recorded("green", previous="blue")
    plan = pl.plan_rollback(
        svc, [colored("blue", image=IMAGE_1, replicas=3), colored("green", image=IMAGE_2)]
    )
    assert plan.namespace == NS and plan.service == "web" and plan.color_label == "version"
    assert (plan.from_color, plan.to_color) == ("green", "blue")
    assert (plan.from_deployment, plan.from_image, plan.from_replicas) == ("web-green", IMAGE_2, 2)
    assert plan.to_name == "web-blue"
    assert plan.to_image == IMAGE_1
    assert plan.restore_replicas is None
    assert plan.describe() == [f"switch service/web: version green -> blue (image {IMAGE_1})"]


def test_rollback_of_a_previous_colour_scaled_to_zero_restores_the_live_ready_count() -> None:
    # Not the count recorded at release time (4): what serves live traffic now (2 ready, maybe autoscaled).
    svc = recorded("green", previous="blue", previous_replicas=4)
    plan = pl.plan_rollback(svc, [colored("blue", replicas=0), colored("green", image=IMAGE_2, replicas=2)])
    assert plan.restore_replicas == 2
    assert plan.describe()[0] == "scale deployment.apps/web-blue to 2 replicas and wait"


def test_rollback_scaled_to_zero_without_recorded_replicas_uses_the_live_count() -> None:
    svc = recorded("green", previous="blue", previous_replicas=None)
    plan = pl.plan_rollback(svc, [colored("blue", replicas=0), colored("green", image=IMAGE_2, replicas=5)])
    assert plan.restore_replicas == 5


def test_rollback_scaled_to_zero_with_no_live_deployment_uses_one() -> None:
    svc = recorded("green", previous="blue", previous_replicas=None)
    plan = pl.plan_rollback(svc, [colored("blue", replicas=0)])
    assert plan.restore_replicas == 1
    assert plan.from_deployment is None
    assert plan.from_replicas is None


def test_rollback_with_another_colour_label() -> None:
    svc = recorded("blue", previous="green", color_label="track")
    plan = pl.plan_rollback(
        svc, [colored("green", label="track"), colored("blue", label="track", image=IMAGE_2)]
    )
    assert plan.color_label == "track"
    assert (plan.from_color, plan.to_color, plan.to_name) == ("blue", "green", "web-green")


def test_rollback_without_recorded_colour_label_uses_the_default() -> None:
    svc = recorded("green", previous="blue", color_label=None)
    assert pl.plan_rollback(svc, [colored("blue"), colored("green", image=IMAGE_2)]).color_label == "version"


def test_rollback_when_nothing_was_recorded() -> None:
    with pytest.raises(NothingToRollBack) as e:
        pl.plan_rollback(live_on("green"), [colored("blue"), colored("green")])
    assert "service 'web' has no bluegreen release recorded" in str(e.value)
    assert e.value.exit_code == ExitCode.USAGE


def test_rollback_when_the_service_selects_no_colour() -> None:
    svc = recorded("green", previous="blue")
    del svc["spec"]["selector"]["version"]
    with pytest.raises(NothingToRollBack, match="no bluegreen release recorded"):
        pl.plan_rollback(svc, [colored("blue"), colored("green")])


def test_rollback_after_the_first_release_only() -> None:
    svc = recorded("blue", previous=None, previous_image=None)
    with pytest.raises(NothingToRollBack) as e:
        pl.plan_rollback(svc, [colored("blue")])
    assert "records no previous colour" in str(e.value)
    assert "the first release has nothing before it" in str(e.value)


def test_rollback_when_the_recorded_previous_colour_is_the_live_one() -> None:
    # hand-switched Service: the record says previous blue, but blue is what the selector picks now
    svc = recorded("green", previous="blue", selector_color="blue")
    with pytest.raises(NothingToRollBack, match="records no previous colour"):
        pl.plan_rollback(svc, [colored("blue"), colored("green")])


def test_rollback_without_a_recorded_previous_image() -> None:
    svc = recorded("green", previous="blue", previous_image=None)
    with pytest.raises(NothingToRollBack, match="records no previous colour"):
        pl.plan_rollback(svc, [colored("blue"), colored("green")])


def test_rollback_when_the_previous_colour_was_deleted() -> None:
    svc = recorded("green", previous="blue")
    with pytest.raises(NothingToRollBack) as e:
        pl.plan_rollback(svc, [colored("green", image=IMAGE_2)])
    msg = str(e.value)
    assert "the previous colour blue has no Deployment any more" in msg
    assert f"bluegreen deploy --service web --image {IMAGE_1}" in msg


def test_rollback_when_the_previous_colour_now_runs_another_image() -> None:
    history = [
        {"time": "t3", "action": "deploy", "color": "green", "image": IMAGE_2},
        {"time": "t2", "action": "deploy", "color": "blue", "image": IMAGE_1},
        {"time": "t1", "action": "deploy", "color": "blue", "image": "registry.example/web:0.9"},
    ]
    svc = recorded("green", previous="blue", history=history)
    with pytest.raises(NothingToRollBack) as e:
        pl.plan_rollback(svc, [colored("blue", image=IMAGE_3), colored("green", image=IMAGE_2)])
    msg = str(e.value)
    assert f"deployment 'web-blue' now runs {IMAGE_3}, not {IMAGE_1}" in msg
    assert f"redeploying that image: bluegreen deploy --service web --image {IMAGE_1}" in msg


def test_rollback_another_image_without_history_hints_the_previous_image() -> None:
    svc = recorded("green", previous="blue", history=[])
    with pytest.raises(NothingToRollBack) as e:
        pl.plan_rollback(svc, [colored("blue", image=IMAGE_3), colored("green", image=IMAGE_2)])
    assert f"--image {IMAGE_1}" in str(e.value)


def test_rollback_accepts_the_previous_image_in_any_container() -> None:
    svc = recorded("green", previous="blue")
    blue = colored("blue", containers=two_containers(IMAGE_1))
    assert pl.plan_rollback(svc, [blue, colored("green", image=IMAGE_2)]).to_name == "web-blue"


def test_rollback_with_two_deployments_of_the_previous_colour() -> None:
    svc = recorded("green", previous="blue")
    with pytest.raises(InputError) as e:
        pl.plan_rollback(svc, [colored("blue"), colored("blue", name="web-blue-2"), colored("green")])
    assert "2 Deployments match app=web,version=blue: web-blue, web-blue-2" in input_error(e, "--service")


def test_rollback_does_not_modify_its_inputs() -> None:
    svc = recorded("green", previous="blue")
    deps = [colored("blue", replicas=0), colored("green", image=IMAGE_2)]
    before = copy.deepcopy((svc, deps))
    pl.plan_rollback(svc, deps)
    assert (svc, deps) == before


def test_recorded_fixture_is_what_to_annotations_writes() -> None:
    # guard for the fixture above: history survives as JSON on the Service
    svc = recorded(
        "green",
        previous="blue",
        history=[{"time": "t", "action": "deploy", "color": "green", "image": IMAGE_2}],
    )
    assert json.loads(svc["metadata"]["annotations"][st.ANN_HISTORY])[0]["image"] == IMAGE_2


# ------------------------------------------------------------------------- guards added after review


def test_adoption_refuses_a_deployment_that_is_mid_rollout() -> None:
    original = deployment("web")
    original["status"]["updatedReplicas"] = 1
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [original])
    assert "mid-rollout" in input_error(e, "--service")


def test_adoption_refuses_a_paused_deployment() -> None:
    original = deployment("web")
    original["spec"]["paused"] = True
    with pytest.raises(InputError) as e:
        release(service({"app": "web"}), [original])
    assert "paused" in input_error(e, "--service")


def test_zero_replicas_are_refused_from_the_live_deployment_and_the_manifest() -> None:
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue", replicas=0)])
    assert "0 replicas" in input_error(e, "--service")
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], manifest=manifest(replicas=0))
    assert "0 replicas" in input_error(e, "--manifest")


def test_preview_of_another_service_is_not_taken_over() -> None:
    other = service(
        {"app": "shop", "version": "green"},
        name="web-preview",
        annotations={st.PREFIX + "preview-of": "shop"},
    )
    other["metadata"]["labels"] = {st.ROLE_KEY: st.ROLE_PREVIEW}
    with pytest.raises(InputError) as e:
        release(live_on("blue"), [colored("blue")], existing_preview=other)
    assert "preview of service 'shop'" in input_error(e, "--preview-service")


def test_headless_live_service_gets_a_headless_preview_without_node_ports() -> None:
    svc = live_on("blue")
    svc["spec"]["clusterIP"] = "None"
    plan = release(svc, [colored("blue")])
    assert plan.preview["spec"]["clusterIP"] == "None"
    assert "nodePort" not in plan.preview["spec"]["ports"][0]
