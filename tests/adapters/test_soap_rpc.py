"""RPC/encoded detection: libxml2's candidates, checked in Python, refuse what a walk of every element refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.adapters.soap.protocol import (
    SOAP11_ENCODING,
    SOAP11_ENVELOPE,
    SOAP12_ENCODING,
    SOAP12_ENVELOPE,
    SoapError,
    SoapVersion,
)
from cpimock.adapters.soap.rpc import refuse_rpc
from cpimock.xmlsafe import XmlError, parse

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NONE_STYLE = "http://www.w3.org/2003/05/soap-envelope/encoding/none"


def walked_refusal(envelope: etree._Element, body: etree._Element, version: SoapVersion) -> None:
    """The check as it was: every element of the envelope's Body (and the envelope's style), in Python."""
    style_attr = f"{{{version.envelope_ns}}}encodingStyle"
    encodings = {v.encoding_ns for v in SoapVersion}
    for element in (envelope, *body.iter()):
        if not isinstance(element.tag, str):
            continue
        style = element.get(style_attr)
        if style is not None and style.strip() not in ("", NONE_STYLE):
            raise SoapError(
                f"the message declares encodingStyle {style.strip()!r} (RPC/encoded); CPI's SOAP sender accepts "
                "document/literal messages only",
                version=version,
            )
        if element is envelope:
            continue
        if etree.QName(element).namespace in encodings:
            raise SoapError(
                f"the payload uses SOAP encoding ({etree.QName(element).localname}); CPI's SOAP sender accepts "
                "document/literal messages only",
                version=version,
            )
        for name, value in element.attrib.items():
            prefix = value.split(":", 1)[0] if ":" in value else None
            if etree.QName(name).namespace in encodings or (
                name == f"{{{XSI}}}type" and element.nsmap.get(prefix) in encodings
            ):
                raise SoapError(
                    f"the payload uses SOAP encoding ({etree.QName(name).localname}={value!r}); CPI's SOAP sender "
                    "accepts document/literal messages only",
                    version=version,
                )


def outcome(check: object, envelope: etree._Element, body: etree._Element, version: SoapVersion) -> str | None:
    try:
        check(envelope, body, version)  # type: ignore[operator]
    except SoapError as exc:
        return f"{exc.code} {exc.version}: {exc}"
    return None


# the envelope's own prefix is "e"; these may be declared anywhere below it, to any of URIS
PREFIXES = ["p", "q", "enc", "xsi", "s"]
URIS = ["urn:a", SOAP11_ENCODING, SOAP12_ENCODING, SOAP11_ENVELOPE, SOAP12_ENVELOPE, XSI]
LOCALS = ["encodingStyle", "type", "arrayType", "id", "ref", "Array", "x"]
VALUES = ["", " ", SOAP11_ENCODING, SOAP12_ENCODING, NONE_STYLE, "urn:x", "p:Array", "enc:int", "Array", "xsd:string"]


@st.composite
def declarations(draw: st.DrawFn) -> dict[str, str]:
    """Namespace declarations of one element: prefix ("" the default) to URI ("" undeclares the default)."""
    chosen = draw(st.lists(st.sampled_from(["", *PREFIXES]), unique=True, max_size=3))
    return {prefix: draw(st.sampled_from(["", *URIS] if prefix == "" else URIS)) for prefix in chosen}


@st.composite
def attributes(draw: st.DrawFn, scope: dict[str, str]) -> str:
    prefixes = sorted(prefix for prefix in scope if prefix)
    names = draw(
        st.lists(st.tuples(st.sampled_from(["", *prefixes]), st.sampled_from(LOCALS)), unique=True, max_size=3)
    )
    values = [draw(st.sampled_from(VALUES)) for _ in names]
    return "".join(
        f' {prefix + ":" if prefix else ""}{local}="{value}"'
        for (prefix, local), value in zip(names, values, strict=True)
    )


def opening(name: str, declared: dict[str, str], attrs: str) -> str:
    xmlns = "".join(f' xmlns{":" + prefix if prefix else ""}="{uri}"' for prefix, uri in declared.items())
    return f"<{name}{xmlns}{attrs}>"


@st.composite
def content(draw: st.DrawFn, scope: dict[str, str], budget: int) -> str:
    """Elements (any declared prefix, attributes, declarations), text and comments, *budget* levels deep."""
    parts: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=3 if budget else 0))):
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["text", "<!-- c -->", " "])))
            continue
        declared = draw(declarations())
        inner = {**scope, **declared}
        prefixes = sorted(prefix for prefix in inner if prefix)
        prefix = draw(st.sampled_from(["", *prefixes]))
        name = f"{prefix + ':' if prefix else ''}{draw(st.sampled_from(['item', 'Array', 'Struct']))}"
        head = opening(name, declared, draw(attributes(inner)))
        parts.append(f"{head}{draw(content(inner, budget - 1))}</{name}>")
    return "".join(parts)


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[bytes, SoapVersion]:
    version = draw(st.sampled_from(list(SoapVersion)))
    scope = {"e": version.envelope_ns, **draw(declarations())}
    envelope_attrs = draw(attributes(scope))
    body_declared = draw(declarations())
    body_scope = {**scope, **body_declared}
    body = opening("e:Body", body_declared, draw(attributes(body_scope)))
    text = (
        opening("e:Envelope", {k: v for k, v in scope.items()}, envelope_attrs)
        + draw(st.sampled_from(["", "<e:Header/>"]))
        + body
        + draw(content(body_scope, 4))
        + "</e:Body></e:Envelope>"
    )
    return text.encode(), version


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_the_candidates_refuse_what_a_walk_of_every_element_refused(case: tuple[bytes, SoapVersion]) -> None:
    data, version = case
    try:
        root = parse(data, what="x")
    except XmlError:
        assume(False)  # e.g. one attribute twice through two prefixes of one namespace
        raise
    body = root[-1]
    assert outcome(refuse_rpc, root, body, version) == outcome(walked_refusal, root, body, version)


@pytest.mark.parametrize(
    ("fragment", "refused"),
    [
        (f'<m:a xmlns:m="urn:m" xmlns:x="{XSI}" xmlns="{SOAP11_ENCODING}"><m:c x:type="Array"/></m:a>', "type='Array'"),
        (f'<m:a xmlns:m="urn:m" xmlns:x="{XSI}" xmlns="{SOAP11_ENCODING}"><m:c xmlns="" x:type="Array"/></m:a>', None),
        (
            f'<m:a xmlns:m="urn:m" xmlns:x="{XSI}" xmlns:p="{SOAP11_ENCODING}">'
            '<m:c xmlns:p="urn:p" x:type="p:A"/></m:a>',
            None,
        ),
        (f'<a xmlns:x="{XSI}" xmlns:e2="{SOAP12_ENCODING}"><c x:type="e2:int"/></a>', "type='e2:int'"),
        (f'<a xmlns:x="{XSI}" xmlns:e2="{SOAP12_ENCODING}"><c x:type="xsd:int"/></a>', None),
        (f'<a xmlns:x="{XSI}"><c x:type="Array"/></a>', None),
        (f'<a><b><c><d e:encodingStyle=" {SOAP11_ENCODING} "/></c></b></a>', "encodingStyle"),
        (f'<a><b><c><d e:encodingStyle=" {NONE_STYLE} "/></c></b></a>', None),
    ],
)
def test_deep_and_shadowed_encodings_are_told_as_before(fragment: str, refused: str | None) -> None:
    data = f'<e:Envelope xmlns:e="{SOAP11_ENVELOPE}"><e:Body>{fragment}</e:Body></e:Envelope>'.encode()
    root = parse(data, what="x")
    got = outcome(refuse_rpc, root, root[-1], SoapVersion.V11)
    assert got == outcome(walked_refusal, root, root[-1], SoapVersion.V11)
    if refused is None:
        assert got is None
    else:
        assert got is not None
        assert got.startswith("client SoapVersion.V11: ")
        assert refused in got


def test_the_first_offender_in_document_order_is_named() -> None:
    body = f'<a xmlns:enc="{SOAP11_ENCODING}"><b><enc:Array/></b><c e:encodingStyle="{SOAP11_ENCODING}"/></a>'
    data = f'<e:Envelope xmlns:e="{SOAP11_ENVELOPE}"><e:Body>{body}</e:Body></e:Envelope>'.encode()
    root = parse(data, what="x")
    with pytest.raises(SoapError, match=r"SOAP encoding \(Array\)"):
        refuse_rpc(root, root[-1], SoapVersion.V11)
