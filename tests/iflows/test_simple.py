"""Camel Simple: the subset SAP's content modifiers use evaluates as on CPI; the rest is refused when compiled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock.message import Message
from cpimock.steps.java_dates import compile_pattern
from cpimock.steps.simple import SimpleContext, SimpleError, compile_simple

NOW = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=UTC)
CONTEXT = SimpleContext(exchange_id="ID-cpimock-1", camel_id="Orders_Inbound", now=NOW)


def message() -> Message:
    return Message(
        b"<order><id>42</id></order>",
        headers={"Content-Type": "application/xml", "delivery date": "25062013", "SAP.StatusCode": "201", "n": 7},
        properties={"customer": "Ada", "Customer": "upper", "code": " ab-cd "},
    )


def evaluate(source: str, msg: Message | None = None) -> object:
    return compile_simple(source).evaluate(msg or message(), CONTEXT)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("${header.delivery date}", "25062013"),
        ("${headers.DELIVERY DATE}", "25062013"),
        ("${in.header.Delivery Date}", "25062013"),
        ("${in.headers.delivery date}", "25062013"),
        ("${header:delivery date}", "25062013"),
        ("${property.customer}", "Ada"),
        ("${exchangeProperty.Customer}", "upper"),
        ("${property.missing}", None),
        ("${header.SAP.StatusCode}", "201"),
        ("${header.n}", 7),
        ("${property.customer.toUpperCase()}", "ADA"),
        ("${property.customer.toLowerCase()}", "ada"),
        ("${property.code.trim()}", "ab-cd"),
        ("${property.code.trim().substring(3)}", "cd"),
        ("${property.code.substring(1,3)}", "ab"),
        ("${property.code.length()}", 7),
        ("${property.code.replace('-', '_')}", " ab_cd "),
        ("${header.n.toString()}", "7"),
        ("${property.missing.toUpperCase()}", None),
        ("${in.body}", b"<order><id>42</id></order>"),
        ("${body}", b"<order><id>42</id></order>"),
        ("${bodyAs(String)}", "<order><id>42</id></order>"),
        ("${in.body.length}", 26),
        ("${exchangeId}", "ID-cpimock-1"),
        ("${camelId}", "Orders_Inbound"),
        ("${null}", None),
        ("${exception.message}", None),
        ("${date:now:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}", "2024-03-05T07:08:09.123Z"),
        ("${date-with-timezone:now:Europe/Berlin:yyyy-MM-dd HH:mm:ssZ}", "2024-03-05 08:08:09+0100"),
        ("$simple{property.customer}", "Ada"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_a_function_of_the_subset_evaluates_as_on_cpi(source: str, expected: object) -> None:
    assert evaluate(source) == expected


def test_text_around_functions_is_kept_and_missing_values_are_empty() -> None:
    got = evaluate(
        "<invoice><v>${header.delivery date}</v>${in.body}<x>${property.nope}</x><n>${header.n}</n></invoice>"
    )
    assert got == "<invoice><v>25062013</v><order><id>42</id></order><x></x><n>7</n></invoice>"


def test_a_name_with_dots_is_looked_up_whole_before_methods_apply() -> None:
    msg = message()
    msg.properties["a.toUpperCase()"] = "whole"
    msg.properties["a"] = "part"
    assert evaluate("${property.a.toUpperCase()}", msg) == "whole"
    del msg.properties["a.toUpperCase()"]
    assert evaluate("${property.a.toUpperCase()}", msg) == "PART"


def test_a_substring_out_of_range_fails_at_call_time_with_its_reason() -> None:
    expression = compile_simple("${property.customer.substring(2,10)}")
    with pytest.raises(SimpleError, match=r"substring\(2, 10\) is out of range for a text of length 3"):
        expression.evaluate(message(), CONTEXT)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("${header.a} == 'x'", None),  # an expression, not a predicate: the operator is text
        ("${file:onlyname}", "not in cpimock's Simple subset"),
        ("${sysenv.HOME}", "not in cpimock's Simple subset"),
        ("${header.${property.x}}", "nested functions"),
        ("${header.a", "is not closed"),
        ("${header.}", "the name is missing"),
        ("${header.a.split(',')}", "only these methods"),
        ("${body.foo()}", "only these methods are supported on the body"),
        ("${date:now}", "give a pattern"),
        ("${date:header.x:yyyy}", "only date:now"),
        ("${date:now:yyyy-qq}", "not a SimpleDateFormat pattern letter"),
        ("${date:now:'open}", "unterminated quote"),
        ("${date:now:XXXX}", "use X, XX or XXX"),
        ("${date-with-timezone:now:Mars/Olympus:yyyy}", "not a time zone name"),
    ],
)
def test_an_expression_outside_the_subset_is_refused_when_compiled(source: str, match: str | None) -> None:
    if match is None:
        assert compile_simple(source).evaluate(message(), CONTEXT) == " == 'x'"
        return
    with pytest.raises(SimpleError, match=match):
        compile_simple(source)


def test_an_expression_longer_than_cpi_allows_is_refused() -> None:
    with pytest.raises(SimpleError, match="more than the 262,144 CPI allows"):
        compile_simple("x" * (256 * 1024 + 1))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd'T'HH:mm:ssX", "2024-03-05T07:08:09Z"),
        ("yyMMdd", "240305"),
        ("yyyyMMdd'_'HHmmss", "20240305_070809"),
        ("EEE, d MMM yyyy HH:mm:ss Z", "Tue, 5 Mar 2024 07:08:09 +0000"),
        ("EEEE MMMM", "Tuesday March"),
        ("h:mm a", "7:08 AM"),
        ("''yy 'o''clock'", "'24 o'clock"),
        ("yyyy-MM-dd'T'HH'%3A'mm", "2024-03-05T07%3A08"),
        ("D u w", "65 2 10"),
        ("S SSS", "123 123"),
        ("z", "UTC"),
    ],
)
def test_java_date_patterns_render_as_simpledateformat_does(pattern: str, expected: str) -> None:
    assert compile_pattern(pattern)(NOW) == expected


def compile_and_run(source: str) -> None:
    try:
        expression = compile_simple(source)
    except SimpleError:
        return
    try:
        expression.evaluate(message(), CONTEXT)
    except SimpleError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_compiling_any_text_raises_nothing_but_its_own_error(source: str) -> None:
    compile_and_run(source)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["${", "}", "$simple{", "header.", "property.", "date:now:", ".substring(", ")", "'", ","]),
            st.text(alphabet="abXyMdHs:.'(), 0123456789-", max_size=8),
        ),
        max_size=12,
    ).map("".join)
)
def test_compiling_near_misses_raises_nothing_but_its_own_error(source: str) -> None:
    compile_and_run(source)
