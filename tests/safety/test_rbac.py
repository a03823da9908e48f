"""Least privilege: deploy/rbac.yaml is exactly what bluegreen needs, no more and no less.

The Role's rules are granted to a token user of a simulated cluster with RBAC on. Every release path
(adoption, second release, scale-to-zero, delete, on-failure delete, rollback, status) passes under exactly
that Role, every rule is used, and removing any single verb makes a run fail with exit 1 and a line
naming the missing permission, before the switch (live Service unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bluegreen.sim import SimCluster
from tests.helpers import CliResult, live_view, run_cli
from tests.safety import NS, V2, V3, WEB, assert_live_serves_ready, make_watches_matter

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
USER = "system:serviceaccount:default:bluegreen"
TOKEN = "bluegreen-sa-token-3f9c2a"

Rules = list[dict[str, Any]]


def manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC.read_text()) if d]


def role_rules() -> Rules:
    (role,) = [d for d in manifests() if d["kind"] == "Role"]
    return list(role["rules"])


def permissions(rules: Rules) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def without(rules: Rules, resource: str, verb: str) -> Rules:
    out = []
    for rule in rules:
        if resource in rule["resources"]:
            rule = {**rule, "verbs": [v for v in rule["verbs"] if v != verb]}
        if rule["verbs"]:
            out.append(rule)
    return out


class Cluster:
    """A simulated cluster with RBAC on; `admin` and `bot` kubeconfigs; the bot holds the given rules."""

    def __init__(self, tmp: Path, rules: Rules, *, color: str | None = "blue") -> None:
        self.sim = SimCluster(rbac=True).start()
        self.sim.add_token(TOKEN, USER)
        self.sim.grant(USER, NS, rules)
        self.sim.seed_app(color=color)
        (tmp / "bot").mkdir(parents=True)
        self.admin = self.sim.write_kubeconfig(tmp / "admin.kubeconfig")
        self.bot = self.sim.write_kubeconfig(tmp / "bot" / "kubeconfig", token=TOKEN)

    def run(self, kubeconfig: Path, *args: str) -> CliResult:
        # Watches must matter (see make_watches_matter), or a missing `watch` could pass by luck.
        undo = make_watches_matter(self.sim)
        try:
            return run_cli(kubeconfig, *args)
        finally:
            undo()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Any:
    made: list[Cluster] = []

    def make(rules: Rules, **kw: Any) -> Cluster:
        c = Cluster(tmp_path / str(len(made)), rules, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.sim.stop()


def deploy(image: str, *extra: str) -> tuple[str, ...]:
    return ("deploy", "--service", WEB, "--image", image, *extra)


ROLLBACK = ("rollback", "--service", WEB)
STATUS = ("status", "--service", WEB)
SMOKE = ("--smoke-path", "/healthz")

# Every path of the engine, in an order where each one leaves the cluster ready for the next.
FULL_TOUR: list[tuple[tuple[str, ...], int]] = [
    (deploy(V2, *SMOKE), 0),  # adoption, first green, preview, lease create
    (ROLLBACK, 0),  # back to a running colour
    (deploy(V3, *SMOKE, "--after-switch", "scale-to-zero"), 0),  # update in place, scale the old one to 0
    (ROLLBACK, 0),  # scale it back up
    (STATUS, 0),
    (deploy("registry.example/web:4.0-crashloop", "--on-failure", "delete"), 1),  # logs, delete
    (deploy("registry.example/web:5.0", "--after-switch", "delete"), 0),
]
# Granted, but whose absence only skips a courtesy: the quota preflight (the controller still tells).
OPTIONAL = {("", "resourcequotas", "list")}


def test_the_manifest_is_namespaced_and_has_no_wildcards() -> None:
    kinds = sorted(d["kind"] for d in manifests())
    assert kinds == ["Role", "RoleBinding", "ServiceAccount"]
    binding = next(d for d in manifests() if d["kind"] == "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "bluegreen",
    }
    # Namespace-agnostic: `kubectl apply -n shop -f deploy/rbac.yaml` puts all three in shop, and a
    # RoleBinding's ServiceAccount subject without a namespace means the binding's own namespace.
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "bluegreen"}]
    assert all("namespace" not in d["metadata"] for d in manifests())
    for rule in role_rules():
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert "deletecollection" not in rule["verbs"] and "escalate" not in rule["verbs"]
    # every rule carries a comment saying why (the line before it)
    lines = RBAC.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[i - 1].strip().startswith("#"), f"rule at line {i + 1} has no comment"


def test_every_path_passes_under_exactly_the_role_and_uses_every_rule(make_cluster: Any) -> None:
    c = make_cluster(role_rules(), color=None)
    used: set[tuple[str, str, str]] = set()
    for args, code in FULL_TOUR:
        c.sim.clear_requests()
        result = c.run(c.bot, *args)
        assert result.exit_code == code, f"{' '.join(args)}:\n{result.log}"
        assert "needs `" not in result.log, result.log
        for rec in c.sim.requests:
            if rec.status == 403:
                # The one check bluegreen makes without asking for it: the Namespace (cluster-scoped).
                assert (rec.resource, rec.verb) == ("namespaces", "get"), rec
                continue
            res = f"{rec.resource}/{rec.subresource}" if rec.subresource else rec.resource
            group = rec.path.split("/")[2] if rec.path.startswith("/apis/") else ""
            used.add((group, str(res), rec.verb))
        assert_live_serves_ready(c.sim)
    # The lock's watch is needed only while waiting for another run's lock.
    lease = c.sim.get("leases", NS, "bluegreen-web")
    lease["spec"].update(holderIdentity="gone-runner/1", leaseDurationSeconds=1)
    c.sim.apply(lease)
    c.sim.clear_requests()
    assert c.run(c.bot, *deploy(V3, "--lock-wait", "30s")).exit_code == 0
    used |= {
        (r.path.split("/")[2] if r.path.startswith("/apis/") else "", str(r.resource), r.verb)
        for r in c.sim.requests
        if r.status != 403 and r.resource == "leases"
    }
    # Least privilege: the Role grants nothing that this tour did not use.
    assert permissions(role_rules()) == used


def _first_deploy(c: Cluster) -> CliResult:
    return c.run(c.bot, *deploy(V2, *SMOKE))


def _second_deploy(c: Cluster) -> CliResult:
    assert c.run(c.admin, *deploy(V2)).exit_code == 0
    assert c.run(c.admin, *ROLLBACK).exit_code == 0  # blue live again, green (2.0) exists: update it in place
    return c.run(c.bot, *deploy(V3))


def _rollback_after_scale_to_zero(c: Cluster) -> CliResult:
    assert c.run(c.admin, *deploy(V2, "--after-switch", "scale-to-zero")).exit_code == 0
    return c.run(c.bot, *ROLLBACK)


def _failed_deploy_deleted(c: Cluster) -> CliResult:
    return c.run(c.bot, *deploy("registry.example/web:2.0-crashloop", "--on-failure", "delete"))


def _status(c: Cluster) -> CliResult:
    return c.run(c.bot, *STATUS)


def _lock_wait(c: Cluster) -> CliResult:
    """Another run holds the lock and stops renewing: --lock-wait watches the Lease until its record has
    stayed unchanged for its (one second) duration on our own clock, then takes it."""
    assert c.run(c.admin, *deploy(V2)).exit_code == 0
    lease = c.sim.get("leases", NS, "bluegreen-web")
    lease["spec"].update(holderIdentity="gone-runner/1", leaseDurationSeconds=1)
    c.sim.apply(lease)
    return c.run(c.bot, *deploy(V3, "--lock-wait", "30s"))


# Where each permission is needed before any switch (a run that fails there changes no traffic).
NEEDED_BY: dict[tuple[str, str], Callable[[Cluster], CliResult]] = {
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

KNOWN: dict[tuple[str, str], Any] = {}


def removals() -> list[Any]:
    out = []
    for _group, resource, verb in sorted(permissions(role_rules()) - OPTIONAL):
        marks = [KNOWN[(resource, verb)]] if (resource, verb) in KNOWN else []
        out.append(pytest.param(resource, verb, marks=marks, id=f"{resource}-{verb}"))
    return out


def test_every_permission_has_a_path_that_needs_it() -> None:
    assert {(r, v) for _, r, v in permissions(role_rules()) - OPTIONAL} == set(NEEDED_BY)


def test_without_the_optional_quota_read_a_release_still_passes(make_cluster: Any) -> None:
    c = make_cluster(without(role_rules(), "resourcequotas", "list"))
    result = c.run(c.bot, *deploy(V2, *SMOKE))
    assert result.exit_code == 0, result.log


@pytest.mark.parametrize(("resource", "verb"), removals())
def test_removing_one_permission_fails_clearly_before_the_switch(
    make_cluster: Any, resource: str, verb: str
) -> None:
    c = make_cluster(without(role_rules(), resource, verb))
    scenario = NEEDED_BY[(resource, verb)]
    seen: list[str] = []
    c.sim.on_request(lambda rec: seen.append(live_view(c.sim)) if rec.user == USER and not seen else None)
    result = scenario(c)
    assert seen, "the restricted account made no request"
    assert result.exit_code == 1, result.log
    assert f"needs `{verb}` on `{resource}`" in result.log, result.log
    assert f"in namespace '{NS}'" in result.log
    assert result.outputs["SWITCHED"] == "false"
    assert live_view(c.sim) == seen[0], "a run that lacked a permission changed the live Service"
    assert_live_serves_ready(c.sim)


def test_missing_permission_after_the_switch_does_not_claim_live_untouched(make_cluster: Any) -> None:
    c = make_cluster(without(role_rules(), "deployments", "patch"))
    result = c.run(c.bot, *deploy(V2, "--after-switch", "scale-to-zero"))
    assert c.sim.get("services", NS, WEB)["spec"]["selector"]["version"] == "green"
    assert "needs `patch` on `deployments`" in result.log
    # Traffic moved and was verified: exit 1 ("live untouched") would be false; warn and exit 0.
    assert result.exit_code == 0, result.log


def test_status_needs_only_read_access(make_cluster: Any) -> None:
    """A read-only account (get/list only) can run status: the documented way to look before acting."""
    reader = [
        r
        for r in (
            {**rule, "verbs": [v for v in rule["verbs"] if v in ("get", "list")]}
            for rule in role_rules()
            if rule["resources"] != ["services/proxy"]
        )
        if r["verbs"]
    ]
    c = make_cluster(reader)
    result = run_cli(c.bot, *STATUS)
    assert result.exit_code == 0, result.log
    assert "live colour blue" in result.stdout


def test_a_token_without_any_grant_is_told_what_to_grant(make_cluster: Any) -> None:
    c = make_cluster([])
    before = live_view(c.sim)
    result = run_cli(c.bot, *deploy(V2))
    assert result.exit_code == 1
    assert "the service account needs `list` on `services` in namespace 'default'" in result.log
    assert live_view(c.sim) == before
    assert c.sim.write_requests() == [] or all(r.status == 403 for r in c.sim.write_requests())
