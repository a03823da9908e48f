"""Label and field selectors as the Kubernetes API server parses and matches them.

Label selectors follow k8s.io/apimachinery/pkg/labels (lexer, parser, requirement validation and
their error wording); field selectors follow k8s.io/apimachinery/pkg/fields plus the per-kind field
label conversion functions registered in pkg/apis/core/v1 (what a resource accepts in
``fieldSelector``). Parse errors are raised as ``ApiError`` 400 BadRequest with the server's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bluegreen.sim.errors import ApiError, bad_request

# --------------------------------------------------------------------------------------------------
# Validation of label keys and values (k8s.io/apimachinery/pkg/util/validation)
# --------------------------------------------------------------------------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Same concatenation as validation.RegexError, double spaces included.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def label_key_errors(key: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and '/', then a name."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part " + _max_len_error(253))
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                errs.append(
                    "prefix part "
                    + _regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.match(name):
        errs.append("name part " + _regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(path: str, value: str, detail: str) -> str:
    """field.Invalid(...).Error(); a nil path prints as "<nil>"."""
    return f"{path}: Invalid value: {_go_quote(value)}: {detail}"


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# --------------------------------------------------------------------------------------------------
# Label selectors
# --------------------------------------------------------------------------------------------------

_BINARY_OPERATORS = ["in", "notin", "=", "==", "!=", "gt", "lt"]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, =, ==, !=, exists, !, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator in ("in", "=", "=="):
            return present and value in self.values
        if self.operator in ("notin", "!="):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("gt", "lt"):
            if not present or len(self.values) != 1:
                return False
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.operator == "gt" else have < want
        return False

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        shown = ",".join(sorted(self.values))
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({shown})"
        symbol = {"gt": ">", "lt": "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{shown}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: requirements ANDed together. ``nothing`` matches no object (a nil
    metav1.LabelSelector); no requirements match every object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: dict[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def empty(self) -> bool:
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _new_requirement(key: str, op: str, values: list[str], *, check_key: bool = True) -> Requirement:
    """labels.NewRequirement with its validation (path "key"/"values[i][key]")."""
    errs: list[str] = []
    if check_key:
        key_errs = label_key_errors(key)
        if key_errs:
            errs.append(_invalid("key", key, "; ".join(key_errs)))
    if op in ("in", "notin") and not values:
        errs.append(
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        )
    elif op in ("=", "==", "!=") and len(values) != 1:
        errs.append(
            "values: Invalid value: "
            + _go_string_slice(values)
            + ": exact-match compatibility requires one single value"
        )
    elif op in ("exists", "!") and values:
        errs.append(
            "values: Invalid value: "
            + _go_string_slice(values)
            + ": values set must be empty for exists and does not exist"
        )
    elif op in ("gt", "lt"):
        if len(values) != 1:
            errs.append(
                "values: Invalid value: "
                + _go_string_slice(values)
                + ": for 'Gt', 'Lt' operators, exactly one value is required"
            )
        for i, v in enumerate(values):
            if not re.match(r"^[+-]?[0-9]+$", v):
                errs.append(
                    _invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    for i, v in enumerate(values):
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(value_errs)))
    if errs:
        raise _ParseError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


def _go_string_slice(values: list[str]) -> str:
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


class _ParseError(Exception):
    pass


# Lexer tokens.
_EOS, _ID, _OPEN, _CLOSE, _COMMA, _NOT, _OP, _ERROR = "eos", "id", "(", ")", ",", "!", "op", "error"
_SYMBOL_TOKENS = {
    "(": _OPEN,
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "=": _OP,
    "==": _OP,
    "!=": _OP,
    ">": _OP,
    "<": _OP,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(s: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    pos = 0
    while True:
        while pos < len(s) and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(s):
            items.append((_EOS, ""))
            return items
        if s[pos] in _SPECIAL:
            # Longest run of special characters that is still a known symbol.
            buf, best, end = "", None, pos
            while end < len(s) and s[end] in _SPECIAL:
                buf += s[end]
                if buf in _SYMBOL_TOKENS:
                    best = (buf, end + 1)
                elif best is not None:
                    break
                end += 1
            if best is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
                pos = end
            else:
                items.append((_SYMBOL_TOKENS[best[0]], best[0]))
                pos = best[1]
            continue
        start = pos
        while pos < len(s) and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
            pos += 1
        word = s[start:pos]
        items.append((_OP if word in ("in", "notin") else _ID, word))


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        # "in" / "notin" are identifiers where a value or key is expected
        if values and tok == _OP and lit in ("in", "notin"):
            tok = _ID
        return tok, lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        item = self._peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok in (_ID, _NOT):
                try:
                    reqs.append(self._requirement())
                except _ParseError as e:
                    raise _ParseError(f"unable to parse requirement: {e}") from None
                tok, lit = self._next()
                if tok == _EOS:
                    return reqs
                if tok != _COMMA:
                    raise _ParseError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self._peek()
                if tok2 not in (_ID, _NOT):
                    raise _ParseError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _EOS:
                return reqs
            else:
                raise _ParseError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op = ""
        tok, key = self._next()
        if tok == _NOT:
            op = "!"
            tok, key = self._next()
        if tok != _ID:
            raise _ParseError(f"found '{key}', expected: identifier")
        key_errs = label_key_errors(key)
        if key_errs:
            raise _ParseError(_invalid("<nil>", key, "; ".join(key_errs)))
        if op == "!" or self._peek()[0] in (_EOS, _COMMA):
            # "!key" takes no operator; whatever follows is the caller's problem ("!a=b" fails there)
            return _new_requirement(key, op or "exists", [], check_key=False)
        tok, lit = self._next(values=False)
        if tok != _OP:
            raise _ParseError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        operator = {">": "gt", "<": "lt"}.get(lit, lit)
        values = self._set_values() if operator in ("in", "notin") else self._exact_value()
        return _new_requirement(key, operator, sorted(set(values)), check_key=False)

    def _set_values(self) -> list[str]:
        tok, lit = self._next()
        if tok != _OPEN:
            raise _ParseError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok == _CLOSE:
            self._next()
            return [""]
        if tok not in (_ID, _COMMA):
            raise _ParseError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._next()[0] != _CLOSE:
            raise _ParseError(f"found '{lit}', expected: ')'")
        return values

    def _identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self._next()
            if tok == _ID:
                values.append(lit)
                tok2, lit2 = self._peek()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _ParseError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # empty values: "(,a)", "(a,)", "(a,,b)"
                if not values:
                    values.append("")
                tok2, _ = self._peek()
                if tok2 in (_CLOSE, _COMMA):
                    values.append("")
                if tok2 == _CLOSE:
                    return values
                continue
            raise _ParseError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        tok, _ = self._peek()
        if tok in (_EOS, _COMMA):
            return [""]
        tok, lit = self._next()
        if tok == _ID:
            return [lit]
        raise _ParseError(f"found '{lit}', expected: identifier")


def parse_label_selector(s: str) -> LabelSelector:
    """Parse the ``labelSelector`` query parameter. Raises ApiError 400 with the server's wording."""
    try:
        reqs = _Parser(s).parse()
    except _ParseError as e:
        raise bad_request(str(e)) from None
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def from_label_selector_object(sel: dict | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, {} selects everything."""
    if sel is None:
        return LabelSelector(nothing=True)
    match_labels: dict[str, str] = sel.get("matchLabels") or {}
    expressions: list[dict[str, Any]] = sel.get("matchExpressions") or []
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    reqs: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            reqs.append(_new_requirement(key, "=", [value]))
        for expr in expressions:
            op = ops.get(expr.get("operator", ""))
            if op is None:
                raise _ParseError(f'"{expr.get("operator", "")}" is not a valid label selector operator')
            reqs.append(_new_requirement(expr.get("key", ""), op, list(expr.get("values") or [])))
    except _ParseError as e:
        raise bad_request(str(e)) from None
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def selector_string(match_labels: dict[str, str]) -> str:
    """``a=b,c=d`` sorted by key, as labels.SelectorFromSet(...).String() (and kubectl's -l)."""
    return ",".join(f"{k}={match_labels[k]}" for k in sorted(match_labels))


# --------------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------------

_META_FIELDS = {"metadata.name", "metadata.namespace"}

# Labels each resource's field label conversion function accepts (pkg/apis/core/v1/conversion.go).
# Resources not listed use runtime.DefaultMetaV1FieldSelectorConversion.
_SUPPORTED: dict[str, set[str]] = {
    "pods": _META_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    },
    "events": _META_FIELDS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "namespaces": {"metadata.name", "status.phase"},
    "services": _META_FIELDS | {"spec.clusterIP", "spec.type"},
}


def supported_fields(resource: str) -> set[str]:
    """Field labels the API server accepts in ``fieldSelector`` for this resource (plural name)."""
    return set(_SUPPORTED.get(resource, _META_FIELDS))


def _unsupported(resource: str, label: str) -> ApiError:
    if resource in _SUPPORTED:
        return bad_request(f"field label not supported: {label}")
    return bad_request(f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"')


def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _as_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pod_ip(obj: dict) -> str:
    ips = _dig(obj, "status.podIPs") or []
    if ips and isinstance(ips[0], dict):
        return _as_field(ips[0].get("ip"))
    return _as_field(_dig(obj, "status.podIP"))


def _pod_ips(obj: dict) -> str:
    # PodToSelectableFields puts every pod IP, comma-joined, under status.podIPs
    ips = _dig(obj, "status.podIPs") or []
    return ",".join(_as_field(ip.get("ip")) for ip in ips if isinstance(ip, dict)) or _pod_ip(obj)


# Fields whose selectable value is not simply the value at that dotted path.
_SPECIAL_FIELDS: dict[str, Callable[[dict], str]] = {
    "status.podIP": _pod_ip,
    "status.podIPs": _pod_ips,
    "source": lambda obj: _as_field(_dig(obj, "source.component")),
    "spec.hostNetwork": lambda obj: _as_field(bool(_dig(obj, "spec.hostNetwork"))),
}


def field_value(obj: dict, label: str) -> str:
    """The value an object exposes under a field label ("" when unset)."""
    special = _SPECIAL_FIELDS.get(label)
    return special(obj) if special else _as_field(_dig(obj, label))


@dataclass(frozen=True)
class FieldTerm:
    field: str
    value: str
    negate: bool = False

    def matches(self, obj: dict) -> bool:
        return (field_value(obj, self.field) == self.value) != self.negate

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negate else '='}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    def matches(self, obj: dict) -> bool:
        return all(t.matches(obj) for t in self.terms)

    def empty(self) -> bool:
        return not self.terms

    def validate(self, resource: str) -> None:
        """Raise ApiError 400 for the first field this resource does not support, as the server does."""
        allowed = supported_fields(resource)
        for term in self.terms:
            if term.field not in allowed:
                raise _unsupported(resource, term.field)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _split_terms(s: str) -> list[str]:
    """Split on commas not escaped with a backslash."""
    if not s:
        return []
    terms: list[str] = []
    start, escaped = 0, False
    for i, c in enumerate(s):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            # fields.UnescapedRune prints the rune with %v, i.e. as a number
            raise bad_request(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(s: str, resource: str | None = None) -> FieldSelector:
    """Parse the ``fieldSelector`` query parameter (``f=v``, ``f==v``, ``f!=v``, comma-joined, with
    ``\\,`` ``\\=`` ``\\\\`` escapes). With ``resource``, also reject fields it does not support."""
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(s)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise bad_request(f"invalid selector: '{s}'; can't understand '{part}'")
        lhs, op, rhs = split
        terms.append(FieldTerm(lhs, _unescape(rhs), negate=op == "!="))
    selector = FieldSelector(tuple(terms))
    if resource is not None:
        selector.validate(resource)
    return selector
