"""entrypoint.py: the GitHub Action's INPUT_* variables -> BLUEGREEN_* variables -> the CLI.

The CLI is replaced by a fake that records what it was given, so these tests need no cluster.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import signal
import stat
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ENTRYPOINT = Path(__file__).resolve().parent.parent / "entrypoint.py"

TOKEN = "sim-token-7f3a9c"
CLIENT_KEY = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="
PASSWORD = "p%40ss word"
KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://k8s.example:6443"}}],
    "users": [
        {"name": "deployer", "user": {"token": TOKEN}},
        {"name": "admin", "user": {"client-key-data": CLIENT_KEY, "username": "admin", "password": PASSWORD}},
    ],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "deployer"}}],
    "current-context": "prod",
}
KUBECONFIG_YAML = yaml.safe_dump(KUBECONFIG, sort_keys=False)


@pytest.fixture
def entrypoint() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bluegreen_entrypoint", ENTRYPOINT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def clean_process_state() -> Iterator[None]:
    """The entrypoint writes os.environ and installs signal handlers: undo both after each test."""
    saved_env = dict(os.environ)
    saved_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for key in list(os.environ):
        if key.startswith(("INPUT_", "BLUEGREEN_")):
            del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    for sig, handler in saved_handlers.items():
        signal.signal(sig, handler)


@dataclass
class Call:
    argv: list[str]
    env: dict[str, str]
    kubeconfig_text: str | None = None
    kubeconfig_mode: int | None = None


@dataclass
class FakeCli:
    """Stands in for bluegreen.cli: records each call, then behaves like a click command."""

    behaviour: Callable[[], None] = lambda: None
    exit_code: int = 0
    calls: list[Call] = field(default_factory=list)

    def main(self, argv: list[str] | None = None) -> None:
        env = dict(os.environ)
        call = Call(argv=list(argv or []), env=env)
        path = env.get("BLUEGREEN_KUBECONFIG")
        if path and Path(path).exists():
            call.kubeconfig_text = Path(path).read_text()
            call.kubeconfig_mode = stat.S_IMODE(Path(path).stat().st_mode)
        self.calls.append(call)
        self.behaviour()
        raise SystemExit(self.exit_code)


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> FakeCli:
    fake = FakeCli()
    module = types.ModuleType("bluegreen.cli")
    module.main = fake.main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bluegreen.cli", module)
    return fake


def set_inputs(**inputs: str) -> None:
    """Like the runner: INPUT_<NAME> upper-cased with hyphens kept (pass names with '_' for '-')."""
    for name, value in inputs.items():
        os.environ["INPUT_" + name.replace("_", "-").upper()] = value


def run(entrypoint: types.ModuleType, argv: list[str] | None = None) -> int:
    with pytest.raises(SystemExit) as exited:
        entrypoint.main(argv or [])
    code = exited.value.code
    return code if isinstance(code, int) else 1


# --- inputs -> environment --------------------------------------------------------------------------


def test_inputs_become_bluegreen_variables_with_hyphens_as_underscores(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    set_inputs(
        command="deploy",
        image="ghcr.io/acme/web:1.4.2",
        service="web",
        color_label="track",
        preview_service="web-next",
        dry_run="true",
        after_switch="scale-to-zero",
    )
    assert run(entrypoint) == 0
    (call,) = fake_cli.calls
    assert call.argv == ["deploy"]
    assert {k: v for k, v in call.env.items() if k.startswith("BLUEGREEN_")} == {
        "BLUEGREEN_IMAGE": "ghcr.io/acme/web:1.4.2",
        "BLUEGREEN_SERVICE": "web",
        "BLUEGREEN_COLOR_LABEL": "track",
        "BLUEGREEN_PREVIEW_SERVICE": "web-next",
        "BLUEGREEN_DRY_RUN": "true",
        "BLUEGREEN_AFTER_SWITCH": "scale-to-zero",
    }


def test_multi_line_smoke_path_is_passed_whole(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    set_inputs(command="deploy", smoke_path="/healthz\n/api/version\n")
    run(entrypoint)
    assert fake_cli.calls[0].env["BLUEGREEN_SMOKE_PATH"] == "/healthz\n/api/version\n"


def test_empty_inputs_leave_the_cli_defaults(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    # The runner sets every declared input; unset ones arrive as their default, mostly "".
    set_inputs(command="rollback", service="web", timeout="", smoke_path="  \n", on_failure="")
    run(entrypoint)
    (call,) = fake_cli.calls
    assert call.argv == ["rollback"]
    assert sorted(k for k in call.env if k.startswith("BLUEGREEN_")) == ["BLUEGREEN_SERVICE"]


def test_empty_command_means_deploy(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    set_inputs(command="", image="web:2")
    run(entrypoint)
    assert fake_cli.calls[0].argv == ["deploy"]


def test_the_cli_exit_code_is_the_entrypoint_exit_code(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    fake_cli.exit_code = 3
    set_inputs(command="deploy", image="web:2")
    assert run(entrypoint) == 3


# --- kubeconfig input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(KUBECONFIG_YAML, id="raw-yaml"),
        pytest.param(base64.b64encode(KUBECONFIG_YAML.encode()).decode(), id="base64-one-line"),
        pytest.param(base64.encodebytes(KUBECONFIG_YAML.encode()).decode(), id="base64-wrapped"),
    ],
)
def test_kubeconfig_is_written_private_and_removed_afterwards(
    entrypoint: types.ModuleType, fake_cli: FakeCli, given: str
) -> None:
    set_inputs(command="status", service="web", kubeconfig=given)
    assert run(entrypoint) == 0
    (call,) = fake_cli.calls
    assert "BLUEGREEN_KUBECONFIG" in call.env
    assert call.kubeconfig_text is not None
    assert yaml.safe_load(call.kubeconfig_text) == KUBECONFIG
    assert call.kubeconfig_mode == 0o600
    assert not Path(call.env["BLUEGREEN_KUBECONFIG"]).exists()


def test_kubeconfig_is_removed_when_the_cli_raises(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    def crash() -> None:
        raise RuntimeError("engine bug")

    fake_cli.behaviour = crash
    set_inputs(command="deploy", kubeconfig=KUBECONFIG_YAML)
    with pytest.raises(RuntimeError, match="engine bug"):
        entrypoint.main([])
    assert not Path(fake_cli.calls[0].env["BLUEGREEN_KUBECONFIG"]).exists()


def test_kubeconfig_is_removed_when_the_job_is_cancelled(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    def cancelled() -> None:
        signal.raise_signal(signal.SIGTERM)  # what the runner sends on cancel
        pytest.fail("SIGTERM did not stop the command")

    fake_cli.behaviour = cancelled
    set_inputs(command="deploy", kubeconfig=KUBECONFIG_YAML)
    # Like Ctrl-C, which the real CLI turns into "interrupted" and exit code 1.
    with pytest.raises(KeyboardInterrupt):
        entrypoint.main([])
    assert not Path(fake_cli.calls[0].env["BLUEGREEN_KUBECONFIG"]).exists()


def test_no_kubeconfig_input_leaves_kubeconfig_to_the_cli(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    set_inputs(command="status", service="web", kubeconfig="")
    run(entrypoint)
    assert "BLUEGREEN_KUBECONFIG" not in fake_cli.calls[0].env


def test_unreadable_kubeconfig_is_bad_input_and_not_echoed(
    entrypoint: types.ModuleType, fake_cli: FakeCli, capsys: pytest.CaptureFixture[str]
) -> None:
    set_inputs(command="deploy", kubeconfig="s3cr3t-not-yaml: [unclosed")
    assert run(entrypoint) == 2
    assert fake_cli.calls == []
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "::add-mask::s3cr3t-not-yaml: [unclosed"
    assert lines[1].startswith("::error")
    assert "kubeconfig" in lines[1]
    assert "s3cr3t" not in lines[1]


# --- masking --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [False, True], ids=["raw-yaml", "base64"])
def test_masks_come_first_and_cover_every_credential(
    entrypoint: types.ModuleType, fake_cli: FakeCli, capsys: pytest.CaptureFixture[str], encode: bool
) -> None:
    given = base64.encodebytes(KUBECONFIG_YAML.encode()).decode() if encode else KUBECONFIG_YAML
    fake_cli.behaviour = lambda: print("bluegreen starts", file=sys.stderr)  # where the CLI logs
    set_inputs(command="deploy", image="web:2", kubeconfig=given)
    run(entrypoint)

    lines = capsys.readouterr().err.splitlines()
    first_other = next(i for i, line in enumerate(lines) if not line.startswith("::add-mask::"))
    masks = {line.removeprefix("::add-mask::") for line in lines[:first_other]}
    assert lines[first_other:] == ["bluegreen starts"]
    secrets = {TOKEN, CLIENT_KEY, PASSWORD.replace("%", "%25")}  # '%' escaped: the literal is masked
    if encode:
        # All of a base64 input is secret: whole, and line by line as it was wrapped.
        blob_lines = {line.strip() for line in given.splitlines() if line.strip()}
        assert masks == secrets | {"".join(given.split())} | blob_lines
    else:
        # Only the secrets: `name: prod` masked would turn every later "prod" in the job's log into ***.
        assert masks == secrets


def test_raw_yaml_structure_and_names_are_never_masked(entrypoint: types.ModuleType) -> None:
    masks = set(entrypoint.secret_values(KUBECONFIG_YAML))
    for harmless in (
        "apiVersion: v1",
        "name: prod",
        "user:",
        "prod",
        "deployer",
        "admin",
        "https://k8s.example:6443",
    ):
        assert harmless not in masks


def test_client_certificate_data_is_public_and_not_masked(entrypoint: types.ModuleType) -> None:
    config = {
        "users": [{"name": "u", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}]
    }
    assert entrypoint.secret_values(yaml.safe_dump(config)) == ["S0VZ"]


def test_secret_like_exec_env_values_are_masked_and_the_rest_is_not(entrypoint: types.ModuleType) -> None:
    config = {
        "users": [
            {
                "name": "eks",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", "prod"],
                        "env": [
                            {"name": "AWS_PROFILE", "value": "deploy"},
                            {"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI"},
                            {"name": "AWS_SESSION_TOKEN", "value": "FwoGZXIvYXdz"},
                            {"name": "AZURE_CLIENT_SECRET", "value": "az-s3cret"},
                            {"name": "VAULT_PASSWORD", "value": "hunter22"},
                            {"name": "KUBELOGIN_API_KEY", "value": "k3y"},
                            {"name": "AWS_REGION", "value": "eu-west-1"},
                        ],
                    }
                },
            }
        ]
    }
    assert set(entrypoint.secret_values(yaml.safe_dump(config))) == {
        "wJalrXUtnFEMI",
        "FwoGZXIvYXdz",
        "az-s3cret",
        "hunter22",
        "k3y",
    }


def test_a_multi_line_secret_is_masked_line_by_line(entrypoint: types.ModuleType) -> None:
    config = {"users": [{"name": "u", "user": {"password": "first line\nsecond line"}}]}
    assert entrypoint.secret_values(yaml.safe_dump(config)) == ["first line", "second line"]


def test_secret_values_walks_auth_provider_config(entrypoint: types.ModuleType) -> None:
    config = {
        "users": [
            {
                "name": "oidc",
                "user": {
                    "auth-provider": {
                        "name": "oidc",
                        "config": {
                            "id-token": "eyJ.id",
                            "refresh-token": "r3fresh",
                            "client-secret": "cl1ent",
                        },
                    }
                },
            }
        ]
    }
    values = entrypoint.secret_values(yaml.safe_dump(config))
    assert {"eyJ.id", "r3fresh", "cl1ent"} <= set(values)


def test_plain_yaml_is_never_taken_for_base64(entrypoint: types.ModuleType) -> None:
    assert entrypoint.decode_kubeconfig(KUBECONFIG_YAML) == KUBECONFIG_YAML.strip()


# --- debug, job summary ------------------------------------------------------------------------------


def test_runner_debug_turns_on_debug(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    os.environ["RUNNER_DEBUG"] = "1"  # "Re-run jobs" with "Enable debug logging"
    set_inputs(command="status", service="web", debug="false")
    run(entrypoint)
    assert fake_cli.calls[0].env["BLUEGREEN_DEBUG"] == "true"


def test_without_runner_debug_the_debug_input_decides(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    os.environ.pop("RUNNER_DEBUG", None)
    set_inputs(command="status", service="web", debug="false")
    run(entrypoint)
    assert fake_cli.calls[0].env["BLUEGREEN_DEBUG"] == "false"


@pytest.mark.parametrize(
    ("summary", "written"), [("true", True), ("", True), ("false", False), ("False", False)]
)
def test_summary_false_hides_the_step_summary_from_the_cli(
    entrypoint: types.ModuleType, fake_cli: FakeCli, tmp_path: Path, summary: str, written: bool
) -> None:
    os.environ["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    set_inputs(command="deploy", image="web:2", service="web", summary=summary)
    run(entrypoint)
    (call,) = fake_cli.calls
    assert ("GITHUB_STEP_SUMMARY" in call.env) is written
    assert "BLUEGREEN_SUMMARY" not in call.env  # not a CLI flag


def test_every_action_input_reaches_the_cli_by_its_flag_name(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    """As the runner does: every input of action.yml set, to its default unless given."""
    inputs = yaml.safe_load((ENTRYPOINT.parent / "action.yml").read_text())["inputs"]
    given = {"service": "web\nweb-internal", "image": "web:2", "command": "deploy"}
    for name, spec in inputs.items():
        os.environ["INPUT_" + name.upper()] = given.get(name, str(spec.get("default", "")))
    run(entrypoint)
    (call,) = fake_cli.calls
    forwarded = {k for k in call.env if k.startswith("BLUEGREEN_")}
    expected = {
        "BLUEGREEN_" + name.upper().replace("-", "_")
        for name, spec in inputs.items()
        if name not in ("command", "kubeconfig", "summary")
        and (given.get(name) or str(spec.get("default", "")))
    }
    assert forwarded == expected
    assert call.env["BLUEGREEN_SERVICE"] == "web\nweb-internal"
    assert call.env["BLUEGREEN_SCALE_DOWN_DELAY"] == "30s"
    assert call.env["BLUEGREEN_HOLD"] == "false"


# --- leaving without interpreter teardown ----------------------------------------------------------


def test_finish_runs_exit_handlers_then_leaves_with_the_code(entrypoint: types.ModuleType) -> None:
    events: list[str] = []
    entrypoint.finish(
        3, run_exit_handlers=lambda: events.append("atexit"), hard_exit=lambda c: events.append(f"exit {c}")
    )
    assert events == ["atexit", "exit 3"]


@pytest.mark.parametrize(
    ("raised", "code"), [(SystemExit(4), 4), (SystemExit(None), 0), (SystemExit("boom"), 1)]
)
def test_run_hands_the_cli_exit_code_to_finish(
    entrypoint: types.ModuleType, monkeypatch: pytest.MonkeyPatch, raised: SystemExit, code: int
) -> None:
    def fake_main() -> None:
        raise raised

    finished: list[int] = []
    monkeypatch.setattr(entrypoint, "main", fake_main)
    monkeypatch.setattr(entrypoint, "finish", finished.append)
    entrypoint.run()
    assert finished == [code]


def test_the_real_process_flushes_output_and_removes_the_kubeconfig(tmp_path: Path) -> None:
    """os._exit skips buffered-stdout flushing and `finally` blocks that have not run: prove neither is lost."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "BLUEGREEN_", "GITHUB_"))}
    env["TMPDIR"] = str(tmp_path)
    version = subprocess.run(
        [sys.executable, str(ENTRYPOINT), "--version"], env=env, capture_output=True, text=True, check=False
    )
    assert version.returncode == 0, version.stderr
    assert "bluegreen" in version.stdout  # stdout is a pipe here, so block-buffered: it was flushed

    broken = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    env.update(INPUT_COMMAND="status", INPUT_SERVICE="web", INPUT_KUBECONFIG=yaml.safe_dump(broken))
    status = subprocess.run(
        [sys.executable, str(ENTRYPOINT)], env=env, capture_output=True, text=True, check=False
    )
    assert status.returncode not in (0, None), status.stderr
    assert not list(tmp_path.glob("bluegreen-kubeconfig-*"))


# --- any other CI: the image is the plain CLI --------------------------------------------------------


def test_without_inputs_argv_passes_straight_to_the_cli(
    entrypoint: types.ModuleType, fake_cli: FakeCli, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "deploy",
        "--image",
        "registry.example/web:2.0",
        "--smoke-path",
        "/healthz",
        "--output-file",
        "out.env",
    ]
    assert run(entrypoint, argv) == 0
    (call,) = fake_cli.calls
    assert call.argv == argv
    assert not any(k.startswith("BLUEGREEN_") for k in call.env)
    assert capsys.readouterr() == ("", "")


def test_without_inputs_sigterm_still_stops_the_cli(entrypoint: types.ModuleType, fake_cli: FakeCli) -> None:
    # As a container's PID 1, Python would otherwise ignore `docker stop`.
    fake_cli.behaviour = lambda: signal.raise_signal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        entrypoint.main(["deploy"])


def test_without_inputs_bluegreen_variables_are_left_alone(
    entrypoint: types.ModuleType, fake_cli: FakeCli
) -> None:
    os.environ["BLUEGREEN_IMAGE"] = "registry.example/web:2.0"
    run(entrypoint, ["deploy"])
    assert fake_cli.calls[0].env["BLUEGREEN_IMAGE"] == "registry.example/web:2.0"


# --- with the real CLI, in process, against the simulated cluster ------------------------------------


def test_action_inputs_drive_the_real_cli(
    entrypoint: types.ModuleType,
    sim: Any,
    kubeconfig: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The names the entrypoint sets are the ones the CLI reads: a whole release from INPUT_* alone."""
    sim.seed_app(name="web", image="registry.example/web:1.0", replicas=2, color="blue")
    github_output = tmp_path / "github_output"
    github_output.touch()
    os.environ.update(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(github_output))
    # Like the runner: every input of action.yml at its default, so the defaults must be values the CLI takes.
    for name, spec in yaml.safe_load((ENTRYPOINT.parent / "action.yml").read_text())["inputs"].items():
        os.environ["INPUT_" + name.upper()] = str(spec.get("default", ""))
    set_inputs(
        scale_down_delay="0",
        command="deploy",
        image="registry.example/web:2.0",
        service="web",
        kubeconfig=base64.b64encode(kubeconfig.read_bytes()).decode(),
        smoke_path="/healthz\n/",
        timeout="60",
        after_switch="scale-to-zero",
    )
    assert run(entrypoint) == 0, capsys.readouterr().err
    outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
    assert outputs["active-color"] == "green"
    assert outputs["image"] == "registry.example/web:2.0"
    assert outputs["switched"] == "true"
    assert sim.get("services", "default", "web")["spec"]["selector"]["version"] == "green"
    # after-switch=scale-to-zero reached the CLI as BLUEGREEN_AFTER_SWITCH
    assert sim.get("deployments", "default", "web-blue")["spec"]["replicas"] == 0
    assert "GET /healthz" in capsys.readouterr().err


# --- the promotion gate through the action's entrypoint, against the simulator ------------------------


def _action(
    entrypoint: types.ModuleType, kubeconfig_text: str, outputs: Path, **inputs: str
) -> dict[str, str]:
    """One action step as the runner runs it: INPUT_* variables, the kubeconfig as an input, outputs to a file."""
    for key in [k for k in os.environ if k.startswith(("INPUT_", "BLUEGREEN_"))]:
        del os.environ[key]
    os.environ.update(GITHUB_OUTPUT=str(outputs), BLUEGREEN_SCALE_DOWN_DELAY="0")
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    outputs.write_text("")
    set_inputs(kubeconfig=kubeconfig_text, **inputs)
    code = run(entrypoint)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    values["exit"] = str(code)
    return values


def test_hold_then_promote_through_the_entrypoint(entrypoint: types.ModuleType, tmp_path: Path) -> None:
    from bluegreen.sim import SimCluster

    with SimCluster(ready_delay=0.0) as sim:
        sim.seed_app("web", image="registry.example/web:1.0", replicas=2, color="blue")
        text = sim.write_kubeconfig(tmp_path / "kubeconfig").read_text()
        out = tmp_path / "outputs"
        held = _action(
            entrypoint,
            text,
            out,
            command="deploy",
            service="web",
            image="registry.example/web:2.0",
            hold="true",
            smoke_path="/healthz",
        )
        assert (held["exit"], held["result"], held["switched"]) == ("0", "held", "false")
        assert held["active-color"] == "blue" and held["image"] == "registry.example/web:2.0"
        assert sim.get("services", "default", "web")["spec"]["selector"]["version"] == "blue"
        promoted = _action(entrypoint, text, out, command="promote", service="web")
        assert (promoted["exit"], promoted["result"], promoted["switched"]) == ("0", "deployed", "true")
        assert sim.get("services", "default", "web")["spec"]["selector"]["version"] == "green"
        again = _action(entrypoint, text, out, command="abort", service="web")
        assert again["exit"] == "2"  # nothing held any more
