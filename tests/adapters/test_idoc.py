"""The IDoc sender's wire format: IDoc-XML from S/4, its control records, headers, characters and answers.

The samples in ``samples/idoc/`` are shaped as S/4 sends them through an XML-HTTP port (SOAP
or plain, single and bulk, with and without ARCKEY) so that server tests can post them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.adapters import idoc
from cpimock.adapters.encoding import EncodingError
from cpimock.adapters.idoc.answer import assign_numbers, failure_answer, success_answer
from cpimock.adapters.idoc.characters import CharacterHandling, InvalidCharacterError, clean_characters
from cpimock.adapters.idoc.document import IDOC_SOAP_NAMESPACE, ArcKey, IdocError, parse_arckey, read_idoc
from cpimock.adapters.soap.fault import fault_for_error
from cpimock.adapters.soap.protocol import SOAP11_ENVELOPE, QName, SoapVersion
from cpimock.errors import CpimockError
from cpimock.xmlsafe import parse

SAMPLES = Path(__file__).parent / "samples" / "idoc"
XML = "text/xml; charset=utf-8"
NS = {"i": IDOC_SOAP_NAMESPACE}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# -- accepted -------------------------------------------------------------------------------------


def test_a_soap_wrapped_orders05_gives_the_idoc_xml_and_the_adapter_headers() -> None:
    document = read_idoc(sample("ORDERS05.soap.xml"), XML, '"http://sap.com/xi/WebService/soap1.1"')
    assert document.soap_version is SoapVersion.V11
    assert document.root == QName(IDOC_SOAP_NAMESPACE, "ORDERS05")
    [idoc] = document.idocs
    assert idoc.segments == 3
    control = idoc.control
    assert (control.docnum, control.idoctyp, control.mestyp, control.cimtyp) == (
        "0000000000471101",
        "ORDERS05",
        "ORDERS",
        None,
    )
    assert control.get("SNDPRN") == "S4HCLNT100"
    assert control.as_dict()["SERIAL"] == "20261127151924"
    assert control.arckey == ArcKey("005056A1B2C31EDF9AB7F4C6E1D2A3B4")
    assert document.adapter_headers(db_id="0000000000900001") == {
        "SapIDocType": "ORDERS05",
        "SapIDocTransferId": "0000000000471101",
        "SapIDocDbId": "0000000000900001",
        "SapIDocContentType": "text/xml",
        "SapIdocSoapNamespace": IDOC_SOAP_NAMESPACE,
        "SapMessageId": "005056A1B2C31EDF9AB7F4C6E1D2A3B4",
    }
    body = parse(document.body, what="body")
    assert body.tag == f"{{{IDOC_SOAP_NAMESPACE}}}ORDERS05"
    assert body.findtext("i:IDOC/i:E1EDKA1/i:NAME1", namespaces=NS) == "Müller & Söhne GmbH"
    assert body.find(f"{{{SOAP11_ENVELOPE}}}Body") is None
    assert document.charset == "utf-8"


def test_an_exactly_once_in_order_arckey_sets_qos_and_queue() -> None:
    headers = read_idoc(sample("ORDERS05.eoio.soap.xml"), XML).adapter_headers()
    assert headers["SapMessageId"] == "005056A1B2C31EDF9AB7F4C6E1D2A3B5"
    assert (headers["SapPlainSoapQoS"], headers["SapPlainSoapQueueId"]) == ("ExactlyOnceInOrder", "SAP_ORD1")


def test_a_plain_bulk_debmas07_gives_every_idoc_and_the_first_number() -> None:
    data = sample("DEBMAS07.bulk.xml")
    document = read_idoc(data, "text/xml")
    assert document.soap_version is None
    assert document.transfer_ids == ("0000000000471201", "0000000000471202", "0000000000471203")
    assert document.body == data
    assert document.adapter_headers() == {
        "SapIDocType": "DEBMAS07",
        "SapIDocTransferId": "0000000000471201",
        "SapIDocContentType": "text/xml",
    }


def test_a_soap_wrapped_bulk_is_accepted() -> None:
    document = read_idoc(sample("DEBMAS07.bulk.soap.xml"), XML)
    assert len(document.idocs) == 2
    assert document.idoc_type == "DEBMAS07"


def test_a_plain_idoc_keeps_its_declared_encoding() -> None:
    data = sample("MATMAS05.latin1.xml")
    document = read_idoc(data, "application/x-sap.idoc")
    assert (document.body, document.charset) == (data, "iso8859-1")
    assert parse(document.body, what="body").findtext("IDOC/E1MARAM/E1MAKTM/MAKTX") == "Schraube für Außengewinde"
    assert document.adapter_headers()["SapIDocContentType"] == "application/x-sap.idoc"
    assert "SapMessageId" not in document.adapter_headers()


def test_an_extended_idoc_may_be_named_after_its_extension() -> None:
    data = sample("MATMAS05.latin1.xml").replace(
        b"<IDOCTYP>MATMAS05</IDOCTYP>", b"<IDOCTYP>MATMAS05</IDOCTYP><CIMTYP>ZMATMAS05X</CIMTYP>"
    )
    for root in (b"ZMATMAS05X", b"MATMAS05"):
        renamed = data.replace(b"<MATMAS05>", b"<" + root + b">").replace(b"</MATMAS05>", b"</" + root + b">")
        assert read_idoc(renamed, "text/xml").idoc_type == "MATMAS05"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:sap.com:msgid=005056A1B2C31EDF9AB7F4C6E1D2A3B4", ArcKey("005056A1B2C31EDF9AB7F4C6E1D2A3B4")),
        ("urn:sap.com:msgid=ABC;queueid=Q1", ArcKey("ABC", "Q1")),
        ("urn:sap.com:msgid=ABC;queueid=", ArcKey("ABC")),
        ("ARCHIVE-2026-0001", None),
        ("urn:sap.com:msgid=", None),
        (None, None),
    ],
)
def test_arckey_is_a_message_id_only_with_sap_prefix(value: str | None, expected: ArcKey | None) -> None:
    assert parse_arckey(value) == expected


# -- refused --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "match"),
    [
        (sample("mixed-types.bulk.xml"), "text/xml", "mixes IDoc types"),
        (sample("no-control-record.xml"), "text/xml", "no control record EDI_DC40"),
        (sample("DEBMAS07.bulk.xml"), "application/x-sap.idoc", "which carries one"),
        (sample("DEBMAS07.bulk.xml"), "application/json", "Content-Type is application/json"),
        (sample("DEBMAS07.bulk.xml"), None, "Content-Type is none"),
        (
            sample("DEBMAS07.bulk.xml").replace(b"<DEBMAS07>", b"<ORDERS05>").replace(b"</DEBMAS07>", b"</ORDERS05>"),
            "text/xml",
            "does not match",
        ),
        (sample("DEBMAS07.bulk.xml").replace(b"<IDOCTYP>DEBMAS07</IDOCTYP>", b""), "text/xml", "no IDOCTYP"),
        (b"<DEBMAS07/>", "text/xml", "holds no IDOC element"),
        (b"<DEBMAS07><E1KNA1M/></DEBMAS07>", "text/xml", "where IDoc-XML has IDOC elements only"),
        (b"<DEBMAS07>text<IDOC/></DEBMAS07>", "text/xml", "holds text"),
        (b"<DEBMAS07><IDOC><E1/><EDI_DC40/></IDOC></DEBMAS07>", "text/xml", "as its first segment"),
        (b"<A><IDOC><EDI_DC40><DOCNUM><x/></DOCNUM></EDI_DC40></IDOC></A>", "text/xml", "holds elements"),
        (b"<A><IDOC><EDI_DC40><DOCNUM>1</DOCNUM><DOCNUM>2</DOCNUM></EDI_DC40></IDOC></A>", "text/xml", "repeated"),
        (b"<DEBMAS07><IDOC>", "text/xml", "not well-formed"),
        (
            b'<!DOCTYPE d [<!ENTITY e "x">]>'
            b"<DEBMAS07><IDOC><EDI_DC40><IDOCTYP>&e;</IDOCTYP></EDI_DC40></IDOC></DEBMAS07>",
            "text/xml",
            "document type declaration",
        ),
        (
            sample("ORDERS05.soap.xml"),
            "application/soap+xml",
            "SOAP 1.1 envelope came with Content-Type application/soap",
        ),
        (sample("DEBMAS07.bulk.xml"), "application/soap+xml", "not a SOAP envelope"),
        (
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
            "text/xml",
            "Body is empty",
        ),
    ],
    ids=[
        "mixed-types",
        "no-edi-dc40",
        "bulk-as-x-sap-idoc",
        "json",
        "no-content-type",
        "root-not-type",
        "no-idoctyp",
        "no-idoc",
        "segment-under-root",
        "text",
        "dc40-not-first",
        "field-with-elements",
        "field-twice",
        "broken",
        "entities",
        "soap-version-mismatch",
        "plain-as-soap12",
        "empty-body",
    ],
)
def test_idoc_requests_that_are_refused(data: bytes, content_type: str | None, match: str) -> None:
    with pytest.raises(IdocError, match=match) as caught:
        read_idoc(data, content_type)
    assert caught.value.code == "client"
    assert "\n" not in str(caught.value)


# -- invalid XML characters -----------------------------------------------------------------------


def test_invalid_characters_throw_by_default_naming_where() -> None:
    where = r"U\+0001, which XML 1\.0 does not allow, as a raw character at line 27, column 22"
    with pytest.raises(IdocError, match=where):
        read_idoc(sample("invalid-characters.xml"), "text/xml")
    with pytest.raises(InvalidCharacterError) as caught:
        clean_characters(b"<a>ok &#x1B;</a>", CharacterHandling.THROW)
    assert (caught.value.code_point, caught.value.line, caught.value.column) == (0x1B, 1, 7)


@pytest.mark.parametrize(
    ("handling", "name"),
    [(CharacterHandling.REMOVE, "Nordwind AG [0m"), (CharacterHandling.SUBSTITUTE, "Nordwind# AG #[0m")],
)
def test_invalid_characters_are_removed_or_substituted(handling: CharacterHandling, name: str) -> None:
    document = read_idoc(sample("invalid-characters.xml"), "text/xml", handling=handling)
    assert parse(document.body, what="body").findtext("IDOC/E1KNA1M/NAME1") == name


@pytest.mark.parametrize("handling", list(CharacterHandling))
def test_every_encoding_and_both_forms_are_handled(handling: CharacterHandling) -> None:
    text = '<?xml version="1.0" encoding="{}"?><a b="x&#2;">x\x01y&#x0;<![CDATA[&#1;]]><!-- &#1; --></a>'
    for encoding in ("utf-8", "iso-8859-1", "windows-1252", "utf-16"):
        data = text.format(encoding).encode(encoding)
        if handling is CharacterHandling.THROW:
            with pytest.raises(InvalidCharacterError):
                clean_characters(data, handling)
            continue
        cleaned = clean_characters(data, handling)
        root = parse(cleaned, what="cleaned")
        mark = "" if handling is CharacterHandling.REMOVE else "#"
        assert root.get("b") == f"x{mark}"
        assert root.text == f"x{mark}y{mark}&#1;"
        assert isinstance(root[0], etree._Comment)


def test_characters_in_an_undeclared_document_follow_the_charset() -> None:
    data = "<a>ä\x02</a>".encode("latin-1")
    assert clean_characters(data, CharacterHandling.REMOVE, charset="ISO-8859-1") == "<a>ä</a>".encode("latin-1")
    with pytest.raises(EncodingError, match="not valid utf-8"):
        clean_characters(data, CharacterHandling.REMOVE)


def test_a_clean_document_is_returned_as_it_is() -> None:
    data = sample("DEBMAS07.bulk.xml")
    assert clean_characters(data, CharacterHandling.SUBSTITUTE) is data


def test_references_beyond_unicode_are_invalid_characters() -> None:
    assert (
        clean_characters(b"<a>&#x110000;&#99999999999999999999999999;</a>", CharacterHandling.SUBSTITUTE)
        == b"<a>##</a>"
    )


@pytest.mark.parametrize(
    ("value", "handling"),
    [
        ("throwException", CharacterHandling.THROW),
        ("", CharacterHandling.THROW),
        (None, CharacterHandling.THROW),
        ("Throw Error", CharacterHandling.THROW),
        ("remove", CharacterHandling.REMOVE),
        ("Substitute", CharacterHandling.SUBSTITUTE),
        ("replaceCharacters", CharacterHandling.SUBSTITUTE),
    ],
)
def test_the_iflow_setting_names_a_handling(value: str | None, handling: CharacterHandling) -> None:
    assert CharacterHandling.parse(value) is handling


def test_an_unknown_iflow_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="not a handling CPI offers"):
        CharacterHandling.parse("ignore")


# -- answers --------------------------------------------------------------------------------------


def test_the_default_success_answer_is_an_empty_200() -> None:
    document = read_idoc(sample("ORDERS05.soap.xml"), XML)
    answer = success_answer(document)
    assert (answer.status, answer.content, answer.content_type) == (200, b"", None)


def test_an_idoc_assign_answer_maps_each_idoc_number() -> None:
    document = read_idoc(sample("DEBMAS07.bulk.soap.xml"), XML)
    assignments = assign_numbers(document, 900001)
    answer = success_answer(document, style="idoc-assign", assignments=assignments)
    assert (answer.status, answer.content_type) == (200, "text/xml; charset=utf-8")
    root = parse(answer.content, what="answer")
    assigns = root.findall(f"{{{SOAP11_ENVELOPE}}}Body/i:idocAssign", NS)
    assert [(a.findtext("TransferId"), a.findtext("DbId")) for a in assigns] == [
        ("0000000000471301", "0000000000900001"),
        ("0000000000471302", "0000000000900002"),
    ]
    assert document.adapter_headers(db_id=assignments[0].db_id)["SapIDocDbId"] == "0000000000900001"


def test_a_plain_post_gets_the_empty_answer_in_every_style() -> None:
    document = read_idoc(sample("DEBMAS07.bulk.xml"), "text/xml")
    answer = success_answer(document, style="idoc-assign", assignments=assign_numbers(document, 1), status=202)
    assert (answer.status, answer.content) == (202, b"")


def test_success_answers_are_2xx_and_numbers_have_16_digits() -> None:
    document = read_idoc(sample("DEBMAS07.bulk.xml"), "text/xml")
    with pytest.raises(ValueError, match="2xx"):
        success_answer(document, status=500)
    with pytest.raises(ValueError, match="16 digits"):
        assign_numbers(document, 10**16 - 1)


def test_failures_are_soap_faults_with_500_so_s4_sets_status_02() -> None:
    answer = failure_answer("Partner S4HCLNT100 unknown", version=None, code="client", mpl_id="AG6")
    assert answer.status == 500
    root = parse(answer.content, what="fault")
    assert (
        root.findtext(f"{{{SOAP11_ENVELOPE}}}Body/{{{SOAP11_ENVELOPE}}}Fault/faultstring")
        == "Partner S4HCLNT100 unknown"
    )
    with pytest.raises(IdocError) as caught:
        read_idoc(sample("mixed-types.bulk.xml"), "text/xml")
    assert fault_for_error(caught.value, mpl_id="AG7").status == 500


# -- any bytes ------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pieces = st.sampled_from(
    [
        sample("ORDERS05.soap.xml"),
        sample("DEBMAS07.bulk.xml"),
        b"<IDOC>",
        b"</IDOC>",
        b"<EDI_DC40>",
        b"<IDOCTYP>X</IDOCTYP>",
        b"&#x1;",
        b"&#99999999999999;",
        b"\x01",
        b"<![CDATA[",
        b"<!--",
        b"<?",
        b"\xff",
    ]
)
media = st.sampled_from(
    ["text/xml", "application/x-sap.idoc", "application/soap+xml", "text/xml; charset=latin-1", None]
)


@FUZZ
@given(st.binary(max_size=400), media, st.sampled_from(list(CharacterHandling)))
def test_any_bytes_give_an_idoc_document_or_a_cpimock_error(
    data: bytes, content_type: str | None, handling: CharacterHandling
) -> None:
    try:
        read_idoc(data, content_type, handling=handling)
    except CpimockError:
        pass


@FUZZ
@given(st.lists(pieces | st.binary(max_size=12), max_size=6), media, st.sampled_from(list(CharacterHandling)))
def test_spliced_idocs_give_an_idoc_document_or_a_cpimock_error(
    parts: list[bytes], content_type: str | None, handling: CharacterHandling
) -> None:
    try:
        document = read_idoc(b"".join(parts), content_type, handling=handling)
    except CpimockError:
        return
    assert document.idocs
    document.adapter_headers()


@FUZZ
@given(st.text(max_size=200), st.sampled_from([CharacterHandling.REMOVE, CharacterHandling.SUBSTITUTE]))
def test_removed_or_substituted_text_always_parses(text: str, handling: CharacterHandling) -> None:
    # '>' too: "]]>" is not allowed in character data
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    try:
        data = f"<a>{escaped}</a>".encode("utf-8", "strict")
    except UnicodeEncodeError:
        return  # lone surrogates: no encoder writes them
    parse(clean_characters(data, handling), what="cleaned")


# -- the quick checks agree with the scans they spare ---------------------------------------------

# characters around the edges of XML 1.0's range, and the bytes that begin the BMP's last block
edge_characters = st.sampled_from(
    [
        *("\x00", "\x01", "\x08", "\t", "\n", "\x0b", "\r", "\x1f", " ", "\x7f", "\x85", "\ud7ff", "\ue000"),
        *("\uf000", "\ufeff", "\ufffd", "\ufffe", "\uffff", "\U00010000", "\U0010ffff", "&#1;", "&#x9;", "&#"),
    ]
)


@FUZZ
@given(st.lists(st.text(max_size=8) | edge_characters, max_size=12), st.booleans())
def test_the_utf8_shortcut_finds_the_invalid_characters_the_scan_finds(pieces: list[str], bom: bool) -> None:
    text = ("\ufeff" if bom else "") + "".join(pieces)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates: no encoder writes them
    assert idoc.characters._first_problem(
        text, raw_free=idoc.characters._raw_free(data, "utf-8")
    ) == idoc.characters._first_problem(text)
    for handling in CharacterHandling:
        try:
            got: bytes | str = clean_characters(data, handling)
        except InvalidCharacterError as exc:
            got = str(exc)
        assert idoc.characters._first_problem(text) is not None or got == data


def elements_as_walked(parent: etree._Element) -> list[etree._Element] | None:
    """The element children, or ``None`` for text between them: the walk of text and tails it replaces."""
    if (parent.text or "").strip() or any((child.tail or "").strip() for child in parent):
        return None
    return [child for child in parent if isinstance(child.tag, str)]


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "<s/>",
                "<t>x</t>",
                " ",
                "\n",
                "\xa0",
                "\u2003",
                "x",
                "<!--c-->",
                "<?p?>",
                "<![CDATA[ ]]>",
                "<![CDATA[c]]>",
            ]
        ),
        max_size=8,
    )
)
def test_text_between_segments_is_told_as_the_walk_told_it(parts: list[str]) -> None:
    parent = parse(f"<IDOC>{''.join(parts)}</IDOC>".encode(), what="x")
    try:
        got: list[etree._Element] | None = idoc.document._elements(parent, "IDOC 1", None)
    except IdocError:
        got = None
    assert got == elements_as_walked(parent)
