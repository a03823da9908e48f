"""The step logger: line format, progress on a TTY and in CI logs, GitHub workflow commands."""

from __future__ import annotations

import io

import pytest

from bluegreen.log import StepLog, escape_data, escape_property


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TtyStringIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def make(
    *, github: bool = False, tty: bool = False, debug: bool = False
) -> tuple[StepLog, io.StringIO, FakeClock]:
    stream = io.StringIO()
    clock = FakeClock()
    return StepLog(stream, github=github, tty=tty, debug=debug, clock=clock), stream, clock


def test_info_prints_elapsed_since_creation() -> None:
    log, out, clock = make()
    clock.now += 1.23
    log.info("deployment.apps/web-green created")
    clock.now += 120
    log.info("done")
    assert out.getvalue() == "[  1.2s] deployment.apps/web-green created\n[121.2s] done\n"
    assert log.elapsed() == pytest.approx(121.23)


def test_multiline_message_keeps_one_stamp_and_indents() -> None:
    log, out, _ = make()
    log.info("first\nsecond")
    assert out.getvalue() == "[  0.0s] first\n         second\n"


def test_progress_in_a_ci_log_prints_only_changes_per_key() -> None:
    log, out, _ = make()
    log.progress("green", "0 of 2 updated replicas are available")
    log.progress("green", "0 of 2 updated replicas are available")
    log.progress("preview", "waiting for endpoints")
    log.progress("green", "1 of 2 updated replicas are available")
    log.progress("green", "1 of 2 updated replicas are available")
    lines = out.getvalue().splitlines()
    assert [line[9:] for line in lines] == [
        "0 of 2 updated replicas are available",
        "waiting for endpoints",
        "1 of 2 updated replicas are available",
    ]
    assert "\r" not in out.getvalue()


def test_done_progress_forgets_so_a_new_wait_reports_again() -> None:
    log, out, _ = make()
    log.progress("green", "waiting")
    log.done_progress()
    log.progress("green", "waiting")
    assert out.getvalue().count("waiting") == 2


def test_progress_on_a_tty_rewrites_one_line_and_info_closes_it() -> None:
    log, out, clock = make(tty=True)
    log.progress("green", "0 of 2 ready")
    clock.now += 1
    log.progress("green", "1 of 2 ready")
    log.info("deployment.apps/web-green ready")
    assert out.getvalue() == (
        "\r\x1b[K[  0.0s] 0 of 2 ready\r\x1b[K[  1.0s] 1 of 2 ready\n[  1.0s] deployment.apps/web-green ready\n"
    )


def test_done_progress_on_a_tty_ends_the_line_once() -> None:
    log, out, _ = make(tty=True)
    log.progress("k", "x")
    log.done_progress()
    log.done_progress()
    assert out.getvalue().endswith("x\n")
    assert not out.getvalue().endswith("\n\n")


def test_detects_tty_and_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    log = StepLog(TtyStringIO())
    assert log.github and log.tty
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    log = StepLog(io.StringIO())
    assert not log.github and not log.tty


def test_warning_error_notice_outside_github_are_plain_lines() -> None:
    log, out, _ = make()
    log.warning("image has no tag")
    log.error("deployment.apps/web-green: ImagePullBackOff")
    log.notice("switched to green")
    assert out.getvalue().splitlines() == [
        "[  0.0s] warning: image has no tag",
        "[  0.0s] error: deployment.apps/web-green: ImagePullBackOff",
        "[  0.0s] switched to green",
    ]


def test_workflow_commands_escape_their_data() -> None:
    log, out, _ = make(github=True)
    log.warning("100% done\r\nnext line")
    log.error("bad", title="Smoke: GET /x, failed")
    log.notice("ok")
    assert out.getvalue().splitlines() == [
        "::warning::100%25 done%0D%0Anext line",
        "::error title=Smoke%3A GET /x%2C failed::bad",
        "::notice::ok",
    ]


def test_escape_helpers() -> None:
    assert escape_data("a%b\rc\nd") == "a%25b%0Dc%0Ad"
    # % first: an already escaped sequence must survive one round of unescaping.
    assert escape_data("%0A") == "%250A"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"


def test_group_under_github_folds_and_elsewhere_prints_a_header() -> None:
    log, out, _ = make(github=True)
    with log.group("Smoke checks"):
        log.info("smoke GET /healthz -> 200 (3 ms)")
    assert out.getvalue().splitlines() == [
        "::group::Smoke checks",
        "[  0.0s] smoke GET /healthz -> 200 (3 ms)",
        "::endgroup::",
    ]
    log, out, _ = make()
    with log.group("Smoke checks"):
        pass
    assert out.getvalue() == "[  0.0s] == Smoke checks ==\n"


def test_group_ends_even_when_the_body_raises() -> None:
    log, out, _ = make(github=True)
    with pytest.raises(RuntimeError), log.group("g"):
        raise RuntimeError("boom")
    assert out.getvalue().endswith("::endgroup::\n")


def test_mask_each_line_under_github_only() -> None:
    log, out, _ = make(github=True)
    log.mask("line-one\r\nline%two\n\n")
    assert out.getvalue().splitlines() == ["::add-mask::line-one", "::add-mask::line%25two"]
    log, out, _ = make()
    log.mask("secret")
    assert out.getvalue() == ""


def test_debug_only_when_enabled() -> None:
    log, out, _ = make()
    log.debug("GET /api/v1/namespaces/default/services/web")
    assert out.getvalue() == ""
    log, out, _ = make(debug=True)
    log.debug("GET x")
    assert out.getvalue() == "[  0.0s] debug: GET x\n"


def test_step_records_timings_even_when_the_step_fails() -> None:
    log, _, clock = make()
    with log.step("create green"):
        clock.now += 2.5
    with pytest.raises(ValueError), log.step("wait ready"):
        clock.now += 1.0
        raise ValueError
    assert log.timings == [("create green", pytest.approx(2.5)), ("wait ready", pytest.approx(1.0))]
