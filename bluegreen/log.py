"""The step logger: one line per fact on stderr, in kubectl's dialect, with the time since start.

Under GitHub Actions it also speaks workflow commands (``::warning::``, ``::group::``, ``::add-mask::``) so
warnings become annotations and long sections fold. On a terminal, progress rewrites one line in place;
in a CI log (no TTY) progress prints a line only when the message changes, so the log stays short.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

# ANSI "erase to end of line": a shorter progress message must not leave the tail of a longer one behind.
_CLEAR_LINE = "\r\x1b[K"


def escape_data(value: str) -> str:
    """Escape the data part of a GitHub workflow command (the runner unescapes exactly these)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (``title=...``) of a workflow command: also ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _stream_isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class StepLog:
    """Writes the release's log. Thread-safe: smoke commands and the forwarder log from threads."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        github: bool | None = None,
        tty: bool | None = None,
        debug: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.github = os.environ.get("GITHUB_ACTIONS") == "true" if github is None else github
        self.tty = _stream_isatty(self.stream) if tty is None else tty
        self.debug_enabled = debug
        self.timings: list[tuple[str, float]] = []
        self._clock = clock
        self._start = clock()
        self._lock = threading.RLock()
        self._last_progress: dict[str, str] = {}
        # True while a TTY progress line is on screen without its newline.
        self._progress_open = False

    # -- time -------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self._clock() - self._start

    def _stamp(self) -> str:
        return f"[{self.elapsed():5.1f}s]"

    # -- output -----------------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        """Write whole lines; a pending TTY progress line is closed first so it is not overwritten."""
        with self._lock:
            if self._progress_open:
                self.stream.write("\n")
                self._progress_open = False
            self.stream.write(text)
            self.stream.flush()

    def _line(self, msg: str) -> None:
        # A multi-line message keeps one stamp and indents its continuation lines under it.
        stamp = self._stamp()
        pad = " " * (len(stamp) + 1)
        lines = msg.splitlines() or [""]
        self._write("".join([f"{stamp} {lines[0]}\n", *(f"{pad}{rest}\n" for rest in lines[1:])]))

    def _command(self, name: str, data: str, **properties: str) -> None:
        props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items())
        self._write(f"::{name}{' ' + props if props else ''}::{escape_data(data)}\n")

    def info(self, msg: str) -> None:
        self._line(msg)

    def debug(self, msg: str) -> None:
        if self.debug_enabled:
            self._line(f"debug: {msg}")

    def warning(self, msg: str, *, title: str | None = None) -> None:
        self._annotate("warning", msg, title)

    def error(
        self, msg: str, *, title: str | None = None, file: str | None = None, line: int | None = None
    ) -> None:
        """An error; with ``file`` (and ``line``) GitHub pins it to that place of the user's file."""
        where = {k: str(v) for k, v in (("file", file), ("line", line)) if v is not None}
        self._annotate("error", msg, title, **where)

    def notice(self, msg: str, *, title: str | None = None) -> None:
        self._annotate("notice", msg, title)

    def _annotate(self, level: str, msg: str, title: str | None, **where: str) -> None:
        if self.github:
            # The runner shows the annotation inline in the log as well, so one line says it once.
            self._command(level, msg, **where, **({"title": title} if title else {}))
        else:
            self._line(msg if level == "notice" else f"{level}: {msg}")

    # -- progress ---------------------------------------------------------------------------------------

    def progress(self, key: str, msg: str) -> None:
        """Report the state of something being waited for (``2 of 3 updated replicas are available``)."""
        with self._lock:
            changed = self._last_progress.get(key) != msg
            self._last_progress[key] = msg
            if self.tty:
                self.stream.write(f"{_CLEAR_LINE}{self._stamp()} {msg}")
                self.stream.flush()
                self._progress_open = True
            elif changed:
                self._line(msg)

    def done_progress(self) -> None:
        """End the current progress: keep its last state on screen and forget what was said."""
        with self._lock:
            if self._progress_open:
                self.stream.write("\n")
                self.stream.flush()
                self._progress_open = False
            self._last_progress.clear()

    # -- structure --------------------------------------------------------------------------------------

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.github:
            self._command("group", title)
        else:
            self._line(f"== {title} ==")
        try:
            yield
        finally:
            self.done_progress()
            if self.github:
                self._write("::endgroup::\n")

    def mask(self, secret: str) -> None:
        """Ask GitHub to hide ``secret`` in the log; each line separately, as the runner masks per line."""
        if not self.github:
            return
        for line in secret.splitlines():
            if line.strip():
                self._command("add-mask", line)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step of the release; recorded even when the step fails, for the summary."""
        start = self._clock()
        try:
            yield
        finally:
            self.timings.append((name, self._clock() - start))
