from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.adapters.exchange import (
    CERT_FINGERPRINT,
    CERT_SUBJECT,
    ROLES,
    SERVICE_KEY,
    ResponseError,
    build_message,
    identity_properties,
    mpl_fields,
    response_parts,
)
from cpimock.message import Headers, Message
from cpimock.steps.pipeline import StepError


@dataclass(frozen=True)
class FakeIdentity:
    method: str = "certificate"
    key_name: str | None = "demo-sender"
    instance: str | None = "default"
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"ESBMessaging.send", "Other"}))
    clientid: str | None = None
    subject: str | None = "CN=demo-sender,O=cpimock"
    issuer: str | None = "CN=cpimock client CA"
    serial: str | None = "0x1f"
    fingerprint: str | None = "AB:CD"


def request(**overrides: object) -> Message:
    values: dict[str, object] = {
        "body": b'{"name": "Ada"}',
        "headers": {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": "15",
            "Authorization": "Basic eDp5",
            "camelEvil": "x",
            "X-Order-Id": "42",
        },
        "method": "post",
        "url": "https://127.0.0.1:8443/http/orders/abc",
        "query": "a=1",
        "context_path": "/orders/*",
        "path": "abc",
        "mpl_id": "AGZ-mpl",
        "identity": FakeIdentity(),
    }
    values.update(overrides)
    return build_message(**values)  # type: ignore[arg-type]


def test_build_message_sets_the_camel_headers_and_the_caller() -> None:
    message = request(correlation_id="corr-1", authenticated_user="sb-123")
    h = message.headers
    assert h["CamelHttpMethod"] == "POST"
    assert h["CamelHttpUrl"] == "https://127.0.0.1:8443/http/orders/abc"
    assert h["CamelHttpQuery"] == "a=1"
    assert h["CamelHttpPath"] == "abc"
    assert h["CamelServletContextPath"] == "/orders/*"
    assert h["SAP_MessageProcessingLogID"] == message.properties["SAP_MessageProcessingLogID"] == "AGZ-mpl"
    assert h["SAP_MplCorrelationId"] == "corr-1"
    assert h["SapAuthenticatedUserName"] == "sb-123"
    assert h["X-Order-Id"] == "42"
    for dropped in ("Content-Length", "Authorization", "camelEvil"):
        assert dropped not in h
    assert message.properties[SERVICE_KEY] == "demo-sender"
    assert message.properties[ROLES] == ["ESBMessaging.send", "Other"]
    assert message.properties[CERT_SUBJECT] == "CN=demo-sender,O=cpimock"
    assert message.json() == {"name": "Ada"}


# header names that the Message's headers treat specially, in several cases, and some others
_NAMES = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        "Host",
        "Content-Length",
        "Connection",
        "Authorization",
        "X-Order-Id",
        "x-order-id",
        "X-ORDER-ID",
        "SAP_Receiver",
        "sap_receiver",
        "SAP_MessageProcessingLogID",
        "sap_messageprocessinglogid",
        "SAP_MplCorrelationId",
        "CamelHttpMethod",
        "camelEvil",
        "SapAuthenticatedUserName",
    ]
)


@given(
    pairs=st.lists(st.tuples(_NAMES, st.text(max_size=5)), max_size=8),
    correlation=st.sampled_from([None, "corr"]),
    user=st.sampled_from([None, "sb-1"]),
)
def test_the_message_headers_are_those_set_one_after_the_other(
    pairs: list[tuple[str, str]], correlation: str | None, user: str | None
) -> None:
    """The request's headers reach the Message as if each were set in turn: a name sent twice in
    different case keeps the last one, CPI's headers replace a sender's of the same name."""
    headers = dict(pairs)
    message = request(headers=headers, correlation_id=correlation, authenticated_user=user)
    expected = Headers()
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("camel") or lower in {"host", "content-length", "connection", "authorization"}:
            continue
        expected[name] = value
    expected["CamelHttpMethod"] = "POST"
    expected["CamelHttpUrl"] = "https://127.0.0.1:8443/http/orders/abc"
    expected["CamelHttpQuery"] = "a=1"
    expected["CamelHttpPath"] = "abc"
    expected["CamelServletContextPath"] = "/orders/*"
    expected["SAP_MessageProcessingLogID"] = "AGZ-mpl"
    if correlation:
        expected["SAP_MplCorrelationId"] = correlation
    if user:
        expected["SapAuthenticatedUserName"] = user
    assert message.headers.pairs() == expected.pairs()
    assert message.headers.receivers == expected.receivers


def test_the_message_log_is_made_when_a_step_asks_for_it() -> None:
    message = request()
    assert mpl_fields(message) is mpl_fields(request())  # nothing for the MPL, no log made
    message.log.add_custom_header("order", "42")
    assert mpl_fields(message).custom_header_properties == (("order", "42"),)


def test_identity_properties_leave_out_what_does_not_apply() -> None:
    props = identity_properties(FakeIdentity(method="basic", clientid="sb-1", subject=None, fingerprint=None))
    assert props["CpimockAuthMethod"] == "basic"
    assert props["CpimockClientId"] == "sb-1"
    assert CERT_SUBJECT not in props
    assert CERT_FINGERPRINT not in props


def test_no_identity_no_user_name() -> None:
    message = request(identity=None, query=None)
    assert SERVICE_KEY not in message.properties
    assert "SapAuthenticatedUserName" not in message.headers
    assert message.headers["CamelHttpQuery"] is None


def test_response_parts_defaults_and_filtering() -> None:
    message = request()
    status, headers, body = response_parts(message)
    assert status == 200
    assert body == b'{"name": "Ada"}'
    names = [name for name, _ in headers]
    assert ("Content-Type", "application/json; charset=utf-8") in headers
    assert ("SAP_MessageProcessingLogID", "AGZ-mpl") in headers
    assert not [n for n in names if n.lower().startswith("camel")]
    assert "SAP_MplCorrelationId" not in names  # not set: no None values


def test_response_parts_status_from_camel_http_response_code() -> None:
    message = Message(b"", {"CamelHttpResponseCode": "201", "Location": "/x", "X-Flag": True, "X-Many": ["a", "b"]})
    status, headers, _ = response_parts(message)
    assert status == 201
    assert ("Location", "/x") in headers
    assert ("X-Flag", "true") in headers
    assert [v for n, v in headers if n == "X-Many"] == ["a", "b"]
    message.headers["CamelHttpResponseCode"] = 444
    assert response_parts(message).status == 444


def test_empty_body_without_a_code_is_204() -> None:
    assert response_parts(Message(b"")).status == 204


@pytest.mark.parametrize("code", ["abc", 99, 600, True, 2.5, "1e2", -200])
def test_bad_response_code_is_a_response_error(code: object) -> None:
    with pytest.raises(ResponseError, match="CamelHttpResponseCode must be a number from 200 to 599") as info:
        response_parts(Message(b"x", {"CamelHttpResponseCode": code}))
    assert isinstance(info.value, StepError)
    assert info.value.step == "response"


@pytest.mark.parametrize(("name", "value"), [("X-Bad", "a\r\nSet-Cookie: x=1"), ("X Bad", "v"), ("X-Nul", "a\0b")])
def test_unsendable_headers_are_response_errors(name: str, value: str) -> None:
    with pytest.raises(ResponseError, match="cannot be sent"):
        response_parts(Message(b"x", {name: value}))


def test_a_header_name_is_refused_every_time_not_only_the_first() -> None:
    for _ in range(2):
        with pytest.raises(ResponseError, match="header name 'X Bad' cannot be sent"):
            response_parts(Message(b"x", {"X Bad": "v"}))
    # a good name seen before still has its value checked
    assert response_parts(Message(b"x", {"X-Fine": "v"})).headers == [("X-Fine", "v")]
    with pytest.raises(ResponseError, match="line break"):
        response_parts(Message(b"x", {"X-Fine": "a\nb"}))


def test_list_values_give_one_line_each_and_are_checked() -> None:
    assert response_parts(Message(b"x", {"X-Many": ["a", 2, True]})).headers == [
        ("X-Many", "a"),
        ("X-Many", "2"),
        ("X-Many", "true"),
    ]
    with pytest.raises(ResponseError, match="line break"):
        response_parts(Message(b"x", {"X-Many": ["a", "b\r\n"]}))


def test_each_message_gets_its_own_roles_list() -> None:
    identity = FakeIdentity()
    first, second = request(identity=identity), request(identity=identity)
    first.properties["CpimockRoles"].append("Injected")
    assert second.properties["CpimockRoles"] == ["ESBMessaging.send", "Other"]
    assert request(identity=identity).properties["CpimockRoles"] == ["ESBMessaging.send", "Other"]


def test_mpl_fields_from_sap_headers_properties_and_log() -> None:
    message = Message(b"")
    message.headers["SAP_ApplicationID"] = "A" * 200
    message.headers["SAP_MessageType"] = "OrderCreate"
    message.headers["SAP_Sender"] = "S4"
    message.headers["SAP_Receiver"] = "ERP"
    message.headers["SAP_Receiver"] = "CRM"
    message.headers["SAP_Receiver"] = "ERP"
    message.properties["SAP_MessageProcessingLogCustomStatus"] = "Q" * 50
    message.log.add_custom_header("OrderId", "42")
    message.log.set_property("z", 1)
    message.log.set_property("a", "x")
    message.log.add_attachment("payload", "text")
    fields = mpl_fields(message)
    assert fields.application_message_id == "A" * 120
    assert fields.application_message_type == "OrderCreate"
    assert fields.sender == "S4"
    assert fields.receiver == "ERP,CRM"
    assert fields.custom_status == "Q" * 40
    assert fields.custom_header_properties == (("OrderId", "42"),)
    assert list(fields.log_properties) == ["a", "z"]
    assert [a.name for a in fields.attachments] == ["payload"]


def test_receiver_overwrite_keeps_only_the_last() -> None:
    message = Message(b"", None, {"SAP_ReceiverOverwrite": "true"})
    message.headers["SAP_Receiver"] = "ERP"
    message.headers["SAP_Receiver"] = "CRM"
    assert mpl_fields(message).receiver == "CRM"


def test_mpl_fields_empty_when_nothing_was_set() -> None:
    fields = mpl_fields(Message(b""))
    assert fields.application_message_id is None
    assert fields.receiver is None
    assert fields.custom_status is None


def _with(change: str) -> Message:
    message = Message(b"")
    if change == "header":
        message.headers["sap_sender"] = "S4H"  # any case
    elif change == "property":
        message.properties["SAP_MessageProcessingLogCustomStatus"] = "Booked"
    elif change == "log":
        message.log.set_property("step", "done")
    return message


@pytest.mark.parametrize("change", ["header", "property", "log"])
def test_any_single_mpl_input_is_seen(change: str) -> None:
    fields = mpl_fields(_with(change))
    expected = {
        "header": ("S4H", None, {}),
        "property": (None, "Booked", {}),
        "log": (None, None, {"step": "done"}),
    }
    assert (fields.sender, fields.custom_status, dict(fields.log_properties)) == expected[change]


_ANSWER_NAMES = st.sampled_from(
    ["X-Order", "SAP_MessageProcessingLogID", "sap_messageprocessinglogid", "CamelHttpUri", "Content-Type", "Host"]
)
_ANSWER_VALUES = st.one_of(
    st.text(alphabet="ab\r\n", max_size=3), st.integers(0, 9), st.lists(st.text(alphabet="a\n", max_size=2), max_size=2)
)


@given(pairs=st.lists(st.tuples(_ANSWER_NAMES, _ANSWER_VALUES), max_size=6))
def test_the_server_s_log_id_replaces_a_step_s_and_goes_last(pairs: list[tuple[str, object]]) -> None:
    """With the log id given, the answer's headers are those without it, the log id appended; a
    header that cannot be sent is refused all the same, the step's own log id included."""
    message = Message(b"x", dict(pairs))
    try:
        plain = response_parts(message)
    except ResponseError as exc:
        with pytest.raises(ResponseError, match=re.escape(str(exc))):
            response_parts(message, "AGZ-mpl")
        return
    expected = [(n, v) for n, v in plain.headers if n.lower() != "sap_messageprocessinglogid"]
    expected.append(("SAP_MessageProcessingLogID", "AGZ-mpl"))
    assert response_parts(message, "AGZ-mpl").headers == expected
