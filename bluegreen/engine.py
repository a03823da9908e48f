"""How a command runs: a flat list of named steps, each a pure "already done?" guard on what has been
observed plus an action. The runner takes the first step whose guard is false, runs it, and asks again,
so a re-run after a crash walks the same list and skips what the cluster shows as done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bluegreen.snapshot import Snapshot

if TYPE_CHECKING:
    from bluegreen.log import StepLog
    from bluegreen.smoke import SmokeResult


@dataclass(frozen=True)
class Verified:
    """The exact Deployment that passed the checks: the switch refuses any other."""

    name: str
    uid: str
    generation: int
    template_hash: str


@dataclass(frozen=True)
class Run:
    """What a command has observed and done so far. Steps return a new Run; nothing else is shared."""

    snap: Snapshot
    smoke: tuple[SmokeResult, ...] = ()
    verified: Verified | None = None  # green passed its checks (set by smoke / promote's identity check)
    switched: bool = False  # this run moved traffic
    checked_live: bool = False  # the live colour passed the post-switch checks
    held: bool = False  # deploy --hold recorded the hold and stops
    drained: bool = False
    tidied: bool = False
    aborted: bool = False
    notes: tuple[str, ...] = ()  # facts worth a line in the outcome (e.g. a no-op rollback's reason)

    def but(self, **changes: Any) -> Run:
        return replace(self, **changes)


@dataclass(frozen=True)
class Step:
    name: str
    done: Callable[[Run], bool]  # PURE
    act: Callable[[Run], Run]
    title: str | None = None  # a log group title; None: no group


@dataclass
class Trace:
    """Which steps ran and which were already done, in order (for tests and --debug)."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def next_step(steps: Sequence[Step], run: Run, after: int = -1) -> int | None:
    """PURE: the index of the first step after ``after`` whose work is not done yet, else None."""
    for i in range(after + 1, len(steps)):
        if not steps[i].done(run):
            return i
    return None


def run_steps(
    steps: Sequence[Step],
    run: Run,
    log: StepLog,
    trace: Trace | None = None,
    on_step: Callable[[Run], None] | None = None,
) -> Run:
    """Run the steps in order, skipping those already done; ``on_step`` sees the Run after each step, so
    a failure can be reported from what was last observed."""
    i: int | None = -1
    if on_step is not None:
        on_step(run)
    while True:
        start = i if i is not None else -1
        i = next_step(steps, run, start)
        for skipped in steps[start + 1 : i if i is not None else len(steps)]:
            log.debug(f"{skipped.name}: already done")
            if trace is not None:
                trace.skipped.append(skipped.name)
        if i is None:
            return run
        step = steps[i]
        if trace is not None:
            trace.ran.append(step.name)
        if step.title:
            with log.group(step.title), log.step(step.name):
                run = step.act(run)
        else:
            with log.step(step.name):
                run = step.act(run)
        if on_step is not None:
            on_step(run)
        if run.held or run.aborted:
            return run
