"""The resource table of the simulated cluster: what discovery advertises and what the router serves."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ApiError

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_NS_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    # subresource name -> verbs it accepts
    subresources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    verbs: tuple[str, ...] = _ALL_VERBS
    categories: tuple[str, ...] = ()
    # metadata.generation is maintained (bumped on spec changes) for these kinds only, like the real server
    has_generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "namespaces",
        "Namespace",
        "",
        "v1",
        False,
        "namespace",
        ("ns",),
        {"status": ("get", "patch", "update")},
        _NS_VERBS,
    ),
    Resource(
        "pods",
        "Pod",
        "",
        "v1",
        True,
        "pod",
        ("po",),
        {
            "status": ("get", "patch", "update"),
            "log": ("get",),
            "proxy": ("create", "delete", "get", "patch", "update"),
        },
        categories=("all",),
    ),
    Resource(
        "services",
        "Service",
        "",
        "v1",
        True,
        "service",
        ("svc",),
        {"status": ("get", "patch", "update"), "proxy": ("create", "delete", "get", "patch", "update")},
        _NS_VERBS,
        categories=("all",),
    ),
    Resource("endpoints", "Endpoints", "", "v1", True, "endpoints", ("ep",)),
    Resource(
        "resourcequotas",
        "ResourceQuota",
        "",
        "v1",
        True,
        "resourcequota",
        ("quota",),
        {"status": ("get", "patch", "update")},
    ),
    Resource("events", "Event", "", "v1", True, "event", ("ev",)),
    Resource(
        "deployments",
        "Deployment",
        "apps",
        "v1",
        True,
        "deployment",
        ("deploy",),
        {"status": ("get", "patch", "update"), "scale": ("get", "patch", "update")},
        categories=("all",),
        has_generation=True,
    ),
    Resource(
        "replicasets",
        "ReplicaSet",
        "apps",
        "v1",
        True,
        "replicaset",
        ("rs",),
        {"status": ("get", "patch", "update"), "scale": ("get", "patch", "update")},
        categories=("all",),
        has_generation=True,
    ),
    Resource(
        "endpointslices",
        "EndpointSlice",
        "discovery.k8s.io",
        "v1",
        True,
        "endpointslice",
        has_generation=True,
    ),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True, "lease"),
)

_BY_PLURAL = {r.plural: r for r in RESOURCES}


def by_plural(plural: str) -> Resource:
    try:
        return _BY_PLURAL[plural]
    except KeyError:
        raise ApiError(404, "NotFound", "the server could not find the requested resource") from None


def lookup(group: str, version: str, plural: str) -> Resource | None:
    r = _BY_PLURAL.get(plural)
    if r is None or r.group != group or r.version != version:
        return None
    return r


def group_versions() -> dict[str, list[str]]:
    """Named API groups (not the core group) -> their versions, in table order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out


def in_group_version(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def api_resource_list(group: str, version: str) -> dict[str, object]:
    """The body of GET /api/v1 or /apis/<group>/<version> (meta/v1 APIResourceList)."""
    resources: list[dict[str, object]] = []
    for r in in_group_version(group, version):
        entry: dict[str, object] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for sub, verbs in r.subresources.items():
            kind = r.kind
            sub_entry: dict[str, object] = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": list(verbs),
            }
            if sub == "scale":
                sub_entry.update(kind="Scale", group="autoscaling", version="v1")
            elif sub in ("proxy",):
                sub_entry["kind"] = f"{r.kind}ProxyOptions"
            elif sub == "log":
                sub_entry["kind"] = "Pod"
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
