"""SOAP faults and replies: version-correct shapes, a step's own fault, and text that survives escaping."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.adapters.soap.addressing import WSA10, WSA2004, Addressing
from cpimock.adapters.soap.envelope import HeaderBlock, read_envelope
from cpimock.adapters.soap.fault import MPL_NAMESPACE, build_fault, fault_for_error, fault_from_step, xml_text
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE, SOAP12_ENVELOPE, QName, SoapError, SoapVersion
from cpimock.adapters.soap.reply import ReplyError, addressing_headers, build_reply
from cpimock.message import SoapFault
from cpimock.xmlsafe import parse

S11 = {"soap": SOAP11_ENVELOPE}
S12 = {"soap": SOAP12_ENVELOPE}
MPL = {"m": MPL_NAMESPACE}


def fault_of(content: bytes, version: SoapVersion) -> etree._Element:
    root = parse(content, what="the fault")
    [fault] = root.findall("soap:Body/soap:Fault", S11 if version is SoapVersion.V11 else S12)
    return fault


# -- faults ---------------------------------------------------------------------------------------


def test_a_soap11_server_fault_has_faultcode_faultstring_and_the_mpl_id_in_its_detail() -> None:
    answer = build_fault(SoapVersion.V11, "Processing failed", mpl_id="AGsJoRxvneuy55UnqhicT7tRuCcq")
    assert (answer.status, answer.content_type) == (500, "text/xml; charset=utf-8")
    fault = fault_of(answer.content, SoapVersion.V11)
    assert fault.findtext("faultcode") == "soap:Server"
    assert fault.find("faultcode").nsmap["soap"] == SOAP11_ENVELOPE  # type: ignore[union-attr]
    assert fault.findtext("faultstring") == "Processing failed"
    assert fault.findtext("detail/m:MessageProcessingLogID", namespaces=MPL) == "AGsJoRxvneuy55UnqhicT7tRuCcq"


def test_a_soap12_client_fault_has_code_value_reason_text_and_detail() -> None:
    answer = build_fault(SoapVersion.V12, "Bad order", code="client", detail_text="line 3", mpl_id="AG1")
    assert (answer.status, answer.content_type) == (500, "application/soap+xml; charset=utf-8")
    fault = fault_of(answer.content, SoapVersion.V12)
    assert fault.findtext("soap:Code/soap:Value", namespaces=S12) == "soap:Sender"
    text = fault.find("soap:Reason/soap:Text", S12)
    assert text is not None
    assert (text.text, text.get("{http://www.w3.org/XML/1998/namespace}lang")) == ("Bad order", "en")
    detail = fault.find("soap:Detail", S12)
    assert detail is not None
    assert detail.text == "line 3"
    assert detail.findtext("m:MessageProcessingLogID", namespaces=MPL) == "AG1"


def test_sender_faults_may_be_answered_with_400() -> None:
    assert build_fault(SoapVersion.V12, "x", code="client", sender_status=400).status == 400
    assert build_fault(SoapVersion.V12, "x", code="server", sender_status=400).status == 500


def test_a_fault_without_a_version_is_soap11_and_has_no_detail_unless_given_one() -> None:
    answer = build_fault(None, "x")
    assert answer.version is SoapVersion.V11
    assert fault_of(answer.content, SoapVersion.V11).find("detail") is None


def test_a_version_mismatch_fault_in_soap12_lists_the_supported_envelopes() -> None:
    answer = build_fault(SoapVersion.V12, "unknown envelope", code="version-mismatch")
    root = parse(answer.content, what="fault")
    supported = root.findall("soap:Header/soap:Upgrade/soap:SupportedEnvelope", S12)
    assert [element.get("qname") for element in supported] == ["soap:Envelope", "soap11:Envelope"]


def test_a_refused_request_becomes_its_fault() -> None:
    with pytest.raises(SoapError) as caught:
        read_envelope(b"<a/>", "application/soap+xml")
    answer = fault_for_error(caught.value, mpl_id="AG2")
    fault = fault_of(answer.content, SoapVersion.V12)
    assert fault.findtext("soap:Code/soap:Value", namespaces=S12) == "soap:Sender"
    assert "not a SOAP envelope" in (fault.findtext("soap:Reason/soap:Text", namespaces=S12) or "")


# -- a step's own fault ---------------------------------------------------------------------------


def test_a_step_fault_keeps_its_code_string_and_detail_in_soap11() -> None:
    raised = SoapFault(
        "Order 4711 is locked",
        faultcode="app:Locked",
        detail="<app:Lock><app:Owner>ADA</app:Owner></app:Lock>",
        namespaces={"app": "urn:acme:app"},
    )
    answer = fault_from_step(raised, request_version=SoapVersion.V11, mpl_id="AG3")
    fault = fault_of(answer.content, SoapVersion.V11)
    code = fault.find("faultcode")
    assert code is not None
    assert code.text == "app:Locked"
    assert code.nsmap["app"] == "urn:acme:app"
    assert fault.findtext("faultstring") == "Order 4711 is locked"
    assert fault.findtext("detail/a:Lock/a:Owner", namespaces={"a": "urn:acme:app"}) == "ADA"
    assert fault.find("detail/m:MessageProcessingLogID", MPL) is None  # the step owns its detail


@pytest.mark.parametrize(
    ("faultcode", "value11", "value12"),
    [
        ("client", "soap:Client", "soap:Sender"),
        ("Server", "soap:Server", "soap:Receiver"),
        ("soap:Client", "soap:Client", "soap:Sender"),
        ("soapenv:Receiver", "soap:Server", "soap:Receiver"),
        ("MustUnderstand", "soap:MustUnderstand", "soap:MustUnderstand"),
    ],
)
def test_a_step_fault_code_is_spelled_in_the_request_version(faultcode: str, value11: str, value12: str) -> None:
    raised = SoapFault("x", faultcode=faultcode)
    fault11 = fault_of(fault_from_step(raised, request_version=SoapVersion.V11).content, SoapVersion.V11)
    assert fault11.findtext("faultcode") == value11
    fault12 = fault_of(fault_from_step(raised, request_version=SoapVersion.V12).content, SoapVersion.V12)
    assert fault12.findtext("soap:Code/soap:Value", namespaces=S12) == value12


def test_a_step_fault_may_choose_its_version() -> None:
    answer = fault_from_step(SoapFault("x", soap_version="1.2"), request_version=SoapVersion.V11)
    assert answer.version is SoapVersion.V12
    assert fault_from_step(SoapFault("x"), request_version=None).version is SoapVersion.V11


@pytest.mark.parametrize(
    ("raised", "version", "match"),
    [
        (SoapFault("x", faultcode="app:Locked", namespaces={"app": "urn:a"}), SoapVersion.V12, "not a SOAP 1.2 fault"),
        (SoapFault("x", faultcode="app:Locked"), SoapVersion.V11, "prefix the SoapFault's namespaces declare"),
        (SoapFault("x", faultcode="Locked"), SoapVersion.V11, "neither 'client', 'server'"),
        (SoapFault("x", detail="<a>"), SoapVersion.V11, "not well-formed"),
        (SoapFault("x", detail="<app:A/>"), SoapVersion.V11, "not well-formed"),
        (SoapFault("x", detail='<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'), SoapVersion.V11, "not well-formed"),
        (SoapFault("x", detail="<a/>", namespaces={"a b": "urn:a"}), SoapVersion.V11, "not an XML name"),
    ],
)
def test_a_step_fault_that_cannot_be_sent_becomes_a_server_fault_saying_why(
    raised: SoapFault, version: SoapVersion, match: str
) -> None:
    answer = fault_from_step(raised, request_version=version, mpl_id="AG4")
    fault = fault_of(answer.content, version)
    if version is SoapVersion.V11:
        string, code = fault.findtext("faultstring") or "", fault.findtext("faultcode")
        mpl = fault.findtext("detail/m:MessageProcessingLogID", namespaces=MPL)
    else:
        string = fault.findtext("soap:Reason/soap:Text", namespaces=S12) or ""
        code = fault.findtext("soap:Code/soap:Value", namespaces=S12)
        mpl = fault.findtext("soap:Detail/m:MessageProcessingLogID", namespaces={**S12, **MPL})
    assert code in ("soap:Server", "soap:Receiver")
    assert string.startswith("the step raised a SoapFault that cannot be sent")
    assert match in string
    assert mpl == "AG4"


def test_soap_fault_is_checked_when_made_and_survives_pickling() -> None:
    raised = SoapFault("x", faultcode="client", detail="<a/>", namespaces={"a": "urn:a"}, soap_version="1.1")
    assert str(raised) == "x"
    copy = pickle.loads(pickle.dumps(raised))
    assert (copy.faultstring, copy.faultcode, copy.detail, copy.namespaces, copy.soap_version) == (
        "x",
        "client",
        "<a/>",
        {"a": "urn:a"},
        "1.1",
    )
    with pytest.raises(ValueError, match="soap_version"):
        SoapFault("x", soap_version="2.0")
    with pytest.raises(TypeError, match="faultstring"):
        SoapFault(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detail"):
        SoapFault("x", detail=b"<a/>")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="namespaces"):
        SoapFault("x", namespaces={"a": 1})  # type: ignore[dict-item]


# -- replies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(SoapVersion))
def test_a_reply_wraps_the_body_element_in_the_request_version(version: SoapVersion) -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<r:Confirmation xmlns:r="urn:r">Größe</r:Confirmation>'
    reply = build_reply(body.encode("latin-1"), version)
    assert reply.content_type == f"{version.media_type}; charset=utf-8"
    root = parse(reply.content, what="reply")
    assert root.tag == f"{{{version.envelope_ns}}}Envelope"
    [payload] = root.find(f"{{{version.envelope_ns}}}Body")  # type: ignore[misc]
    assert (payload.tag, payload.text) == ("{urn:r}Confirmation", "Größe")
    assert root.find(f"{{{version.envelope_ns}}}Header") is None


def test_an_empty_result_is_an_empty_body() -> None:
    root = parse(build_reply(b"  \n", SoapVersion.V11).content, what="reply")
    body = root.find("soap:Body", S11)
    assert body is not None
    assert len(body) == 0


@pytest.mark.parametrize(
    "body",
    [b"Hello Ada", b'{"status": "ok"}', b"<a/><b/>", b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', b"<a>"],
    ids=["text", "json", "two-elements", "dtd", "broken"],
)
def test_a_result_that_is_not_one_xml_element_is_a_server_fault(body: bytes) -> None:
    with pytest.raises(ReplyError, match="answers with one XML element") as caught:
        build_reply(body, SoapVersion.V12)
    assert (caught.value.code, caught.value.version) == ("server", SoapVersion.V12)


def test_headers_a_step_set_go_into_the_reply_header() -> None:
    headers = [
        HeaderBlock(
            QName("urn:h", "Trace"), b'<h:Trace xmlns:h="urn:h">t-1</h:Trace>', actor="urn:r", must_understand=True
        ),
        '<h:Plain xmlns:h="urn:h">p</h:Plain>',
        b'<h:Bytes xmlns:h="urn:h">b</h:Bytes>',
    ]
    for version in SoapVersion:
        root = parse(build_reply(b"<ok/>", version, headers=headers).content, what="reply")
        ns = version.envelope_ns
        trace, plain, as_bytes = root.find(f"{{{ns}}}Header")  # type: ignore[misc]
        assert trace.get(f"{{{ns}}}mustUnderstand") == ("1" if version is SoapVersion.V11 else "true")
        assert trace.get(f"{{{ns}}}{version.actor_attribute}") == "urn:r"
        assert (plain.text, as_bytes.text) == ("p", "b")


@pytest.mark.parametrize("header", ["<NoNamespace/>", "not xml", b"<a>"])
def test_a_header_that_is_no_namespaced_element_is_a_server_fault(header: str | bytes) -> None:
    with pytest.raises(ReplyError):
        build_reply(b"<ok/>", SoapVersion.V11, headers=[header])


@pytest.mark.parametrize("namespace", [WSA10, WSA2004])
def test_addressing_headers_of_a_reply_relate_to_the_request(namespace: str) -> None:
    request = Addressing(namespace=namespace, message_id="urn:uuid:req")
    blocks = addressing_headers(request, message_id="urn:uuid:rep", action="urn:acme:CreateResponse")
    values = {block.name.name: etree.fromstring(block.xml).text for block in blocks}
    assert values["RelatesTo"] == "urn:uuid:req"
    assert values["MessageID"] == "urn:uuid:rep"
    assert values["Action"] == "urn:acme:CreateResponse"
    assert values["To"] is not None
    assert values["To"].endswith("anonymous")
    assert all(block.name.namespace == namespace for block in blocks)
    root = parse(build_reply(b"<ok/>", SoapVersion.V11, headers=blocks).content, what="reply")
    assert root.findtext("soap:Header/w:RelatesTo", namespaces={**S11, "w": namespace}) == "urn:uuid:req"


# -- any text -------------------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
any_text = st.text(max_size=80)


@FUZZ
@given(any_text, any_text, st.sampled_from(list(SoapVersion)), st.sampled_from(["client", "server"]))
def test_fault_text_survives_escaping(string: str, detail: str, version: SoapVersion, code: str) -> None:
    answer = build_fault(version, string, code=code, detail_text=detail, mpl_id="AG<&>")  # type: ignore[arg-type]
    fault = fault_of(answer.content, version)
    if version is SoapVersion.V11:
        got_string, got_detail = fault.findtext("faultstring"), fault.find("detail")
    else:
        got_string, got_detail = fault.findtext("soap:Reason/soap:Text", namespaces=S12), fault.find("soap:Detail", S12)
    assert got_string == xml_text(string)
    assert got_detail is not None
    assert (got_detail.text or "") == xml_text(detail)
    assert got_detail.findtext("m:MessageProcessingLogID", namespaces=MPL) == "AG<&>"


@FUZZ
@given(any_text, any_text)
def test_a_step_fault_with_any_text_is_sent_or_explained(string: str, detail: str) -> None:
    raised = SoapFault(string, faultcode="client", detail=detail)
    for version in SoapVersion:
        fault = fault_of(fault_from_step(raised, request_version=version, mpl_id="AG5").content, version)
        assert fault is not None


@FUZZ
@given(any_text)
def test_reply_text_survives_escaping(text: str) -> None:
    element = etree.Element("{urn:r}Text")
    element.text = xml_text(text)
    reply = build_reply(etree.tostring(element, encoding="UTF-8"), SoapVersion.V11)
    [payload] = parse(reply.content, what="reply").find("soap:Body", S11)  # type: ignore[misc]
    assert (payload.text or "") == xml_text(text)


@FUZZ
@given(st.binary(max_size=200))
def test_any_result_bytes_give_a_reply_or_a_reply_error(body: bytes) -> None:
    try:
        reply = build_reply(body, SoapVersion.V11)
    except ReplyError:
        return
    parse(reply.content, what="reply")
