"""Outputs of every command, success and failure alike.

One ``Outcome`` is turned into: GitHub step outputs ($GITHUB_OUTPUT), a Markdown step summary
($GITHUB_STEP_SUMMARY), a dotenv file for other runners (--output-file; a GitLab dotenv report), and JSON on
stdout (--json). A failure to write any of them is a warning: it must never hide the release's real result.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bluegreen.log import escape_data

Obj = dict[str, Any]

if TYPE_CHECKING:  # smoke pulls in requests; `--help` should not pay for it
    from bluegreen.smoke import SmokeResult

RESULTS = ("deployed", "rolled-back", "failed", "dry-run", "unchanged", "held", "aborted")

# The output names, in the order they are written (action.yml documents the same list).
OUTPUT_NAMES = (
    "active-color",
    "previous-color",
    "image",
    "previous-image",
    "active-deployment",
    "previous-deployment",
    "switched",
    "result",
)

# GitLab rejects a dotenv report of 5 KB or more (the default instance limit) and more than 20 variables.
GITLAB_DOTENV_MAX_BYTES = 5 * 1024
# Characters a value may hold and still be read the same by GitLab, `docker --env-file` and `sh`'s `.`.
_DOTENV_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=\-]*")


@dataclass
class Outcome:
    """What a command did. ``active_*`` is what the live Service serves when the command ends (after a failure
    or a switch back: still the old colour); ``previous_*`` what it served before (the rollback target);
    ``switched`` says whether the live selector ends up changed."""

    command: str  # deploy, rollback, status
    result: str  # one of RESULTS
    switched: bool = False
    active_color: str | None = None
    previous_color: str | None = None
    image: str | None = None
    previous_image: str | None = None
    active_deployment: str | None = None
    previous_deployment: str | None = None
    service: str | None = None
    namespace: str | None = None
    message: str | None = None  # the one line a person reads: what happened, or what went wrong
    exit_code: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)
    smoke: list[SmokeResult] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # newest first, as kept in state.py
    plan: list[str] | None = None  # dry-run: the writes that would be made
    run_url: str | None = None


def outputs(o: Outcome) -> dict[str, str]:
    """The step outputs: always every name, empty string when unknown (GitHub outputs are strings)."""
    return {
        "active-color": o.active_color or "",
        "previous-color": o.previous_color or "",
        "image": o.image or "",
        "previous-image": o.previous_image or "",
        "active-deployment": o.active_deployment or "",
        "previous-deployment": o.previous_deployment or "",
        "switched": "true" if o.switched else "false",
        "result": o.result or "",
    }


# --------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------


def github_output_text(values: Mapping[str, str]) -> str:
    """$GITHUB_OUTPUT lines: ``name=value``, or the heredoc form for a value with a line break."""
    parts = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            # A random delimiter, so no value can end the heredoc early (as GitHub's own toolkit does).
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            parts.append(f"{name}={value}\n")
    return "".join(parts)


def write_github_output(path: str, values: Mapping[str, str]) -> None:
    # Append: earlier steps (and our own earlier writes) share the file.
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(github_output_text(values))


def dotenv_name(output_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", output_name).strip("_").upper()


def dotenv_value(value: str) -> str:
    """A value on one line; single-quoted only when plain text would be misread by a shell.

    GitLab keeps quotes as part of the value, so plain is preferred; the values we write (colours,
    names, image references, true/false, result words) never need quotes.
    """
    # GitLab's dotenv report has no multi-line values.
    value = " ".join(value.splitlines()).strip()
    if _DOTENV_PLAIN.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def dotenv_text(values: Mapping[str, str]) -> str:
    # No blank lines and no comments: GitLab rejects both.
    return "".join(f"{dotenv_name(k)}={dotenv_value(v)}\n" for k, v in values.items())


def write_dotenv(path: str, values: Mapping[str, str]) -> None:
    """Write ``ACTIVE_COLOR=green`` lines (replacing the file): usable as a GitLab dotenv report."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(dotenv_text(values))


# --------------------------------------------------------------------------------------------------------
# JSON and Markdown
# --------------------------------------------------------------------------------------------------------


def to_dict(o: Outcome) -> dict[str, Any]:
    return {
        "command": o.command,
        "result": o.result,
        "switched": o.switched,
        "active_color": o.active_color,
        "previous_color": o.previous_color,
        "image": o.image,
        "previous_image": o.previous_image,
        "active_deployment": o.active_deployment,
        "previous_deployment": o.previous_deployment,
        "service": o.service,
        "namespace": o.namespace,
        "message": o.message,
        "exit_code": int(o.exit_code),
        "timings": [{"step": name, "seconds": round(seconds, 3)} for name, seconds in o.timings],
        "smoke": [r.to_dict() for r in o.smoke],
        "history": list(o.history),
        "plan": list(o.plan) if o.plan is not None else None,
        "run_url": o.run_url,
        # The step outputs under their own names (active-color, ...), as GitHub and --output-file give them.
        "outputs": outputs(o),
    }


def to_json(o: Outcome) -> str:
    return json.dumps(to_dict(o), indent=2, default=str)


_ICONS = {
    "deployed": "✅",
    "rolled-back": "↩️",
    "failed": "❌",
    "dry-run": "📝",
    "unchanged": "ℹ️",
    "held": "⏸️",
    "aborted": "🗑️",
}


def step_summary(o: Outcome) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY."""
    out = [f"## {_ICONS.get(o.result, '')} bluegreen {o.command}: {o.result}".replace("  ", " "), ""]
    out += [_headline(o), ""]
    if o.message:
        out += [f"> {_md(line)}" if line else ">" for line in o.message.splitlines()] + [""]
    out += _facts_table(o)
    if o.plan is not None:
        out += ["### Plan (dry run: nothing was changed)", ""]
        out += [f"- {_inline(step)}" for step in o.plan] or ["- nothing to do"]
        out.append("")
    if o.smoke:
        out += _smoke_table(o.smoke)
    if o.timings:
        out += ["### Timings", "", "| Step | Seconds |", "| --- | ---: |"]
        out += [f"| {_cell(name)} | {seconds:.1f} |" for name, seconds in o.timings]
        out += [f"| **total** | **{sum(s for _, s in o.timings):.1f}** |", ""]
    if o.history:
        out += _history_table(o.history)
    out += _next_steps(o)
    return "\n".join(out).rstrip("\n") + "\n"


def _headline(o: Outcome) -> str:
    svc = f"service **{_md(o.service)}**" if o.service else "the service"
    if o.namespace:
        svc += f" in namespace **{_md(o.namespace)}**"
    live = _colour(o.active_color, o.image)
    before = _colour(o.previous_color, o.previous_image)
    if o.result == "failed":
        if o.exit_code == 3:
            return f"Verification failed after the switch; traffic for {svc} was switched back to {live or 'the previous colour'}."
        return f"The {o.command} of {svc} failed; live traffic was not switched." + (
            f" It still serves {live}." if live else ""
        )
    if o.result == "dry-run":
        return f"Dry run for {svc}: nothing was changed."
    if o.switched and live:
        verb = "rolled back" if o.result == "rolled-back" else "switched"
        return f"Traffic for {svc} {verb} " + (f"from {before} to {live}." if before else f"to {live}.")
    if live:
        return f"{svc[0].upper()}{svc[1:]} serves {live}."
    return f"No active colour is recorded for {svc}."


def _colour(color: str | None, image: str | None) -> str | None:
    if not color:
        return None
    return f"**{_md(color)}**" + (f" ({_code(image)})" if image else "")


def _facts_table(o: Outcome) -> list[str]:
    rows = [
        ("Result", o.result),
        ("Switched", "yes" if o.switched else "no"),
        ("Active colour", o.active_color),
        ("Active image", o.image),
        ("Active deployment", o.active_deployment),
        ("Previous colour", o.previous_color),
        ("Previous image", o.previous_image),
        ("Previous deployment", o.previous_deployment),
        ("Exit code", str(int(o.exit_code))),
    ]
    lines = ["| | |", "| --- | --- |"]
    lines += [f"| {k} | {_cell(v, code=k.endswith(('image', 'deployment')))} |" for k, v in rows if v]
    if o.run_url:
        lines.append(f"| Run | [{_cell(o.run_url)}]({o.run_url}) |")
    return [*lines, ""]


def _smoke_table(results: list[SmokeResult]) -> list[str]:
    passed = sum(r.ok for r in results)
    lines = [
        f"### Smoke checks: {passed} of {len(results)} passed",
        "",
        "| Check | Result | Status | Time | Attempts | Detail |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        verdict = "✅ pass" if r.ok else "❌ fail"
        status = str(r.status) if r.status is not None else "-"
        # The detail may be a body excerpt or command output: one short line in the table.
        detail = " ".join(r.detail.split())
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        lines.append(
            f"| {_cell(r.name)} | {verdict} | {status} | {r.seconds * 1000:.0f} ms | {r.attempts} | "
            f"{_cell(detail)} |"
        )
    return [*lines, ""]


def _history_table(history: list[dict[str, Any]]) -> list[str]:
    lines = [
        "### History (newest first)",
        "",
        "| Time | Action | Colour | Image | Run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in history:
        url = entry.get("run_url")
        run = f"[run]({url})" if url else ""
        lines.append(
            f"| {_cell(entry.get('time'))} | {_cell(entry.get('action'))} | {_cell(entry.get('color'))} | "
            f"{_cell(entry.get('image'), code=True)} | {run} |"
        )
    return [*lines, ""]


def _next_steps(o: Outcome) -> list[str]:
    if not o.service or o.result in ("dry-run",):
        return []
    if o.result == "failed" and not o.switched and o.exit_code != 3:
        return ["The live Service was not changed; fix the cause above and run the deployment again."]
    if o.active_color is None:
        return []
    ns = f" --namespace {o.namespace}" if o.namespace else ""
    return [
        "### Roll back",
        "",
        f"Run the rollback workflow, or: `bluegreen rollback --service {o.service}{ns}`",
    ]


def _md(value: str | None) -> str:
    """Text safe inside Markdown prose: no accidental emphasis, links or HTML."""
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", value or "")


def _code(value: str | None) -> str:
    # A backtick would end the code span early.
    text = (value or "").replace("`", "'")
    return f"`{text}`"


def _inline(value: str) -> str:
    return _md(" ".join(value.splitlines()))


def _cell(value: Any, *, code: bool = False) -> str:
    if value is None or value == "":
        return ""
    text = " ".join(str(value).splitlines())
    # A pipe ends a table cell, even inside a code span.
    return _code(text).replace("|", "\\|") if code else _md(text)


# --------------------------------------------------------------------------------------------------------
# Where the run is, and doing it all
# --------------------------------------------------------------------------------------------------------


def run_url(env: Mapping[str, str]) -> str | None:
    """A link to this CI run: GitHub Actions, else GitLab CI, else Jenkins; None elsewhere."""
    repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if repo and run_id:
        server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        url = f"{server}/{repo}/actions/runs/{run_id}"
        attempt = env.get("GITHUB_RUN_ATTEMPT")
        # A re-run is a new attempt of the same run; link the attempt that made this change.
        return f"{url}/attempts/{attempt}" if attempt else url
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None


def emit(
    o: Outcome,
    *,
    output_file: str | None,
    json_out: bool,
    stdout: TextIO,
    env: Mapping[str, str],
    stderr: TextIO | None = None,
) -> list[str]:
    """Write every output that applies; return the warnings (also printed on stderr), empty when all went well."""
    values = outputs(o)
    warnings: list[str] = []

    def attempt(what: str, action: Any) -> None:
        try:
            action()
        except Exception as err:  # a report we could not write must not change the exit code
            warnings.append(f"could not write {what}: {err}")

    if env.get("GITHUB_OUTPUT"):
        attempt(
            f"step outputs to {env['GITHUB_OUTPUT']}",
            lambda: write_github_output(env["GITHUB_OUTPUT"], values),
        )
    if env.get("GITHUB_STEP_SUMMARY"):
        path = env["GITHUB_STEP_SUMMARY"]
        attempt(f"the step summary to {path}", lambda: _append(path, step_summary(o)))
    if output_file:
        attempt(f"--output-file {output_file}", lambda: write_dotenv(output_file, values))
        if _size(output_file) >= GITLAB_DOTENV_MAX_BYTES:
            warnings.append(
                f"--output-file {output_file} is 5 KB or more; GitLab rejects such a dotenv report"
            )
    if json_out:
        attempt("JSON to stdout", lambda: (stdout.write(to_json(o) + "\n"), stdout.flush()))

    err_stream = stderr if stderr is not None else sys.stderr
    for warning in warnings:
        # A workflow command under GitHub makes it an annotation; elsewhere a plain line.
        prefix = "::warning::" if env.get("GITHUB_ACTIONS") == "true" else "warning: "
        text = escape_data(warning) if prefix.startswith("::") else warning
        try:
            err_stream.write(f"{prefix}{text}\n")
            err_stream.flush()
        except Exception:  # stderr itself is gone: nothing left to tell
            pass
    return warnings


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------------------
# The outcome, computed once from what was observed
# --------------------------------------------------------------------------------------------------------


def observed(
    command: str,
    result: str,
    *,
    service: Obj | None,
    deployments: Mapping[str, Obj],
    color_label: str | None,
    image: str | None,
    switched: bool,
) -> Outcome:
    """PURE: the outputs from the live Service and Deployments as last seen. ``active_*`` is what the
    Service serves; ``previous_*`` what it served before this command switched (or, when nothing was
    switched but a release is recorded, the rollback target), empty when a release failed."""
    from bluegreen import plan as pl
    from bluegreen import state as st

    o = Outcome(command=command, result=result, switched=switched, image=image)
    if service is None:
        return o
    state = st.read_state(service)
    label = color_label or state.color_label or st.DEFAULT_COLOR_LABEL
    selector = pl.selector_of(service)
    o.service, o.namespace = pl.name_of(service), service["metadata"].get("namespace")
    o.active_color = selector.get(label)
    found = pl.matching(selector, list(deployments.values()))
    o.active_deployment = pl.name_of(found[0]) if len(found) == 1 else None
    o.history = [h.to_dict() for h in state.history]
    if o.image is None:
        o.image = state.active_image
    if result in ("deployed", "rolled-back", "unchanged") or (command == "status" and result != "failed"):
        o.previous_color, o.previous_image = state.previous_color, state.previous_image
        if state.previous_color:
            prev = pl.matching(
                pl.selector_with(selector, label, state.previous_color), list(deployments.values())
            )
            o.previous_deployment = pl.name_of(prev[0]) if len(prev) == 1 else None
    elif result in ("failed", "held", "aborted") and o.active_color:
        o.previous_image = state.active_image if command == "deploy" else None
    return o
