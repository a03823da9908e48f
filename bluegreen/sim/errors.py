"""API errors of the simulated cluster, rendered as real ``Status`` objects.

Message wording follows the real API server (k8s.io/apimachinery/pkg/api/errors), because users and
the client library read these messages.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:  # `reason` is omitempty in metav1.Status
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` for grouped resources, ``services`` for the core group."""
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": resource}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    return d


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified(resource, group)} "{name}" not found', _details(resource, group, name)
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        _details(resource, group, name),
    )


def conflict(
    resource: str,
    group: str,
    name: str,
    why: str = "the object has been modified; please apply your changes to the latest version and try again",
) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(resource, group, name),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """``causes`` are (field, reason, message) with reason like FieldValueInvalid / FieldValueRequired."""
    joined = ", ".join(f"{field}: {msg}" for field, _, msg in causes)
    if len(causes) > 1:
        joined = "[" + joined + "]"
    qual = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {
        "kind": kind,
        "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes],
    }
    if name:  # omitempty in metav1.StatusDetails
        details["name"] = name
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qual} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type() -> ApiError:
    """A PATCH whose Content-Type is no patch type: go-restful's route (Consumes) refuses it before the
    patch handler runs, and the server's service error handler wraps go-restful's text in a generic
    Status (apierrors.NewGenericServerResponse): this message, and an empty ``details``."""
    return ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: str,
    verb: str,
    resource: str,
    group: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> ApiError:
    res = f"{resource}/{subresource}" if subresource else resource
    who = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    msg = f'{who} is forbidden: User "{user}" cannot {verb} resource "{res}" in API group "{group}"{where}'
    return ApiError(403, "Forbidden", msg, _details(resource, group, name))


def gone(requested: str, oldest: str) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def request_entity_too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def internal_error(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def too_many_requests(
    message: str = "the server has received too many requests and has asked us to try again later",
) -> ApiError:
    return ApiError(429, "TooManyRequests", message)
