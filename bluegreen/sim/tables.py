"""Server-side printing: the meta.k8s.io/v1 ``Table`` the API server returns for
``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` (what ``kubectl get`` shows).

Columns and cells follow pkg/printers/internalversion/printers.go. The server always prints the wide
form (priority-1 columns included); kubectl hides priority-1 columns unless ``-o wide``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bluegreen.sim.selectors import from_label_selector_object, selector_string

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata"
)


def _col(name: str, description: str, *, type: str = "string", format: str = "", priority: int = 0) -> dict:
    return {"name": name, "type": type, "format": format, "description": description, "priority": priority}


_NAME = _col("Name", _NAME_DOC, format="name")
_AGE = _col("Age", _CREATED_DOC)
_CONTAINERS = _col("Containers", "Names of each container in the template.", priority=1)
_IMAGES = _col("Images", "Images referenced by each container in the template.", priority=1)


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """duration.HumanDuration: ~2-3 significant figures (``45s``, ``3m2s``, ``5h``, ``2d3h``, ``3y``)."""
    s = int(seconds)  # Go truncates toward zero
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _since(value: Any, now: float) -> str:
    """translateTimestampSince: ``<unknown>`` for a missing timestamp."""
    at = _parse_time(value)
    return "<unknown>" if at is None else human_duration(now - at)


def _age(obj: dict, now: float) -> str:
    return _since(obj.get("metadata", {}).get("creationTimestamp"), now)


def _name(obj: dict) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return default if obj is None else obj


# --------------------------------------------------------------------------------------------------
# Per-resource printers: (column definitions, cells of one object, row conditions)
# --------------------------------------------------------------------------------------------------


def _containers(template_spec: Any) -> tuple[str, str]:
    containers = _get(template_spec, "containers", default=[])
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return names, images


def _selector_cell(selector: Any) -> str:
    try:
        return str(from_label_selector_object(selector))
    except Exception:
        return "<invalid>"


_DEPLOYMENT_COLUMNS = [
    _NAME,
    _col("Ready", "Number of the pod with ready state"),
    _col(
        "Up-to-date",
        "Total number of non-terminated pods targeted by this deployment that have the "
        "desired template spec.",
    ),
    _col(
        "Available",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col(
        "Selector",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will "
        "be the ones affected by this deployment.",
        priority=1,
    ),
]


def _deployment(obj: dict, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", 1)
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{desired}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj, now),
        names,
        images,
        _selector_cell(spec.get("selector")),
    ]


_REPLICASET_COLUMNS = [
    _NAME,
    _col("Desired", "Replicas is the number of desired pods.", type="integer"),
    _col("Current", "Replicas is the most recently observed number of replicas.", type="integer"),
    _col("Ready", "The number of ready replicas for this replica set.", type="integer"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _col("Selector", "Selector is a label query over pods that should match the replica count.", priority=1),
]


def _replicaset(obj: dict, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj, now),
        names,
        images,
        _selector_cell(spec.get("selector")),
    ]


_POD_COLUMNS = [
    _NAME,
    _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the "
        "last container in this pod has restarted.",
    ),
    _AGE,
    _col("IP", "IP address allocated to the pod. Routable at least within the cluster.", priority=1),
    _col("Node", "NodeName indicates in which node this pod is scheduled.", priority=1),
    _col(
        "Nominated Node",
        "nominatedNodeName is set only when this pod preempts other pods on the node.",
        priority=1,
    ),
    _col(
        "Readiness Gates",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        priority=1,
    ),
]

_POD_SUCCEEDED = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


class _Restarts:
    def __init__(self) -> None:
        self.count = 0
        self.last: float | None = None

    def add(self, status: dict) -> None:
        self.count += int(status.get("restartCount", 0))
        finished = _parse_time(_get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished


def _init_containers(pod: dict, restarts: _Restarts, sidecar_restarts: _Restarts) -> tuple[str | None, int]:
    """Walk init container statuses; returns (reason if still initializing, ready sidecars)."""
    specs = {c.get("name"): c for c in _get(pod, "spec", "initContainers", default=[])}
    total = len(specs)
    ready = 0
    for i, status in enumerate(_get(pod, "status", "initContainerStatuses", default=[])):
        restarts.add(status)
        sidecar = _get(specs.get(status.get("name")), "restartPolicy") == "Always"
        if sidecar:
            sidecar_restarts.add(status)
        state = status.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and status.get("started"):
            ready += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            return _terminated_reason(terminated, "Init:"), ready
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + waiting["reason"], ready
        return f"Init:{i}/{total}", ready
    return None, ready


def _pod_cells(pod: dict, now: float) -> tuple[list[Any], list[dict] | None]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conditions = status.get("conditions") or []
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"
    row_conditions = {"Succeeded": _POD_SUCCEEDED, "Failed": _POD_FAILED}.get(phase)

    total = len(spec.get("containers") or [])
    total += sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    restarts, sidecar_restarts = _Restarts(), _Restarts()
    init_reason, ready = _init_containers(pod, restarts, sidecar_restarts)
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)
    if init_reason is not None:
        reason = init_reason
    if init_reason is None or initialized:
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts.add(cs)
            state = cs.get("state") or {}
            if _get(state, "waiting", "reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if _get(pod, "metadata", "deletionTimestamp") is not None:
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell: Any = restarts.count
    if restarts.count and restarts.last is not None:
        restarts_cell = f"{restarts.count} ({human_duration(now - restarts.last)} ago)"

    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        passed = sum(
            1
            for g in gates
            if any(c.get("type") == g.get("conditionType") and c.get("status") == "True" for c in conditions)
        )
        gates_cell = f"{passed}/{len(gates)}"
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else status.get("podIP")) or "<none>"
    cells = [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        _age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_cell,
    ]
    return cells, row_conditions


_SERVICE_COLUMNS = [
    _NAME,
    _col("Type", "type determines how the Service is exposed."),
    _col("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
    _col(
        "External-IP",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also "
        "accept traffic for this service.",
    ),
    _col("Port(s)", "The list of ports that are exposed by this service."),
    _AGE,
    _col(
        "Selector",
        "Route service traffic to pods with label keys and values matching this selector.",
        priority=1,
    ),
]


def _external_ip(svc: dict) -> str:
    spec = svc.get("spec") or {}
    external = spec.get("externalIPs") or []
    kind = spec.get("type", "ClusterIP")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        ingress = _get(svc, "status", "loadBalancer", "ingress", default=[])
        lb = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service(obj: dict, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = []
    for p in spec.get("ports") or []:
        node_port = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node_port}/{p.get('protocol', 'TCP')}")
    selector = spec.get("selector") or {}
    return [
        _name(obj),
        spec.get("type", "ClusterIP"),
        ips[0] if ips else "<none>",
        _external_ip(obj),
        ",".join(ports) or "<none>",
        _age(obj, now),
        selector_string(selector) if selector else "<none>",
    ]


def _more(items: list[str], count: int, limit: int = 3, empty: str = "<none>") -> str:
    shown = ",".join(items[:limit])
    if count > limit:
        return f"{shown} + {count - limit} more..."
    return shown or empty


def _host_port(ip: str, port: Any) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


_ENDPOINTS_COLUMNS = [_NAME, _col("Endpoints", "The set of all endpoints is the union of all subsets."), _AGE]


def _endpoints(obj: dict, now: float) -> list[Any]:
    subsets = obj.get("subsets") or []
    shown: list[str] = []
    count = 0
    for ss in subsets:
        addresses = [a.get("ip", "") for a in ss.get("addresses") or []]
        ports = ss.get("ports") or []
        if not ports:
            count += len(addresses)
            shown += addresses
            continue
        for port in ports:
            count += len(addresses)
            shown += [_host_port(ip, port.get("port")) for ip in addresses]
    return [_name(obj), _more(shown, count, empty="") if subsets else "<none>", _age(obj, now)]


_ENDPOINTSLICE_COLUMNS = [
    _NAME,
    _col("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
    _col("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    _col("Endpoints", "endpoints is a list of unique endpoints in this slice."),
    _AGE,
]


def _endpointslice(obj: dict, now: float) -> list[Any]:
    ports = []
    for p in obj.get("ports") or []:
        if p.get("port") is not None:
            ports.append(str(p["port"]))
        elif p.get("name") is not None:
            ports.append(str(p["name"]))
        else:
            ports.append("*")
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        _name(obj),
        obj.get("addressType", ""),
        _more(ports, len(ports), empty="<unset>"),
        _more(addresses, len(addresses), empty="<unset>"),
        _age(obj, now),
    ]


_LEASE_COLUMNS = [
    _NAME,
    _col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
    _AGE,
]


def _lease(obj: dict, now: float) -> list[Any]:
    return [_name(obj), _get(obj, "spec", "holderIdentity", default=""), _age(obj, now)]


_NAMESPACE_COLUMNS = [_NAME, _col("Status", "The status of the namespace"), _AGE]


def _namespace(obj: dict, now: float) -> list[Any]:
    return [_name(obj), _get(obj, "status", "phase", default=""), _age(obj, now)]


_EVENT_COLUMNS = [
    _col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _col(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the "
        "transition into the object's current status.",
    ),
    _col("Object", "The object that this event is about."),
    _col(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should "
        "contain a valid JSON/Go field access statement.",
        priority=1,
    ),
    _col(
        "Source",
        "The component reporting this event. Should be a short machine understandable string.",
        priority=1,
    ),
    _col("Message", "A human-readable description of the status of this operation."),
    _col(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    _col("Count", "The number of times this event has occurred.", priority=1),
    _col("Name", _NAME_DOC, format="name", priority=1),
]


def _event_source(obj: dict) -> str:
    component = _get(obj, "source", "component", default="") or obj.get("reportingComponent", "")
    host = _get(obj, "source", "host", default="") or obj.get("reportingInstance", "")
    if not component and not host:
        return "<none>"
    return f"{component}, {host}" if host else component


def _event(obj: dict, now: float) -> list[Any]:
    first = _since(obj.get("firstTimestamp"), now)
    if obj.get("firstTimestamp") is None:
        first = _since(obj.get("eventTime"), now)
    last = _since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 0
    series = obj.get("series")
    if series:
        last = _since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        _event_source(obj),
        str(obj.get("message", "")).strip(),
        first,
        count,
        _name(obj),
    ]


# The generic printer of resources without their own (rest.NewDefaultTableConvertor).
_DEFAULT_COLUMNS = [_NAME, _col("Created At", _CREATED_DOC, type="date")]


def _default(obj: dict, now: float) -> list[Any]:
    return [_name(obj), _get(obj, "metadata", "creationTimestamp", default="")]


_Printer = Callable[[dict, float], list[Any]]
_PRINTERS: dict[str, tuple[list[dict], _Printer]] = {
    "deployments": (_DEPLOYMENT_COLUMNS, _deployment),
    "replicasets": (_REPLICASET_COLUMNS, _replicaset),
    "services": (_SERVICE_COLUMNS, _service),
    "endpoints": (_ENDPOINTS_COLUMNS, _endpoints),
    "endpointslices": (_ENDPOINTSLICE_COLUMNS, _endpointslice),
    "leases": (_LEASE_COLUMNS, _lease),
    "namespaces": (_NAMESPACE_COLUMNS, _namespace),
    "events": (_EVENT_COLUMNS, _event),
}


def column_definitions(resource: str) -> list[dict]:
    if resource == "pods":
        return [dict(c) for c in _POD_COLUMNS]
    columns, _ = _PRINTERS.get(resource, (_DEFAULT_COLUMNS, _default))
    return [dict(c) for c in columns]


def _row_object(obj: dict, include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    resource: str,
    items: list[dict],
    now: float,
    include_object: str = "Metadata",
    resource_version: str | None = None,
) -> dict:
    """A meta.k8s.io/v1 Table for ``items`` of ``resource`` (plural name), ages measured at ``now``
    (epoch seconds). ``include_object`` is the request's includeObject: None, Metadata or Object."""
    rows = []
    for obj in items:
        conditions = None
        if resource == "pods":
            cells, conditions = _pod_cells(obj, now)
        else:
            cells = _PRINTERS.get(resource, (_DEFAULT_COLUMNS, _default))[1](obj, now)
        row: dict[str, Any] = {"cells": cells}
        if conditions:
            row["conditions"] = [dict(c) for c in conditions]
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(resource),
        "rows": rows,
    }
