"""PURE judgements on what the cluster reports: is a rollout done, has it failed, do endpoints match.

The wording follows `kubectl rollout status`, which users already read in their CI logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# Waiting reasons that fail the release at once instead of at the timeout. ErrImagePull is among them
# although the kubelet retries it: a wrong tag is by far the common cause, and failing before the switch
# is always safe (re-run after a registry hiccup). CreateContainerConfigError is not: it clears by itself
# when the missing ConfigMap or Secret appears, so it is left to the progress deadline.
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
}


@dataclass(frozen=True)
class Rollout:
    done: bool
    message: str
    failed: bool = False


def _condition(obj: Obj, ctype: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def rollout(deployment: Obj) -> Rollout:
    """Where a Deployment's rollout stands; done only when every pod runs the new template and is
    available and no old pod is left (so the Service's endpoints are exactly the new pods)."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    name = f"deployment.apps/{meta['name']}"
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return Rollout(False, f"{name}: waiting for the deployment spec update to be observed")
    progressing = _condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Rollout(
            False,
            f"{name} exceeded its progress deadline: {progressing.get('message', '')}".rstrip(": "),
            failed=True,
        )
    failure = _condition(deployment, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        # The controller cannot create pods (quota, admission webhook, PodSecurity): waiting will not help.
        return Rollout(
            False,
            f"{name} cannot create pods ({failure.get('reason') or 'ReplicaFailure'}): {failure.get('message', '')}",
            failed=True,
        )
    want = 1 if spec.get("replicas") is None else int(spec["replicas"])
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    if updated < want:
        return Rollout(False, f"{name}: {updated} out of {want} new replicas have been updated")
    if total > updated:
        return Rollout(False, f"{name}: {total - updated} old replicas are pending termination")
    if available < updated or ready < updated:
        return Rollout(False, f"{name}: {available} of {updated} updated replicas are available")
    return Rollout(True, f"{name} successfully rolled out ({available} of {want} replicas available)")


def pod_problem(pod: Obj) -> str | None:
    """A reason this pod will not become ready by itself, in the kubelet's words, or None."""
    status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in FATAL_WAITING:
            msg = waiting.get("message") or ""
            return f"pod/{name} container {cs.get('name')}: {reason}" + (f": {msg}" if msg else "")
    return None


def is_ready(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    c = _condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def ready_endpoint_pods(slices: list[Obj]) -> set[str]:
    """Names of pods that EndpointSlices list as ready (what the Service really routes to)."""
    pods: set[str] = set()
    for s in slices:
        for ep in s.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            ready = (ep.get("conditions") or {}).get("ready")
            if ref.get("kind") == "Pod" and ready is not False:
                pods.add(str(ref.get("name")))
    return pods


def pod_waiting(pod: Obj) -> str | None:
    """Why a pod is not ready yet, for a timeout message: the scheduler's or kubelet's reason, or its phase."""
    status = pod.get("status") or {}
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return f"{scheduled.get('reason') or 'not scheduled'}: {scheduled.get('message', '')}".rstrip(": ")
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
        if (cs.get("state") or {}).get("running") and not cs.get("ready"):
            return "running but not ready (readiness probe failing)"
    return status.get("phase")


def image_of_pod(pod: Obj, container: str) -> str | None:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == container:
            return c.get("image")
    return None
