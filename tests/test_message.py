from __future__ import annotations

import io
from datetime import date

import pytest

from cpimock.errors import CpimockError
from cpimock.message import Attachment, BodyDecodeError, Headers, Message, SoapHeader, messageLogFactory


def test_body_as_bytes_text_and_json() -> None:
    message = Message(b'{"name": "Ada"}', {"Content-Type": "application/json"}, None)
    assert message.body == b'{"name": "Ada"}'
    assert message.text == '{"name": "Ada"}'
    assert message.json() == {"name": "Ada"}
    assert message.content_type == "application/json"
    assert message.body_size == message.getBodySize() == 15


def test_text_uses_the_declared_charset() -> None:
    message = Message("Grüße".encode("iso-8859-1"), {"Content-Type": "text/plain; charset=ISO-8859-1"}, None)
    assert message.charset == "iso-8859-1"
    assert message.text == "Grüße"
    message.text = "Ça va"
    assert message.body == "Ça va".encode("iso-8859-1")


def test_charset_argument_applies_without_a_content_type_charset() -> None:
    assert Message("é".encode("cp1252"), None, None, charset="cp1252").text == "é"
    assert Message("é".encode(), None, None).charset == "utf-8"


def test_body_invalid_in_its_charset_names_the_charset_and_the_byte() -> None:
    message = Message(b"ok \xff\xfe", {"Content-Type": "text/plain; charset=utf-8"}, None)
    with pytest.raises(BodyDecodeError, match=r"not valid utf-8 \(byte 0xff at offset 3\)") as info:
        _ = message.text
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, CpimockError)
    assert message.body == b"ok \xff\xfe"  # bytes stay readable


def test_unknown_charset_is_named() -> None:
    message = Message(b"x", {"Content-Type": "text/plain; charset=klingon"}, None)
    with pytest.raises(BodyDecodeError, match="unknown charset 'klingon'"):
        _ = message.text


def test_text_that_does_not_fit_the_charset_is_refused() -> None:
    message = Message(b"", {"Content-Type": "text/plain; charset=us-ascii"}, None)
    with pytest.raises(BodyDecodeError, match="cannot be encoded in us-ascii"):
        message.text = "€"


def test_invalid_json_raises_a_value_error() -> None:
    with pytest.raises(BodyDecodeError, match="not valid JSON"):
        Message(b"{nope", None, None).json()


def test_set_json_sets_body_and_content_type_in_utf8() -> None:
    message = Message(b"", {"Content-Type": "text/plain; charset=iso-8859-1"}, None, charset="iso-8859-1")
    message.set_json({"name": "Žofie"})
    assert message.headers["content-type"] == "application/json"
    assert message.body == '{"name": "Žofie"}'.encode()
    assert message.json() == {"name": "Žofie"}


def test_body_setter_accepts_bytes_and_str_only() -> None:
    message = Message(b"", None, None)
    message.body = bytearray(b"abc")
    assert message.body == b"abc"
    message.body = "é"
    assert message.body == "é".encode()
    message.body = None
    assert message.body == b""
    with pytest.raises(TypeError, match="set_json"):
        message.body = {"a": 1}  # type: ignore[assignment]


def test_headers_are_case_insensitive_and_keep_the_last_case() -> None:
    headers = Headers({"Content-Type": "text/plain"})
    headers["content-type"] = "application/xml"
    assert headers["CONTENT-TYPE"] == "application/xml"
    assert list(headers) == ["content-type"]
    assert "Content-Type" in headers
    assert 1 not in headers  # type: ignore[comparison-overlap]
    del headers["Content-TYPE"]
    assert len(headers) == 0
    with pytest.raises(TypeError):
        headers[1] = "x"  # type: ignore[index]


def test_headers_remember_every_receiver() -> None:
    headers = Headers()
    headers["SAP_Receiver"] = "A"
    headers["sap_receiver"] = "B"
    assert headers.receivers == ["A", "B"]


def test_headers_from_a_dict_treat_names_that_differ_in_case_as_one() -> None:
    headers = Headers({"SAP_Receiver": "A", "Accept": "*/*", "sap_receiver": "B"})
    assert headers.receivers == ["A", "B"]
    assert headers.pairs() == [("sap_receiver", "B"), ("Accept", "*/*")]
    assert Headers({"SAP_Receiver": None}).receivers == []
    for name in (1, b"Accept"):
        with pytest.raises(TypeError, match="header names are strings"):
            Headers({"Accept": "*/*", name: "x"})  # type: ignore[dict-item]


def test_groovy_aliases_behave_like_the_pythonic_names() -> None:
    message = Message(b"abc", {"X-Count": "7"}, {"p": 1})
    assert message.getBody() == message.getBody(bytes) == b"abc"
    assert message.getBody(str) == "abc"
    assert message.getBody(bytearray) == bytearray(b"abc")
    stream = message.getBody(io.BytesIO)
    assert stream.read() == b"abc"
    message.setBody("[1]")
    assert message.getBody(list) == [1]
    with pytest.raises(TypeError, match="getBody\\(float\\) is not supported"):
        message.getBody(float)

    assert message.getHeaders() is message.headers
    assert message.getHeader("x-count") == "7"
    assert message.getHeader("X-Count", int) == 7
    assert message.getHeader("missing", int) is None
    with pytest.raises(TypeError, match="header 'X-Count'"):
        message.getHeader("X-Count", dict)
    message.setHeader("CamelHttpResponseCode", 202)
    assert message.headers["camelhttpresponsecode"] == 202
    message.setHeaders({"A": "1"})
    assert dict(message.getHeaders()) == {"A": "1"}

    assert message.getProperties() == {"p": 1}
    assert message.getProperty("p") == 1
    assert message.getProperty("p", str) == "1"
    message.setProperty("q", True)
    message.setProperties({"r": "x"})
    assert message.properties == {"r": "x"}
    assert message.getProperty("q") is None


def test_attachments() -> None:
    message = Message(b"", None, None)
    message.addAttachmentObject("a.txt", Attachment("a.txt", "hé".encode(), "text/plain; charset=utf-8"))
    assert message.getAttachmentsSize() == 1
    attachment = message.getAttachments()["a.txt"]
    assert attachment.text == "hé"
    assert (attachment.getName(), attachment.getContentType(), attachment.getContent()) == (
        "a.txt",
        "text/plain; charset=utf-8",
        "hé".encode(),
    )
    message.addAttachmentHeader("Content-ID", "<a>", attachment)
    message.setAttachmentHeader("X-A", "1", attachment)
    assert message.getAttachmentHeader("Content-ID", attachment) == "<a>"
    message.removeAttachmentHeader("Content-ID", attachment)
    assert attachment.headers == {"X-A": "1"}
    assert message.getAttachmentObjects() == message.getAttachmentWrapperObjects() == {"a.txt": attachment}
    message.setAttachmentWrapperObjects({})
    assert message.attachments == {}
    message.setAttachmentObjects({"b": attachment})
    assert list(message.attachments) == ["b"]


def test_soap_headers_are_kept_for_scripts_that_use_them() -> None:
    message = Message(b"")
    assert message.getSoapHeaders() == []
    message.setSoapHeaders(["<h/>"])
    assert message.soap_headers == ["<h/>"]
    message.clearSoapHeaders()
    assert message.getSoapHeaders() == []


def test_a_soap_header_is_one_type_for_python_and_groovy_steps() -> None:
    from cpimock.steps.groovy import SoapHeader as GroovySoapHeader

    header = SoapHeader("urn:acme", "Trace", '<a:Trace xmlns:a="urn:acme">42</a:Trace>', must_understand=True)
    assert GroovySoapHeader is SoapHeader
    assert (header.name, header.actor, header.relay) == ("{urn:acme}Trace", None, False)
    assert SoapHeader("", "Local", "<Local/>").name == "Local"


def test_message_log_pythonic_and_groovy() -> None:
    message = Message(b"", None, None)
    log = messageLogFactory.getMessageLog(message)
    assert log is message.log is message.getMessageLog()
    log.add_custom_header("OrderId", 42)
    log.addCustomHeaderProperty("OrderId", "43")
    log.setStringProperty("s", "x")
    log.setIntegerProperty("i", 1)
    log.setLongProperty("l", 2**40)
    log.setBooleanProperty("b", True)
    log.setFloatProperty("f", 1)
    log.setDoubleProperty("d", 2.5)
    log.setDateProperty("day", date(2024, 5, 1))
    log.addAttachmentAsString("payload", "text", "null")
    log.add_attachment("xml", b"<a/>", "application/xml")
    assert log.custom_headers == [("OrderId", "42"), ("OrderId", "43")]
    assert log.properties == {"s": "x", "i": 1, "l": 2**40, "b": True, "f": 1.0, "d": 2.5, "day": date(2024, 5, 1)}
    assert [(a.name, a.text, a.media_type) for a in log.attachments] == [
        ("payload", "text", "text/plain"),
        ("xml", "<a/>", "application/xml"),
    ]


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("setIntegerProperty", 2**31),
        ("setIntegerProperty", "1"),
        ("setIntegerProperty", True),
        ("setStringProperty", 1),
        ("setBooleanProperty", "true"),
        ("setDoubleProperty", "1.0"),
        ("setDateProperty", "2024-01-01"),
    ],
)
def test_message_log_typed_setters_reject_the_wrong_type(method: str, value: object) -> None:
    log = Message(b"", None, None).log
    with pytest.raises((TypeError, ValueError), match=method):
        getattr(log, method)("p", value)
    assert log.properties == {}


def test_message_log_rejects_unloggable_values() -> None:
    with pytest.raises(TypeError, match="log property 'p'"):
        Message(b"", None, None).log.set_property("p", [1])
