"""What a release needs to see of the cluster, read at once: every Service and Deployment of the
namespace and the release's Lease. Steps decide from a Snapshot (pure) and fold what they write back
into it, so the next step sees the cluster as it is without another read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from bluegreen.errors import PermissionDenied
from bluegreen.kube import DEPLOYMENTS, LEASES, RESOURCE_QUOTAS, SERVICES, Kube, NotFound

Obj = dict[str, Any]


def _by_name(objs: list[Obj]) -> Mapping[str, Obj]:
    return MappingProxyType({o["metadata"]["name"]: o for o in objs})


@dataclass(frozen=True)
class Snapshot:
    namespace: str
    services: Mapping[str, Obj] = field(default_factory=dict)
    deployments: Mapping[str, Obj] = field(default_factory=dict)
    lease: Obj | None = None
    quotas: tuple[Obj, ...] = ()

    def service(self, name: str) -> Obj | None:
        return self.services.get(name)

    def deployment(self, name: str) -> Obj | None:
        return self.deployments.get(name)

    def with_service(self, obj: Obj) -> Snapshot:
        return replace(self, services=MappingProxyType({**self.services, obj["metadata"]["name"]: obj}))

    def with_deployment(self, obj: Obj) -> Snapshot:
        return replace(self, deployments=MappingProxyType({**self.deployments, obj["metadata"]["name"]: obj}))

    def without_deployment(self, name: str) -> Snapshot:
        return replace(
            self, deployments=MappingProxyType({k: v for k, v in self.deployments.items() if k != name})
        )


def read(kube: Kube, lease: str, *, quotas: bool = False) -> Snapshot:
    """One round trip: the reads go out together."""
    calls: list[Any] = [
        lambda: kube.items(SERVICES),
        lambda: kube.items(DEPLOYMENTS),
        lambda: kube.get(LEASES, lease),
    ]
    if quotas:
        calls.append(lambda: _quotas(kube))
    got = kube.parallel(*calls)
    return Snapshot(
        kube.namespace, _by_name(got[0]), _by_name(got[1]), got[2], tuple(got[3]) if quotas else ()
    )


def _quotas(kube: Kube) -> list[Obj]:
    try:
        return kube.items(RESOURCE_QUOTAS)
    except (
        PermissionDenied,
        NotFound,
    ):  # a Role without it only loses the preflight; the controller still tells
        return []


def reread(kube: Kube, snap: Snapshot, deployments: list[str], lease: str) -> Snapshot:
    """Right before a write that could hurt: every Service, the named Deployments and the Lease, in one
    round trip. A Deployment that is gone leaves the snapshot without it."""
    calls: list[Any] = [lambda: kube.items(SERVICES), lambda: kube.get(LEASES, lease)]
    calls += [lambda n=n: kube.get(DEPLOYMENTS, n) for n in deployments]
    got = kube.parallel(*calls)
    deps = dict(snap.deployments)
    for n, obj in zip(deployments, got[2:], strict=True):
        if obj is None:
            deps.pop(n, None)
        else:
            deps[n] = obj
    return replace(snap, services=_by_name(got[0]), lease=got[1], deployments=MappingProxyType(deps))
