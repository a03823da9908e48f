"""Clocks for the simulated cluster: real time for the demo, a fake one that tests advance by hand.

Controllers never sleep; they ask the clock to call them back at a time (``call_at``). With the fake
clock nothing happens until a test calls ``advance``, so tests are deterministic and instant.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    def now(self) -> float:
        raise NotImplementedError

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        raise NotImplementedError

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.call_at(self.now() + delay, fn)

    def isoformat(self, when: float | None = None) -> str:
        """RFC 3339 in seconds, as Kubernetes writes timestamps."""
        t = self.now() if when is None else when
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def stop(self) -> None:
        pass


class _Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def push(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), fn))

    def pop_due(self, now: float) -> list[Callable[[], None]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None


class RealClock(Clock):
    """Wall-clock time; timers fire on one daemon thread."""

    def __init__(self) -> None:
        self._timers = _Timers()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            self._timers.push(when, fn)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                nxt = self._timers.next_time()
                wait = None if nxt is None else max(0.0, nxt - time.time())
                if wait is None or wait > 0:
                    self._cond.wait(wait)
                due = self._timers.pop_due(time.time())
            for fn in due:
                fn()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()


class FakeClock(Clock):
    """Time moves only when ``advance`` is called; due timers run in the caller's thread."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._timers = _Timers()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._lock:
            self._timers.push(when, fn)

    def advance(self, seconds: float) -> None:
        target = self.now() + seconds
        while True:
            with self._lock:
                nxt = self._timers.next_time()
                if nxt is None or nxt > target:
                    self._now = target
                    return
                self._now = max(self._now, nxt)
                due = self._timers.pop_due(self._now)
            for fn in due:
                fn()
