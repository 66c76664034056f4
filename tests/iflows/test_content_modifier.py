"""Content modifiers run on a Message as CPI runs them; rows cpimock cannot run are found when compiled."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cpimock.message import Message
from cpimock.steps.content_modifier import (
    ContentModifier,
    ContentModifierError,
    ContentModifierSpec,
    Row,
    compile_content_modifier,
)
from cpimock.steps.simple import SimpleContext

CONTEXT = SimpleContext(exchange_id="ID-1", camel_id="Orders", now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
NAMESPACES = {"p1": "urn:acme:orders", "p2": "urn:acme:other"}
ORDER = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<p1:Order xmlns:p1="urn:acme:orders"><p1:Id>4711</p1:Id><p1:Item sku="A">2</p1:Item>'
    b'<p1:Item sku="B">3</p1:Item><p1:Rush>true</p1:Rush></p1:Order>'
)


def create(name: str, type_: str, value: str, datatype: str = "") -> Row:
    return Row("Create", name, type_, value, datatype)


def compiled(spec: ContentModifierSpec) -> ContentModifier:
    step, problems = compile_content_modifier(spec, "Set order data", NAMESPACES)
    assert step is not None, problems
    return step


def order() -> Message:
    return Message(ORDER, headers={"Content-Type": "application/xml", "X-Source": "s4"}, properties={"tenant": "t1"})


def test_header_and_property_rows_of_every_source_type_run_in_order() -> None:
    spec = ContentModifierSpec(
        headers=(
            create("SAP_ApplicationID", "xpath", "/p1:Order/p1:Id", "java.lang.String"),
            create("itemCount", "xpath", "count(//p1:Item)", "java.lang.Integer"),
            create("rush", "xpath", "/p1:Order/p1:Rush = 'true'", "java.lang.Boolean"),
            create("skus", "xpath", "//p1:Item/@sku", "org.w3c.dom.NodeList"),
            create("firstItem", "xpath", "//p1:Item", "org.w3c.dom.Node"),
            create("missing", "xpath", "//p1:Nothing", "java.lang.String"),
            create("source", "header", "x-source"),
            create("tenant", "property", "tenant"),
            create("vendor", "constant", "ABC Corp"),
        ),
        properties=(
            create("orderId", "expression", "${header.SAP_ApplicationID}"),
            create("idNumber", "expression", "${header.SAP_ApplicationID}", "java.lang.Integer"),
            create("stamp", "expression", "${date:now:yyyy-MM-dd}-${exchangeId}"),
        ),
    )
    msg = compiled(spec).run(order(), CONTEXT)
    assert msg.headers["sap_applicationid"] == "4711"
    assert msg.headers["itemCount"] == 2
    assert msg.headers["rush"] is True
    assert msg.headers["skus"] == ["A", "B"]
    assert msg.headers["firstItem"] == '<p1:Item xmlns:p1="urn:acme:orders" sku="A">2</p1:Item>'
    assert msg.headers["missing"] == ""
    assert msg.headers["source"] == "s4"
    assert msg.headers["tenant"] == "t1"
    assert msg.headers["vendor"] == "ABC Corp"
    assert msg.properties == {"tenant": "t1", "orderId": "4711", "idNumber": 4711, "stamp": "2024-01-02-ID-1"}
    assert msg.body == ORDER


def test_xpath2_any_namespace_name_tests_select_as_saxon_does() -> None:
    spec = ContentModifierSpec(
        headers=(
            create("id", "xpath", "//*:Order[1]/*:Id", "java.lang.String"),
            create("second", "xpath", "(//*:Item)[2]/@sku", "java.lang.String"),
            create("literal", "xpath", "concat('*:Id', '')", "java.lang.String"),
        )
    )
    msg = compiled(spec).run(order(), CONTEXT)
    assert (msg.headers["id"], msg.headers["second"], msg.headers["literal"]) == ("4711", "B", "*:Id")


def test_the_body_is_set_last_and_sees_what_the_same_step_set() -> None:
    spec = ContentModifierSpec(
        properties=(create("timestamp", "expression", "${date:now:yyyy-MM-dd HH:mm:ss}"),),
        body_type="expression",
        body="<wrapped at='${property.timestamp}'>${in.body}</wrapped>",
    )
    msg = compiled(spec).run(Message(b"<a/>"), CONTEXT)
    assert msg.text == "<wrapped at='2024-01-02 03:04:05'><a/></wrapped>"


def test_a_constant_body_is_taken_as_written_and_an_empty_body_leaves_the_message_alone() -> None:
    constant = ContentModifierSpec(body_type="constant", body="${not evaluated}")
    assert compiled(constant).run(Message(b"x"), CONTEXT).text == "${not evaluated}"
    empty = ContentModifierSpec(headers=(create("a", "constant", "1"),), body_type="expression", body="")
    assert compiled(empty).run(Message(b"\xff\xfe binary"), CONTEXT).body == b"\xff\xfe binary"


def test_a_body_of_only_in_body_passes_binary_content_through_untouched() -> None:
    spec = ContentModifierSpec(body_type="expression", body="${in.body}")
    assert compiled(spec).run(Message(b"\x00\xff"), CONTEXT).body == b"\x00\xff"


def test_delete_rows_remove_by_name_and_by_camel_pattern() -> None:
    msg = Message(
        b"",
        headers={"X-Trace": "1", "x-other": "2", "SAP_Sender": "s", "Keep": "k", "Authorization": "Basic x"},
        properties={"token": "t", "Token": "T"},
    )
    spec = ContentModifierSpec(
        headers=(
            Row("Delete", "$include=X-*", "constant", ""),
            Row("Delete", "$name=authorization", "constant", ""),
            Row("Delete", "$include=.*,$exclude=SAP_.*,$exclude=Keep", "constant", ""),
        ),
        properties=(Row("Delete", "token", "constant", ""),),
    )
    compiled(spec).run(msg, CONTEXT)
    assert dict(msg.headers) == {"SAP_Sender": "s", "Keep": "k"}
    assert msg.properties == {"Token": "T"}


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (create("a", "expression", "${file:onlyname}"), "header 'a': .*not in cpimock's Simple subset"),
        (
            create("a", "xpath", "/p3:Order"),
            r"header 'a': '/p3:Order' is not an XPath 1.0 expression .*namespace mapping",
        ),
        (create("a", "xpath", "upper-case(/a)"), "not an XPath 1.0 expression"),
        (create("a", "xpath", "/a[", "java.lang.String"), "not an XPath 1.0 expression"),
        (create("a", "persisted variables", "counter"), "a local variable .* is not run by cpimock"),
        (create("a", "numberRange", "Orders"), "a number range"),
        (create("a", "guess", "x"), "'guess' is not one cpimock knows"),
        (Row("Upsert", "a", "constant", "x"), "neither Create nor Delete"),
        (Row("Delete", "$drop=a", "constant", ""), r"'\$drop=a' is not \$name="),
    ],
)
def test_a_row_cpimock_cannot_run_is_an_error_when_compiled(row: Row, match: str) -> None:
    step, problems = compile_content_modifier(ContentModifierSpec(headers=(row,)), "CM", NAMESPACES)
    assert step is None
    [problem] = problems
    assert problem.level == "error"
    assert re.search(match, problem.text), problem.text


def test_an_unknown_data_type_is_a_warning_and_kept_as_text() -> None:
    spec = ContentModifierSpec(headers=(create("a", "expression", "${header.n}", "java.Lang.Integer"),))
    step, problems = compile_content_modifier(spec, "CM", {})
    assert step is not None
    assert [(p.level, p.text) for p in problems] == [
        ("warning", "header 'a': data type 'java.Lang.Integer' is kept as java.lang.String")
    ]
    assert step.run(Message(headers={"n": 5}), CONTEXT).headers["a"] == "5"


def test_a_constant_that_looks_like_an_expression_is_noted() -> None:
    _, problems = compile_content_modifier(ContentModifierSpec(headers=(create("a", "constant", "${x}"),)), "CM", {})
    assert [p.level for p in problems] == ["info"]


@pytest.mark.parametrize(
    ("body", "row", "match"),
    [
        (b"not xml", create("id", "xpath", "/a"), r"header 'id': the body \(read by the XPath of header 'id'\) is not"),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
            create("id", "xpath", "/a"),
            "document type declaration",
        ),
        (b"<a>x1</a>", create("n", "xpath", "/a", "java.lang.Integer"), "'x1' is not a java.lang.Integer"),
        (b"<a/>", create("n", "expression", "yes", "java.lang.Boolean"), "'yes' is not a java.lang.Boolean"),
    ],
)
def test_a_message_the_step_cannot_read_fails_with_the_row_and_reason(body: bytes, row: Row, match: str) -> None:
    step = compiled(ContentModifierSpec(headers=(row,)))
    with pytest.raises(ContentModifierError, match=match):
        step.run(Message(body), CONTEXT)


def test_the_body_is_parsed_once_for_several_xpath_rows_and_again_after_it_changed() -> None:
    spec = ContentModifierSpec(
        headers=(create("a", "xpath", "/r/a"), create("b", "xpath", "/r/b")),
        body_type="expression",
        body="<r><a>new</a></r>",
    )
    step = compiled(spec)
    msg = step.run(Message(b"<r><a>1</a><b>2</b></r>"), CONTEXT)
    assert (msg.headers["a"], msg.headers["b"]) == ("1", "2")
    assert step.run(msg, CONTEXT).headers["a"] == "new"
