"""Reading SOAP requests: what a step gets from an envelope, and every envelope that is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.adapters.soap.addressing import WSA10, WSA2004
from cpimock.adapters.soap.envelope import check_must_understand, read_envelope, unquote_action
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE, SOAP12_ENVELOPE, QName, SoapError, SoapVersion
from cpimock.errors import CpimockError

SAP_RM = "http://www.sap.com/webas/640/soap/features/messageId/"
ORDER = (
    b'<n0:OrderRequest xmlns:n0="urn:acme:orders"><ID>4711</ID><Text>Gr\xc3\xb6\xc3\x9fe &amp; Co</Text>'
    b"</n0:OrderRequest>"
)
XML11 = "text/xml; charset=utf-8"
XML12 = "application/soap+xml; charset=utf-8"


def envelope(body: bytes = ORDER, header: bytes = b"", *, version: str = "1.1", decl: bytes = b"") -> bytes:
    ns = SOAP11_ENVELOPE if version == "1.1" else SOAP12_ENVELOPE
    head = b"<soap:Header>" + header + b"</soap:Header>" if header else b""
    return (
        decl
        + b'<soap:Envelope xmlns:soap="'
        + ns.encode()
        + b'">'
        + head
        + b"<soap:Body>"
        + body
        + b"</soap:Body></soap:Envelope>"
    )


def canonical(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n", exclusive=True)


# -- accepted -------------------------------------------------------------------------------------


def test_a_soap11_request_gives_the_payload_element_headers_and_action() -> None:
    header = f'<msgID:messageId xmlns:msgID="{SAP_RM}">uuid:00163ec1-abf4-1eeb-acbf-25ab61ffa285</msgID:messageId>'
    data = envelope(header=header.encode(), decl=b'<?xml version="1.0" encoding="UTF-8"?>\n')
    read = read_envelope(data, XML11, '"http://sap.com/xi/WebService/soap1.1"')
    assert read.version is SoapVersion.V11
    assert read.action == "http://sap.com/xi/WebService/soap1.1"
    assert read.payload_name == QName("urn:acme:orders", "OrderRequest")
    assert canonical(read.payload) == canonical(ORDER)
    [block] = read.headers
    assert block.name == QName(SAP_RM, "messageId")
    assert etree.fromstring(block.xml).text == "uuid:00163ec1-abf4-1eeb-acbf-25ab61ffa285"
    assert read.header(QName(SAP_RM, "messageId")) is block
    assert read.addressing is None


def test_a_soap12_request_takes_its_action_from_the_content_type() -> None:
    read = read_envelope(envelope(version="1.2"), 'application/soap+xml; charset=utf-8; action="urn:acme:Create"')
    assert read.version is SoapVersion.V12
    assert read.action == "urn:acme:Create"
    assert read.payload_name == QName("urn:acme:orders", "OrderRequest")


def test_the_payload_keeps_the_namespaces_its_content_refers_to() -> None:
    xsi = b"http://www.w3.org/2001/XMLSchema-instance"
    body = b'<o:Order xmlns:o="urn:o" xmlns:xsi="' + xsi + b'"><V xsi:type="t:Amount"/></o:Order>'
    data = envelope(body).replace(b"<soap:Envelope ", b'<soap:Envelope xmlns:t="urn:types" ')
    payload = etree.fromstring(read_envelope(data, XML11).payload)
    assert payload[0].nsmap["t"] == "urn:types"


def test_header_blocks_carry_actor_role_and_must_understand() -> None:
    header11 = b'<a:H xmlns:a="urn:a" soap:mustUnderstand="1" soap:actor="http://schemas.xmlsoap.org/soap/actor/next"/>'
    [block] = read_envelope(envelope(header=header11), XML11).headers
    assert block.must_understand
    assert block.actor == "http://schemas.xmlsoap.org/soap/actor/next"
    header12 = b'<a:H xmlns:a="urn:a" soap:mustUnderstand="true" soap:role="urn:r"/>'
    [block] = read_envelope(envelope(header=header12, version="1.2"), XML12).headers
    assert block.must_understand
    assert block.actor == "urn:r"


def test_the_charset_applies_to_a_document_that_declares_no_encoding() -> None:
    data = envelope(b'<o:T xmlns:o="urn:o">Gr\xf6\xdfe</o:T>')
    read = read_envelope(data, "text/xml; charset=ISO-8859-1")
    assert etree.fromstring(read.payload).text == "Größe"
    declared = envelope(b'<o:T xmlns:o="urn:o">Gr\xf6\xdfe</o:T>', decl=b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert etree.fromstring(read_envelope(declared, XML11).payload).text == "Größe"


@pytest.mark.parametrize("namespace", [WSA10, WSA2004])
def test_ws_addressing_headers_are_read_when_asked_for(namespace: str) -> None:
    header = (
        f'<wsa:MessageID xmlns:wsa="{namespace}">urn:uuid:6b0c7a4e-4d43-4a8b-9a68-34c1ab2a2f11</wsa:MessageID>'
        f'<wsa:Action xmlns:wsa="{namespace}">urn:acme:Create</wsa:Action>'
        f'<wsa:To xmlns:wsa="{namespace}">https://tenant/cxf/orders</wsa:To>'
        f'<wsa:ReplyTo xmlns:wsa="{namespace}"><wsa:Address>{namespace}/anonymous</wsa:Address></wsa:ReplyTo>'
        f'<wsa:RelatesTo xmlns:wsa="{namespace}" RelationshipType="urn:r">urn:uuid:1</wsa:RelatesTo>'
    ).encode()
    read = read_envelope(envelope(header=header), XML11, '"urn:acme:Create"', addressing=True)
    assert read.addressing is not None
    assert read.addressing.namespace == namespace
    assert read.addressing.message_id == "urn:uuid:6b0c7a4e-4d43-4a8b-9a68-34c1ab2a2f11"
    assert read.addressing.action == "urn:acme:Create"
    assert read.addressing.to == "https://tenant/cxf/orders"
    assert read.addressing.reply_to == f"{namespace}/anonymous"
    assert read.addressing.anonymous_reply
    assert (read.addressing.relates_to, read.addressing.relationship) == ("urn:uuid:1", "urn:r")
    assert read_envelope(envelope(header=header), XML11, '"urn:acme:Create"').addressing is None


def test_an_empty_body_is_accepted_only_when_allowed() -> None:
    read = read_envelope(envelope(b""), XML11, allow_empty_body=True)
    assert (read.payload, read.payload_name) == (b"", None)


def test_encoding_style_none_is_not_rpc() -> None:
    body = b'<o:A xmlns:o="urn:o" soap:encodingStyle="http://www.w3.org/2003/05/soap-envelope/encoding/none"/>'
    assert read_envelope(envelope(body, version="1.2"), XML12).payload_name == QName("urn:o", "A")


def test_unquote_action() -> None:
    assert unquote_action('"urn:a"') == "urn:a"
    assert unquote_action(' "" ') == ""
    assert unquote_action("urn:a") == "urn:a"
    assert unquote_action(None) is None


def test_must_understand_blocks_meant_for_the_iflow_must_be_understood() -> None:
    understood = QName("urn:a", "H")
    header = (
        b'<a:H xmlns:a="urn:a" soap:mustUnderstand="1"/>'
        b'<b:I xmlns:b="urn:b" soap:actor="urn:someone-else" soap:mustUnderstand="1"/>'
    )
    read = read_envelope(envelope(header=header), XML11)
    check_must_understand(read, {understood})
    with pytest.raises(SoapError, match="mustUnderstand") as caught:
        check_must_understand(read, set())
    assert caught.value.code == "must-understand"


# -- refused --------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><a>&c;</a></soap:Body></soap:Envelope>'
)


@pytest.mark.parametrize(
    ("data", "content_type", "match", "version"),
    [
        (b"<soap:Envelope", XML11, "not well-formed", SoapVersion.V11),
        (b"", XML12, "is empty", SoapVersion.V12),
        (BILLION_LAUGHS, XML11, "document type declaration", SoapVersion.V11),
        (envelope(version="1.2"), XML11, "SOAP 1.2 envelope came with Content-Type text/xml", SoapVersion.V12),
        (envelope(), XML12, "SOAP 1.1 envelope came with Content-Type application/soap", SoapVersion.V11),
        (envelope(), "application/xml", "came with Content-Type application/xml", SoapVersion.V11),
        (envelope(), None, "has no Content-Type", SoapVersion.V11),
        (envelope(), 'multipart/related; type="text/xml"', "attachments or MTOM", SoapVersion.V11),
        (ORDER, XML11, "not a SOAP envelope: its root element is OrderRequest", SoapVersion.V11),
        (envelope(b""), XML11, "Body is empty", SoapVersion.V11),
        (envelope(ORDER + ORDER), XML11, "holds 2 elements", SoapVersion.V11),
        (envelope(b"just text"), XML11, "text outside any element", SoapVersion.V11),
        (envelope(b"<?pi x?>" + ORDER), XML11, "processing instruction", SoapVersion.V11),
        (
            envelope(b'<soap:Fault xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>'),
            XML11,
            "is a SOAP Fault",
            SoapVersion.V11,
        ),
        (envelope(header=b"<NoNamespace/>"), XML11, "has no namespace", SoapVersion.V11),
        (
            envelope(header=b'<a:H xmlns:a="urn:a" soap:mustUnderstand="yes"/>'),
            XML11,
            "mustUnderstand='yes'",
            SoapVersion.V11,
        ),
        (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/><soap:Header/></soap:Envelope>',
            XML11,
            "optional Header and one Body",
            SoapVersion.V11,
        ),
        (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></soap:Envelope>',
            XML11,
            "optional Header and one Body",
            SoapVersion.V11,
        ),
    ],
)
def test_requests_that_are_refused_with_a_client_fault(
    data: bytes, content_type: str | None, match: str, version: SoapVersion
) -> None:
    with pytest.raises(SoapError, match=match) as caught:
        read_envelope(data, content_type)
    assert caught.value.code == "client"
    assert caught.value.version is version
    assert "\n" not in str(caught.value)


def test_an_unknown_envelope_namespace_is_a_version_mismatch() -> None:
    data = b'<e:Envelope xmlns:e="http://example.com/soap"><e:Body/></e:Envelope>'
    with pytest.raises(SoapError, match=r"neither SOAP 1\.1") as caught:
        read_envelope(data, XML11)
    assert caught.value.code == "version-mismatch"


def test_a_document_the_charset_does_not_fit_is_refused() -> None:
    with pytest.raises(SoapError, match=r"not valid us-ascii .*byte 0xc3"):
        read_envelope(envelope(), "text/xml; charset=us-ascii")
    with pytest.raises(SoapError, match="does not know"):
        read_envelope(envelope(), "text/xml; charset=klingon")


def test_a_missing_soap_action_is_refused_only_when_required() -> None:
    assert read_envelope(envelope(), XML11).action is None
    with pytest.raises(SoapError, match="no SOAPAction"):
        read_envelope(envelope(), XML11, require_soap_action=True)


ENC11 = "http://schemas.xmlsoap.org/soap/encoding/"
ENC12 = "http://www.w3.org/2003/05/soap-encoding"


@pytest.mark.parametrize(
    ("body", "version"),
    [
        (f'<m:GetPrice xmlns:m="urn:m" soap:encodingStyle="{ENC11}"><item>Apples</item></m:GetPrice>', "1.1"),
        (f'<m:GetPrice xmlns:m="urn:m" soap:encodingStyle="{ENC12}"><item>Apples</item></m:GetPrice>', "1.2"),
        (f'<m:A xmlns:m="urn:m" xmlns:enc="{ENC11}" enc:arrayType="xsd:string[2]"><i>a</i><i>b</i></m:A>', "1.1"),
        (f'<m:A xmlns:m="urn:m" xmlns:enc="{ENC12}" enc:itemType="xsd:string" enc:arraySize="2"/>', "1.2"),
        (f'<m:A xmlns:m="urn:m"><enc:Array xmlns:enc="{ENC11}"/></m:A>', "1.1"),
        (
            f'<m:A xmlns:m="urn:m" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:enc="{ENC11}">'
            '<list xsi:type="enc:Array"/></m:A>',
            "1.1",
        ),
    ],
    ids=["encodingStyle-11", "encodingStyle-12", "arrayType", "itemType", "enc-element", "xsi-type"],
)
def test_rpc_encoded_messages_are_refused(body: str, version: str) -> None:
    data = envelope(body.encode(), version=version)
    with pytest.raises(SoapError, match="document/literal"):
        read_envelope(data, XML11 if version == "1.1" else XML12)


def test_rpc_encoding_declared_on_the_envelope_is_refused() -> None:
    data = envelope().replace(b"<soap:Envelope ", f'<soap:Envelope soap:encodingStyle="{ENC11}" '.encode())
    with pytest.raises(SoapError, match="RPC/encoded"):
        read_envelope(data, XML11)


@pytest.mark.parametrize(
    "header",
    [
        f'<wsa:MessageID xmlns:wsa="{WSA10}">a</wsa:MessageID><wsa:MessageID xmlns:wsa="{WSA10}">b</wsa:MessageID>',
        f'<wsa:MessageID xmlns:wsa="{WSA10}">a</wsa:MessageID><wsa:To xmlns:wsa="{WSA2004}">b</wsa:To>',
        f'<wsa:ReplyTo xmlns:wsa="{WSA10}"/>',
        f'<wsa:To xmlns:wsa="{WSA10}"><x/></wsa:To>',
        f'<wsa:Action xmlns:wsa="{WSA10}">urn:other</wsa:Action>',
        f'<wsa:To xmlns:wsa="{WSA10}">{"x" * 3000}</wsa:To>',
    ],
    ids=["twice", "mixed-versions", "reply-to-without-address", "element-content", "action-mismatch", "too-long"],
)
def test_broken_ws_addressing_headers_are_refused(header: str) -> None:
    with pytest.raises(SoapError, match="WS-Addressing"):
        read_envelope(envelope(header=header.encode()), XML11, '"urn:acme:Create"', addressing=True)


# -- any bytes ------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
content_types = st.sampled_from([XML11, XML12, None, "text/xml; charset=latin-1", "application/soap+xml; action=x", ""])
fragments = st.sampled_from(
    [
        envelope(),
        envelope(version="1.2"),
        b"<soap:Header>",
        b"</soap:Body>",
        b'soap:encodingStyle="x"',
        b"<!DOCTYPE a>",
        b"&#x1;",
        b"\xff\xfe",
        b"<?xml version='1.0' encoding='utf-16'?>",
        ORDER,
    ]
)


@FUZZ
@given(st.binary(max_size=400), content_types)
def test_any_bytes_give_an_envelope_or_a_cpimock_error(data: bytes, content_type: str | None) -> None:
    try:
        read_envelope(data, content_type, '"a"', addressing=True)
    except CpimockError:
        pass


@FUZZ
@given(st.lists(fragments | st.binary(max_size=20), max_size=6), content_types, st.text(max_size=30))
def test_spliced_envelopes_give_an_envelope_or_a_cpimock_error(
    parts: list[bytes], content_type: str | None, action: str
) -> None:
    try:
        read_envelope(b"".join(parts), content_type, action, addressing=True)
    except CpimockError:
        pass


@FUZZ
@given(st.text(max_size=120))
def test_any_content_type_header_is_read_or_refused_as_a_soap_error(header: str) -> None:
    try:
        read_envelope(envelope(), header, header)
    except CpimockError:
        pass
