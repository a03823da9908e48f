"""What simulated pods run: the sample app, the image-tag failure conventions, custom handlers, logs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from bluegreen.sim.apps import AppRegistry, Behaviour, image_tag
from bluegreen.sim.errors import ApiError


def make_pod(
    image: str,
    name: str = "web-green-5d8f7-abcde",
    labels: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    containers: int = 1,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels or {"app": "web", "version": "green"},
        },
        "spec": {
            "containers": [
                {
                    "name": "web" if i == 0 else f"side{i}",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
                for i in range(containers)
            ]
        },
        "status": status or {"phase": "Running", "podIP": "10.244.0.7"},
    }


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("registry.example/web:1.0", "1.0"),
        ("registry.example:5000/team/web:2.1-slow", "2.1-slow"),
        ("web", "latest"),
        ("registry.example:5000/web", "latest"),
        ("web:3@sha256:abc", "3"),
    ],
)
def test_image_tag(image: str, tag: str) -> None:
    assert image_tag(image) == tag


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("r/web:1.0", Behaviour()),
        ("r/web:2.0-pullfail", Behaviour(pull_fails=True)),
        ("r/web:2.0-crashloop", Behaviour(crash_loops=True)),
        ("r/web:2.0-never-ready", Behaviour(never_ready=True)),
        ("r/web:2.0-smokefail", Behaviour(smoke_fails=True)),
        ("r/web:2.0-slow", Behaviour(ready_delay_factor=10.0)),
        # the convention reads the tag only: a repository called "slow" is an ordinary app
        ("r/slow/pullfail-app:1.0", Behaviour()),
    ],
)
def test_behaviour_from_tag(image: str, expected: Behaviour) -> None:
    assert AppRegistry().behaviour(image) == expected


def test_sample_app_names_pod_image_version_and_colour() -> None:
    pod = make_pod("registry.example/web:1.4")
    status, headers, body = AppRegistry().serve(pod, "POST", "/api/orders", "x=1", {}, b"{}")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "pod": "web-green-5d8f7-abcde",
        "image": "registry.example/web:1.4",
        "version": "1.4",
        "color": "green",
        "path": "/api/orders",
        "method": "POST",
    }


def test_sample_app_without_colour_label() -> None:
    pod = make_pod("registry.example/web:1.4", labels={"app": "web"})
    _, _, body = AppRegistry().serve(pod, "GET", "/", "", {}, b"")
    assert json.loads(body)["color"] is None


def test_sample_app_finds_a_custom_colour_label_by_its_value() -> None:
    pod = make_pod("registry.example/web:1.4", labels={"app": "web", "slot": "blue"})
    _, _, body = AppRegistry().serve(pod, "GET", "/", "", {}, b"")
    assert json.loads(body)["color"] == "blue"


def test_healthz_is_plain_ok() -> None:
    assert AppRegistry().serve(make_pod("r/web:1.0"), "GET", "/healthz", "", {}, b"")[::2] == (200, b"ok")


def test_smokefail_fails_everything_but_health_checks() -> None:
    apps = AppRegistry()
    pod = make_pod("r/web:2.0-smokefail")
    status, headers, body = apps.serve(pod, "GET", "/", "", {}, b"")
    assert status == 500
    assert headers["Content-Type"] == "application/json"
    assert "error" in json.loads(body)
    assert apps.serve(pod, "GET", "/healthz", "", {}, b"")[0] == 200
    assert apps.serve(pod, "GET", "/readyz", "", {}, b"")[0] == 200


def test_a_crashing_app_refuses_connections() -> None:
    status, _, body = AppRegistry().serve(make_pod("r/web:2.0-crashloop"), "GET", "/", "", {}, b"")
    assert status == 503
    assert b"connection refused" in body and b"10.244.0.7:8080" in body


def test_registered_handler_wins_for_its_prefix_and_latest_wins() -> None:
    apps = AppRegistry()

    def teapot(
        pod: dict[str, Any], method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return 418, {"X-Query": query}, body

    def gone(*_: Any) -> tuple[int, dict[str, str], bytes]:
        return 410, {}, b""

    apps.register("registry.example/tea", teapot)
    assert apps.serve(make_pod("registry.example/tea:1"), "PUT", "/", "a=b", {}, b"hi") == (
        418,
        {"X-Query": "a=b"},
        b"hi",
    )
    assert apps.serve(make_pod("registry.example/web:1"), "GET", "/", "", {}, b"")[0] == 200

    def tag_one(image: str) -> bool:
        return image.endswith(":1")

    apps.register(tag_one, gone)
    assert apps.serve(make_pod("registry.example/tea:1"), "GET", "/", "", {}, b"")[0] == 410

    apps.unregister(tag_one)
    assert apps.serve(make_pod("registry.example/tea:1"), "GET", "/", "", {}, b"")[0] == 418
    apps.unregister("registry.example/tea")
    assert apps.serve(make_pod("registry.example/tea:1"), "GET", "/", "", {}, b"")[0] == 200


def test_healthy_logs_show_start_up() -> None:
    lines = AppRegistry().logs(make_pod("r/web:1.0"))
    assert any("listening on 0.0.0.0:8080" in line for line in lines)
    assert lines[-1] == "ready"
    assert AppRegistry().logs(make_pod("r/web:1.0"), tail_lines=1) == ["ready"]
    assert AppRegistry().logs(make_pod("r/web:1.0"), tail_lines=0) == []


def test_crashloop_logs_end_with_the_error() -> None:
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "web",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1}},
            }
        ],
    }
    lines = AppRegistry().logs(make_pod("r/web:2.0-crashloop", status=status), "web")
    assert len(lines) >= 3
    assert "FATAL" in lines[-1] and "exiting with status 1" in lines[-1]


def test_logs_of_a_container_that_never_started_are_refused_like_the_api_server() -> None:
    status = {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "lastState": {}}
        ],
    }
    with pytest.raises(ApiError) as e:
        AppRegistry().logs(make_pod("r/web:2.0-pullfail", status=status))
    assert e.value.code == 400
    assert e.value.message == (
        'container "web" in pod "web-green-5d8f7-abcde" is waiting to start: trying and failing to pull image'
    )


def test_logs_need_a_container_name_when_there_are_several() -> None:
    with pytest.raises(ApiError) as e:
        AppRegistry().logs(make_pod("r/web:1.0", containers=2))
    assert "choose one of: [web side1]" in e.value.message
    with pytest.raises(ApiError) as e:
        AppRegistry().logs(make_pod("r/web:1.0"), "nope")
    assert e.value.message == "container nope is not valid for pod web-green-5d8f7-abcde"
