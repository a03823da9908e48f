"""Outputs: $GITHUB_OUTPUT, dotenv, JSON, the step summary, and emit() tying them together."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from bluegreen.report import (
    OUTPUT_NAMES,
    Outcome,
    dotenv_text,
    emit,
    github_output_text,
    outputs,
    run_url,
    step_summary,
    to_json,
    write_dotenv,
    write_github_output,
)
from bluegreen.smoke import SmokeResult


def deployed() -> Outcome:
    return Outcome(
        command="deploy",
        result="deployed",
        switched=True,
        active_color="green",
        previous_color="blue",
        image="registry.example/web:2.0",
        previous_image="registry.example/web:1.0",
        active_deployment="web-green",
        previous_deployment="web-blue",
        service="web",
        namespace="prod",
        message="service/web switched from blue to green",
        timings=[("create green", 1.25), ("wait ready", 3.5)],
        smoke=[
            SmokeResult("GET /healthz", "GET", "/healthz", True, 200, 0.012, 1, ""),
            SmokeResult(
                "GET /a|b", "GET", "/a|b", False, 500, 0.2, 3, "expected a 2xx status, got 500; body: x|y\nz"
            ),
        ],
        history=[
            {
                "time": "2024-05-01T10:00:00Z",
                "image": "registry.example/web:2.0",
                "color": "green",
                "action": "deploy",
                "run_url": "https://github.com/o/r/actions/runs/2",
            },
            {
                "time": "2024-04-01T10:00:00Z",
                "image": "registry.example/web:1.0",
                "color": "blue",
                "action": "deploy",
                "run_url": None,
            },
        ],
        run_url="https://github.com/o/r/actions/runs/2/attempts/1",
    )


def parse_github_output(text: str) -> dict[str, str]:
    """Read the file the way the Actions runner does: name=value, or name<<DELIM ... DELIM."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            values[line[:eq]] = line[eq + 1 :]
            continue
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body = []
        while lines[i] != delimiter:
            body.append(lines[i])
            i += 1
        i += 1
        values[name] = "\n".join(body)
    return values


def test_outputs_have_exactly_the_documented_names() -> None:
    assert (
        list(outputs(deployed()))
        == list(OUTPUT_NAMES)
        == [
            "active-color",
            "previous-color",
            "image",
            "previous-image",
            "active-deployment",
            "previous-deployment",
            "switched",
            "result",
        ]
    )
    assert outputs(deployed())["switched"] == "true"
    empty = outputs(Outcome(command="status", result="unchanged"))
    assert empty == {**dict.fromkeys(OUTPUT_NAMES, ""), "switched": "false", "result": "unchanged"}


def test_github_output_appends_and_uses_heredoc_only_for_multiline(tmp_path: Path) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier=step\n")
    write_github_output(str(path), {"image": "web:2", "message": "line one\nline two", "empty": ""})
    text = path.read_text()
    assert text.startswith("earlier=step\nimage=web:2\nmessage<<ghadelimiter_")
    assert re.search(r"^message<<(ghadelimiter_[0-9a-f-]{36})\nline one\nline two\n\1\n", text, re.M)
    assert text.endswith("empty=\n")
    assert parse_github_output(text) == {
        "earlier": "step",
        "image": "web:2",
        "message": "line one\nline two",
        "empty": "",
    }


def test_github_output_round_trips_awkward_values() -> None:
    values = {"a": "x=y<<z", "b": "ends with newline\n", "c": "ghadelimiter_\nlooks like one"}
    assert parse_github_output(github_output_text(values)) == values


def test_dotenv_is_upper_snake_case_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "bluegreen.env"
    path.write_text("stale\n")
    write_dotenv(str(path), outputs(deployed()))
    assert path.read_text().splitlines() == [
        "ACTIVE_COLOR=green",
        "PREVIOUS_COLOR=blue",
        "IMAGE=registry.example/web:2.0",
        "PREVIOUS_IMAGE=registry.example/web:1.0",
        "ACTIVE_DEPLOYMENT=web-green",
        "PREVIOUS_DEPLOYMENT=web-blue",
        "SWITCHED=true",
        "RESULT=deployed",
    ]


def test_dotenv_follows_gitlab_rules() -> None:
    text = dotenv_text(
        {"plain": "", "spaced": "two words", "quote": "it's", "multi": "a\nb", "dollar": "$HOME"}
    )
    lines = text.splitlines()
    # GitLab: every line NAME=value (no blank lines, no comments), names of ASCII letters, digits, _.
    assert all(re.fullmatch(r"[A-Z0-9_]+=.*", line) for line in lines)
    assert text.count("\n") == 5
    assert lines == ["PLAIN=", "SPACED='two words'", "QUOTE='it'\\''s'", "MULTI='a b'", "DOLLAR='$HOME'"]
    assert len(dotenv_text(outputs(deployed())).encode()) < 5 * 1024


def test_json_has_outputs_and_the_rest() -> None:
    doc = json.loads(to_json(deployed()))
    assert doc["active_color"] == "green" and doc["switched"] is True and doc["result"] == "deployed"
    assert doc["service"] == "web" and doc["namespace"] == "prod" and doc["exit_code"] == 0
    assert doc["timings"] == [
        {"step": "create green", "seconds": 1.25},
        {"step": "wait ready", "seconds": 3.5},
    ]
    assert doc["smoke"][0] == {
        "name": "GET /healthz",
        "method": "GET",
        "path": "/healthz",
        "ok": True,
        "status": 200,
        "seconds": 0.012,
        "attempts": 1,
        "detail": "",
    }
    assert doc["history"][0]["color"] == "green"
    assert doc["plan"] is None
    assert doc["message"] == "service/web switched from blue to green"


def test_step_summary_tells_the_whole_story() -> None:
    md = step_summary(deployed())
    assert md.startswith("## ✅ bluegreen deploy: deployed\n")
    assert (
        "Traffic for service **web** in namespace **prod** switched from **blue** (`registry.example/web:1.0`)"
        " to **green** (`registry.example/web:2.0`)." in md
    )
    assert "| Active deployment | `web-green` |" in md
    assert "### Smoke checks: 1 of 2 passed" in md
    assert "| GET /healthz | ✅ pass | 200 | 12 ms | 1 |  |" in md
    # A pipe in a cell would split the table; a newline would end the row.
    assert "| GET /a\\|b | ❌ fail | 500 | 200 ms | 3 | expected a 2xx status, got 500; body: x\\|y z |" in md
    assert "| create green | 1.2 |" in md and "| **total** | **4.8** |" in md
    assert (
        "| 2024-05-01T10:00:00Z | deploy | green | `registry.example/web:2.0` | [run](https://github.com/o/r/actions/runs/2) |"
        in md
    )
    assert "Run the rollback workflow, or: `bluegreen rollback --service web --namespace prod`" in md
    assert (
        "[https://github.com/o/r/actions/runs/2/attempts/1](https://github.com/o/r/actions/runs/2/attempts/1)"
        in md
    )


def test_step_summary_of_a_failure_says_live_was_untouched() -> None:
    o = Outcome(
        command="deploy",
        result="failed",
        active_color="blue",
        image="web:1",
        service="web",
        namespace="prod",
        message="deployment.apps/web-green: ImagePullBackOff",
        exit_code=1,
    )
    md = step_summary(o)
    assert md.startswith("## ❌ bluegreen deploy: failed")
    assert "live traffic was not switched. It still serves **blue** (`web:1`)." in md
    assert "> deployment.apps/web-green: ImagePullBackOff" in md
    assert "bluegreen rollback" not in md
    assert "The live Service was not changed" in md


def test_step_summary_of_a_switch_back_and_of_a_dry_run() -> None:
    back = step_summary(
        Outcome(command="deploy", result="failed", active_color="blue", service="web", exit_code=3)
    )
    assert "traffic for service **web** was switched back to **blue**" in back
    dry = step_summary(
        Outcome(command="deploy", result="dry-run", service="web", plan=["create deployment.apps/web-green"])
    )
    assert "### Plan (dry run: nothing was changed)" in dry and "- create deployment.apps/web-green" in dry


def test_step_summary_escapes_markdown_in_names() -> None:
    md = step_summary(Outcome(command="status", result="unchanged", active_color="green", service="web_*x*"))
    assert "web\\_\\*x\\*" in md


def test_run_url() -> None:
    gh = {"GITHUB_SERVER_URL": "https://ghe.example", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42"}
    assert run_url(gh) == "https://ghe.example/o/r/actions/runs/42"
    assert run_url({**gh, "GITHUB_RUN_ATTEMPT": "2"}) == "https://ghe.example/o/r/actions/runs/42/attempts/2"
    assert run_url({"CI_JOB_URL": "https://gitlab.example/g/p/-/jobs/7", "BUILD_URL": "j"}) == (
        "https://gitlab.example/g/p/-/jobs/7"
    )
    assert run_url({"BUILD_URL": "https://jenkins.example/job/x/3/"}) == "https://jenkins.example/job/x/3/"
    assert run_url({}) is None


def test_emit_writes_everything_that_applies(tmp_path: Path) -> None:
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    stdout, stderr = io.StringIO(), io.StringIO()
    warnings = emit(
        deployed(), output_file=str(tmp_path / "x.env"), json_out=True, stdout=stdout, env=env, stderr=stderr
    )
    assert warnings == [] and stderr.getvalue() == ""
    assert parse_github_output((tmp_path / "out").read_text())["active-color"] == "green"
    assert "bluegreen deploy: deployed" in (tmp_path / "summary").read_text()
    assert "ACTIVE_COLOR=green\n" in (tmp_path / "x.env").read_text()
    assert json.loads(stdout.getvalue())["result"] == "deployed"


def test_emit_writes_nothing_unasked(tmp_path: Path) -> None:
    stdout = io.StringIO()
    assert (
        emit(deployed(), output_file=None, json_out=False, stdout=stdout, env={}, stderr=io.StringIO()) == []
    )
    assert stdout.getvalue() == ""


@pytest.mark.parametrize("github", [True, False])
def test_emit_warns_and_carries_on_when_a_file_cannot_be_written(tmp_path: Path, github: bool) -> None:
    env = {"GITHUB_OUTPUT": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}  # a directory
    if github:
        env["GITHUB_ACTIONS"] = "true"
    stdout, stderr = io.StringIO(), io.StringIO()
    warnings = emit(
        deployed(),
        output_file=str(tmp_path / "no" / "such" / "dir.env"),
        json_out=True,
        stdout=stdout,
        env=env,
        stderr=stderr,
    )
    assert len(warnings) == 2
    assert warnings[0].startswith(f"could not write step outputs to {tmp_path}: ")
    assert warnings[1].startswith("could not write --output-file ")
    prefix = "::warning::" if github else "warning: "
    assert stderr.getvalue().splitlines()[0].startswith(prefix + "could not write step outputs")
    # The rest still happened.
    assert (tmp_path / "summary").exists()
    assert json.loads(stdout.getvalue())["result"] == "deployed"
