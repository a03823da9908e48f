"""Safety tests: faults, races, bad input, crashes, least privilege, secrets.

This file exists because tests/sim and tests/safety both hold a test_faults.py: as a package the safety
modules import under their own names. It also holds the few helpers the safety tests share.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bluegreen.sim import RequestRecord, SimCluster

WEB = "web"
NS = "default"
V1 = "registry.example/web:1.0"
V2 = "registry.example/web:2.0"
V3 = "registry.example/web:3.0"


def is_watch(rec: RequestRecord) -> bool:
    return rec.verb == "watch"


def make_watches_matter(sim: SimCluster) -> Callable[[], None]:
    """Make every wait of a run depend on its watch, deterministically.

    With ready_delay 0 the simulated controllers are usually done before bluegreen's informer lists, so a
    broken watch would go unnoticed. This pauses the controllers when a write (other than the Lease) is
    about to be handled, and resumes them when a pods, Deployments or EndpointSlices watch is about to be opened: the
    informer's list then shows the old state and only the watch can report the change. A write that a watch
    opened earlier is already waiting for is not paused: that watch alone can report it. Returns a function
    that removes the hook and resumes the controllers.
    """
    ctl = sim.controllers
    paused = [False]
    watching = [False]  # a watch opened since the last write: it is already waiting for the next one
    last_write = [""]

    def hook(rec: RequestRecord) -> None:
        if rec.is_write and rec.resource != "leases":
            retry = last_write[0] == f"{rec.method} {rec.path}"
            last_write[0] = f"{rec.method} {rec.path}"
            if retry:  # the same write again (our retry after a fault): not a new change to wait for
                return
            # The engine opens some watches before the write they wait on (one round trip less): then
            # the watch, not a later list, is what must report the change, and nothing needs pausing.
            if not paused[0] and not watching[0]:
                ctl.stop()
                paused[0] = True
            watching[0] = False
        elif is_watch(rec) and rec.resource in ("pods", "endpointslices", "deployments"):
            watching[0] = True
            if paused[0]:
                ctl.start()
                paused[0] = False

    remove = sim.on_request(hook)

    def undo() -> None:
        remove()
        if paused[0]:
            ctl.start()
            paused[0] = False
        sim.wait_idle()

    return undo


def pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def live_pods(sim: SimCluster, service: str = WEB) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The live Service's selector and the pods it selects now."""
    selector = dict(sim.get("services", NS, service)["spec"].get("selector") or {})
    items, _ = sim.store.list("pods", NS)
    pods = [
        p
        for p in items
        if selector
        and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        and not p["metadata"].get("deletionTimestamp")
    ]
    return selector, pods


def assert_live_serves_ready(sim: SimCluster, service: str = WEB) -> dict[str, str]:
    """The invariant of every safety test: the live Service selects a colour, and all its pods are ready."""
    sim.wait_idle()
    selector, pods = live_pods(sim, service)
    assert selector.get("version") in ("blue", "green"), f"live selector is {selector}"
    assert pods, f"live selector {selector} selects no pod"
    not_ready = [p["metadata"]["name"] for p in pods if not pod_ready(p)]
    assert not not_ready, f"live selector {selector} selects pods that are not ready: {not_ready}"
    return selector


def lease_holder(sim: SimCluster, service: str = WEB) -> str | None:
    try:
        lease = sim.get("leases", NS, f"bluegreen-{service}")
    except Exception:
        return None
    return (lease.get("spec") or {}).get("holderIdentity")


def nth_match(
    log: list[RequestRecord],
    method: str,
    path: str,
    pred: Callable[[RequestRecord], bool] = lambda r: True,
    nth: int = 0,
) -> int:
    """How many requests a fault (method, path regex) must skip (`after=`) to hit the nth request that
    also satisfies ``pred`` in a reference run's log."""
    rx = re.compile(path)
    seen = 0
    hits = 0
    for rec in log:
        if rec.method != method or not rx.search(rec.path):
            continue
        if pred(rec):
            if hits == nth:
                return seen
            hits += 1
        seen += 1
    raise AssertionError(f"no request {method} {path} (#{nth}) in the reference run")


def expire_lease(sim: SimCluster, service: str = WEB) -> None:
    """Stand in for a Lease that expired: its holder died and a later run observed it unchanged for its
    whole duration. A new process cannot judge that from timestamps (it never compares another machine's
    clock with its own), and tests must not wait a lease duration, so the holder is cleared instead."""
    lease = sim.get("leases", NS, f"bluegreen-{service}")
    lease["spec"]["holderIdentity"] = ""
    sim.apply(lease)
