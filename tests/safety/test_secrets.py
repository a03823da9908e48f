"""The kubeconfig's token never reaches a log: not with --debug, not on errors; masked first on GitHub."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bluegreen.sim import SimCluster
from tests.helpers import CliResult, run_cli
from tests.safety import NS, V2, WEB

TOKEN = "s3cr3t-bluegreen-token-5b7e1d9c0a2f"
USER = "system:serviceaccount:default:bluegreen"


@pytest.fixture
def rbac_sim() -> Iterator[SimCluster]:
    sim = SimCluster(rbac=True).start()
    yield sim
    sim.stop()


def everything(r: CliResult) -> str:
    return "\n".join([r.stdout, r.stderr, json.dumps(r.outputs)])


def token_kubeconfig(sim: SimCluster, tmp: Path, token: str = TOKEN) -> Path:
    return sim.write_kubeconfig(tmp / "kubeconfig", token=token)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("command", ["deploy", "rollback", "status"])
def test_token_absent_from_every_output(
    rbac_sim: SimCluster, tmp_path: Path, command: str, debug: bool
) -> None:
    sim = rbac_sim
    sim.add_token(TOKEN, USER, groups=("system:masters",))
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)
    args = ["--image", V2, "--smoke-path", "/healthz"] if command == "deploy" else []
    extra = ["--debug"] if debug else []
    result = run_cli(kc, command, "--service", WEB, *args, *extra)
    assert result.exit_code in (0, 2), result.log  # rollback has nothing to roll back: exit 2
    assert TOKEN not in everything(result)
    assert TOKEN[:12] not in everything(result)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_bad_token_401_is_reported_without_the_token(
    rbac_sim: SimCluster, tmp_path: Path, debug: bool
) -> None:
    sim = rbac_sim
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)  # TOKEN is not known to the cluster
    result = run_cli(kc, "deploy", "--service", WEB, "--image", V2, *(["--debug"] if debug else []))
    assert result.exit_code == 1, result.log
    assert "401" in result.log and "token" in result.log
    assert TOKEN not in everything(result)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_forbidden_403_is_reported_without_the_token(
    rbac_sim: SimCluster, tmp_path: Path, debug: bool
) -> None:
    sim = rbac_sim
    sim.add_token(TOKEN, USER)  # no grants at all
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)
    result = run_cli(kc, "deploy", "--service", WEB, "--image", V2, *(["--debug"] if debug else []))
    assert result.exit_code == 1, result.log
    assert "needs `list` on `services`" in result.log
    assert TOKEN not in everything(result)


def test_github_masks_the_token_before_anything_else(rbac_sim: SimCluster, tmp_path: Path) -> None:
    sim = rbac_sim
    sim.add_token(TOKEN, USER, groups=("system:masters",))
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)
    result = run_cli(kc, "deploy", "--service", WEB, "--image", V2, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0, result.log
    first = result.stderr.splitlines()[0]
    assert first == f"::add-mask::{TOKEN}", result.stderr[:300]
    # the mask line is the only place the token appears
    assert result.stderr.count(TOKEN) == 1 and TOKEN not in result.stdout


def test_github_masks_the_token_even_when_the_first_request_fails(
    rbac_sim: SimCluster, tmp_path: Path
) -> None:
    sim = rbac_sim
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)  # unknown token: 401
    result = run_cli(kc, "status", "--service", WEB, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"::add-mask::{TOKEN}"


def echo_headers(
    pod: dict[str, Any], method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """An app that answers 500 with every request header it received, as a debugging page might."""
    if path in ("/healthz", "/readyz"):
        return 200, {"Content-Type": "text/plain"}, b"ok"
    return (
        500,
        {"Content-Type": "application/json"},
        json.dumps({"error": "boom", "headers": dict(headers)}).encode(),
    )


def test_smoke_failure_never_echoes_the_credentials(rbac_sim: SimCluster, tmp_path: Path) -> None:
    sim = rbac_sim
    sim.add_token(TOKEN, USER, groups=("system:masters",))
    sim.apps.register("registry.example/web:2.0-echo", echo_headers)
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)
    smoke = tmp_path / "smoke.yaml"
    smoke.write_text("- path: /api\n  headers: {X-Request-Source: bluegreen-smoke}\n")
    result = run_cli(
        kc,
        "deploy",
        "--service",
        WEB,
        "--image",
        "registry.example/web:2.0-echo",
        "--smoke-file",
        str(smoke),
        "--debug",
    )
    assert result.exit_code == 1, result.log
    assert "smoke checks failed" in result.log
    assert "boom" in result.log, "the app's answer is shown (that is how a user debugs it)"
    assert TOKEN not in everything(result)
    assert "Bearer" not in everything(result)
    # the simulated API server strips Authorization like the real one; the check above would catch a leak
    assert sim.get("services", NS, WEB)["spec"]["selector"]["version"] == "blue"


def test_smoke_command_sees_the_preview_but_not_the_token(rbac_sim: SimCluster, tmp_path: Path) -> None:
    """The user's smoke command gets a local URL; the token stays inside bluegreen's forwarder."""
    sim = rbac_sim
    sim.add_token(TOKEN, USER, groups=("system:masters",))
    sim.seed_app()
    kc = token_kubeconfig(sim, tmp_path)
    cmd = (
        'env; echo URL=$BLUEGREEN_PREVIEW_URL; python -c "import os,urllib.request;'
        "print(urllib.request.urlopen(os.environ['BLUEGREEN_PREVIEW_URL']+'/').read())\""
    )
    result = run_cli(kc, "deploy", "--service", WEB, "--image", V2, "--smoke-command", cmd, "--debug")
    assert result.exit_code == 0, result.log
    assert "URL=http://127.0.0.1:" in result.log
    assert TOKEN not in everything(result)
