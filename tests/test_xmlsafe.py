"""XML from outside: well-formed documents parse, everything dangerous or broken is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

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


# -- the depth bound: libxml2's compiled path agrees with a walk of every node ------------------


def walked_depth(root: etree._Element) -> int:
    """How deep the deepest node but text lies, by the walk that checked the bound before (root: 1)."""
    deepest = 0
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    return deepest


def refused_for_depth(data: bytes, max_depth: int) -> bool:
    try:
        parse(data, what="x", max_depth=max_depth)
    except XmlError as exc:
        if "levels deep" not in str(exc):
            raise
        return True
    return False


LEAVES = st.sampled_from(["", "text", "<!-- c -->", "<?pi x?>", "<![CDATA[c]]>", "<e/>", '<e a="1"/>', "&amp;"])


@st.composite
def nested(draw: st.DrawFn, budget: int = 4) -> str:
    """A small element with leaves and nested elements around it, the nesting at most *budget* deep."""
    parts = draw(st.lists(LEAVES, max_size=3))
    if budget > 0:
        parts += draw(st.lists(nested(budget - 1), max_size=2))
    order = draw(st.permutations(parts))
    return "<n>" + "".join(order) + "</n>"


@st.composite
def deep_documents(draw: st.DrawFn) -> bytes:
    """A chain of elements up to past the default bound, with small trees and leaves along it."""
    chain = draw(st.integers(min_value=0, max_value=140))
    inner = draw(st.one_of(LEAVES, nested()))
    side = draw(st.lists(st.tuples(st.integers(min_value=0, max_value=chain), st.one_of(LEAVES, nested())), max_size=4))
    text = inner
    for level in range(chain, -1, -1):
        extra = "".join(piece for at, piece in side if at == level)
        text = f"<c{level}>{extra}{text}</c{level}>"
    tail = draw(st.sampled_from(["", "<!-- after -->", "<?after?>"]))
    return f'<?xml version="1.0"?>{text}{tail}'.encode()


@settings(max_examples=300, deadline=None)
@given(deep_documents(), st.integers(min_value=-2, max_value=3), st.integers(min_value=-1, max_value=300))
def test_the_depth_bound_agrees_with_walking_every_node(data: bytes, offset: int, anywhere: int) -> None:
    depth = walked_depth(parse(data, what="x", max_depth=10**6))
    for bound in (depth - 1, depth, depth + 1, depth + offset, anywhere, 128):
        assert refused_for_depth(data, bound) == (depth > bound), bound


@pytest.mark.parametrize("leaf", ["<x/>", "<!--c-->", "<?p?>", "text", "<![CDATA[t]]>"])
def test_the_node_one_level_too_deep_is_refused_whatever_it_is_but_text(leaf: str) -> None:
    data = f"<a><b><c>{leaf}</c></b></a>".encode()
    assert refused_for_depth(data, 3) is (leaf[0] == "<" and not leaf.startswith("<![CDATA["))
    assert not refused_for_depth(data, 4)


def test_bounds_beyond_the_path_are_checked_by_walking() -> None:
    deep = b"<a>" * 256 + b"</a>" * 256
    assert not refused_for_depth(deep, 100_000)
    assert not refused_for_depth(deep, 256)
    assert refused_for_depth(deep, 255)
