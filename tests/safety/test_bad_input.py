"""Bad input: exit 2, one line that names the input (the flag) and the fix, and not one write request."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bluegreen.sim import SimCluster
from tests.helpers import live_view, run_cli
from tests.safety import NS, V2, WEB

Setup = Callable[[SimCluster, Path], list[str]]


def nothing(sim: SimCluster, tmp: Path) -> list[str]:
    return []


def service_without_selector(sim: SimCluster, tmp: Path) -> list[str]:
    svc = sim.get("services", NS, WEB)
    svc["spec"].pop("selector")
    sim.apply(svc)
    return []


def deployment_without_colour_label(sim: SimCluster, tmp: Path) -> list[str]:
    # The Service selects version=blue, but the live Deployment's pods carry only app=web.
    dep = sim.get("deployments", NS, "web-blue")
    sim.delete("deployments", NS, "web-blue")
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": {"app": WEB}},
        "spec": {
            **dep["spec"],
            "selector": {"matchLabels": {"app": WEB}},
            "template": {**dep["spec"]["template"], "metadata": {"labels": {"app": WEB}}},
        },
    }
    sim.apply(dep)
    return []


def service_selects_other_colour(sim: SimCluster, tmp: Path) -> list[str]:
    # The colour label's value is not a colour: "version: v1" is a version label, not ours.
    for kind, name in (("deployments", "web-blue"), ("services", WEB)):
        obj = sim.get(kind, NS, name)
        if kind == "services":
            obj["spec"]["selector"]["version"] = "v1"
        else:
            sim.delete(kind, NS, name)
            obj = copy.deepcopy(obj)
            for labels in (
                obj["spec"]["selector"]["matchLabels"],
                obj["spec"]["template"]["metadata"]["labels"],
            ):
                labels["version"] = "v1"
            obj["metadata"] = {"name": "web-v1", "namespace": NS, "labels": {"app": WEB}}
            obj.pop("status", None)
        sim.apply(obj)
    return []


def two_live_deployments(sim: SimCluster, tmp: Path) -> list[str]:
    dep = sim.get("deployments", NS, "web-blue")
    twin = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web-blue-canary", "namespace": NS, "labels": dict(dep["metadata"]["labels"])},
        "spec": copy.deepcopy(dep["spec"]),
    }
    twin["spec"]["replicas"] = 1
    sim.apply(twin)
    return []


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: web, image: registry.example/web:1.0}]}
"""


def manifest(text: str) -> Setup:
    return lambda sim, tmp: ["--manifest", write(tmp, "manifest.yaml", text)]


def smoke_file(text: str) -> Setup:
    return lambda sim, tmp: ["--smoke-file", write(tmp, "smoke.yaml", text)]


def kubeconfig_file(text: str | None) -> Setup:
    def setup(sim: SimCluster, tmp: Path) -> list[str]:
        p = tmp / "bad-kubeconfig"
        if text is not None:
            p.write_text(text)
        return ["--kubeconfig", str(p)]

    return setup


# (id, setup, args, the flag the line must name)
CASES: list[tuple[str, Setup, list[str], str]] = [
    ("empty-image", nothing, ["--image", ""], "--image"),
    ("blank-image", nothing, ["--image", "   "], "--image"),
    ("malformed-image", nothing, ["--image", "Registry.example/WEB::1"], "--image"),
    ("image-with-space", nothing, ["--image", "web:1.0 --force"], "--image"),
    ("missing-service", nothing, ["--image", V2, "--service", "shop"], "--service"),
    ("invalid-service-name", nothing, ["--image", V2, "--service", "Web_App"], "--service"),
    ("missing-namespace", nothing, ["--image", V2, "--namespace", "nowhere"], "--namespace"),
    ("missing-context", nothing, ["--image", V2, "--context", "prod"], "--context"),
    ("service-without-selector", service_without_selector, ["--image", V2], "--service"),
    ("deployment-lacks-colour-label", deployment_without_colour_label, ["--image", V2], "--service"),
    ("colour-label-value-not-a-colour", service_selects_other_colour, ["--image", V2], "--color-label"),
    ("invalid-colour-label", nothing, ["--image", V2, "--color-label", "Not A Label!"], "--color-label"),
    ("two-deployments-match", two_live_deployments, ["--image", V2], "--service"),
    ("unknown-container", nothing, ["--image", V2, "--container", "sidecar"], "--container"),
    (
        "manifest-not-a-deployment",
        manifest("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"),
        ["--image", V2],
        "--manifest",
    ),
    ("manifest-selector-mismatch", manifest(DEPLOYMENT_YAML % "api"), ["--image", V2], "--manifest"),
    ("manifest-garbage", manifest("kind: Deployment\n  spec: [unclosed\n"), ["--image", V2], "--manifest"),
    ("manifest-missing", nothing, ["--image", V2, "--manifest", "/nonexistent/deploy.yaml"], "--manifest"),
    ("kubeconfig-missing", kubeconfig_file(None), ["--image", V2], "--kubeconfig"),
    (
        "kubeconfig-garbage",
        kubeconfig_file("::: not yaml [\n\tcurrent-context: {"),
        ["--image", V2],
        "--kubeconfig",
    ),
    ("kubeconfig-not-a-kubeconfig", kubeconfig_file("- just\n- a list\n"), ["--image", V2], "--kubeconfig"),
    ("negative-timeout", nothing, ["--image", V2, "--timeout", "-5"], "--timeout"),
    ("zero-timeout", nothing, ["--image", V2, "--timeout", "0"], "--timeout"),
    ("absurd-timeout", nothing, ["--image", V2, "--timeout", "1e9"], "--timeout"),
    ("nan-timeout", nothing, ["--image", V2, "--timeout", "nan"], "--timeout"),
    ("short-lock", nothing, ["--image", V2, "--lock-duration", "2"], "--lock-duration"),
    (
        "smoke-file-invalid-yaml",
        smoke_file("- path: /healthz\n  status: [200\n"),
        ["--image", V2],
        "--smoke-file",
    ),
    (
        "smoke-file-unknown-key",
        smoke_file("- path: /healthz\n  expect: 200\n"),
        ["--image", V2],
        "--smoke-file",
    ),
    ("smoke-file-not-a-list", smoke_file("path: /healthz\n"), ["--image", V2], "--smoke-file"),
    ("smoke-path-relative", nothing, ["--image", V2, "--smoke-path", "healthz"], "--smoke-path"),
    ("preview-equals-service", nothing, ["--image", V2, "--preview-service", WEB], "--preview-service"),
]

NO_FIX: dict[str, str] = {}
CRASHES = {"kubeconfig-garbage", "kubeconfig-not-a-kubeconfig"}


def error_lines(log: str) -> list[str]:
    return [line.split("error: ", 1)[1] for line in log.splitlines() if "error: " in line]


def params(known: dict[str, str], only: set[str] | None = None) -> list[Any]:
    out = []
    for case_id, setup, args, flag in CASES:
        reason = known.get(case_id) if only is None or case_id in only else None
        marks = (
            [pytest.mark.xfail(reason=f"BUG: {reason.removeprefix('BUG: ')}", strict=True)] if reason else []
        )
        out.append(pytest.param(setup, args, flag, marks=marks, id=case_id))
    return out


def run_case(
    sim: SimCluster, kubeconfig: Path, tmp_path: Path, setup: Setup, args: list[str]
) -> tuple[Any, str]:
    sim.seed_app()
    extra = setup(sim, tmp_path)
    sim.wait_idle()
    before = live_view(sim)
    sim.clear_requests()  # from here on, not one write
    if "--kubeconfig" in extra:
        # run_cli always passes the good kubeconfig; these cases pass the user's broken one instead.
        i = extra.index("--kubeconfig")
        argv = ["deploy", "--service", WEB, *args, *extra[:i], *extra[i + 2 :]]
        return _run_with_kubeconfig(kubeconfig, Path(extra[i + 1]), argv), before
    return run_cli(kubeconfig, "deploy", "--service", WEB, *args, *extra), before


@pytest.mark.parametrize(("setup", "args", "flag"), params(NO_FIX, only=CRASHES))
def test_bad_input_exits_2_names_the_flag_and_writes_nothing(
    sim: SimCluster, kubeconfig: Path, tmp_path: Path, setup: Setup, args: list[str], flag: str
) -> None:
    result, before = run_case(sim, kubeconfig, tmp_path, setup, args)
    assert result.exit_code == 2, result.log
    assert sim.write_requests() == [], [f"{r.method} {r.path}" for r in sim.write_requests()]
    assert live_view(sim) == before
    lines = error_lines(result.log)
    assert len(lines) == 1, result.log
    assert lines[0].startswith(f"{flag}:"), lines[0]
    assert "Traceback" not in result.log
    assert result.outputs.get("RESULT") == "failed"
    assert result.outputs.get("SWITCHED") == "false"


@pytest.mark.parametrize(("setup", "args", "flag"), params(NO_FIX))
def test_the_line_also_names_the_fix(
    sim: SimCluster, kubeconfig: Path, tmp_path: Path, setup: Setup, args: list[str], flag: str
) -> None:
    result, _ = run_case(sim, kubeconfig, tmp_path, setup, args)
    (line,) = error_lines(result.log)
    assert line.startswith(f"{flag}:"), line
    # "<flag>: <problem>; <what to do>" (InputError's hint)
    problem, sep, fix = line.partition("; ")
    assert sep and len(fix.split()) >= 2, f"the line names no fix: {line}"


def _run_with_kubeconfig(good: Path, bad: Path, argv: list[str]) -> Any:
    """run_cli with a kubeconfig the user got wrong (the helper always passes a good one)."""
    from click.testing import CliRunner

    from bluegreen.cli import cli
    from tests.helpers import CliResult, read_dotenv

    out = good.parent / "outputs.env"
    out.unlink(missing_ok=True)
    result = CliRunner().invoke(
        cli,
        [*argv, "--kubeconfig", str(bad), "--output-file", str(out)],
        env={"GITHUB_OUTPUT": None, "GITHUB_STEP_SUMMARY": None, "GITHUB_ACTIONS": None},
        catch_exceptions=False,
    )
    return CliResult(result.exit_code, result.stdout, result.stderr, read_dotenv(out))


@pytest.mark.parametrize("command", ["rollback", "status"])
def test_other_commands_reject_bad_input_the_same_way(
    sim: SimCluster, kubeconfig: Path, command: str
) -> None:
    sim.seed_app()
    sim.clear_requests()
    result = run_cli(kubeconfig, command, "--service", "shop")
    assert result.exit_code == 2, result.log
    (line,) = error_lines(result.log)
    assert line.startswith("--service:") and "'shop' not found" in line
    assert sim.write_requests() == []


def test_nothing_to_roll_back_is_exit_2_without_writes(sim: SimCluster, kubeconfig: Path) -> None:
    sim.seed_app()
    sim.clear_requests()
    result = run_cli(kubeconfig, "rollback", "--service", WEB)
    assert result.exit_code == 2, result.log
    assert "nothing to roll back" in result.log
    assert sim.write_requests() == []


def test_dry_run_of_a_valid_release_writes_nothing(sim: SimCluster, kubeconfig: Path) -> None:
    """The control case: the same checks pass on good input, and --dry-run still writes nothing."""
    sim.seed_app()
    sim.clear_requests()
    result = run_cli(kubeconfig, "deploy", "--service", WEB, "--image", V2, "--dry-run")
    assert result.exit_code == 0, result.log
    assert sim.write_requests() == []
