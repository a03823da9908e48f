"""One typed, validated settings object per command, built from flags / BLUEGREEN_* env / action inputs.

Validation here needs no cluster: anything wrong is an InputError naming the flag, raised before any
request is made. Checks that need the cluster's view (does the container exist?) live in plan.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bluegreen.errors import InputError

AFTER_SWITCH = ("keep", "scale-to-zero", "delete")
ON_FAILURE = ("keep", "delete")
SMOKE_VIA = ("auto", "proxy", "direct")

MAX_TIMEOUT = 24 * 3600
DEFAULT_TIMEOUT = 600
DEFAULT_LOCK_SECONDS = 60
DEFAULT_SCALE_DOWN_DELAY = 30  # as Argo Rollouts' scaleDownDelaySeconds: load balancers follow a switch late
DEFAULT_LOCK_WAIT = 0
DEFAULT_COLOR_LABEL = "version"

# The choices and defaults the CLI, action.yml and the README document; defined once, here.
DEFAULTS: dict[str, object] = {
    "timeout": f"{DEFAULT_TIMEOUT}s",
    "lock-duration": f"{DEFAULT_LOCK_SECONDS}s",
    "lock-wait": f"{DEFAULT_LOCK_WAIT}s",
    "scale-down-delay": f"{DEFAULT_SCALE_DOWN_DELAY}s",
    "color-label": DEFAULT_COLOR_LABEL,
    "smoke-via": "auto",
    "after-switch": "keep",
    "on-failure": "keep",
}

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(flag: str, value: str | float | None) -> float | None:
    """Seconds from "90", "90s", "10m", "1h30m" (as Go's durations read); None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.fullmatch(text)
    if not m or not any(m.groups()):
        raise InputError(
            flag, f"{value!r} is not a duration", hint="use seconds (90) or a duration: 90s, 10m, 1h30m"
        )
    h, mi, sec = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + sec


# The reference grammar of distribution/reference (docker/distribution), simplified only in that the
# domain part is not length-checked: [domain[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)
# Kubernetes object names (RFC 1123 DNS label for Services, subdomain for Deployments; we use the
# stricter label rule for both, since Deployment names end up in pod names).
NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_KEY_RE = re.compile(
    r"(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
    re.ASCII,
)


def validate_image(image: str | None) -> str:
    if not image or not image.strip():
        raise InputError(
            "--image",
            "is required and was empty",
            hint="pass the image to deploy, e.g. registry.example.com/web:1.4.2",
        )
    image = image.strip()
    if not IMAGE_RE.fullmatch(image):
        raise InputError(
            "--image",
            f"{image!r} is not a valid image reference",
            hint="expected [registry/]repository[:tag][@sha256:digest], lower-case repository",
        )
    return image


def validate_name(flag: str, value: str | None, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise InputError(flag, "is required")
        return None
    if len(value) > 63 or not NAME_RE.fullmatch(value):
        raise InputError(
            flag,
            f"{value!r} is not a valid Kubernetes name",
            hint="use lower-case letters, digits and '-', at most 63 characters",
        )
    return value


def validate_timeout(flag: str, seconds: float | str | None, default: float) -> float:
    seconds = parse_duration(flag, seconds)
    if seconds is None:
        return default
    if not 0 < seconds <= MAX_TIMEOUT:  # also catches NaN
        raise InputError(flag, f"{seconds:g} seconds is out of range", hint=f"use 1 to {MAX_TIMEOUT} seconds")
    return float(seconds)


def validate_delay(flag: str, seconds: float | str | None, default: float) -> float:
    """A wait that may be 0 (off)."""
    value = parse_duration(flag, seconds)
    if value is None:
        return default
    if not 0 <= value <= MAX_TIMEOUT:
        raise InputError(flag, f"{value:g} seconds is out of range", hint=f"use 0 to {MAX_TIMEOUT} seconds")
    return value


def validate_lock_duration(seconds: float | str | None) -> float:
    value = validate_timeout("--lock-duration", seconds, DEFAULT_LOCK_SECONDS)
    if value < 10:
        raise InputError(
            "--lock-duration",
            f"{value:g} seconds is too short",
            hint="use at least 10 seconds; the lock is renewed while the release runs",
        )
    return value


def validate_choice(flag: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if value not in choices:
        raise InputError(flag, f"{value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Connection:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # None: the context's namespace, else "default"

    def __post_init__(self) -> None:
        if self.kubeconfig:
            p = Path(self.kubeconfig)
            if not p.is_file():
                raise InputError(
                    "--kubeconfig",
                    f"{self.kubeconfig} does not exist or is not a file",
                    hint="check the path, or leave --kubeconfig out to use $KUBECONFIG or ~/.kube/config",
                )
        validate_name("--namespace", self.namespace, required=False)


@dataclass(frozen=True)
class Common:
    """What every command shares: where the cluster is, what the Service is, how to report."""

    service: str
    connection: Connection = field(default_factory=Connection)
    output_file: str | None = None
    json: bool = False
    debug: bool = False
    also: tuple[str, ...] = ()  # further Services switched together with ``service`` (which holds the state)

    def __post_init__(self) -> None:
        validate_name("--service", self.service)
        for name in self.also:
            validate_name("--service", name)
        if len(set(self.services)) != len(self.services):
            raise InputError("--service", "names the same Service twice")

    @property
    def services(self) -> list[str]:
        return [self.service, *self.also]


@dataclass(frozen=True)
class Locking:
    """How a command that writes takes the release lock."""

    force_unlock: bool = False
    lock_duration: float | str = DEFAULT_LOCK_SECONDS
    lock_wait: float | str = DEFAULT_LOCK_WAIT

    def __post_init__(self) -> None:
        object.__setattr__(self, "lock_duration", validate_lock_duration(self.lock_duration))
        object.__setattr__(
            self, "lock_wait", validate_delay("--lock-wait", self.lock_wait, DEFAULT_LOCK_WAIT)
        )


@dataclass(frozen=True)
class Smoke:
    """Smoke checks: HTTP paths, a file of checks, the user's own command, and how to reach the Service."""

    paths: tuple[str, ...] = ()
    file: str | None = None
    command: str | None = None
    via: str = "auto"
    port: str | None = None

    def __post_init__(self) -> None:
        if self.command is not None and not self.command.strip():
            raise InputError("--smoke-command", "is empty")
        object.__setattr__(self, "via", validate_choice("--smoke-via", self.via, SMOKE_VIA, "auto"))
        if self.file is not None and not Path(self.file).is_file():
            raise InputError("--smoke-file", f"{self.file} does not exist or is not a file")

    @property
    def any(self) -> bool:
        return bool(self.paths or self.file or self.command)


@dataclass(frozen=True)
class Finish:
    """What happens after a verified switch."""

    after_switch: str = "keep"
    scale_down_delay: float | str = DEFAULT_SCALE_DOWN_DELAY

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "after_switch", validate_choice("--after-switch", self.after_switch, AFTER_SWITCH, "keep")
        )
        object.__setattr__(
            self,
            "scale_down_delay",
            validate_delay("--scale-down-delay", self.scale_down_delay, DEFAULT_SCALE_DOWN_DELAY),
        )


@dataclass(frozen=True)
class DeploySettings:
    common: Common
    image: str
    deployment: str | None = None
    container: str | None = None
    manifest: str | None = None
    color_label: str = DEFAULT_COLOR_LABEL
    preview_service: str | None = None
    smoke: Smoke = field(default_factory=Smoke)
    finish: Finish = field(default_factory=Finish)
    locking: Locking = field(default_factory=Locking)
    timeout: float | str = DEFAULT_TIMEOUT
    on_failure: str = "keep"
    hold: bool = False
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", validate_image(self.image))
        validate_name("--deployment", self.deployment, required=False)
        validate_name("--preview-service", self.preview_service, required=False)
        if self.preview_service in self.common.services:
            raise InputError(
                "--preview-service",
                "must differ from --service",
                hint="the preview Service is internal and selects only the new colour",
            )
        if not self.color_label or not LABEL_KEY_RE.fullmatch(self.color_label):
            raise InputError(
                "--color-label",
                f"{self.color_label!r} is not a valid label key",
                hint="a label key is [prefix/]name: letters, digits, '-', '_', '.' (e.g. version)",
            )
        if self.container is not None and not self.container:
            raise InputError("--container", "is empty")
        if self.manifest is not None and not Path(self.manifest).is_file():
            raise InputError(
                "--manifest",
                f"{self.manifest} does not exist or is not a file",
                hint="check the path (relative to the working directory)",
            )
        object.__setattr__(
            self, "on_failure", validate_choice("--on-failure", self.on_failure, ON_FAILURE, "keep")
        )
        object.__setattr__(self, "timeout", validate_timeout("--timeout", self.timeout, DEFAULT_TIMEOUT))
        if not self.preview_service:
            validate_name("--preview-service", self.preview_name)  # <service>-preview may pass 63 characters

    @property
    def preview_name(self) -> str:
        return self.preview_service or f"{self.common.service}-preview"


@dataclass(frozen=True)
class PromoteSettings:
    common: Common
    smoke: Smoke = field(default_factory=Smoke)
    finish: Finish = field(default_factory=Finish)
    locking: Locking = field(default_factory=Locking)
    timeout: float | str = DEFAULT_TIMEOUT
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", validate_timeout("--timeout", self.timeout, DEFAULT_TIMEOUT))


@dataclass(frozen=True)
class AbortSettings:
    common: Common
    delete: bool = False
    locking: Locking = field(default_factory=Locking)
    dry_run: bool = False


@dataclass(frozen=True)
class RollbackSettings:
    common: Common
    to: str | None = None
    locking: Locking = field(default_factory=Locking)
    timeout: float | str = DEFAULT_TIMEOUT
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", validate_timeout("--timeout", self.timeout, DEFAULT_TIMEOUT))
        if self.to is not None:
            object.__setattr__(self, "to", validate_image(self.to))
