"""What a pod of the simulated cluster "runs", chosen by its container image.

The built-in sample app answers every request with JSON naming the pod, image and version, so a test can
tell which colour served it. Image tags carry failure conventions (documented in the README):

- ``pullfail``   the image cannot be pulled: ErrImagePull, then ImagePullBackOff
- ``crashloop``  the container starts, exits 1 and is restarted with back-off: CrashLoopBackOff
- ``never-ready`` the container runs but its readiness probe never passes
- ``smokefail``  ready, but every path except /healthz and /readyz answers 500
- ``slow``       readiness takes ten times the cluster's ready delay

A test can replace the app for some images with ``register``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

Obj = dict[str, Any]
Response = tuple[int, dict[str, str], bytes]
# handler(pod, method, path, query, headers, body) -> (status, headers, body)
Handler = Callable[[Obj, str, str, str, Mapping[str, str], bytes], Response]
Match = str | Callable[[str], bool]

_HEALTH_PATHS = ("/healthz", "/readyz")
_JSON = {"Content-Type": "application/json"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@dataclass(frozen=True)
class Behaviour:
    pull_fails: bool = False
    crash_loops: bool = False
    never_ready: bool = False
    smoke_fails: bool = False
    ready_delay_factor: float = 1.0


def image_tag(image: str) -> str:
    """The tag of an image reference: ``registry:5000/web:1.2`` -> ``1.2``; no tag -> ``latest``."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    _, sep, tag = last.partition(":")
    return tag if sep and tag else "latest"


def image_name(image: str) -> str:
    """The repository's last path element: ``registry.example/team/web:1.0`` -> ``web``."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[0] or "app"


def behaviour_of(image: str) -> Behaviour:
    tag = image_tag(image).lower()
    return Behaviour(
        pull_fails="pullfail" in tag,
        crash_loops="crashloop" in tag,
        never_ready="never-ready" in tag,
        smoke_fails="smokefail" in tag,
        ready_delay_factor=10.0 if "slow" in tag else 1.0,
    )


def pod_image(pod: Obj, container: str | None = None) -> str:
    """The image of the named container, or of the first one."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        if container is None or c.get("name") == container:
            return str(c.get("image") or "")
    return ""


def _pod_name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def _json_response(status: int, doc: Mapping[str, Any]) -> Response:
    return status, dict(_JSON), (json.dumps(doc, sort_keys=True) + "\n").encode()


class AppRegistry:
    """Maps images to behaviours and request handlers; thread-safe (the server calls from many threads)."""

    def __init__(self, color_labels: tuple[str, ...] = ("version", "color", "colour")) -> None:
        # the pod label that names its colour; the project's default is `version`
        self.color_labels = color_labels
        self._handlers: list[tuple[Match, Handler]] = []
        self._lock = threading.Lock()

    # ---- registration --------------------------------------------------------------------------

    def register(self, match: Match, handler: Handler) -> None:
        """Serve images starting with ``match`` (or for which ``match(image)`` is true) with ``handler``.
        The most recently registered match wins."""
        with self._lock:
            self._handlers.append((match, handler))

    def unregister(self, match: Match) -> None:
        with self._lock:
            self._handlers = [(m, h) for m, h in self._handlers if m != match]

    def handler_for(self, image: str) -> Handler | None:
        with self._lock:
            handlers = list(self._handlers)
        for match, handler in reversed(handlers):
            if image.startswith(match) if isinstance(match, str) else match(image):
                return handler
        return None

    # ---- behaviour -----------------------------------------------------------------------------

    def behaviour(self, image: str) -> Behaviour:
        return behaviour_of(image)

    # ---- serving -------------------------------------------------------------------------------

    def serve(
        self,
        pod: Obj,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        """Answer one HTTP request sent to ``pod`` (through a Service or the pod proxy)."""
        image = pod_image(pod)
        headers = headers or {}
        handler = self.handler_for(image)
        if handler is not None:
            return handler(pod, method, path, query, headers, body)
        b = self.behaviour(image)
        if b.pull_fails or b.crash_loops:
            # nothing listens: the API server's proxy reports the refused connection
            ip = (pod.get("status") or {}).get("podIP") or "<none>"
            first = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name") or ""
            msg = f"error trying to reach service: dial tcp {ip}:{_first_port(pod, first)}: connect: connection refused"
            return 503, dict(_TEXT), msg.encode()
        if path in _HEALTH_PATHS:
            if b.never_ready and path == "/readyz":
                return 503, dict(_TEXT), b"not ready\n"
            return 200, dict(_TEXT), b"ok"
        if b.smoke_fails:
            return _json_response(
                500,
                {
                    "error": "internal error: the database migration for this version failed",
                    "pod": _pod_name(pod),
                    "path": path,
                    "version": image_tag(image),
                },
            )
        return _json_response(200, self.sample_document(pod, method, path))

    def sample_document(self, pod: Obj, method: str, path: str) -> dict[str, Any]:
        image = pod_image(pod)
        labels = (pod.get("metadata") or {}).get("labels") or {}
        color = next((labels[k] for k in self.color_labels if k in labels), None)
        if color is None:
            # a custom --color-label: recognise it by its value
            color = next((v for v in labels.values() if v in ("blue", "green")), None)
        return {
            "pod": _pod_name(pod),
            "image": image,
            "version": image_tag(image),
            "color": color,
            "path": path,
            "method": method.upper(),
        }

    # ---- logs ----------------------------------------------------------------------------------

    def logs(self, pod: Obj, container: str | None = None, tail_lines: int | None = None) -> list[str]:
        """The container's log lines, as ``kubectl logs`` shows them. Raises ApiError 400 with the API
        server's wording when the container is unknown or has not started."""
        name = _pod_name(pod)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container is None:
            if len(containers) != 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {name}, "
                    f"choose one of: [{' '.join(str(c) for c in containers)}]",
                )
            container = str(containers[0])
        elif container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        state = _container_status(pod, container)
        waiting = ((state.get("state") or {}).get("waiting") or {}).get("reason")
        never_started = not state.get("lastState", {}).get("terminated") and not (
            state.get("state") or {}
        ).get("running")
        if waiting and never_started and waiting != "CrashLoopBackOff":
            why = (
                "trying and failing to pull image"
                if waiting in ("ErrImagePull", "ImagePullBackOff")
                else waiting
            )
            raise ApiError(
                400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {why}'
            )
        image = pod_image(pod, container)
        lines = self._log_lines(pod, image, container)
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return lines

    def _log_lines(self, pod: Obj, image: str, container: str) -> list[str]:
        b = self.behaviour(image)
        app = image_name(image)
        version = image_tag(image)
        port = _first_port(pod, container)
        start = [f"{app} {version} starting (pod {_pod_name(pod)})", "loading configuration from environment"]
        if b.crash_loops:
            return start + [
                "connecting to database at db:5432",
                "ERROR: could not connect to database: connection refused",
                f"FATAL: {app} {version} cannot start without its database; exiting with status 1",
            ]
        lines = start + [f"listening on 0.0.0.0:{port}"]
        if b.never_ready:
            lines.append("readiness check failed: cache warm-up has not finished")
        elif b.smoke_fails:
            lines.append(
                "WARNING: database migration failed; serving errors on every route except health checks"
            )
        else:
            lines.append("ready")
        return lines


def _container_status(pod: Obj, container: str) -> Obj:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return dict(cs)
    return {}


def _first_port(pod: Obj, container: str) -> int:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            for p in c.get("ports") or []:
                if isinstance(p.get("containerPort"), int):
                    return int(p["containerPort"])
    return 8080
