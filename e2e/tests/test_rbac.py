"""Least privilege, judged by the real RBAC authorizer: deploy/rbac.yaml is enough for every command, and
removing any one permission makes a named command fail, naming the missing verb and resource."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, Env, make_env, rbac_manifests
from e2e_cluster import ControlPlane
from e2e_kubelet import FakeKubelet

V2 = "registry.example/web:2.0"
V3 = "registry.example/web:3.0"
SMOKE = ("--smoke-path", "/healthz")
Obj = dict[str, Any]


def deploy(image: str, *extra: str) -> tuple[str, ...]:
    return ("deploy", "--service", "web", "--image", image, *extra)


ROLLBACK = ("rollback", "--service", "web")
STATUS = ("status", "--service", "web")

# Every path of the engine, each leaving the namespace ready for the next.
FULL_TOUR: list[tuple[tuple[str, ...], int]] = [
    (deploy(V2, *SMOKE), 0),  # adoption, first green, preview, lease create
    (ROLLBACK, 0),
    (deploy(V3, *SMOKE, "--after-switch", "scale-to-zero"), 0),  # update in place, scale the old one to 0
    (ROLLBACK, 0),  # scale it back up
    (STATUS, 0),
    (deploy("registry.example/web:4.0-crashloop", "--on-failure", "delete"), 1),  # pod log, delete
    (deploy("registry.example/web:5.0", "--after-switch", "delete"), 0),
]


def role_rules(docs: list[Obj]) -> list[Obj]:
    (role,) = [d for d in docs if d["kind"] == "Role"]
    return list(role["rules"])


def permissions() -> list[tuple[str, str]]:
    rules = role_rules(rbac_manifests("x"))
    return sorted({(r, v) for rule in rules for r in rule["resources"] for v in rule["verbs"]})


def without(docs: list[Obj], resource: str, verb: str) -> list[Obj]:
    docs = copy.deepcopy(docs)
    for d in docs:
        if d["kind"] == "Role":
            rules = []
            for rule in d["rules"]:
                if resource in rule["resources"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
                if rule["verbs"]:
                    rules.append(rule)
            d["rules"] = rules
    return docs


@pytest.fixture
def make(control_plane: ControlPlane, kubelet: FakeKubelet | None, needs_pods: None, tmp_path: Path) -> Any:
    made: list[Env] = []

    def build(docs: list[Obj] | None = None) -> Env:
        e = make_env(control_plane, kubelet, tmp_path / str(len(made)), rbac=docs)
        made.append(e)
        return e

    yield build
    for e in made:
        e.admin.delete(f"{control_plane.url}/api/v1/namespaces/{e.ns}", timeout=10)


def test_the_role_is_enough_for_every_command(make: Callable[..., Env]) -> None:
    env = make()
    env.seed_app(color=None)
    for args, code in FULL_TOUR:
        result = env.run(*args)
        assert result.exit_code == code, f"{' '.join(args)}:\n{result.log}"
        assert "needs `" not in result.log, result.log


def _first_deploy(env: Env) -> CliResult:
    return env.run(*deploy(V2, *SMOKE))


def _second_deploy(env: Env) -> CliResult:
    assert env.run(*deploy(V2), kubeconfig=env.admin_kubeconfig).exit_code == 0
    assert env.run(*ROLLBACK, kubeconfig=env.admin_kubeconfig).exit_code == 0
    return env.run(*deploy(V3))  # green exists: updated in place, lease updated


def _rollback_after_scale_to_zero(env: Env) -> CliResult:
    r = env.run(*deploy(V2, "--after-switch", "scale-to-zero"), kubeconfig=env.admin_kubeconfig)
    assert r.exit_code == 0, r.log
    return env.run(*ROLLBACK)


def _failed_deploy_deleted(env: Env) -> CliResult:
    return env.run(*deploy("registry.example/web:2.0-crashloop", "--on-failure", "delete"))


def _status(env: Env) -> CliResult:
    return env.run(*STATUS)


def _lock_wait(env: Env) -> CliResult:
    """Another run holds the lock and stops renewing: --lock-wait watches the Lease until its record has
    stayed unchanged for its (one second) duration on our own clock."""
    assert env.run(*deploy(V2), kubeconfig=env.admin_kubeconfig).exit_code == 0
    env.patch(
        "leases",
        "bluegreen-web",
        {"spec": {"holderIdentity": "gone-runner/1", "leaseDurationSeconds": 1}},
        group="coordination.k8s.io/v1",
    )
    return env.run(*deploy(V3, "--lock-wait", "60s"))


# The command that needs each permission before any switch (a failure there changes no traffic).
NEEDED_BY: dict[tuple[str, str], Callable[[Env], CliResult]] = {
    ("deployments", "get"): _first_deploy,
    ("deployments", "list"): _first_deploy,
    ("deployments", "watch"): _first_deploy,
    ("deployments", "create"): _first_deploy,
    ("deployments", "update"): _second_deploy,
    ("deployments", "patch"): _rollback_after_scale_to_zero,
    ("deployments", "delete"): _failed_deploy_deleted,
    ("services", "list"): _status,
    ("services", "create"): _first_deploy,
    ("services", "patch"): _first_deploy,
    ("services/proxy", "get"): _first_deploy,
    ("pods", "list"): _first_deploy,
    ("pods", "watch"): _first_deploy,
    ("pods/log", "get"): _failed_deploy_deleted,
    ("endpointslices", "list"): _first_deploy,
    ("endpointslices", "watch"): _first_deploy,
    ("leases", "get"): _first_deploy,
    ("leases", "create"): _first_deploy,
    ("leases", "patch"): _second_deploy,
    ("leases", "watch"): _lock_wait,
}
# Granted, but whose absence only skips a courtesy: the quota preflight (the controller still tells).
OPTIONAL = {("resourcequotas", "list")}


def test_every_permission_has_a_command_that_needs_it() -> None:
    assert set(permissions()) - OPTIONAL == set(NEEDED_BY)


def removals() -> list[Any]:
    # The live Service's EndpointSlices are watched from before the switch, and the switch waits until
    # that watch is open: without `watch` the release stops there, whatever the controller's timing.
    return [pytest.param(r, v, id=f"{r}-{v}") for r, v in permissions() if (r, v) not in OPTIONAL]


@pytest.mark.parametrize(("resource", "verb"), removals())
def test_removing_one_permission_fails_naming_it(make: Callable[..., Env], resource: str, verb: str) -> None:
    env = make(without(rbac_manifests("PLACEHOLDER"), resource, verb))
    env.seed_app()
    scenario = NEEDED_BY[(resource, verb)]
    result = scenario(env)
    assert result.exit_code == 1, result.log
    assert f"needs `{verb}` on `{resource}`" in result.log, result.log
    assert env.live_view() == env.live_before, "a run that lacked a permission changed the live Service"
