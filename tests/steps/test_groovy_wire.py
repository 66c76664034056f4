"""The bridge's value format: Java types kept both ways, and frames from the JVM read strictly."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock.message import Message
from cpimock.steps.groovy import bridge
from cpimock.steps.groovy.wire import (
    Decoder,
    Encoder,
    JavaBigInteger,
    JavaByte,
    JavaChar,
    JavaFloat,
    JavaLong,
    JavaObject,
    JavaShort,
    WireError,
)

_IDS = itertools.count(1)


def encode(value: Any, objects: dict[int, Any] | None = None, generation: int = 1) -> bytes:
    encoder = Encoder(generation, {} if objects is None else objects, lambda: next(_IDS))
    encoder.value(value)
    return bytes(encoder.out)


def decode(data: bytes, objects: dict[int, Any] | None = None) -> Any:
    decoder = Decoder(data, objects or {}, lambda handle, cls, text: JavaObject(handle, cls, text, 1))
    value = decoder.value()
    decoder.done()
    return value


def roundtrip(value: Any) -> Any:
    return decode(encode(value))


java_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**63), 2**63 - 1).map(JavaLong),
    st.integers(-(2**15), 2**15 - 1).map(JavaShort),
    st.integers(-128, 127).map(JavaByte),
    st.integers().map(JavaBigInteger),
    st.floats(allow_nan=False),
    st.floats(allow_nan=False, width=32).map(JavaFloat),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(),
    st.characters(max_codepoint=0xFFFF).map(JavaChar),
    st.binary(),
    st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
)
java_values = st.recursive(
    java_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same Java type all the way down."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if type(a) is int and type(b) is JavaLong:
        return a == b and not -(2**31) <= a < 2**31  # a plain int beyond 32 bits is a Long
    if type(a) is int and type(b) is JavaBigInteger:
        return a == b and not -(2**63) <= a < 2**63
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(java_values)
def test_values_cross_with_their_java_types(value: Any) -> None:
    assert same(value, roundtrip(value))


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        (5, b"I"),
        (2**31, b"J"),
        (2**63, b"G"),
        (JavaLong(5), b"J"),
        (True, b"T"),
        (1.5, b"D"),
        (JavaFloat(1.5), b"f"),
        (Decimal("1.10"), b"d"),
        (b"x", b"B"),
        (bytearray(b"x"), b"B"),
        ("x", b"S"),
        (JavaChar("x"), b"C"),
        ((1, 2), b"L"),
        ({1, 2}, b"E"),
        (datetime(2024, 1, 1, tzinfo=UTC), b"W"),
    ],
)
def test_python_values_get_the_java_type_the_docs_name(value: Any, tag: bytes) -> None:
    assert encode(value)[:1] == tag


def test_a_python_int_is_an_integer_then_a_long_then_a_big_integer() -> None:
    assert type(roundtrip(2**31 - 1)) is int
    assert type(roundtrip(2**31)) is JavaLong
    assert type(roundtrip(-(2**63))) is JavaLong
    assert type(roundtrip(2**63)) is JavaBigInteger


def test_dates_come_back_as_aware_utc_with_milliseconds() -> None:
    aware = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert roundtrip(aware) == datetime(2024, 5, 6, 5, 8, 9, 123000, tzinfo=UTC)
    naive = datetime(2024, 5, 6, 7, 8, 9)
    assert roundtrip(naive) == naive.astimezone(UTC)
    assert roundtrip(date(2024, 5, 6)) == datetime(2024, 5, 6).astimezone(UTC)


def test_a_python_object_crosses_as_a_placeholder_and_returns_as_itself() -> None:
    class Order:
        def __str__(self) -> str:
            return "order 7"

    order = Order()
    objects: dict[int, Any] = {}
    data = encode({"o": order, "bad": Decimal("NaN")}, objects)
    assert data.count(b"P") >= 2
    assert b"order 7" in data
    assert decode(data, objects)["o"] is order
    with pytest.raises(WireError, match="did not send"):
        decode(data, {})


def test_a_java_object_from_a_restarted_worker_is_refused_with_the_reason() -> None:
    stale = JavaObject(3, "groovy.util.slurpersupport.NodeChild", "Ada", generation=1)
    assert str(stale) == "Ada"
    assert encode(stale, generation=1)[:1] == b"O"
    with pytest.raises(Exception, match="restarted"):
        encode(stale, generation=2)


def test_deep_nesting_becomes_a_placeholder_rather_than_a_deep_frame() -> None:
    deep: list[Any] = []
    for _ in range(200):
        deep = [deep]
    objects: dict[int, Any] = {}
    assert encode(deep, objects).count(b"L") == 64
    assert len(objects) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Z",
        b"I\x00\x00",
        b"S\x00\x00\x00\x05ab",
        b"S\xff\xff\xff\xff",
        b"S\x00\x00\x00\x02\xc3(",
        b"L\x7f\xff\xff\xff",
        b"d\x00\x00\x00\x03abc",
        b"d\x00\x00\x00\x03NaN",
        b"G\x00\x00\x00\x021x",
        b"W\x7f\xff\xff\xff\xff\xff\xff\xff",
        b"NN",
        b"L\x00\x00\x00\x01" * 70 + b"N",
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_decode_to_a_value_or_a_wire_error(data: bytes) -> None:
    try:
        decode(data)
    except WireError:
        pass


@settings(max_examples=200, deadline=None)
@given(java_values, st.integers(min_value=0, max_value=200))
def test_a_truncated_frame_is_always_refused(value: Any, cut: int) -> None:
    data = encode(value)
    if cut < len(data):
        with pytest.raises(WireError):
            decode(data[:cut])


def answer(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "body_set": False,
        "headers": [],
        "properties": [],
        "receivers": [],
        "attachments": [],
        "soap_headers": [],
        "log": [],
        "warnings": [],
    }
    base.update(parts)
    return base


def test_an_answer_replaces_headers_properties_and_keeps_an_unset_body() -> None:
    message = Message(b"unchanged", {"Content-Type": "text/plain", "SAP_Receiver": "A"})
    bridge.apply_answer(
        message,
        answer(
            headers=[["content-type", "text/plain; charset=iso-8859-1"], ["SAP_Receiver", "C"]],
            properties=[["n", 5]],
            receivers=["B", "C"],
            log=[
                ["property", "count", JavaLong(3), None],
                ["attachment", "payload", "<a/>", None],
                ["header", "OrderId", "42", None],
            ],
        ),
        "t.groovy",
    )
    assert message.body == b"unchanged"
    assert message.headers["Content-Type"] == "text/plain; charset=iso-8859-1"
    assert message.headers.receivers == ["A", "B", "C"]
    assert message.properties == {"n": 5}
    assert message.log.properties == {"count": 3}
    assert type(message.log.properties["count"]) is int
    assert [(a.name, a.media_type) for a in message.log.attachments] == [("payload", "text/plain")]
    assert message.log.custom_headers == [("OrderId", "42")]
    bridge.apply_answer(
        message, answer(body_set=True, body="é", headers=[["Content-Type", "text/plain; charset=iso-8859-1"]]), "t"
    )
    assert message.body == b"\xe9"


@pytest.mark.parametrize(
    "bad",
    [
        {"headers": [["only one"]]},
        {"headers": "x"},
        {"attachments": [{"name": "a"}]},
        {"attachments": [{"name": "a", "type": "t", "content": "not bytes", "headers": []}]},
        {"log": [["property", "x"]]},
        {"log": [["launch", "x", 1, None]]},
        {"body_set": True, "body": 5},
    ],
)
def test_a_malformed_answer_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        bridge.apply_answer(Message(b""), answer(**bad), "t.groovy")


def test_failures_are_worded_for_the_mpl() -> None:
    error = {"kind": "script", "type": "java.lang.IllegalStateException", "message": "no customer", "line": 12}
    assert str(bridge.failure(error, "iflows/a.groovy")) == (
        "java.lang.IllegalStateException: no customer @ line 12 in iflows/a.groovy"
    )
    compile_error = {"kind": "compile", "message": "unexpected token: }", "line": 3, "column": 1}
    failed = bridge.failure(compile_error, "iflows/a.groovy")
    assert isinstance(failed, bridge.ScriptCompileError)
    assert str(failed) == "iflows/a.groovy: line 3, column 1: unexpected token: }"
