"""PURE planning: from what the cluster shows (Service, Deployments, as plain dicts) decide colours, names,
manifests and the switch request. No I/O here, so every branch is tested without a cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from bluegreen import readiness as rd
from bluegreen import state as st
from bluegreen.errors import InputError, NothingToRollBack

Obj = dict[str, Any]

# Annotations that belong to the Deployment controller or to kubectl, not to the app.
_FOREIGN_ANNOTATIONS = ("deployment.kubernetes.io/", "kubectl.kubernetes.io/last-applied-configuration")
# Tracking labels and annotations of GitOps tools and Helm: copied onto the new colour they would make
# Argo CD / Flux prune it (it is not in Git) or Helm claim it. Never copied; the log names what was left.
_GITOPS_PREFIXES = (
    "argocd.argoproj.io/",
    "kustomize.toolkit.fluxcd.io/",
    "helm.toolkit.fluxcd.io/",
    "helm.sh/",
    "meta.helm.sh/",
)
_GITOPS_KEYS = ("app.kubernetes.io/instance", "kubectl.kubernetes.io/last-applied-configuration")


def is_gitops_key(key: str) -> bool:
    return key in _GITOPS_KEYS or key.startswith(_GITOPS_PREFIXES)


def gitops_keys(source: Obj) -> list[str]:
    """The tracking labels/annotations of ``source`` that a coloured copy leaves out."""
    meta = source.get("metadata") or {}
    keys = {*(meta.get("labels") or {}), *(meta.get("annotations") or {})}
    return sorted(k for k in keys if is_gitops_key(k))


def name_of(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def selector_of(service: Obj) -> dict[str, str]:
    return dict((service.get("spec") or {}).get("selector") or {})


def template_labels(deployment: Obj) -> dict[str, str]:
    return dict(
        (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    )


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def matching(selector: dict[str, str], deployments: list[Obj]) -> list[Obj]:
    """Deployments whose pods the selector would pick up: a Service selects pods, not Deployments."""
    return [d for d in deployments if selects(selector, template_labels(d))]


def containers(deployment: Obj) -> list[Obj]:
    return list(deployment["spec"]["template"]["spec"].get("containers") or [])


def init_containers(deployment: Obj) -> list[Obj]:
    return list(deployment["spec"]["template"]["spec"].get("initContainers") or [])


def image_of(deployment: Obj, container: str | None = None) -> str | None:
    for c in containers(deployment) + init_containers(deployment):
        if container is None or c.get("name") == container:
            return c.get("image")
    return None


def repository(image: str | None) -> str:
    """registry.example/web:1.0@sha256:.. -> registry.example/web (a port's colon is kept)."""
    ref = (image or "").split("@", 1)[0]
    head, _, tail = ref.rpartition(":")
    return head if head and "/" not in tail else ref


def migration_inits(template_spec: Obj, chosen: str, old_image: str | None) -> list[str]:
    """Init containers that run the chosen container's repository (the usual migration pattern): they get
    the new image too."""
    repo = repository(old_image)
    return [
        str(c.get("name"))
        for c in template_spec.get("initContainers") or []
        if c.get("name") != chosen and old_image and repository(c.get("image")) == repo
    ]


def replicas_of(deployment: Obj) -> int:
    r = (deployment.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def base_name(name: str) -> str:
    for color in st.COLORS:
        if name.endswith("-" + color):
            return name[: -len(color) - 1]
    return name


def choose_container(deployment: Obj, requested: str | None, source: str) -> str:
    names = [c.get("name", "") for c in containers(deployment)]
    if requested is not None:
        if requested not in names + [c.get("name", "") for c in init_containers(deployment)]:
            raise InputError(
                "--container",
                f"{source} has no container {requested!r}",
                hint=f"its containers are: {', '.join(names)}",
            )
        return requested
    if len(names) != 1:
        raise InputError(
            "--container",
            f"{source} has {len(names)} containers ({', '.join(names)})",
            hint="pass --container to say which one gets the new image",
        )
    return names[0]


def colored_copy(
    source: Obj, *, name: str, namespace: str, color_label: str, color: str, image: str | None, container: str
) -> Obj:
    """A Deployment like ``source`` but of ``color``: colour label in metadata, selector and pod template.

    Only what belongs to the app is carried over: no status, uid, resourceVersion, owner references,
    controller annotations; selector and template get the colour so the two Deployments never share pods.
    """
    src_meta = source.get("metadata") or {}
    spec = copy.deepcopy(source["spec"])
    spec.pop("paused", None)
    sel = spec.setdefault("selector", {})
    sel.setdefault("matchLabels", {})[color_label] = color
    tmpl_meta = spec["template"].setdefault("metadata", {})
    tmpl_meta.setdefault("labels", {})[color_label] = color
    tmpl_meta.pop("creationTimestamp", None)
    if image is not None:
        pod = spec["template"]["spec"]
        old = image_of(source, container)
        also = set(migration_inits(pod, container, old))
        for c in pod["containers"] + (pod.get("initContainers") or []):
            if c.get("name") == container or c.get("name") in also:
                c["image"] = image
    labels = {k: v for k, v in (src_meta.get("labels") or {}).items() if not is_gitops_key(k)}
    labels[color_label] = color
    labels[st.MANAGED_BY_KEY] = st.MANAGED_BY
    annotations = {
        k: v
        for k, v in (src_meta.get("annotations") or {}).items()
        if not k.startswith(_FOREIGN_ANNOTATIONS) and not is_gitops_key(k)
    }
    if image is not None:  # the new colour: what we sent, so a re-run can tell "already applied" from it
        annotations[st.ANN_TEMPLATE_HASH] = st.template_hash(spec["template"])
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def check_manifest(manifest: Obj, namespace: str) -> None:
    """A --manifest must be one apps/v1 Deployment whose selector picks its own pod template."""
    if not isinstance(manifest, dict) or manifest.get("kind") != "Deployment":
        kind = manifest.get("kind") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(
            "--manifest",
            f"is not a Deployment (kind: {kind})",
            hint="give one apps/v1 Deployment; bluegreen sets its name, colour and image",
        )
    if manifest.get("apiVersion") != "apps/v1":
        raise InputError("--manifest", f"apiVersion {manifest.get('apiVersion')!r} is not apps/v1")
    ns = (manifest.get("metadata") or {}).get("namespace")
    if ns and ns != namespace:
        raise InputError("--manifest", f"is for namespace {ns!r}, but the release is in {namespace!r}")
    spec = manifest.get("spec") or {}
    try:
        cs = spec["template"]["spec"]["containers"]
    except (KeyError, TypeError):
        raise InputError("--manifest", "has no spec.template.spec.containers") from None
    if not cs:
        raise InputError("--manifest", "has no containers")
    match = ((spec.get("selector") or {}).get("matchLabels")) or {}
    labels = ((spec["template"].get("metadata") or {}).get("labels")) or {}
    if not match or not selects(match, labels):
        raise InputError(
            "--manifest",
            "spec.selector.matchLabels does not match spec.template.metadata.labels",
            hint="every selector label must also be a pod template label",
        )


# ---------------------------------------------------------------------------------------------- release


@dataclass(frozen=True)
class Adoption:
    """The Service has no colour key yet: copy the uncoloured Deployment as blue first (same image)."""

    original: str
    blue: Obj
    blue_exists: bool
    selector: dict[str, str]  # the Service selector with the colour key added


@dataclass(frozen=True)
class ReleasePlan:
    namespace: str
    service: str
    color_label: str
    live_color: str
    idle_color: str
    live_deployment: str
    live_image: str | None
    live_replicas: int
    target: Obj  # the desired idle-colour Deployment
    target_exists: bool
    container: str
    image: str
    preview: Obj  # the desired preview Service
    preview_exists: bool
    adoption: Adoption | None = None

    @property
    def target_name(self) -> str:
        return name_of(self.target)

    @property
    def preview_name(self) -> str:
        return name_of(self.preview)

    def describe(self) -> list[str]:
        lines = []
        if self.adoption:
            a = self.adoption
            lines += [
                f"adopt: service/{self.service} selects no colour yet",
                f"  {'update' if a.blue_exists else 'create'} deployment.apps/{name_of(a.blue)} "
                f"(copy of deployment.apps/{a.original}, same image {self.live_image})",
                f"  switch service/{self.service} selector to {fmt_selector(a.selector)}",
            ]
        verb = "update" if self.target_exists else "create"
        lines += [
            f"{verb} deployment.apps/{self.target_name} ({replicas_of(self.target)} replicas, "
            f"container {self.container} image {self.image})",
            f"{'update' if self.preview_exists else 'create'} service/{self.preview_name} "
            f"(selector {fmt_selector(self.preview['spec']['selector'])})",
            "run smoke checks through the preview Service",
            f"switch service/{self.service}: {self.color_label} {self.live_color} -> {self.idle_color}",
            f"previous colour {self.live_color} stays on deployment.apps/{self.live_deployment} "
            f"(image {self.live_image})",
        ]
        return lines


def fmt_selector(sel: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sel.items())


def selector_with(selector: dict[str, str], key: str, value: str) -> dict[str, str]:
    out = dict(selector)
    out[key] = value
    return out


def find_live(service: Obj, deployments: list[Obj], color_label: str) -> tuple[str | None, Obj]:
    """The live colour (None when the Service has no colour key yet) and the Deployment serving it."""
    svc = name_of(service)
    selector = selector_of(service)
    if not selector:
        raise InputError(
            "--service",
            f"service {svc!r} has no selector",
            hint="bluegreen switches a Service's selector; a Service without one is managed by hand",
        )
    color = selector.get(color_label)
    if color is not None and color not in st.COLORS:
        raise InputError(
            "--color-label",
            f"service {svc!r} selects {color_label}={color}, which is not blue or green",
            hint="bluegreen switches between the colours blue and green; pass the label that carries them",
        )
    found = matching(selector, deployments)
    if color is None:
        # Every Deployment whose pods carry the selector is live; the coloured ones are copies made by an
        # adoption that was interrupted, so the uncoloured one is the original.
        uncoloured = [d for d in found if color_label not in template_labels(d)]
        found = uncoloured or found
    if color is None:
        clash = {template_labels(d).get(color_label) for d in found} - {None, *st.COLORS}
        if clash:
            raise InputError(
                "--color-label",
                f"the pods behind service {svc!r} already use the label {color_label}="
                f"{', '.join(sorted(str(c) for c in clash))}; adopting would overwrite it with blue",
                hint="pass --color-label with a key of its own (e.g. bluegreen.dev/color), so Istio subsets "
                "and other users of that label keep working",
            )
    if not found:
        raise InputError(
            "--service",
            f"no Deployment's pod template matches service {svc!r} selector {fmt_selector(selector)}",
            hint="deploy the app first, or check --namespace",
        )
    if len(found) > 1:
        names = ", ".join(sorted(name_of(d) for d in found))
        raise InputError(
            "--service",
            f"{len(found)} Deployments match service {svc!r} selector {fmt_selector(selector)}: {names}",
            hint="bluegreen needs exactly one live Deployment behind the Service",
        )
    return color, found[0]


def preview_service(service: Obj, *, name: str, selector: dict[str, str]) -> Obj:
    """The internal preview: the live Service's ports (no node ports) and the new colour's selector."""
    ports = []
    for p in (service.get("spec") or {}).get("ports") or []:
        ports.append({k: p[k] for k in ("name", "port", "targetPort", "protocol", "appProtocol") if k in p})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": service["metadata"]["namespace"],
            "labels": {st.ROLE_KEY: st.ROLE_PREVIEW, st.MANAGED_BY_KEY: st.MANAGED_BY},
            "annotations": {st.PREFIX + "preview-of": name_of(service)},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": ports,
            # a headless live Service gets a headless preview (it may have no ports at all)
            **({"clusterIP": "None"} if (service.get("spec") or {}).get("clusterIP") == "None" else {}),
        },
    }


def plan_release(
    service: Obj,
    deployments: list[Obj],
    *,
    image: str,
    color_label: str,
    deployment: str | None,
    container: str | None,
    manifest: Obj | None,
    preview_name: str,
    existing_preview: Obj | None,
) -> ReleasePlan:
    ns = service["metadata"]["namespace"]
    svc = name_of(service)
    live_color, live = find_live(service, deployments, color_label)
    by_name = {name_of(d): d for d in deployments}

    adoption: Adoption | None = None
    if live_color is None:
        live_color = st.COLORS[0]
        base = deployment or base_name(name_of(live))
        blue_name = f"{base}-{live_color}"
        if blue_name == name_of(live):
            raise InputError(
                "--deployment",
                f"the uncoloured Deployment is already named {blue_name!r}",
                hint="pass --deployment with another base name for the coloured copies",
            )
        if (live.get("spec") or {}).get("paused") or not rd.rollout(live).done:
            raise InputError(
                "--service",
                f"deployment {name_of(live)!r} is paused or mid-rollout: {rd.rollout(live).message}",
                hint="adoption copies what runs; let its rollout finish (or resume it), then re-run",
            )
        live_container = choose_container(live, container, f"deployment {name_of(live)!r}")
        blue = colored_copy(
            live,
            name=blue_name,
            namespace=ns,
            color_label=color_label,
            color=live_color,
            image=None,
            container=live_container,
        )
        existing_blue = by_name.get(blue_name)
        if (
            existing_blue is not None
            and (existing_blue.get("spec") or {}).get("selector") != blue["spec"]["selector"]
        ):
            raise InputError(
                "--deployment",
                f"deployment {blue_name!r} exists with another selector, which cannot "
                f"change (selectors are immutable)",
                hint=f"delete deployment {blue_name!r} and re-run",
            )
        adoption = Adoption(
            original=name_of(live),
            blue=blue,
            blue_exists=blue_name in by_name,
            selector=selector_with(selector_of(service), color_label, live_color),
        )
        base_selector = adoption.selector
    else:
        base = deployment or base_name(name_of(live))
        base_selector = selector_of(service)

    idle = st.other_color(live_color)
    target_name = f"{base}-{idle}"
    if target_name == name_of(live):
        raise InputError("--deployment", f"the new colour's Deployment {target_name!r} is the live one")
    target_selector = selector_with(base_selector, color_label, idle)

    if manifest is not None:
        check_manifest(manifest, ns)
        source, source_desc = manifest, "--manifest"
    else:
        source, source_desc = live, f"deployment {name_of(live)!r}"
    chosen = choose_container(source, container, source_desc)
    target = colored_copy(
        source,
        name=target_name,
        namespace=ns,
        color_label=color_label,
        color=idle,
        image=image,
        container=chosen,
    )
    if manifest is None or (manifest.get("spec") or {}).get("replicas") is None:
        # A manifest without replicas (often: an HPA owns them) gets the live count, not the API's 1.
        target["spec"]["replicas"] = replicas_of(live)
    if manifest is not None and not selects(target_selector, template_labels(target)):
        missing = {k: v for k, v in target_selector.items() if template_labels(target).get(k) != v}
        raise InputError(
            "--manifest",
            f"pod template labels lack the Service's selector {fmt_selector(missing)}",
            hint="without them the Service would select no pod after the switch",
        )

    if replicas_of(target) <= 0:
        raise InputError(
            "--manifest" if manifest is not None else "--service",
            f"the new colour would run 0 replicas (from {source_desc})",
            hint="bluegreen does not switch traffic to nothing; give it at least one replica",
        )

    existing = by_name.get(target_name)
    if existing is not None:
        old_sel = (existing.get("spec") or {}).get("selector") or {}
        if old_sel != target["spec"]["selector"]:
            raise InputError(
                "--deployment",
                f"deployment {target_name!r} exists with selector "
                f"{fmt_selector(old_sel.get('matchLabels') or {})}, which cannot change "
                f"(selectors are immutable)",
                hint=f"delete deployment {target_name!r} and re-run",
            )
        if selects(selector_of(service), template_labels(existing)):
            raise InputError("--service", f"deployment {target_name!r} already receives live traffic")

    if existing_preview is not None:
        labels = (existing_preview.get("metadata") or {}).get("labels") or {}
        owner = ((existing_preview.get("metadata") or {}).get("annotations") or {}).get(
            st.PREFIX + "preview-of"
        )
        if labels.get(st.ROLE_KEY) != st.ROLE_PREVIEW:
            raise InputError(
                "--preview-service",
                f"service {preview_name!r} exists and was not made by bluegreen",
                hint="pass another --preview-service name; bluegreen will not take over a Service it did not create",
            )
        if owner and owner != svc:
            raise InputError(
                "--preview-service",
                f"service {preview_name!r} is the preview of service {owner!r}",
                hint="pass another --preview-service name",
            )

    return ReleasePlan(
        namespace=ns,
        service=svc,
        color_label=color_label,
        live_color=live_color,
        idle_color=idle,
        live_deployment=name_of(adoption.blue) if adoption else name_of(live),
        live_image=image_of(live, chosen if chosen in {c.get("name") for c in containers(live)} else None),
        live_replicas=replicas_of(live),
        target=target,
        target_exists=existing is not None,
        container=chosen,
        image=image,
        preview=preview_service(service, name=preview_name, selector=target_selector),
        preview_exists=existing_preview is not None,
        adoption=adoption,
    )


# ----------------------------------------------------------------------------------------------- switch


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def switch_patch(
    service: Obj, *, color_label: str, to_color: str, annotations: dict[str, str | None]
) -> list[Obj]:
    """ONE JSON patch that moves traffic and records the release, valid only against the Service as read.

    The `test` of resourceVersion makes it a compare-and-swap: the API server rejects the whole patch if
    anyone changed the Service since we read it, so we never overwrite a change we did not see. An
    annotation whose value is None is removed.
    """
    meta = service["metadata"]
    ops: list[Obj] = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}]
    selector = selector_of(service)
    if color_label in selector:
        ops.append(
            {"op": "test", "path": f"/spec/selector/{_escape(color_label)}", "value": selector[color_label]}
        )
    ops.append({"op": "add", "path": f"/spec/selector/{_escape(color_label)}", "value": to_color})
    current = meta.get("annotations")
    wanted = {k: v for k, v in annotations.items() if v is not None}
    if current is None:
        if wanted:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": wanted})
        return ops
    result = {k: v for k, v in current.items() if k not in annotations or annotations[k] is not None}
    result.update(wanted)
    if not result:  # as the API server itself does, leave no empty map behind
        ops.append({"op": "remove", "path": "/metadata/annotations"})
        return ops
    for k, v in annotations.items():
        if v is None and k in current:
            ops.append({"op": "remove", "path": f"/metadata/annotations/{_escape(k)}"})
        elif v is not None and current.get(k) != v:
            ops.append({"op": "add", "path": f"/metadata/annotations/{_escape(k)}", "value": v})
    return ops


# --------------------------------------------------------------------------------------------- rollback


@dataclass(frozen=True)
class RollbackPlan:
    namespace: str
    service: str
    color_label: str
    from_color: str
    to_color: str
    from_deployment: str | None
    from_image: str | None
    from_replicas: int | None
    to_deployment: Obj
    to_image: str | None
    restore_replicas: int | None  # scale back up to this first (it was scaled to zero)

    @property
    def to_name(self) -> str:
        return name_of(self.to_deployment)

    def describe(self) -> list[str]:
        lines = []
        if self.restore_replicas:
            lines.append(f"scale deployment.apps/{self.to_name} to {self.restore_replicas} replicas and wait")
        lines.append(
            f"switch service/{self.service}: {self.color_label} {self.from_color} -> {self.to_color} "
            f"(image {self.to_image})"
        )
        return lines


def rollback_noop(state: st.ReleaseState, to: str | None) -> str | None:
    """PURE: why a rollback would do nothing (the live release is itself a rollback, or ``to`` is live)."""
    last = state.history[0] if state.history else None
    if to is not None:
        if to == state.active_image:
            return f"{to} is already live on {state.active_color}"
        return None
    if last is not None and last.action == "rollback":
        who = f" by {last.run_url}" if last.run_url else ""
        return (
            f"the live release is already a rollback: {last.image} on {last.color} since {last.time}{who}; "
            f"rolling back again would put the release it replaced back live"
        )
    return None


def plan_rollback(service: Obj, deployments: list[Obj], to: str | None = None) -> RollbackPlan:
    svc = name_of(service)
    state = st.read_state(service)
    color_label = state.color_label or st.DEFAULT_COLOR_LABEL
    selector = selector_of(service)
    live_color = selector.get(color_label)
    if not state.known or live_color not in st.COLORS:
        raise NothingToRollBack(
            f"service {svc!r} has no bluegreen release recorded, so there is nothing to roll back to",
            hint="rollback needs one earlier release made by bluegreen deploy",
        )
    if state.hold is not None:
        raise NothingToRollBack(
            f"service {svc!r} has a held release ({state.hold.image} on {state.hold.color}, since {state.hold.time}): "
            f"the standby colour now holds the new image, so switching to it would not be a rollback",
            hint=f"promote it (bluegreen promote --service {svc}) or discard it (bluegreen abort --service {svc}) first",
        )
    to_color = st.other_color(live_color)
    wanted = to or state.previous_image
    if to is not None and to not in {h.image for h in state.history}:
        raise InputError(
            "--to",
            f"{to} is not in service {svc!r}'s release history",
            hint="`bluegreen status` lists the history; to release another image, deploy it",
        )
    if not wanted or (to is None and state.previous_color != to_color):
        raise NothingToRollBack(
            f"service {svc!r} records no previous colour to roll back to",
            hint="the first release has nothing before it",
        )
    to_selector = selector_with(selector, color_label, to_color)
    found = matching(to_selector, deployments)
    if not found:
        raise NothingToRollBack(
            f"the previous colour {to_color} has no Deployment any more "
            f"(it was deleted, e.g. by --after-switch delete)",
            hint=f"redeploy the previous image: bluegreen deploy --service {svc} --image {wanted}",
        )
    if len(found) > 1:
        raise InputError(
            "--service",
            f"{len(found)} Deployments match {fmt_selector(to_selector)}: "
            f"{', '.join(sorted(name_of(d) for d in found))}",
        )
    target = found[0]
    running = [c.get("image") for c in containers(target)]
    if wanted not in running:
        good = st.last_good_image(state, to_color) or wanted
        raise NothingToRollBack(
            f"deployment {name_of(target)!r} now runs {', '.join(str(i) for i in running)}, not {wanted}"
            + (
                " that was live before (a release failed before its switch, or someone changed it)"
                if to is None
                else ""
            ),
            hint=f"roll back by redeploying that image: bluegreen deploy --service {svc} --image {good}",
        )
    if (
        to is None
        and state.previous_template_hash
        and st.template_hash(target["spec"]["template"]) != state.previous_template_hash
    ):
        raise NothingToRollBack(
            f"deployment {name_of(target)!r} still runs {wanted}, but its pod template changed since it was live "
            f"(something other than the image: env, resources, probes...)"
            + (f"; last changed by {who}" if (who := last_writer(target)) else ""),
            hint=f"redeploy to verify it again: bluegreen deploy --service {svc} --image {wanted}",
        )
    live = matching(selector, deployments)
    live_ready = int(((live[0] if live else {}).get("status") or {}).get("readyReplicas") or 0)
    need = max(live_ready, 1)
    restore = need if replicas_of(target) < need else None
    return RollbackPlan(
        namespace=service["metadata"]["namespace"],
        service=svc,
        color_label=color_label,
        from_color=live_color,
        to_color=to_color,
        from_deployment=name_of(live[0]) if live else None,
        from_image=state.active_image,
        from_replicas=replicas_of(live[0]) if live else None,
        to_deployment=target,
        to_image=wanted,
        restore_replicas=restore,
    )


def last_writer(obj: Obj) -> str | None:
    """The field manager of the latest update, as the API server recorded it (managedFields)."""
    entries = [
        m for m in obj["metadata"].get("managedFields") or [] if m.get("operation") in ("Update", "Apply")
    ]
    if not entries:
        return None
    latest = max(entries, key=lambda m: str(m.get("time") or ""))
    return f"{latest.get('manager')} at {latest.get('time')}" if latest.get("manager") else None


# ------------------------------------------------------------------------------------------- services


def colour_services(services: list[Obj], live: Obj, color_label: str) -> list[str]:
    """Every Service whose selector holds the colour key and selects the live colour's pods: all of them
    must switch together, or the ones left behind lose their endpoints when the old colour goes."""
    labels = template_labels(live)
    return sorted(
        name_of(s)
        for s in services
        if color_label in selector_of(s)
        and selects(selector_of(s), labels)
        and ((s.get("metadata") or {}).get("labels") or {}).get(st.ROLE_KEY) != st.ROLE_PREVIEW
    )


def check_services(named: list[str], selecting: list[str]) -> None:
    """A Service that selects the live colour but was not named would be left behind: refuse up front."""
    missing = [n for n in selecting if n not in named]
    if missing:
        raise InputError(
            "--service",
            f"service {missing[0]!r} also selects the live colour's pods"
            + (f" (and {', '.join(repr(m) for m in missing[1:])})" if missing[1:] else ""),
            hint="name every such Service (repeat --service; the first holds the release state) so they "
            "switch together",
        )
