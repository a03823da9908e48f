"""PURE: will the new colour fit the namespace's ResourceQuotas? Checked before anything is written, so
an exhausted quota fails in one line instead of at the end of --timeout."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]

_SUFFIX = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
}
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?")


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ("500m", "1Gi", 2) as a number; None when unreadable."""
    m = _QUANTITY.fullmatch(str(value).strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""]
    except InvalidOperation:
        return None


def pod_usage(template_spec: Obj) -> dict[str, Decimal]:
    """What one pod counts against a quota: the sum over containers, or the largest init container if
    larger (as the scheduler and the quota evaluator count it)."""

    def total(containers: list[Obj]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for c in containers:
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for name, v in (res.get(kind) or {}).items():
                    q = quantity(v)
                    if q is not None:
                        key = f"{kind}.{name}"
                        out[key] = out.get(key, Decimal(0)) + q
        return out

    usage = total(template_spec.get("containers") or [])
    for init in template_spec.get("initContainers") or []:
        for k, v in total([init]).items():
            usage[k] = max(usage.get(k, Decimal(0)), v)
    # A quota on plain `cpu`/`memory` means requests.
    for name in ("cpu", "memory"):
        if f"requests.{name}" in usage:
            usage[name] = usage[f"requests.{name}"]
    usage["pods"] = Decimal(1)
    return usage


def _fmt(q: Decimal) -> str:
    return f"{q.normalize():f}"


def shortfall(quotas: list[Obj], template_spec: Obj, new_pods: int) -> str | None:
    """The first quota the new pods would exceed, in a sentence with the numbers, or None."""
    per_pod = pod_usage(template_spec)
    for rq in quotas:
        status = rq.get("status") or {}
        hard = status.get("hard") or (rq.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        for resource, limit in sorted(hard.items()):
            need = per_pod.get(resource)
            lim, have = quantity(limit), quantity(used.get(resource, 0))
            if need is None or lim is None or have is None:
                continue
            want = need * new_pods
            if have + want > lim:
                return (
                    f"resourcequota/{rq['metadata']['name']} allows {resource}={limit}; {_fmt(have)} is used "
                    f"and {new_pods} new pod(s) need {_fmt(want)} more"
                )
    return None
