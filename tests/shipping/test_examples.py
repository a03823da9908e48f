"""The examples users copy: pinned, complete, and in step with action.yml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml")) + sorted(
    (ROOT / ".github" / "workflows").glob("*.yml")
)
OURS = re.compile(r"^your-org/bluegreen(/host)?@v\d+$")


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    for ref, comment in re.findall(r"uses:\s*(\S+)(.*)", path.read_text(encoding="utf-8")):
        if ref.startswith("./") or OURS.match(ref):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{path.name}: {ref}{comment}"


@pytest.mark.parametrize("name", ["eks.yml", "gke.yml", "aks.yml"])
def test_cloud_recipes_use_oidc_and_host_mode(name: str) -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / name).read_text(encoding="utf-8"))
    assert workflow["permissions"]["id-token"] == "write"
    uses = [step.get("uses", "") for step in steps(workflow)]
    assert uses[-1] == "your-org/bluegreen/host@v1"
    assert "secrets." not in (ROOT / "examples" / "github" / name).read_text(encoding="utf-8")


def test_the_token_recipe_builds_a_kubeconfig_whose_only_secret_is_the_token() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "token.yml").read_text(encoding="utf-8"))
    (step,) = steps(workflow)
    kubeconfig = step["with"]["kubeconfig"]
    assert re.findall(r"secrets\.(\w+)", kubeconfig) == ["KUBE_TOKEN"]
    template = yaml.safe_load(re.sub(r"\$\{\{[^}]*\}\}", "x", kubeconfig))
    assert template["users"][0]["user"] == {"token": "x"}


def test_the_gate_holds_then_promotes_behind_an_environment_and_can_abort() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "gated.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert jobs["hold"]["steps"][0]["with"]["hold"] is True
    assert jobs["promote"]["needs"] == "hold"
    assert jobs["promote"]["environment"]["name"] == "production"
    assert jobs["promote"]["steps"][0]["with"]["command"] == "promote"
    assert jobs["abort"]["steps"][0]["with"]["command"] == "abort"
    assert "workflow_dispatch" in workflow[True]  # YAML 1.1 reads the key `on` as True


def test_the_tekton_task_follows_the_catalog() -> None:
    task = yaml.safe_load((ROOT / "examples" / "tekton" / "task.yaml").read_text(encoding="utf-8"))
    annotations = task["metadata"]["annotations"]
    assert {"tekton.dev/pipelines.minVersion", "tekton.dev/platforms"} <= annotations.keys()
    spec = task["spec"]
    assert spec["stepTemplate"]["securityContext"]["runAsNonRoot"] is True
    assert {w["name"] for w in spec["workspaces"]} == {"source", "kubeconfig"}
    assert [r["name"] for r in spec["results"]] == list(ACTION["outputs"])
    for step in spec["steps"]:
        assert re.fullmatch(r"ghcr\.io/[\w/-]+@sha256:[0-9a-f]{64}", step["image"])
        for result in ACTION["outputs"]:
            assert f"$(results.{result}.path)" in step["script"]


def test_the_jenkins_kubernetes_example_runs_under_a_service_account_by_digest() -> None:
    text = (ROOT / "examples" / "jenkins" / "Jenkinsfile.kubernetes").read_text(encoding="utf-8")
    assert "serviceAccount: 'bluegreen'" in text
    assert re.search(r"image: ghcr\.io/[\w/-]+@sha256:[0-9a-f]{64}", text)
    assert "runAsNonRoot: true" in text
