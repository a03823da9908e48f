"""The release lock's pure parts: lease names, identities, how a holder is described, expiry on our clock."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from bluegreen.errors import ConcurrentChange, ExitCode
from bluegreen.kube import Kube
from bluegreen.lock import (
    Observation,
    ReleaseLock,
    describe_holder,
    free_in,
    held_line,
    holder_identity,
    lease_name,
    observe,
    other_release,
)

Obj = dict[str, Any]
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def lease(
    holder: str | None, *, rv: str = "7", renew: str = "2026-12-03T10:00:05.000000Z", **spec: Any
) -> Obj:
    s: Obj = {
        "leaseDurationSeconds": 60,
        "acquireTime": "2026-12-03T10:00:00.123456Z",
        "renewTime": renew,
        **spec,
    }
    if holder is not None:
        s["holderIdentity"] = holder
    return {"metadata": {"name": "bluegreen-web", "resourceVersion": rv}, "spec": s}


# ------------------------------------------------------------------------------------------- names


def test_lease_name_is_bluegreen_service_when_it_fits() -> None:
    assert lease_name("web") == "bluegreen-web"
    fits = "a" * 53
    assert lease_name(fits) == f"bluegreen-{fits}"


def test_long_service_names_that_share_their_first_characters_get_different_leases() -> None:
    common = "payments-api-" + "x" * 47  # 60 characters in common
    a, b = common + "-eu", common + "-us"
    assert lease_name(a) != lease_name(b)
    for name in (lease_name(a), lease_name(b)):
        assert len(name) <= 63 and DNS_SUBDOMAIN.match(name), name
        assert name.startswith("bluegreen-payments-api-")
    assert lease_name(a) == lease_name(a), "the name must be stable from run to run"


def test_a_cut_lease_name_never_equals_a_shorter_services_lease() -> None:
    long = "s" * 63
    cut = lease_name(long)
    # A Service name cannot hold a dot, so no Service's plain lease name can be the cut one.
    assert "." in cut.removeprefix("bluegreen-")


def test_a_cut_name_does_not_end_in_a_dash_before_its_hash() -> None:
    name = lease_name("a" * 41 + "-" + "b" * 30)
    assert "-." not in name and DNS_SUBDOMAIN.match(name)


# ------------------------------------------------------------------------------------- identities


def test_identity_names_the_github_run_and_job_with_a_per_run_nonce() -> None:
    env = {
        "GITHUB_RUN_ID": "77",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_REPOSITORY": "shop/web",
        "GITHUB_JOB": "eu",
    }
    first, second = holder_identity(env), holder_identity(env)
    assert first.startswith("github:shop/web/actions/runs/77#2/eu/")
    assert first != second, "two jobs of one workflow run must not share the lock"


def test_identity_outside_ci_names_host_and_process() -> None:
    ident = holder_identity({})
    assert re.match(r"^[^:]+:\d+/[0-9a-f]{6}$", ident), ident


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (
            "github:shop/web/actions/runs/4242#1",
            "another bluegreen run: GitHub Actions run https://github.com/shop/web/actions/runs/4242",
        ),
        (
            "github:shop/web/actions/runs/4242#3/deploy/ab12cd",
            "another bluegreen run: GitHub Actions run https://github.com/shop/web/actions/runs/4242"
            " (job deploy, attempt 3)",
        ),
        (
            "github:shop/web/actions/runs/4242#1/ab12cd",
            "another bluegreen run: GitHub Actions run https://github.com/shop/web/actions/runs/4242",
        ),
        (
            "github@ghe.example.com:shop/web/actions/runs/9#1/ab12cd",
            "another bluegreen run: GitHub Actions run https://ghe.example.com/shop/web/actions/runs/9",
        ),
        (
            "gitlab@gitlab.example.com:group/web/jobs/55/ab12cd",
            "another bluegreen run: GitLab CI job https://gitlab.example.com/group/web/-/jobs/55",
        ),
        ("gitlab:group/web/jobs/55/ab12cd", "another bluegreen run: GitLab CI job 55 of group/web"),
        ("jenkins:jenkins-web-12/ab12cd", "another bluegreen run: Jenkins build jenkins-web-12"),
        ("laptop.local:4711/ab12cd", "another bluegreen run: process 4711 on host laptop.local"),
        ("kube-controller-manager", "another holder: kube-controller-manager"),
    ],
)
def test_other_release_names_the_run_behind_an_identity(identity: str, expected: str) -> None:
    assert other_release(identity) == expected


def test_other_release_reads_what_holder_identity_writes() -> None:
    env = {
        "GITHUB_RUN_ID": "5",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_SERVER_URL": "https://ghe.corp",
        "GITHUB_JOB": "deploy",
    }
    assert other_release(holder_identity(env)) == (
        "another bluegreen run: GitHub Actions run https://ghe.corp/o/r/actions/runs/5 (job deploy)"
    )
    gitlab = {"CI_JOB_ID": "8", "CI_PROJECT_PATH": "g/p", "CI_SERVER_URL": "https://gitlab.com"}
    assert other_release(holder_identity(gitlab)) == (
        "another bluegreen run: GitLab CI job https://gitlab.com/g/p/-/jobs/8"
    )


# ------------------------------------------------------------------------------------- describing


def test_describe_holder_says_who_and_since_by_its_own_record() -> None:
    text = describe_holder(lease("github:shop/web/actions/runs/4242#1"))
    assert text == (
        "github:shop/web/actions/runs/4242#1 (acquired 2026-12-03T10:00:00Z, "
        "renewed at 2026-12-03T10:00:05Z by the holder's clock, lease duration 60s)"
    )


def test_a_released_or_missing_lease_has_no_holder() -> None:
    assert describe_holder(lease(None)) is None
    assert describe_holder(lease("")) is None
    assert describe_holder(None) is None


def test_held_line_says_who_and_when_it_frees_by_our_observation() -> None:
    obs = observe(lease("run-2"), 100.0, None, 30.0)
    assert held_line(lease("run-2"), obs, 118.2) == (
        "held by run-2 (acquired 2026-12-03T10:00:00Z by its clock); free in 42s unless it renews"
    )


# ----------------------------------------------------------------------------- expiry on our clock


def test_an_unchanged_record_keeps_its_first_sighting() -> None:
    first = observe(lease("run-2"), 10.0, None, 30.0)
    again = observe(lease("run-2"), 69.0, first, 30.0)
    assert again is first
    assert free_in(again, 69.0) == 1.0
    assert free_in(again, 70.0) <= 0


def test_a_renewal_or_any_write_starts_the_count_again() -> None:
    first = observe(lease("run-2"), 10.0, None, 30.0)
    renewed = observe(lease("run-2", renew="2026-12-03T10:00:25.000000Z", rv="8"), 65.0, first, 30.0)
    assert renewed.seen_at == 65.0 and free_in(renewed, 70.0) == 55.0
    touched = observe(lease("run-2", rv="9", renew="2026-12-03T10:00:25.000000Z"), 66.0, renewed, 30.0)
    assert touched.seen_at == 66.0


def test_the_holders_timestamps_never_decide_expiry() -> None:
    # A renewTime from the far past (or a holder whose clock is slow) is not "expired" on first sight.
    ancient = lease("run-2", renew="2001-01-01T00:00:00.000000Z")
    obs = observe(ancient, 500.0, None, 30.0)
    assert free_in(obs, 500.0) == 60.0


def test_a_released_lease_is_free_at_once() -> None:
    assert free_in(observe(lease(None), 0.0, None, 30.0), 0.0) <= 0
    assert free_in(observe(lease(""), 0.0, None, 30.0), 0.0) <= 0


def test_a_record_without_a_valid_duration_gets_ours() -> None:
    obs = observe(lease("run-2", leaseDurationSeconds=None), 0.0, None, 45.0)
    assert obs == Observation("run-2", "2026-12-03T10:00:05.000000Z", "7", 45.0, 0.0)


# ------------------------------------------------------------------------------------- check_lease


def offline_lock(identity: str = "me") -> ReleaseLock:
    return ReleaseLock(cast(Kube, None), "web", duration=30, identity=identity, monotonic=lambda: 0.0)


def test_check_lease_passes_while_the_lease_is_ours() -> None:
    offline_lock().check_lease(lease("me"))


def test_check_lease_names_the_run_that_holds_it_now() -> None:
    with pytest.raises(ConcurrentChange) as err:
        offline_lock().check_lease(lease("github:shop/web/actions/runs/4242#1/deploy/ab12cd"))
    assert err.value.exit_code == ExitCode.CONCURRENT
    assert "github:shop/web/actions/runs/4242#1/deploy/ab12cd" in str(err.value)
    assert "https://github.com/shop/web/actions/runs/4242" in str(err.value)


def test_check_lease_refuses_a_released_or_deleted_lease() -> None:
    with pytest.raises(ConcurrentChange, match="released"):
        offline_lock().check_lease(lease(None))
    with pytest.raises(ConcurrentChange, match="deleted"):
        offline_lock().check_lease(None)


def test_check_raises_once_lost_is_set() -> None:
    lock = offline_lock()
    lock.check()
    lock.lost = "lease/bluegreen-web was taken over by run-9"
    with pytest.raises(ConcurrentChange, match="taken over by run-9") as err:
        lock.check()
    assert err.value.exit_code == 4
    with pytest.raises(ConcurrentChange, match="run-9"):
        lock.check_lease(lease("me"))
