"""XML from outside: well-formed documents parse, everything dangerous or broken is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.xmlsafe import XmlError, parse

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
PARAMETER = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><r/>"""
PUBLIC_DTD = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/r.dtd"><r/>"""


def test_a_plain_document_parses_with_its_declared_encoding() -> None:
    root = parse('<?xml version="1.0" encoding="ISO-8859-1"?><a>Größe</a>'.encode("latin-1"), what="the body")
    assert root.tag == "a"
    assert root.text == "Größe"


@pytest.mark.parametrize(
    "data", [BILLION_LAUGHS, EXTERNAL, PARAMETER, PUBLIC_DTD], ids=["laughs", "external", "parameter", "dtd"]
)
def test_a_document_type_declaration_is_refused(data: bytes) -> None:
    with pytest.raises(XmlError, match="document type declaration"):
        parse(data, what="the SOAP envelope")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"<a>", "not well-formed"),
        (b"<a></b>", "not well-formed"),
        (b"not xml", "not well-formed"),
        (b"<a/><b/>", "not well-formed"),
    ],
)
def test_broken_documents_are_refused_with_one_line(data: bytes, match: str) -> None:
    with pytest.raises(XmlError, match=match) as caught:
        parse(data, what="the body")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("the body ")


def test_size_and_depth_are_bounded() -> None:
    with pytest.raises(XmlError, match="more than the 10 bytes"):
        parse(b"<a>0123456789</a>", what="the body", max_bytes=10)
    deep = b"<a>" * 20 + b"</a>" * 20
    assert parse(deep, what="x", max_depth=20).tag == "a"
    with pytest.raises(XmlError, match="more than 19 levels"):
        parse(deep, what="x", max_depth=19)


def test_text_is_not_xml() -> None:
    with pytest.raises(TypeError):
        parse("<a/>", what="x")  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_with_xml_error(data: bytes) -> None:
    try:
        parse(data, what="fuzz")
    except XmlError:
        pass


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60))
def test_element_text_round_trips(text: str) -> None:
    from xml.sax.saxutils import escape

    cleaned = "".join(
        ch for ch in text if ch in "\t\n\r" or (" " <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\ufffd") or ch > "\uffff"
    )
    cleaned = cleaned.replace("\r", "")
    root = parse(f"<a>{escape(cleaned)}</a>".encode(), what="x")
    assert (root.text or "") == cleaned


def test_a_local_file_is_never_read(tmp_path: pytest.TempPathFactory) -> None:
    import pathlib

    secret = pathlib.Path(str(tmp_path)) / "secret.dtd"
    secret.write_text('<!ENTITY leak "SECRET-VALUE">')
    for data in (
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://{secret}"><r>&leak;</r>'.encode(),
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><r>&leak;</r>'.encode(),
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode(),
    ):
        with pytest.raises(XmlError, match="document type declaration") as caught:
            parse(data, what="the body")
        assert "SECRET-VALUE" not in str(caught.value)
