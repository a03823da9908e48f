"""Smoke reach, decided before anything is written: which route, which port, which scheme."""

from __future__ import annotations

import pytest

from bluegreen.errors import InputError
from bluegreen.targets import check_reach, proxy_id, smoke_port, speaks_https


def test_direct_outside_a_cluster_fails_before_anything_is_written() -> None:
    with pytest.raises(InputError) as e:
        check_reach("direct", in_cluster=False)
    assert str(e.value).startswith("--smoke-via: direct reaches the Service through cluster DNS")
    assert "--smoke-via proxy" in str(e.value)


@pytest.mark.parametrize(("via", "in_cluster"), [("direct", True), ("proxy", False), ("auto", False)])
def test_reachable_routes_pass(via: str, in_cluster: bool) -> None:
    check_reach(via, in_cluster)


def test_unknown_route_is_refused() -> None:
    with pytest.raises(InputError, match="is not one of auto, proxy, direct"):
        check_reach("dns", in_cluster=True)


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"name": "http", "port": 80}, "web:http"),
        ({"port": 8080}, "web:8080"),
        ({"name": "https", "port": 8443}, "https:web:https"),
        ({"name": "web", "port": 443}, "https:web:web"),
        ({"name": "api", "port": 9000, "appProtocol": "https"}, "https:web:api"),
        ({"name": "https", "port": 443, "appProtocol": "http"}, "web:https"),  # appProtocol decides
        ({"name": "https-admin", "port": 9443}, "https:web:https-admin"),
    ],
)
def test_proxy_path_grammar_scheme_name_port(port: dict[str, object], expected: str) -> None:
    assert proxy_id("web", port) == expected


def test_port_by_name_or_number() -> None:
    svc = {
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9090}]},
    }
    assert smoke_port(svc, "9090")["name"] == "admin"
    assert smoke_port(svc, "admin")["port"] == 9090
    assert smoke_port(svc)["name"] == "http"
    assert not speaks_https(smoke_port(svc))
