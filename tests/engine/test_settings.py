"""settings.py: validated settings; anything wrong is an InputError naming the flag, before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bluegreen import settings as s
from bluegreen.errors import ExitCode, InputError

DIGEST = "sha256:" + "0123456789abcdef" * 4


def flag_of(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    assert excinfo.value.exit_code == ExitCode.USAGE
    return excinfo.value.input_name


# ------------------------------------------------------------------------------------------------- image


@pytest.mark.parametrize(
    "image",
    [
        "web",
        "web:1.0",
        "web:latest",
        "library/web:1.0",
        "registry.example/team/web:1.4.2",
        "registry.example.com:443/team/sub/web:v1_2-rc.3",
        "localhost:5000/web:1.0",
        "localhost/web",
        "[::1]:5000/web:1.0",
        "Registry.Example/web:1",  # the domain may be upper-case, the repository may not
        f"web@{DIGEST}",
        f"registry.example/web@{DIGEST}",
        f"registry.example/web:1.0@{DIGEST}",
        "my_org/web__app/x-y--z:T",
        "web:" + "a" * 128,
    ],
)
def test_valid_image_references(image: str) -> None:
    assert s.validate_image(image) == image


def test_image_is_stripped() -> None:
    assert s.validate_image("  registry.example/web:1.0\n") == "registry.example/web:1.0"


@pytest.mark.parametrize("image", [None, "", "   "])
def test_empty_image(image: str | None) -> None:
    with pytest.raises(InputError) as e:
        s.validate_image(image)
    assert flag_of(e) == "--image"
    assert "is required and was empty" in str(e.value)


@pytest.mark.parametrize(
    "image",
    [
        "Web:1.0",  # upper-case repository
        "registry.example/Web:1.0",
        "registry.example/team/WEB",
        "web app:1.0",  # spaces
        "web:1.0 latest",
        "registry.example/ web",
        "web@sha256:abc",  # digest too short
        "web@sha256:" + "g" * 64,  # not hex
        "web@" + "0" * 64,  # no algorithm
        "web@sha256",
        "web:",
        ":1.0",
        "web:-rc1",  # tags start with a word character
        "web:" + "a" * 129,  # tags are at most 128 characters
        "-web",
        "web-",
        "web//app",
        "registry.example:port/web",
        "https://registry.example/web:1.0",
        "web:1.0:2.0",
    ],
)
def test_invalid_image_references(image: str) -> None:
    with pytest.raises(InputError) as e:
        s.validate_image(image)
    assert flag_of(e) == "--image"
    assert f"{image.strip()!r} is not a valid image reference" in str(e.value)
    assert "lower-case repository" in str(e.value)


@pytest.mark.parametrize("image", ["web:1.0\u00e9", "web:\u0661\u0662", "registry.example/web:v\u00b2"])
def test_non_ascii_tags_are_invalid(image: str) -> None:
    with pytest.raises(InputError):
        s.validate_image(image)


# ------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["web", "a", "0", "web-2", "a" * 63, "1-2-3"])
def test_valid_names(name: str) -> None:
    assert s.validate_name("--service", name) == name


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "web-", "a" * 64, "web.app", "web app", "w\u00e9b"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InputError) as e:
        s.validate_name("--deployment", name)
    assert flag_of(e) == "--deployment"
    assert f"{name!r} is not a valid Kubernetes name" in str(e.value)


def test_a_name_with_a_trailing_newline_is_invalid() -> None:
    with pytest.raises(InputError):
        s.validate_name("--service", "web\n")


def test_required_name_missing() -> None:
    for value in (None, ""):
        with pytest.raises(InputError) as e:
            s.validate_name("--service", value)
        assert flag_of(e) == "--service"
        assert str(e.value) == "--service: is required"


def test_optional_name_missing() -> None:
    assert s.validate_name("--deployment", None, required=False) is None
    assert s.validate_name("--deployment", "", required=False) is None


# ---------------------------------------------------------------------------------------------- timeouts


def test_timeout_default_and_valid_values() -> None:
    assert s.validate_timeout("--timeout", None, 600) == 600
    assert s.validate_timeout("--timeout", 1, 600) == 1.0
    assert isinstance(s.validate_timeout("--timeout", 30, 600), float)
    assert s.validate_timeout("--timeout", 0.5, 600) == 0.5
    assert s.validate_timeout("--timeout", s.MAX_TIMEOUT, 600) == s.MAX_TIMEOUT


@pytest.mark.parametrize("seconds", [0, -1, -0.001, s.MAX_TIMEOUT + 1, 10**12, float("inf"), float("-inf")])
def test_timeout_out_of_range(seconds: float) -> None:
    with pytest.raises(InputError) as e:
        s.validate_timeout("--timeout", seconds, 600)
    assert flag_of(e) == "--timeout"
    assert "seconds is out of range" in str(e.value)
    assert f"use 1 to {s.MAX_TIMEOUT} seconds" in str(e.value)


def test_timeout_nan_is_out_of_range() -> None:
    with pytest.raises(InputError):
        s.validate_timeout("--timeout", float("nan"), 600)


# ----------------------------------------------------------------------------------------------- choices


def test_choice() -> None:
    assert s.validate_choice("--after-switch", None, s.AFTER_SWITCH, "keep") == "keep"
    assert s.validate_choice("--after-switch", "", s.AFTER_SWITCH, "keep") == "keep"
    assert s.validate_choice("--after-switch", "delete", s.AFTER_SWITCH, "keep") == "delete"
    with pytest.raises(InputError) as e:
        s.validate_choice("--after-switch", "Delete", s.AFTER_SWITCH, "keep")
    assert flag_of(e) == "--after-switch"
    assert str(e.value) == "--after-switch: 'Delete' is not one of keep, scale-to-zero, delete"


# ------------------------------------------------------------------------------------------ DeploySettings


def common(service: str = "web", **kw: Any) -> s.Common:
    return s.Common(service=service, **kw)


def deploy(**kw: Any) -> s.DeploySettings:
    """DeploySettings from flat keyword arguments, as the flags read (the settings group them)."""
    kw.setdefault("common", common())
    kw.setdefault("image", "registry.example/web:2.0")
    smoke = {k.removeprefix("smoke_"): kw.pop(k) for k in list(kw) if k.startswith("smoke_")}
    finish = {k: kw.pop(k) for k in list(kw) if k in ("after_switch", "scale_down_delay")}
    locking = {k: kw.pop(k) for k in list(kw) if k in ("lock_duration", "lock_wait", "force_unlock")}
    return s.DeploySettings(
        **kw, smoke=s.Smoke(**smoke), finish=s.Finish(**finish), locking=s.Locking(**locking)
    )


def flat(d: s.DeploySettings) -> tuple[Any, ...]:
    return (d.smoke.via, d.finish.after_switch, d.on_failure)


def test_deploy_settings_defaults() -> None:
    d = deploy(image="  registry.example/web:2.0 ")
    assert d.image == "registry.example/web:2.0"
    assert d.preview_name == "web-preview"
    assert (d.color_label, *flat(d)) == ("version", "auto", "keep", "keep")
    assert (d.timeout, d.locking.lock_duration) == (s.DEFAULT_TIMEOUT, s.DEFAULT_LOCK_SECONDS)
    assert (d.finish.scale_down_delay, d.locking.lock_wait) == (s.DEFAULT_SCALE_DOWN_DELAY, 0)


def test_deploy_settings_choices_and_custom_values(tmp_path: Path) -> None:
    m = tmp_path / "deploy.yaml"
    m.write_text("kind: Deployment\n")
    d = deploy(
        preview_service="web-next",
        manifest=str(m),
        color_label="example.com/colour",
        smoke_via="proxy",
        after_switch="scale-to-zero",
        on_failure="delete",
        timeout=30,
        lock_duration=10,
        container="app",
        smoke_command="curl -f $URL",
    )
    assert d.preview_name == "web-next"
    assert flat(d) == ("proxy", "scale-to-zero", "delete")
    assert (d.timeout, d.locking.lock_duration) == (30.0, 10.0)


def test_deploy_settings_none_timeouts_mean_defaults() -> None:
    d = deploy(timeout=None, lock_duration=None, smoke_via=None, after_switch="", on_failure=None)
    assert (d.timeout, d.locking.lock_duration) == (s.DEFAULT_TIMEOUT, s.DEFAULT_LOCK_SECONDS)
    assert flat(d) == ("auto", "keep", "keep")


@pytest.mark.parametrize(
    ("kw", "flag", "words"),
    [
        ({"image": ""}, "--image", "is required"),
        ({"image": "Web:1"}, "--image", "not a valid image reference"),
        ({"deployment": "Web"}, "--deployment", "not a valid Kubernetes name"),
        ({"preview_service": "web_preview"}, "--preview-service", "not a valid Kubernetes name"),
        ({"preview_service": "web"}, "--preview-service", "must differ from --service"),
        ({"color_label": ""}, "--color-label", "'' is not a valid label key"),
        ({"color_label": "-version"}, "--color-label", "is not a valid label key"),
        ({"color_label": "Example.com/version"}, "--color-label", "is not a valid label key"),
        ({"color_label": "a/b/c"}, "--color-label", "is not a valid label key"),
        ({"color_label": "v" * 64}, "--color-label", "is not a valid label key"),
        ({"container": ""}, "--container", "is empty"),
        ({"manifest": "/nonexistent/deploy.yaml"}, "--manifest", "does not exist or is not a file"),
        ({"smoke_command": "   "}, "--smoke-command", "is empty"),
        ({"smoke_via": "ssh"}, "--smoke-via", "'ssh' is not one of auto, proxy, direct"),
        ({"after_switch": "drop"}, "--after-switch", "is not one of keep, scale-to-zero, delete"),
        ({"on_failure": "scale-to-zero"}, "--on-failure", "is not one of keep, delete"),
        ({"timeout": 0}, "--timeout", "0 seconds is out of range"),
        ({"timeout": -5}, "--timeout", "-5 seconds is out of range"),
        ({"timeout": 10**9}, "--timeout", "out of range"),
        ({"lock_duration": 0}, "--lock-duration", "out of range"),
        ({"lock_duration": 9.5}, "--lock-duration", "9.5 seconds is too short"),
    ],
)
def test_deploy_settings_invalid(kw: dict[str, Any], flag: str, words: str) -> None:
    with pytest.raises(InputError) as e:
        deploy(**kw)
    assert flag_of(e) == flag
    assert words in str(e.value)


def test_manifest_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        deploy(manifest=str(tmp_path))
    assert flag_of(e) == "--manifest"


def test_valid_colour_labels() -> None:
    for label in ("version", "track", "example.com/colour", "app.kubernetes.io/version", "V_1.x", "a"):
        assert deploy(color_label=label).color_label == label


def test_default_preview_name_of_a_long_service_is_checked() -> None:
    svc = "s" * 60
    try:
        d = deploy(common=common(svc))
    except InputError as e:
        assert e.input_name == "--preview-service"
        return
    s.validate_name("--preview-service", d.preview_name)


# --------------------------------------------------------------------------------- Common, Connection, ...


def test_common_service_is_required_and_valid() -> None:
    assert common("web").service == "web"
    for bad, words in (("", "is required"), ("Web", "not a valid Kubernetes name")):
        with pytest.raises(InputError) as e:
            common(bad)
        assert flag_of(e) == "--service"
        assert words in str(e.value)


def test_connection(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text("apiVersion: v1\n")
    assert s.Connection(kubeconfig=str(kc), namespace="prod").namespace == "prod"
    assert s.Connection().namespace is None
    with pytest.raises(InputError) as e:
        s.Connection(kubeconfig=str(tmp_path / "missing"))
    assert flag_of(e) == "--kubeconfig"
    with pytest.raises(InputError) as e:
        s.Connection(kubeconfig=str(tmp_path))
    assert flag_of(e) == "--kubeconfig"
    with pytest.raises(InputError) as e:
        s.Connection(namespace="Prod")
    assert flag_of(e) == "--namespace"


def test_rollback_settings() -> None:
    r = s.RollbackSettings(common=common())
    assert (r.timeout, r.locking.lock_duration) == (s.DEFAULT_TIMEOUT, s.DEFAULT_LOCK_SECONDS)
    # what click passes for an empty input
    # (the fields are annotated `float | str`, but the CLI passes None through from click's `Any`)
    unset = s.RollbackSettings(
        common=common(),
        timeout=None,  # type: ignore[arg-type]
        locking=s.Locking(lock_duration=None),  # type: ignore[arg-type]
    )
    assert unset.timeout == s.DEFAULT_TIMEOUT
    with pytest.raises(InputError) as e:
        s.RollbackSettings(common=common(), timeout=0)
    assert flag_of(e) == "--timeout"
    with pytest.raises(InputError) as e:
        s.RollbackSettings(common=common(), locking=s.Locking(lock_duration=-1))
    assert flag_of(e) == "--lock-duration"


def test_input_error_reads_as_one_line_with_its_hint() -> None:
    with pytest.raises(InputError) as e:
        s.validate_image("Web")
    err = e.value
    assert str(err) == f"{err.message}; {err.hint}"
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("45", 45.0)]
)
def test_durations_are_accepted_wherever_seconds_are(value: str, seconds: float) -> None:
    d = deploy(timeout=value, lock_duration=value, scale_down_delay=value)
    assert (d.timeout, d.locking.lock_duration, d.finish.scale_down_delay) == (seconds, seconds, seconds)
