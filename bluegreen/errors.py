"""Our own errors: each maps to one exit code and reads as one line in a CI log.

Exit codes are defined here and nowhere else; the README's table is written from this module.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    # The release failed before the switch: live traffic was not touched.
    FAILED = 1
    # Bad input or usage, or nothing to roll back to: nothing was changed in the cluster.
    USAGE = 2
    # Switched, then post-switch verification failed and traffic was switched back.
    SWITCHED_BACK = 3
    # Another release holds the Service, or the Service changed under us: nothing switched.
    CONCURRENT = 4
    # Traffic moved (or may have), and it could be neither verified nor switched back: look now.
    UNVERIFIED = 5


class BluegreenError(Exception):
    """Base of every error a user may see. ``str(err)`` is the one line printed in the log."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class InputError(BluegreenError):
    """Bad input: names the input and the fix. Raised before any write to the cluster."""

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        input_name: str,
        problem: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.input_name = input_name
        self.file, self.line = file, line  # where in a user's file (smoke file, manifest): a CI annotation
        super().__init__(f"{input_name}: {problem}", hint=hint)


class NothingToRollBack(BluegreenError):
    exit_code = ExitCode.USAGE


class ReleaseFailed(BluegreenError):
    """The release stopped before the switch; the live Service is as it was."""

    exit_code = ExitCode.FAILED


class GreenNotReady(ReleaseFailed):
    """The new colour did not become ready (pull failure, crash loop, deadline, timeout)."""


class SmokeFailed(ReleaseFailed):
    pass


class PermissionDenied(ReleaseFailed):
    """The API server said 403: the message names the verb, resource and namespace to grant."""


class ApiUnavailable(ReleaseFailed):
    """The API server kept failing (5xx, 429, timeouts) after our retries."""


class SwitchedBack(BluegreenError):
    """Switched, verification failed, traffic was switched back to the previous colour."""

    exit_code = ExitCode.SWITCHED_BACK


class Unverified(BluegreenError):
    """The live selector changed (or may have), and bluegreen could neither verify it nor undo it."""

    exit_code = ExitCode.UNVERIFIED


class ConcurrentChange(BluegreenError):
    """Someone else changed the Service (or holds the release lock); we switched nothing."""

    exit_code = ExitCode.CONCURRENT


class LockHeld(ConcurrentChange):
    pass
