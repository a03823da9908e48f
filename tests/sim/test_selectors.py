"""Label and field selectors: parsing, matching and the API server's error wording."""

from __future__ import annotations

import pytest

from bluegreen.sim.errors import ApiError
from bluegreen.sim.selectors import (
    from_label_selector_object,
    parse_field_selector,
    parse_label_selector,
    selector_string,
    supported_fields,
)

WEB_BLUE = {"app": "web", "version": "blue"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", WEB_BLUE, True),
        ("", None, True),
        ("app=web", WEB_BLUE, True),
        ("app==web", WEB_BLUE, True),
        ("app!=web", WEB_BLUE, False),
        ("app!=api", WEB_BLUE, True),
        ("app!=api", {}, True),
        ("app=web,version=green", WEB_BLUE, False),
        ("version in (blue, green)", WEB_BLUE, True),
        ("version in (green)", WEB_BLUE, False),
        ("version notin (green)", WEB_BLUE, True),
        ("version notin (green)", {}, True),
        ("version", WEB_BLUE, True),
        ("!version", WEB_BLUE, False),
        ("!tier", WEB_BLUE, True),
        ("app=web, !tier, version in (blue)", WEB_BLUE, True),
        ("app=", {"app": ""}, True),
        ("app=", WEB_BLUE, False),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas<2", {"replicas": "3"}, False),
        ("in in (in)", {"in": "in"}, True),
    ],
)
def test_label_selector_matches(selector: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse_label_selector(selector).matches(labels) is expected


def test_label_selector_string_is_sorted_and_normalised() -> None:
    sel = parse_label_selector("version in (green,blue),app==web,!tier")
    assert str(sel) == "app==web,!tier,version in (blue,green)"  # sorted by key, as ByKey


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app=web version=blue", "found 'version', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
        (
            "-app=web",
            'unable to parse requirement: <nil>: Invalid value: "-app": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        ("app=we b", "found 'b', expected: ',' or 'end of string'"),
        (
            "app=-web",
            'unable to parse requirement: values[0][app]: Invalid value: "-web": a valid label must be '
            "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
            "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        (
            "Example.com/app=x",
            'unable to parse requirement: <nil>: Invalid value: "Example.com/app": prefix part '
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
    ],
)
def test_label_selector_parse_errors_are_400_with_server_wording(selector: str, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_label_selector(selector)
    assert (exc.value.code, exc.value.reason) == (400, "BadRequest")
    assert exc.value.message == message


def test_label_key_with_dns_prefix_is_valid() -> None:
    assert parse_label_selector("app.kubernetes.io/managed-by=bluegreen").matches(
        {"app.kubernetes.io/managed-by": "bluegreen"}
    )


def test_label_selector_object() -> None:
    sel = from_label_selector_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "version", "operator": "In", "values": ["blue", "green"]},
                {"key": "tier", "operator": "DoesNotExist"},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "app", "operator": "Exists"},
            ],
        }
    )
    assert sel.matches(WEB_BLUE)
    assert not sel.matches({"app": "web", "version": "red"})
    assert not sel.matches({**WEB_BLUE, "tier": "x"})
    assert not sel.matches({**WEB_BLUE, "track": "canary"})


def test_label_selector_object_empty_selects_all_and_none_selects_nothing() -> None:
    assert from_label_selector_object({}).matches(WEB_BLUE)
    assert not from_label_selector_object(None).matches(WEB_BLUE)
    assert not from_label_selector_object(None).matches({})


def test_label_selector_object_bad_operator() -> None:
    with pytest.raises(ApiError) as exc:
        from_label_selector_object({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})
    assert exc.value.message == '"Gt" is not a valid label selector operator'


def test_selector_string_round_trips() -> None:
    s = selector_string({"version": "blue", "app": "web"})
    assert s == "app=web,version=blue"
    assert parse_label_selector(s).matches(WEB_BLUE)
    assert selector_string({}) == ""


# ---------------------------------------------------------------- field selectors

POD = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-2", False),
        ("metadata.namespace!=prod", False),
        ("status.phase=Running,spec.nodeName=node-a", True),
        ("status.phase!=Running", False),
        ("status.podIP=10.0.0.5", True),
        ("spec.nodeName=", False),
    ],
)
def test_field_selector_matches_pods(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector, "pods").matches(POD) is expected


def test_field_selector_events() -> None:
    event = {
        "metadata": {"name": "e1", "namespace": "default"},
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "involvedObject": {"kind": "Deployment", "name": "web-green", "uid": "u1"},
    }
    sel = parse_field_selector(
        "involvedObject.kind=Deployment,involvedObject.name=web-green,type=Normal", "events"
    )
    assert sel.matches(event)
    assert not parse_field_selector("involvedObject.uid=u2", "events").matches(event)


def test_field_selector_escaped_value() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b")
    assert sel.matches({"metadata": {"name": "a,b"}})


@pytest.mark.parametrize(
    ("resource", "selector", "message"),
    [
        ("pods", "spec.containers=x", "field label not supported: spec.containers"),
        ("events", "count=1", "field label not supported: count"),
        ("namespaces", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        (
            "deployments",
            "status.replicas=1",
            '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
    ],
)
def test_unsupported_field_is_400(resource: str, selector: str, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_field_selector(selector, resource)
    assert (exc.value.code, exc.value.reason, exc.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        (r"metadata.name=a\x", r"invalid field selector: invalid escape sequence: \x"),
    ],
)
def test_field_selector_syntax_errors(selector: str, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_field_selector(selector)
    assert (exc.value.code, exc.value.message) == (400, message)


def test_supported_fields() -> None:
    assert {"status.phase", "spec.nodeName", "metadata.name"} <= supported_fields("pods")
    assert supported_fields("leases") == {"metadata.name", "metadata.namespace"}
    assert "involvedObject.uid" in supported_fields("events")
