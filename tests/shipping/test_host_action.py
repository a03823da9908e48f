"""host/action.yml: the composite action that runs bluegreen on the runner (host mode).

It must offer exactly the container action's inputs and outputs, hand every input to the same entrypoint
under the same INPUT_<NAME> the runner gives a container action, and pin what it uses.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
HOST = yaml.safe_load((ROOT / "host" / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"^\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}$")


def run_step() -> dict[str, Any]:
    (step,) = [step for step in HOST["runs"]["steps"] if step.get("id") == "run"]
    return step


def test_host_mode_has_exactly_the_container_actions_inputs() -> None:
    assert HOST["inputs"] == CONTAINER["inputs"]


def test_host_mode_has_the_container_actions_outputs_from_the_run_step() -> None:
    assert list(HOST["outputs"]) == list(CONTAINER["outputs"])
    for name, spec in HOST["outputs"].items():
        assert spec["description"] == CONTAINER["outputs"][name]["description"]
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_every_input_reaches_the_entrypoint_under_the_runners_own_name() -> None:
    env = run_step()["env"]
    forwarded = {key: EXPRESSION.match(value) for key, value in env.items() if key.startswith("INPUT_")}
    assert {key: match.group(1) if match else None for key, match in forwarded.items()} == {
        "INPUT_" + name.upper(): name for name in CONTAINER["inputs"]
    }


def test_the_run_step_runs_the_containers_entrypoint_with_the_venv() -> None:
    assert run_step()["run"].strip().endswith('"$VENV/bin/python" "$ACTION_PATH/../entrypoint.py"')


def test_every_action_used_is_pinned_by_commit_sha_with_a_version_comment() -> None:
    text = (ROOT / "host" / "action.yml").read_text(encoding="utf-8")
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), (ref, comment)


# --- the entry logic, as the runner would run it -----------------------------------------------------


@pytest.fixture
def entrypoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    spec = importlib.util.spec_from_file_location("bluegreen_entrypoint_host", ROOT / "entrypoint.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("INPUT_", "BLUEGREEN_", "GITHUB_", "RUNNER_")):
            del os.environ[key]
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_cli(argv: list[str]) -> None:
        calls.append((argv, dict(os.environ)))
        raise SystemExit(0)

    monkeypatch.setattr(module, "run_cli", fake_cli)
    module.calls = calls  # type: ignore[attr-defined]
    yield module
    os.environ.clear()
    os.environ.update(saved)


def host_step_env(given: dict[str, str]) -> dict[str, str]:
    """The run step's env as the runner evaluates it: each input given, or its default."""
    values = {name: given.get(name, str(spec.get("default", ""))) for name, spec in HOST["inputs"].items()}
    env = {}
    for key, value in run_step()["env"].items():
        match = EXPRESSION.match(value)
        if match:
            env[key] = values[match.group(1)]
    return env


def test_host_mode_gives_the_cli_what_the_container_gives_it(entrypoint: types.ModuleType) -> None:
    given = {"command": "rollback", "service": "web", "rollback-to": "web:1.0", "smoke-path": "/healthz\n/"}
    container_env = {
        "INPUT_" + name.upper(): given.get(name, str(spec.get("default", "")))
        for name, spec in CONTAINER["inputs"].items()
    }
    host_env = host_step_env(given)
    assert host_env == container_env

    os.environ.update(host_env)
    with pytest.raises(SystemExit):
        entrypoint.main([])
    ((argv, env),) = entrypoint.calls
    assert argv == ["rollback"]
    assert env["BLUEGREEN_ROLLBACK_TO"] == "web:1.0"
    assert env["BLUEGREEN_SMOKE_PATH"] == "/healthz\n/"
    # No kubeconfig input: the runner's own (KUBECONFIG from aws eks update-kubeconfig, ...) is used.
    assert "BLUEGREEN_KUBECONFIG" not in env


# --- install.sh plan: the cache key ------------------------------------------------------------------


def plan(root: Path) -> dict[str, str]:
    out = root / "github_output"
    out.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "PYTHON": sys.executable,
        "RUNNER_TEMP": str(root / "temp"),
        "GITHUB_OUTPUT": str(out),
    }
    subprocess.run(["bash", str(root / "host" / "install.sh"), "plan"], env=env, check=True)
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def test_the_pip_cache_key_follows_the_pinned_requirements(tmp_path: Path) -> None:
    for name in ("requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "host").mkdir()
    shutil.copy(ROOT / "host" / "install.sh", tmp_path / "host" / "install.sh")

    first = plan(tmp_path)
    assert set(first) == {"venv", "pip-cache", "cache-key"}
    assert first["venv"].startswith(str(tmp_path / "temp"))
    assert f"py{sys.version_info.major}.{sys.version_info.minor}" in first["cache-key"]
    assert plan(tmp_path) == first  # stable

    with (tmp_path / "requirements.txt").open("a") as handle:
        handle.write("extra-package==1.0\n")
    assert plan(tmp_path)["cache-key"] != first["cache-key"]
