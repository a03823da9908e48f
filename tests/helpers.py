"""Helpers shared by the end-to-end tests: run the real CLI in-process against the simulated cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from click.testing import CliRunner

from bluegreen.cli import cli
from bluegreen.sim import SimCluster

T = TypeVar("T")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]

    @property
    def log(self) -> str:
        return self.stderr


def read_dotenv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v.strip("'")
    return out


def run_cli(kubeconfig: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """`bluegreen ARGS --kubeconfig K --output-file F`, outputs read back from the dotenv file."""
    out = kubeconfig.parent / "outputs.env"
    if out.exists():
        out.unlink()
    full_env = {"GITHUB_OUTPUT": None, "GITHUB_STEP_SUMMARY": None, "GITHUB_ACTIONS": None, **(env or {})}
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [*args, "--kubeconfig", str(kubeconfig), "--output-file", str(out)],
        env=full_env,
        catch_exceptions=False,
    )
    return CliResult(result.exit_code, result.stdout, result.stderr, read_dotenv(out))


def live_view(sim: SimCluster, service: str = "web", namespace: str = "default") -> str:
    """The live Service's selector and annotations, byte for byte: what a failed release must not change."""
    svc = sim.get("services", namespace, service)
    return json.dumps(
        {"selector": svc["spec"].get("selector"), "annotations": svc["metadata"].get("annotations")},
        sort_keys=True,
    )


def writes(sim: SimCluster) -> list[Any]:
    return list(sim.write_requests())


def present(value: T | None) -> T:
    """The value of an Optional field the server must have filled in (the client types every field Optional)."""
    assert value is not None
    return value


def as_model(model: type[T], manifest: Mapping[str, Any]) -> T:
    """A plain manifest where the official client's annotations ask for a model object.

    The client serialises a dict body as it is (ApiClient.sanitize_for_serialization); only its annotations
    name the model class, so this cast is all there is to it.
    """
    return cast(T, manifest)
