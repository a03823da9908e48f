"""The three PATCH flavours of the Kubernetes API server, as pure functions on plain JSON dicts.

- ``json_patch``: RFC 6902 with the behaviour of gopkg.in/evanphx/json-patch.v4, which the API server
  uses (including its quirks: negative array indices, ``replace`` of a missing object key adds it).
- ``merge_patch``: RFC 7386 (evanphx ``MergePatch``).
- ``strategic_merge_patch``: k8s.io/apimachinery/pkg/util/strategicpatch, server side
  (``StrategicMergeMapPatch``), with a small explicit table of merge keys per type.

Every function returns a new document and leaves its inputs untouched. Errors are raised as ``ApiError``
with the status code, reason and message the real API server answers with.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from bluegreen.sim.errors import ApiError

# The API server refuses JSON patches with more operations than this (apiserver handlers/patch.go).
MAX_JSON_PATCH_OPERATIONS = 10000

# What the API server answers for any JSON patch that fails to apply (a failed ``test``, a missing
# path, ...). It builds the Status with NewGenericServerResponse(422, ..., isUnexpectedResponse=false),
# so the library's own message is dropped and ``details`` is an empty object.
JSON_PATCH_FAILED_MESSAGE = "the server rejected our request due to an error in our request"


class PatchApplyError(Exception):
    """The underlying library's wording (evanphx / strategicpatch); kept as ``__cause__`` of the ApiError."""


def _unprocessable() -> ApiError:
    return ApiError(422, "Invalid", JSON_PATCH_FAILED_MESSAGE, {})


def _unknown_server_error(message: str) -> ApiError:
    # A plain Go error reaching the apiserver's ErrorToAPIStatus: 500 with an empty (unknown) reason.
    return ApiError(500, "", message)


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _go_type_of_json(value: Any) -> str:
    """How encoding/json names a JSON value's kind in 'cannot unmarshal X into ...' errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


# --------------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# --------------------------------------------------------------------------------------------------

_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"
_ATOI = re.compile(r"^[+-]?[0-9]+$")


class _OpError(Exception):
    pass


def _decode_token(token: str) -> str:
    # RFC 6901: ~1 first, then ~0, so "~01" decodes to "~1".
    return token.replace("~1", "/").replace("~0", "~")


def _atoi(key: str) -> int:
    if not _ATOI.match(key):
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    value = int(key)
    if not -(2**63) <= value < 2**63:
        raise _OpError(f'strconv.Atoi: parsing "{key}": value out of range')
    return value


def _get(container: dict | list, key: str) -> Any:
    """Child of a container; None when an object has no such key (evanphx makes no difference
    between a missing key and a null value here)."""
    if isinstance(container, dict):
        return container.get(key)
    idx = _atoi(key)
    if idx < 0:
        if idx < -len(container):
            raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
        idx += len(container)
    if idx >= len(container):
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    return container[idx]


def _array_index_for_add(container: list, key: str) -> int:
    try:
        idx = _atoi(key)
    except _OpError as e:
        raise _OpError(f"value was not a proper array index: '{key}': {e}") from None
    size = len(container) + 1
    if idx >= size or idx < -size:
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    return idx + size if idx < 0 else idx


def _add(container: dict | list, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    elif key == "-":
        container.append(value)
    else:
        container.insert(_array_index_for_add(container, key), value)


def _remove(container: dict | list, key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _OpError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del container[key]
        return
    idx = _atoi(key)
    if idx >= len(container) or idx < -len(container):
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    del container[idx]


def _set(container: dict | list, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        idx = _atoi(key)
        container[idx + len(container) if idx < 0 else idx] = value


def _find_parent(doc: Any, path: str) -> tuple[dict | list, str] | None:
    """evanphx findObject: walk all tokens but the last. The leading segment before the first "/"
    is ignored, as in the library (a path without a leading slash acts on the root)."""
    split = path.split("/")
    if len(split) < 2:
        return None
    node = doc
    for part in split[1:-1]:
        if not isinstance(node, dict | list):
            return None
        try:
            node = _get(node, _decode_token(part))
        except _OpError:
            return None
        if not isinstance(node, dict | list):
            return None
    if not isinstance(node, dict | list):
        return None
    return node, _decode_token(split[-1])


def _json_equal(a: Any, b: Any) -> bool:
    """Structural equality as evanphx compares: objects and arrays deeply, scalars by their JSON
    text (so true != 1 and 1 != 1.0)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return json.dumps(a) == json.dumps(b)


def _op_string(op: dict, field: str, missing_message: str) -> str:
    value = op.get(field)
    if value is None:
        raise _OpError(missing_message)
    if not isinstance(value, str):
        raise _OpError(f"json: cannot unmarshal {_go_type_of_json(value)} into Go value of type string")
    return value


def _path(op: dict, verb: str) -> str:
    try:
        return _op_string(op, "path", f"operation missing path field: {_MISSING}")
    except _OpError as e:
        if verb in ("add", "remove", "copy"):
            # these three wrap ErrMissing itself rather than the decode error
            raise _OpError(f"{verb} operation failed to decode path: {_MISSING}") from None
        raise _OpError(f"{verb} operation failed to decode path: {e}") from None


def _from(op: dict, verb: str) -> str:
    try:
        return _op_string(op, "from", f"operation, missing from field: {_MISSING}")
    except _OpError as e:
        raise _OpError(f"{verb} operation failed to decode from: {e}") from None


def _apply_op(doc: Any, op: dict) -> Any:
    """Apply one operation in place on ``doc``; returns the (possibly replaced) root."""
    kind = op.get("op")
    if kind == "add":
        path = _path(op, "add")
        found = _find_parent(doc, path)
        if found is None:
            raise _OpError(f'add operation does not apply: doc is missing path: "{path}": {_MISSING}')
        try:
            _add(found[0], found[1], copy.deepcopy(op.get("value")))
        except _OpError as e:
            raise _OpError(f"error in add for path: '{path}': {e}") from None
    elif kind == "remove":
        path = _path(op, "remove")
        found = _find_parent(doc, path)
        if found is None:
            raise _OpError(f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}')
        try:
            _remove(*found)
        except _OpError as e:
            raise _OpError(f"error in remove for path: '{path}': {e}") from None
    elif kind == "replace":
        path = _path(op, "replace")
        if path == "":
            value = op.get("value")
            if not isinstance(value, dict | list):
                raise _OpError("replace operation value must be object or array: %!w(<nil>)")
            return copy.deepcopy(value)
        found = _find_parent(doc, path)
        if found is None:
            raise _OpError(f"replace operation does not apply: doc is missing path: {path}: {_MISSING}")
        try:
            _get(*found)
        except _OpError:
            raise _OpError(
                f"replace operation does not apply: doc is missing key: {path}: {_MISSING}"
            ) from None
        # A missing object key is not an error in evanphx v4: replace then adds it.
        _set(found[0], found[1], copy.deepcopy(op.get("value")))
    elif kind == "move":
        source = _from(op, "move")
        found = _find_parent(doc, source)
        if found is None:
            raise _OpError(f"move operation does not apply: doc is missing from path: {source}: {_MISSING}")
        try:
            value = _get(*found)
            _remove(*found)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{found[1]}': {e}") from None
        path = _path(op, "move")
        target = _find_parent(doc, path)
        if target is None:
            raise _OpError(
                f"move operation does not apply: doc is missing destination path: {path}: {_MISSING}"
            )
        try:
            _add(target[0], target[1], value)
        except _OpError as e:
            raise _OpError(f"error in move for path: '{path}': {e}") from None
    elif kind == "copy":
        source = _from(op, "copy")
        found = _find_parent(doc, source)
        if found is None:
            raise _OpError(f"copy operation does not apply: doc is missing from path: {source}: {_MISSING}")
        try:
            value = _get(*found)
        except _OpError as e:
            raise _OpError(f"error in copy for from: '{source}': {e}") from None
        path = _path(op, "copy")
        target = _find_parent(doc, path)
        if target is None:
            raise _OpError(
                f"copy operation does not apply: doc is missing destination path: {path}: {_MISSING}"
            )
        try:
            _add(target[0], target[1], copy.deepcopy(value))
        except _OpError as e:
            raise _OpError(f"error while adding value during copy: {e}") from None
    elif kind == "test":
        path = _path(op, "test")
        if path == "":
            actual = doc
        else:
            found = _find_parent(doc, path)
            if found is None:
                raise _OpError(f"test operation does not apply: is missing path: {path}: {_MISSING}")
            try:
                actual = _get(*found)
            except _OpError as e:
                raise _OpError(f"error in test for path: '{path}': {e}") from None
        # A missing key and a null value both equal an absent or null "value".
        if not _json_equal(actual, op.get("value")):
            raise _OpError(f"testing value {path} failed: test failed")
    else:
        shown = kind if isinstance(kind, str) else "unknown"
        raise _OpError(f"Unexpected kind: {shown}")
    return doc


def json_patch(doc: dict, ops: list[dict]) -> dict:
    """Apply an RFC 6902 patch (``application/json-patch+json``) as the API server does.

    Raises ApiError 400 when the body is not a list of operations, 413 beyond 10000 operations, and
    422 Invalid "the server rejected our request due to an error in our request" (empty details) when
    any operation fails, e.g. a ``test`` that does not match. The library's message (for logs) is the
    ``__cause__`` of that error.
    """
    if not isinstance(ops, list):
        raise _bad_request(
            f"json: cannot unmarshal {_go_type_of_json(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if not isinstance(op, dict):
            raise _bad_request(
                f"json: cannot unmarshal {_go_type_of_json(op)} into Go value of type jsonpatch.Operation"
            )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
        )
    result: Any = copy.deepcopy(doc)
    for op in ops:
        try:
            result = _apply_op(result, op)
        except _OpError as e:
            raise _unprocessable() from PatchApplyError(str(e))
    # a replace of the root "" may yield a list; the server's decode of the object then fails
    return result


# --------------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------------------------------


def _prune_nulls(value: Any) -> Any:
    """A value new to the document keeps no null members (evanphx pruneNulls)."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge_docs(doc: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            _merge_docs(doc[key], value)
        else:
            doc[key] = _prune_nulls(value)


def merge_patch(doc: dict, patch: dict) -> dict:
    """Apply an RFC 7386 merge patch (``application/merge-patch+json``): null deletes a key, objects
    merge recursively, everything else (lists included) is replaced."""
    if not isinstance(patch, dict):
        # evanphx returns ErrBadJSONPatch for null and non-object patches the server can decode
        raise _bad_request("Invalid JSON Patch")
    result = copy.deepcopy(doc)
    _merge_docs(result, copy.deepcopy(patch))
    return result


# --------------------------------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS = "lists of lists are not supported"


class _SmpError(Exception):
    """A strategicpatch error; ``status`` is how the apiserver's interpretStrategicMergePatchError maps it."""

    def __init__(self, message: str, status: str = "unknown") -> None:
        super().__init__(message)
        self.status = status  # "bad_request" | "unprocessable" | "unknown"


@dataclass(frozen=True)
class _Field:
    """Patch metadata of one struct field, as in the Go tags ``patchStrategy`` / ``patchMergeKey``."""

    strategy: str = ""  # "", "merge", "replace", "retainKeys", "merge,retainKeys"
    merge_key: str = ""
    type: str = ""  # name in _TYPES of the struct this field (or its list elements) holds


# Only the fields that carry a patch strategy or lead to one. Everything not listed merges like a map
# (objects) or is replaced (lists, scalars), which is also what the real tables say for those fields.
_TYPES: dict[str, dict[str, _Field]] = {
    "ObjectMeta": {
        "ownerReferences": _Field("merge", "uid"),
        "finalizers": _Field("merge"),
    },
    "Container": {
        "ports": _Field("merge", "containerPort"),
        "env": _Field("merge", "name"),
        "volumeMounts": _Field("merge", "mountPath"),
        "volumeDevices": _Field("merge", "devicePath"),
    },
    "PodSpec": {
        "containers": _Field("merge", "name", "Container"),
        "initContainers": _Field("merge", "name", "Container"),
        "ephemeralContainers": _Field("merge", "name", "Container"),
        "volumes": _Field("merge,retainKeys", "name"),
        "imagePullSecrets": _Field("merge", "name"),
        "hostAliases": _Field("merge", "ip"),
        "topologySpreadConstraints": _Field("merge", "topologyKey"),
        "schedulingGates": _Field("merge", "name"),
        "resourceClaims": _Field("merge,retainKeys", "name"),
    },
    "PodTemplateSpec": {"metadata": _Field(type="ObjectMeta"), "spec": _Field(type="PodSpec")},
    "DeploymentSpec": {"template": _Field(type="PodTemplateSpec"), "strategy": _Field("retainKeys")},
    "ReplicaSetSpec": {"template": _Field(type="PodTemplateSpec")},
    "WithConditions": {"conditions": _Field("merge", "type")},
    "PodStatus": {
        "conditions": _Field("merge", "type"),
        "podIPs": _Field("merge", "ip"),
        "hostIPs": _Field("merge", "ip"),
    },
    "ServiceSpec": {"ports": _Field("merge", "port")},
    # Top-level kinds.
    "Deployment": {
        "metadata": _Field(type="ObjectMeta"),
        "spec": _Field(type="DeploymentSpec"),
        "status": _Field(type="WithConditions"),
    },
    "ReplicaSet": {
        "metadata": _Field(type="ObjectMeta"),
        "spec": _Field(type="ReplicaSetSpec"),
        "status": _Field(type="WithConditions"),
    },
    "Pod": {
        "metadata": _Field(type="ObjectMeta"),
        "spec": _Field(type="PodSpec"),
        "status": _Field(type="PodStatus"),
    },
    "Service": {
        "metadata": _Field(type="ObjectMeta"),
        "spec": _Field(type="ServiceSpec"),
        "status": _Field(type="WithConditions"),
    },
    "Namespace": {"metadata": _Field(type="ObjectMeta"), "status": _Field(type="WithConditions")},
    "Endpoints": {"metadata": _Field(type="ObjectMeta")},
    "EndpointSlice": {"metadata": _Field(type="ObjectMeta")},
    "Lease": {"metadata": _Field(type="ObjectMeta")},
    "Scale": {"metadata": _Field(type="ObjectMeta")},
    "Event": {"metadata": _Field(type="ObjectMeta")},
}


def _lookup(t: str, key: str) -> _Field:
    return _TYPES.get(t, {}).get(key, _Field())


def _strategy(field: _Field) -> str:
    """extractRetainKeysPatchStrategy: "retainKeys" only changes what clients send; keep the rest."""
    parts = [p for p in field.strategy.split(",") if p and p != "retainKeys"]
    return parts[0] if parts else ""


def _go_fmt(value: Any) -> str:
    """fmt's %v of decoded JSON, for error messages that embed values."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    return str(value)


def _go_type(value: Any) -> str:
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _kind(value: Any) -> str:
    """Type identity as reflect.TypeOf compares it (int64 and float64 are different types)."""
    return _go_type(value)


def _err_bad_arg_type(expected: str, actual: Any) -> _SmpError:
    return _SmpError(f"expected a {expected}, but received a {_go_type(actual)}")


def _err_no_merge_key(m: dict, key: str) -> _SmpError:
    return _SmpError(f"map: {_go_fmt(m)} does not contain declared merge key: {key}")


def _same(a: Any, b: Any) -> bool:
    # Go's == on interface{} scalars: same dynamic type and value (true is not 1).
    return _kind(a) == _kind(b) and a == b


def _is_directive_key(key: str) -> bool:
    return key.startswith("$")


def _clean(value: Any) -> Any:
    """A patch value taken as is: the typed decode that follows on the real server drops directive
    keys and turns nulls into absent fields; do the same so no ``$patch`` ends up stored."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None and not _is_directive_key(k)}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get(_DIRECTIVE) == "delete")]
    return value


def _slice_element_kind(*slices: list) -> str:
    prev: str | None = None
    for s in slices:
        for v in s:
            current = _kind(v)
            if prev is None:
                prev = current
                if isinstance(v, list):
                    raise _SmpError(_ERR_LIST_OF_LISTS, "unprocessable")
            elif prev != current:
                raise _SmpError(
                    "list element types are not identical: "
                    + "["
                    + " ".join(_go_fmt(x) for x in slices)
                    + "]"
                )
    if prev is None:
        raise _SmpError("no elements in any of the given slices")
    return "map" if prev.startswith("map") else prev


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _SmpError(error, "bad_request")
    return rest


def _index(items: list, value: Any, merge_key: str, kind: str) -> int:
    def key_of(item: Any) -> Any:
        if kind == "map":
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    wanted = key_of(value)
    for i, item in enumerate(items):
        if _same(key_of(item), wanted):
            return i
    return -1


def _validate_merge_keys(merge_key: str, *lists: list) -> None:
    for items in lists:
        for item in items:
            if not isinstance(item, dict):
                raise _err_bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _err_no_merge_key(item, merge_key)


def _normalize_slice_order(to_sort: list, order: list, merge_key: str, kind: str) -> list:
    to_delete: list = []
    if kind == "map":
        _validate_merge_keys(merge_key, to_sort, order)
        kept = [v for v in to_sort if v.get(_DIRECTIVE) != "delete"]
        to_delete = [v for v in to_sort if v.get(_DIRECTIVE) == "delete"]
        to_sort = kept
    # Items not in ``order`` keep their relative place after the ordered ones (the Go comparator is
    # not a strict order for them; in practice every item is found).
    positions = [_index(order, v, merge_key, kind) for v in to_sort]
    ranked = sorted(range(len(to_sort)), key=lambda i: (positions[i] < 0, positions[i], i))
    return [to_sort[i] for i in ranked] + to_delete


def _merge_sorted(left: list, right: list, server_order: list, merge_key: str, kind: str) -> list:
    """mergeSortedSlice: interleave server-only items (left) with patch items (right). A patch item
    the live list does not know goes before the remaining server-only items."""
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(
    patch: list, server_only: list, patch_order: list, server_order: list, merge_key: str, kind: str
) -> list:
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted(server_only, patch, server_order, merge_key, kind)


def _partition(merged: list, by: list, merge_key: str) -> tuple[list, list]:
    in_patch: list = []
    server_only: list = []
    for v in merged:
        if merge_key:
            if not isinstance(v, dict):
                raise _err_bad_arg_type("map[string]interface {}", v)
            if merge_key not in v:
                raise _err_no_merge_key(v, merge_key)
            found = any(isinstance(b, dict) and _same(b.get(merge_key), v[merge_key]) for b in by)
        else:
            found = any(_same(b, v) for b in by)
        (in_patch if found else server_only).append(v)
    return in_patch, server_only


def _dedup_scalars(items: list) -> list:
    out: list = []
    for v in items:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return out


def _merge_slice(original: list, patch: list, t: str, merge_key: str, is_delete_list: bool) -> list:
    if not original and not patch:
        return original
    kind = _slice_element_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [v for v in original if not any(_same(v, d) for d in patch)]
        merged = _dedup_scalars(original + patch)
    else:
        if not merge_key:
            raise _SmpError("cannot merge lists without merge key for type struct")
        original, patch = _merge_special_elements(original, patch, merge_key)
        merged = _merge_plain_elements(original, patch, merge_key, t)
    in_patch, server_only = _partition(merged, patch, merge_key)
    return _normalize_element_order(in_patch, server_only, patch, original, merge_key, kind)


def _merge_special_elements(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    """Handle list elements carrying ``$patch``: delete the matching live items, or replace the list."""
    plain: list = []
    replace = False
    for v in patch:
        directive = v.get(_DIRECTIVE, None) if _DIRECTIVE in v else None
        if _DIRECTIVE not in v:
            plain.append(v)
        elif directive == "delete":
            if merge_key not in v:
                raise _err_no_merge_key(v, merge_key)
            original = [
                o
                for o in original
                if not (isinstance(o, dict) and merge_key in o and _same(o[merge_key], v[merge_key]))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _SmpError("merging lists cannot yet be specified in the patch")
        else:
            raise _SmpError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(v)}")
    if replace:
        return [_clean(v) for v in plain], []
    return original, plain


def _merge_plain_elements(original: list, patch: list, merge_key: str, t: str) -> list:
    original = list(original)
    for v in patch:
        if merge_key not in v:
            raise _err_no_merge_key(v, merge_key)
        for pos, o in enumerate(original):
            if not isinstance(o, dict):
                raise _SmpError(f"value for key {pos} is not a map.")
            if merge_key in o and _same(o[merge_key], v[merge_key]):
                original[pos] = _merge_map(o, v, t)
                break
        else:
            original.append(_clean(v))
    return original


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _SmpError(_ERR_RETAIN_KEYS, "bad_request")
    keep = {json.dumps(v, sort_keys=True) for v in retain}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if json.dumps(key) not in keep:
            raise _SmpError(_ERR_RETAIN_KEYS, "bad_request")
    for key in list(original):
        if json.dumps(key) not in keep:
            del original[key]


def _validate_set_order(patch_list: Any, order: Any, merge_key: str) -> None:
    if not isinstance(order, list) or not isinstance(patch_list, list):
        raise _SmpError(_ERR_SET_ELEMENT_ORDER, "bad_request")
    if not order or not patch_list:
        return
    if merge_key:
        for v in patch_list:
            if not isinstance(v, dict):
                raise _err_bad_arg_type("map[string]interface {}", v)
        items = [v for v in patch_list if v.get(_DIRECTIVE) != "delete"]
    else:
        items = patch_list
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if merge_key:
            left, right = items[p], order[o]
            if not isinstance(right, dict):
                raise _err_bad_arg_type("map[string]interface {}", right)
            if merge_key not in left:
                raise _err_no_merge_key(left, merge_key)
            if merge_key not in right:
                raise _err_no_merge_key(right, merge_key)
            equal = _same(left[merge_key], right[merge_key])
        else:
            equal = _same(items[p], order[o])
        if equal:
            p += 1
        o += 1
    if p < len(items):
        raise _SmpError(
            f"The order in patch list:\n{_go_fmt(patch_list)}\n doesn't match "
            f"{_SET_ELEMENT_ORDER} list:\n{_go_fmt(order)}\n"
        )


def _apply_set_element_order(original: dict, patch: dict, t: str) -> None:
    """mergePatchIntoOriginal: merge each list that has a ``$setElementOrder/<field>`` and put it in
    the requested order (order list > patch order > live order)."""
    for key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _err_bad_arg_type("[]interface {}", order)
        field_key = _extract_key(key, _SET_ELEMENT_ORDER, _ERR_SET_ELEMENT_ORDER)
        found_original, found_patch = field_key in original, field_key in patch
        original_list: list = []
        patch_list: list = []
        if found_original:
            if not isinstance(original[field_key], list):
                raise _err_bad_arg_type("[]interface {}", original[field_key])
            original_list = original[field_key]
        if found_patch:
            if not isinstance(patch[field_key], list):
                raise _err_bad_arg_type("[]interface {}", patch[field_key])
            patch_list = patch[field_key]
        field = _lookup(t, field_key)
        _validate_set_order(patch_list, order, field.merge_key)
        if found_original and found_patch:
            if _strategy(field) == "merge":
                merged = _merge_slice(original_list, patch_list, field.type, field.merge_key, False)
            else:
                merged = _clean(patch_list)
        elif found_patch:
            merged = _clean(patch_list)
        elif found_original:
            merged = original_list
        else:
            continue
        in_order, server_only = _partition(merged, order, field.merge_key)
        kind = _slice_element_kind(original_list, patch_list)
        original[field_key] = _normalize_element_order(
            in_order, server_only, order, original_list, field.merge_key, kind
        )
        patch.pop(field_key, None)


def _merge_map(original: dict, patch: dict, t: str) -> dict:
    """mergeMap with the server's options (merge parallel lists, ignore unmatched nulls)."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return _clean({k: v for k, v in patch.items() if k != _DIRECTIVE})
        if directive == "delete":
            return {}
        raise _SmpError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(patch)}")
    original = dict(original)
    patch = dict(patch)
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, t)
    for key, value in patch.items():
        is_delete_list = False
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            key = _extract_key(key, _DELETE_FROM_PRIMITIVE_LIST, _ERR_PRIMITIVE_LIST)
            is_delete_list = True
            if key not in original:
                # Nothing to delete from. (The real server stores the deletion list as the field
                # here; storing nothing is what the client meant.)
                continue
        elif _is_directive_key(key):
            continue
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _kind(original[key]) != _kind(value):
            original[key] = _clean(value)
            continue
        field = _lookup(t, key)
        current = original[key]
        if isinstance(current, dict):
            original[key] = (
                _clean(value) if _strategy(field) == "replace" else _merge_map(current, value, field.type)
            )
        elif isinstance(current, list):
            if _strategy(field) == "merge":
                original[key] = _merge_slice(current, value, field.type, field.merge_key, is_delete_list)
            else:
                original[key] = _clean(value)
        else:
            original[key] = value
    return original


def strategic_merge_patch(doc: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch (``application/strategic-merge-patch+json``) to an object of the
    given top-level ``kind`` (Deployment, ReplicaSet, Pod, Service, Endpoints, Lease, Namespace,
    EndpointSlice, Scale; any other kind gets ObjectMeta rules only).

    Lists with a merge key (containers by name, ports, env, volumes, conditions, ...) are merged
    element by element; other lists are replaced. Supports ``$patch: replace|delete`` (on maps and
    list elements), ``$retainKeys``, ``$deleteFromPrimitiveList/<f>`` and ``$setElementOrder/<f>``.
    ``$patch: merge`` is rejected, as by the real server.
    """
    if not isinstance(patch, dict):
        raise _bad_request(
            f"json: cannot unmarshal {_go_type_of_json(patch)} into Go value of type map[string]interface {{}}"
        )
    try:
        return _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), kind)
    except _SmpError as e:
        if e.status == "bad_request":
            raise _bad_request(str(e)) from None
        if e.status == "unprocessable":
            raise _unprocessable() from PatchApplyError(str(e))
        raise _unknown_server_error(str(e)) from None
