"""Resource quantities and ResourceQuota admission of pods, as the real API server does them.

- Quantities: k8s.io/apimachinery/pkg/api/resource (parsing, the canonical form ``String()`` prints:
  ``500m``, ``1``, ``1536Mi``, ``2k``; a sum keeps the format of its first non-zero term).
- Pod usage: pkg/quota/v1/evaluator/core/pods.go (``pods``, ``cpu`` = ``requests.cpu``, ``memory`` =
  ``requests.memory``, ``limits.cpu``, ``limits.memory``; terminal pods and pods past their grace period
  are not charged; a tracked cpu/memory resource must be set on every container).
- Admission: staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go CheckRequest,
  with its messages: ``exceeded quota: NAME, requested: ..., used: ..., limited: ...`` and
  ``failed quota: NAME: must specify ...``, wrapped as ``pods "NAME" is forbidden: ...`` (403 Forbidden).

We differ: admission compares with the quota's spec.hard and the usage of the pods stored right now
(the real one uses status.hard and status.used, which its controller keeps close to that), and quota
scopes and scope selectors are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from .errors import ApiError

Obj = dict[str, Any]

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$")

# what a pod is charged, and what a quota on cpu or memory obliges each container to set
POD_RESOURCES = (
    "pods",
    "count/pods",
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
)
_MUST_SPECIFY = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: str = "DecimalSI"  # or "BinarySI", "DecimalExponent"

    def __add__(self, other: Quantity) -> Quantity:
        # resource.Quantity.Add: a zero quantity takes the format of what is added to it
        fmt = other.format if self.value == 0 else self.format
        return Quantity(self.value + other.value, fmt)

    def __str__(self) -> str:
        return canonical(self)


ZERO = Quantity(Fraction(0))


def parse_quantity(text: Any) -> Quantity:
    """resource.ParseQuantity; raises ValueError with its wording for what it refuses."""
    s = str(text).strip()
    m = _QUANTITY.match(s)
    if m is None:
        raise ValueError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY_SUFFIXES:
        return Quantity(number * 2 ** _BINARY_SUFFIXES[suffix], "BinarySI")
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return Quantity(number * Fraction(10) ** int(suffix[1:]), "DecimalExponent")
    return Quantity(number * Fraction(10) ** _DECIMAL_SUFFIXES[suffix], "DecimalSI")


def canonical(q: Quantity) -> str:
    """Quantity.String(): values below a nano round up; BinarySI only for integers of 1024 or more."""
    v = q.value
    if v * 10**9 != math.floor(v * 10**9):
        v = Fraction(math.ceil(v * 10**9), 10**9)
    if v == 0:
        return "0"
    if q.format == "BinarySI" and abs(v) >= 1024 and v.denominator == 1:
        n, exp = int(v), 0
        while exp < 60 and n % 1024 == 0:
            n //= 1024
            exp += 10
        suffix = {v: k for k, v in _BINARY_SUFFIXES.items()}.get(exp, "")
        return f"{n}{suffix}"
    # DecimalSI: the largest exponent (a multiple of 3) that leaves an integer mantissa
    for exp in (18, 15, 12, 9, 6, 3, 0, -3, -6, -9):
        mantissa = v / Fraction(10) ** exp
        if mantissa.denominator == 1:
            if q.format == "DecimalExponent":
                return f"{int(mantissa)}" + (f"e{exp}" if exp else "")
            suffix = {v: k for k, v in _DECIMAL_SUFFIXES.items()}[exp]
            return f"{int(mantissa)}{suffix}"
    raise AssertionError("unreachable: values are rounded to nano units")


def _quantities(items: Any) -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for k, v in (items or {}).items() if isinstance(items, dict) else ():
        try:
            out[k] = parse_quantity(v)
        except ValueError:
            continue  # we differ: the real server refuses such a pod in validation (422)
    return out


def _add(into: dict[str, Quantity], key: str, q: Quantity) -> None:
    into[key] = into.get(key, ZERO) + q


def container_resources(c: Obj) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """(requests, limits) of a container; requests default to limits, as the Pod defaulting does."""
    res = c.get("resources") or {}
    limits = _quantities(res.get("limits"))
    requests = _quantities(res.get("requests"))
    for k, v in limits.items():
        requests.setdefault(k, v)
    return requests, limits


def pod_requests(pod: Obj) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """PodRequests / PodLimits: the sum over containers, at least the largest init container."""
    spec = pod.get("spec") or {}
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    for c in spec.get("containers") or []:
        r, lim = container_resources(c)
        for k, q in r.items():
            _add(requests, k, q)
        for k, q in lim.items():
            _add(limits, k, q)
    for c in spec.get("initContainers") or []:
        r, lim = container_resources(c)
        for k, q in r.items():
            if q.value > requests.get(k, ZERO).value:
                requests[k] = q
        for k, q in lim.items():
            if q.value > limits.get(k, ZERO).value:
                limits[k] = q
    return requests, limits


def _compute_usage(requests: dict[str, Quantity], limits: dict[str, Quantity]) -> dict[str, Quantity]:
    """podComputeUsageHelper."""
    usage = {"pods": Quantity(Fraction(1)), "count/pods": Quantity(Fraction(1))}
    for res in ("cpu", "memory"):
        if res in requests:
            usage[res] = usage[f"requests.{res}"] = requests[res]
        if res in limits:
            usage[f"limits.{res}"] = limits[res]
    return usage


def pod_usage(pod: Obj) -> dict[str, Quantity]:
    return _compute_usage(*pod_requests(pod))


def charged(pod: Obj, now: float) -> bool:
    """QuotaV1Pod: terminal pods, and terminating ones past their deletion time plus grace period, are
    not charged; a Terminating pod within its grace period still is."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    stamp, grace = meta.get("deletionTimestamp"), meta.get("deletionGracePeriodSeconds")
    if not stamp or grace is None:
        return True
    deletion = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    return not now > deletion + float(grace)


def namespace_usage(pods: Iterable[Obj], now: float, keys: Iterable[str]) -> dict[str, Quantity]:
    """What the quota controller writes as status.used for ``keys``: "0" for what nothing uses."""
    wanted = [k for k in keys if k in POD_RESOURCES]
    used: dict[str, Quantity] = {k: ZERO for k in wanted}
    for pod in pods:
        if not charged(pod, now):
            continue
        for k, q in pod_usage(pod).items():
            if k in used:
                used[k] = used[k] + q
    return used


def _pretty(items: dict[str, Quantity]) -> str:
    return ",".join(f"{k}={canonical(items[k])}" for k in sorted(items))


def _forbidden(pod_name: str, message: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'pods "{pod_name}" is forbidden: {message}', {"name": pod_name, "kind": "pods"}
    )


def admit_pod(pod: Obj, quotas: list[Obj], pods: Iterable[Obj], now: float) -> None:
    """CheckRequest for a pod create: 403 Forbidden when a container lacks a tracked request or limit,
    or when the pod would take a quota past its hard limit. ``pods``: the namespace's pods."""
    if not quotas:
        return
    name = (pod.get("metadata") or {}).get("name") or (pod.get("metadata") or {}).get("generateName") or ""
    ordered = sorted(quotas, key=lambda q: q["metadata"]["name"])
    hard_of = {q["metadata"]["name"]: _hard(q) for q in ordered}
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    for q in ordered:
        qname = q["metadata"]["name"]
        required = {k for k in hard_of[qname] if k in _MUST_SPECIFY}
        missing: dict[str, list[str]] = {}
        for c in containers:
            have = set(_compute_usage(*container_resources(c)))
            for res in sorted(required - have):
                missing.setdefault(res, []).append(str(c.get("name", "")))
        if missing:
            detail = "; ".join(f"{res} for: {','.join(sorted(set(missing[res])))}" for res in sorted(missing))
            raise _forbidden(name, f"failed quota: {qname}: must specify {detail}")
    requested_all = pod_usage(pod)
    pods = list(pods)
    for q in ordered:
        qname = q["metadata"]["name"]
        hard = hard_of[qname]
        requested = {k: v for k, v in requested_all.items() if k in hard and v.value != 0}
        if not requested:
            continue
        used = namespace_usage(pods, now, hard)
        exceeded = sorted(k for k, v in requested.items() if (used.get(k, ZERO) + v).value > hard[k].value)
        if exceeded:
            raise _forbidden(
                name,
                f"exceeded quota: {qname}, requested: {_pretty({k: requested[k] for k in exceeded})}, "
                f"used: {_pretty({k: used.get(k, ZERO) for k in exceeded})}, "
                f"limited: {_pretty({k: hard[k] for k in exceeded})}",
            )


def _hard(quota: Obj) -> dict[str, Quantity]:
    out: dict[str, Quantity] = {}
    for k, v in ((quota.get("spec") or {}).get("hard") or {}).items():
        try:
            out[k] = parse_quantity(v)
        except ValueError:
            continue
    return out


def canonical_list(items: dict[str, Any]) -> dict[str, str]:
    """A ResourceList as the server stores it: each quantity in its canonical form."""
    return {k: canonical(parse_quantity(v)) for k, v in items.items()}


def quota_status(quota: Obj, pods: Iterable[Obj], now: float) -> Obj:
    """The resource quota controller's status: hard as in spec, used for each hard resource we track."""
    hard = _hard(quota)
    used = namespace_usage(pods, now, hard)
    return {
        "hard": {k: canonical(v) for k, v in sorted(hard.items())},
        "used": {k: canonical(v) for k, v in sorted(used.items())},
    }


def validate_hard(quota: Obj) -> list[tuple[str, str, str]]:
    """ValidateResourceQuota's quantity checks: spec.hard values parse and are not negative."""
    causes: list[tuple[str, str, str]] = []
    hard = (quota.get("spec") or {}).get("hard") or {}
    if not isinstance(hard, dict):
        return [("spec.hard", "FieldValueInvalid", "Invalid value: must be a map of quantities")]
    for k, v in hard.items():
        try:
            q = parse_quantity(v)
        except ValueError as e:
            causes.append((f"spec.hard[{k}]", "FieldValueInvalid", f'Invalid value: "{v}": {e}'))
            continue
        if q.value < 0:
            causes.append(
                (
                    f"spec.hard[{k}]",
                    "FieldValueInvalid",
                    f'Invalid value: "{v}": must be greater than or equal to 0',
                )
            )
    return causes
