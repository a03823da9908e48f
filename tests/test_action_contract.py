"""action.yml and the CLI describe one interface: every input is a flag (by its BLUEGREEN_* variable),
every flag a user sets is an input, documented defaults are the CLI's, and the outputs are the ones
the code writes. A flag added to one and not the other fails here, not in a user's workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from bluegreen.cli import cli
from bluegreen.report import OUTPUT_NAMES, Outcome, outputs
from bluegreen.settings import parse_duration

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
HOST = yaml.safe_load((ROOT / "host" / "action.yml").read_text())
# Inputs the entrypoint handles itself (not forwarded as BLUEGREEN_<NAME>).
ENTRYPOINT_ONLY = {"command", "kubeconfig", "summary"}
# Flags that make no sense as action inputs: the action writes outputs itself, and --json is for shells.
CLI_ONLY = {"output-file", "json", "check-only"}
DURATIONS = {"timeout", "lock-duration", "lock-wait", "scale-down-delay"}


def options() -> dict[str, tuple[str, click.Option]]:
    """Every option of every command by its environment variable: (command, option)."""
    out: dict[str, tuple[str, click.Option]] = {}
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        for p in command.params:
            if isinstance(p, click.Option) and p.envvar:
                for var in [p.envvar] if isinstance(p.envvar, str) else p.envvar:
                    out.setdefault(var, (name, p))
    return out


def env_name(input_name: str) -> str:
    return "BLUEGREEN_" + input_name.upper().replace("-", "_")


def test_every_input_is_a_flag_of_the_cli() -> None:
    opts = options()
    missing = [i for i in ACTION["inputs"] if i not in ENTRYPOINT_ONLY and env_name(i) not in opts]
    assert missing == [], f"inputs no CLI flag reads: {missing}"


def test_every_flag_is_an_input() -> None:
    inputs = {env_name(i) for i in ACTION["inputs"]}
    flags = {
        var: opt.opts[-1] if opt.opts[-1].startswith("--") else opt.opts[0]
        for var, (_cmd, opt) in options().items()
    }
    missing = sorted(
        flag
        for var, flag in flags.items()
        if var not in inputs
        and flag.removeprefix("--") not in CLI_ONLY
        and var != "BLUEGREEN_KUBECONFIG"
        # a flag with several variables is an input when any of them is (e.g. --to / rollback-to)
        and not any(v in inputs for v in _vars_of(var))
    )
    assert missing == [], f"CLI flags without an action input: {missing}"


def _vars_of(var: str) -> list[str]:
    _cmd, opt = options()[var]
    return [opt.envvar] if isinstance(opt.envvar, str) else list(opt.envvar or [])


def _same(input_name: str, documented: Any, cli_default: Any) -> bool:
    if not isinstance(cli_default, str | int | float | bool | tuple | list):  # click's "no default" sentinel
        cli_default = None
    if input_name in DURATIONS:
        return parse_duration(input_name, str(documented)) == parse_duration(input_name, str(cli_default))
    if isinstance(cli_default, bool) or cli_default is None and str(documented) in ("true", "false"):
        return str(documented).lower() == str(bool(cli_default)).lower()
    if cli_default in (None, (), ""):
        return str(documented) == ""
    return str(documented) == str(cli_default)


@pytest.mark.parametrize("name", [i for i in ACTION["inputs"] if i not in ENTRYPOINT_ONLY])
def test_documented_defaults_are_the_cli_defaults(name: str) -> None:
    spec = ACTION["inputs"][name]
    _cmd, opt = options()[env_name(name)]
    if spec.get("required"):
        assert "default" not in spec
        return
    assert "default" in spec, f"input {name} documents no default"
    assert _same(name, spec["default"], opt.default), (name, spec["default"], opt.default)


def test_outputs_are_what_the_code_writes() -> None:
    assert list(ACTION["outputs"]) == list(OUTPUT_NAMES)
    assert list(outputs(Outcome(command="deploy", result="deployed"))) == list(OUTPUT_NAMES)


def test_host_mode_has_the_same_inputs_and_outputs() -> None:
    assert set(HOST["inputs"]) == set(ACTION["inputs"])
    assert set(HOST["outputs"]) == set(ACTION["outputs"])


def test_the_command_input_names_every_command_that_changes_or_reads_a_release() -> None:
    described = ACTION["inputs"]["command"]["description"]
    for command in ("deploy", "rollback", "status", "promote", "abort"):
        assert command in described and command in cli.commands
