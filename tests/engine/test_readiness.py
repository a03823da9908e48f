"""readiness.py: rollout judgement in kubectl's words, fatal pod reasons, ready pods and endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen import readiness as rd

Obj = dict[str, Any]


def deploy(
    *,
    replicas: int | None = 3,
    generation: int | None = 2,
    observed: int | None = 2,
    updated: int | None = 3,
    total: int | None = 3,
    available: int | None = 3,
    ready: int | None = 3,
    conditions: list[Obj] | None = None,
) -> Obj:
    meta: Obj = {"name": "web-green"}
    if generation is not None:
        meta["generation"] = generation
    spec: Obj = {} if replicas is None else {"replicas": replicas}
    status: Obj = {}
    for key, value in (
        ("observedGeneration", observed),
        ("updatedReplicas", updated),
        ("replicas", total),
        ("availableReplicas", available),
        ("readyReplicas", ready),
    ):
        if value is not None:
            status[key] = value
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": meta, "spec": spec, "status": status}


def progressing(reason: str, message: str = "") -> Obj:
    return {
        "type": "Progressing",
        "status": "False" if reason == "ProgressDeadlineExceeded" else "True",
        "reason": reason,
        "message": message,
    }


# ------------------------------------------------------------------------------------------------ rollout


def test_rollout_done() -> None:
    r = rd.rollout(deploy())
    assert r == rd.Rollout(
        True, "deployment.apps/web-green successfully rolled out (3 of 3 replicas available)"
    )


def test_rollout_generation_not_observed() -> None:
    r = rd.rollout(deploy(generation=3, observed=2))
    assert (r.done, r.failed) == (False, False)
    assert r.message == "deployment.apps/web-green: waiting for the deployment spec update to be observed"


def test_rollout_no_status_at_all() -> None:
    d = deploy()
    del d["status"]
    r = rd.rollout(d)
    assert not r.done and not r.failed
    assert "waiting for the deployment spec update to be observed" in r.message


def test_rollout_stale_deadline_condition_is_ignored_until_the_spec_is_observed() -> None:
    # kubectl checks observedGeneration first: a condition from the previous generation says nothing
    r = rd.rollout(
        deploy(generation=4, observed=3, conditions=[progressing("ProgressDeadlineExceeded", "x")])
    )
    assert not r.failed
    assert "observed" in r.message


def test_rollout_deadline_exceeded_fails() -> None:
    msg = 'ReplicaSet "web-green-5d9" has timed out progressing.'
    r = rd.rollout(
        deploy(updated=1, available=0, ready=0, conditions=[progressing("ProgressDeadlineExceeded", msg)])
    )
    assert (r.done, r.failed) == (False, True)
    assert r.message == f"deployment.apps/web-green exceeded its progress deadline: {msg}"


def test_rollout_deadline_exceeded_without_message() -> None:
    r = rd.rollout(deploy(conditions=[progressing("ProgressDeadlineExceeded")]))
    assert r.failed
    assert r.message == "deployment.apps/web-green exceeded its progress deadline"


def test_rollout_progressing_condition_with_another_reason_is_fine() -> None:
    conds = [{"type": "Available", "status": "True"}, progressing("NewReplicaSetAvailable", "done")]
    assert rd.rollout(deploy(conditions=conds)).done


def test_rollout_partial_update() -> None:
    r = rd.rollout(deploy(updated=1, total=3, available=1, ready=1))
    assert (r.done, r.failed) == (False, False)
    assert r.message == "deployment.apps/web-green: 1 out of 3 new replicas have been updated"


def test_rollout_nothing_updated_yet_with_empty_status_counts() -> None:
    r = rd.rollout(deploy(updated=None, total=None, available=None, ready=None))
    assert r.message == "deployment.apps/web-green: 0 out of 3 new replicas have been updated"


def test_rollout_replicas_unset_means_one() -> None:
    assert (
        rd.rollout(deploy(replicas=None, updated=0, total=0, available=0, ready=0)).message
        == "deployment.apps/web-green: 0 out of 1 new replicas have been updated"
    )
    assert rd.rollout(deploy(replicas=None, updated=1, total=1, available=1, ready=1)).done


def test_rollout_old_replicas_pending_termination() -> None:
    r = rd.rollout(deploy(updated=3, total=5, available=3, ready=3))
    assert not r.done
    assert r.message == "deployment.apps/web-green: 2 old replicas are pending termination"


def test_rollout_updated_but_not_available() -> None:
    r = rd.rollout(deploy(updated=3, total=3, available=2, ready=3))
    assert not r.done
    assert r.message == "deployment.apps/web-green: 2 of 3 updated replicas are available"


def test_rollout_available_but_not_ready_is_not_done() -> None:
    r = rd.rollout(deploy(updated=3, total=3, available=3, ready=2))
    assert not r.done and not r.failed
    assert "3 of 3 updated replicas are available" in r.message


def test_rollout_scaled_to_zero_is_done() -> None:
    r = rd.rollout(deploy(replicas=0, updated=None, total=None, available=None, ready=None))
    assert r.done
    assert r.message == "deployment.apps/web-green successfully rolled out (0 of 0 replicas available)"


def test_rollout_without_generation_is_observed() -> None:
    assert rd.rollout(deploy(generation=None, observed=None)).done


# -------------------------------------------------------------------------------------------- pod_problem


def pod(
    *,
    statuses: list[Obj] | None = None,
    init: list[Obj] | None = None,
    phase: str | None = "Pending",
    conditions: list[Obj] | None = None,
    deleting: bool = False,
) -> Obj:
    meta: Obj = {"name": "web-green-abc"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: Obj = {}
    if phase is not None:
        status["phase"] = phase
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init is not None:
        status["initContainerStatuses"] = init
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": meta, "status": status}


def waiting(reason: str, message: str | None = None, name: str = "app") -> Obj:
    w: Obj = {"reason": reason}
    if message is not None:
        w["message"] = message
    return {"name": name, "ready": False, "state": {"waiting": w}}


def running(ready: bool, name: str = "app") -> Obj:
    return {"name": name, "ready": ready, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}


@pytest.mark.parametrize("reason", sorted(rd.FATAL_WAITING))
def test_each_fatal_waiting_reason_is_a_problem(reason: str) -> None:
    assert rd.pod_problem(pod(statuses=[waiting(reason)])) == f"pod/web-green-abc container app: {reason}"


def test_fatal_reasons_are_the_kubelets_give_up_ones() -> None:
    assert {
        "ErrImagePull",
        "ImagePullBackOff",
        "CrashLoopBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
    } == rd.FATAL_WAITING


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "ContainerCreating"])
def test_reasons_the_kubelet_still_retries_are_not_yet_a_problem(reason: str) -> None:
    assert rd.pod_problem(pod(statuses=[waiting(reason)])) is None


def test_pod_problem_carries_the_kubelet_message() -> None:
    p = pod(
        statuses=[
            running(True, "side"),
            waiting("ImagePullBackOff", 'Back-off pulling image "r/web:nope"', "app"),
        ]
    )
    assert (
        rd.pod_problem(p)
        == 'pod/web-green-abc container app: ImagePullBackOff: Back-off pulling image "r/web:nope"'
    )


def test_pod_problem_in_an_init_container() -> None:
    p = pod(init=[waiting("CrashLoopBackOff", name="migrate")], statuses=[waiting("PodInitializing")])
    assert rd.pod_problem(p) == "pod/web-green-abc container migrate: CrashLoopBackOff"


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing", "Pending", ""])
def test_transient_waiting_reasons_are_not_a_problem(reason: str) -> None:
    assert rd.pod_problem(pod(statuses=[waiting(reason)])) is None


def test_pod_problem_none_without_statuses() -> None:
    assert rd.pod_problem(pod()) is None
    assert rd.pod_problem({"metadata": {"name": "p"}}) is None
    assert rd.pod_problem(pod(statuses=[running(False), {"name": "x"}])) is None


# ------------------------------------------------------------------------------------------------ is_ready


def ready_condition(status: str) -> list[Obj]:
    return [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": status}]


def test_is_ready() -> None:
    assert rd.is_ready(pod(phase="Running", conditions=ready_condition("True")))
    assert not rd.is_ready(pod(phase="Running", conditions=ready_condition("False")))
    assert not rd.is_ready(pod(phase="Running", conditions=[{"type": "PodScheduled", "status": "True"}]))
    assert not rd.is_ready(pod())
    assert not rd.is_ready({})


def test_a_terminating_pod_is_not_ready_even_if_its_condition_says_so() -> None:
    assert not rd.is_ready(pod(phase="Running", conditions=ready_condition("True"), deleting=True))


# ------------------------------------------------------------------------------------- ready_endpoint_pods


def endpoint(name: str, ready: bool | None, kind: str = "Pod") -> Obj:
    ep: Obj = {"addresses": ["10.0.0.1"], "targetRef": {"kind": kind, "name": name, "namespace": "default"}}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    return ep


def test_ready_endpoint_pods_counts_ready_true_and_unknown() -> None:
    slices = [
        {"endpoints": [endpoint("a", True), endpoint("b", False), endpoint("c", None)]},
        {"endpoints": [endpoint("d", True)]},
    ]
    assert rd.ready_endpoint_pods(slices) == {"a", "c", "d"}


def test_ready_endpoint_pods_with_conditions_without_ready() -> None:
    ep = endpoint("a", None)
    ep["conditions"] = {"serving": True}
    assert rd.ready_endpoint_pods([{"endpoints": [ep]}]) == {"a"}


def test_ready_endpoint_pods_skips_non_pod_targets_and_endpoints_without_target() -> None:
    bare = {"addresses": ["10.0.0.9"], "conditions": {"ready": True}}
    slices = [{"endpoints": [endpoint("node-1", True, kind="Node"), bare, endpoint("p", True)]}]
    assert rd.ready_endpoint_pods(slices) == {"p"}


def test_ready_endpoint_pods_empty() -> None:
    assert rd.ready_endpoint_pods([]) == set()
    assert rd.ready_endpoint_pods([{"endpoints": None}, {}]) == set()


def test_ready_endpoint_pods_deduplicates_across_slices() -> None:
    assert rd.ready_endpoint_pods(
        [{"endpoints": [endpoint("a", True)]}, {"endpoints": [endpoint("a", True)]}]
    ) == {"a"}


# ------------------------------------------------------------------------------------------- pod_waiting


def test_pod_waiting_reason() -> None:
    assert rd.pod_waiting(pod(statuses=[waiting("ContainerCreating")])) == "ContainerCreating"


def test_pod_waiting_running_but_not_ready() -> None:
    assert (
        rd.pod_waiting(pod(phase="Running", statuses=[running(False)]))
        == "running but not ready (readiness probe failing)"
    )


def test_pod_waiting_first_container_that_explains() -> None:
    p = pod(phase="Running", statuses=[running(True, "side"), waiting("CrashLoopBackOff")])
    assert rd.pod_waiting(p) == "CrashLoopBackOff"


def test_pod_waiting_falls_back_to_the_phase() -> None:
    assert rd.pod_waiting(pod(phase="Pending")) == "Pending"
    assert rd.pod_waiting(pod(phase="Running", statuses=[running(True)])) == "Running"
    assert rd.pod_waiting(pod(phase="Pending", statuses=[waiting("")])) == "Pending"
    assert rd.pod_waiting({}) is None
