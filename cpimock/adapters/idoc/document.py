"""IDoc-XML as S/4 sends it to CPI's IDoc sender, read into its IDocs and the adapter's headers.

An S/4 port of type *XML HTTP* posts IDoc-XML to ``/cxf/<address>``: wrapped in a SOAP
envelope when the port's SOAP option is on (the IDoc root then in the namespace
``urn:sap-com:document:sap:idoc:soap:messages``), or plain, as ``text/xml`` or
``application/x-sap.idoc``. The root element is named after the IDoc type (``ORDERS05``) and
holds one ``IDOC`` (or several of one type: a composite, "bulk" IDoc), each starting with
its control record ``EDI_DC40`` and going on with data segments (``E1EDK01``, ...).

What the steps see as the body is the IDoc-XML without the SOAP envelope: the Body's element
as it was (namespace declarations kept, UTF-8), or the plain document as posted. The
adapter's headers, decided from the reference and documented per header in
:meth:`IdocDocument.adapter_headers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from cpimock.adapters.encoding import EncodingError, document_encoding
from cpimock.adapters.idoc.characters import CharacterHandling, InvalidCharacterError, clean_characters
from cpimock.adapters.soap.envelope import envelope_of, parse_request
from cpimock.adapters.soap.protocol import ContentType, QName, SoapError, SoapVersion, parse_content_type
from cpimock.xmlsafe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH

__all__ = [
    "ARCKEY_PREFIX",
    "IDOC_SOAP_NAMESPACE",
    "ArcKey",
    "ControlRecord",
    "Idoc",
    "IdocDocument",
    "IdocError",
    "parse_arckey",
    "read_idoc",
]

IDOC_SOAP_NAMESPACE = "urn:sap-com:document:sap:idoc:soap:messages"
ARCKEY_PREFIX = "urn:sap.com:msgid="
# how an Exactly-Once-In-Order ARCKEY names its queue after the message id: UNCONFIRMED (SAP
# note 3519275 has the sender side); a parameter of parse_arckey for when a capture shows it
QUEUE_MARKER = ";queueid="
_MEDIA_TYPES = ("text/xml", "application/xml", "application/x-sap.idoc", "application/soap+xml")
# control record fields are CHAR fields of at most 70 characters (ARCKEY); longer is not IDoc
_MAX_FIELD = 255


class IdocError(SoapError):
    """An IDoc request cpimock will not process (a client fault: the sender must change it)."""


@dataclass(frozen=True, slots=True)
class ArcKey:
    """The exactly-once key S/4 puts into ARCKEY: the message id, and the queue for in-order delivery."""

    message_id: str
    queue_id: str | None = None


def parse_arckey(value: str | None, *, queue_marker: str = QUEUE_MARKER) -> ArcKey | None:
    """The message id (and queue) an ARCKEY carries, or ``None`` if it is not a ``urn:sap.com:msgid=`` key.

    ARCKEY is also the EDI archive key, which other senders fill with their own values; only
    the prefix makes it a message id (SAP message EA728).
    """
    if not value or not value.startswith(ARCKEY_PREFIX):
        return None
    rest = value[len(ARCKEY_PREFIX) :]
    message_id, marker, queue = rest.partition(queue_marker) if queue_marker else (rest, "", "")
    if not message_id.strip():
        return None
    return ArcKey(message_id.strip(), (queue.strip() or None) if marker else None)


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """An IDoc's control record EDI_DC40: its fields in document order, values trimmed."""

    fields: tuple[tuple[str, str], ...]
    _values: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # the first value of each name, as get() has always answered
        values: dict[str, str] = {}
        for key, value in self.fields:
            values.setdefault(key, value)
        object.__setattr__(self, "_values", values)

    def get(self, name: str) -> str | None:
        """The value of field *name* (``DOCNUM``, ``IDOCTYP``, ...), ``None`` if absent or empty."""
        return self._values.get(name) or None

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    @property
    def docnum(self) -> str | None:
        return self.get("DOCNUM")

    @property
    def idoctyp(self) -> str | None:
        return self.get("IDOCTYP")

    @property
    def cimtyp(self) -> str | None:
        return self.get("CIMTYP")

    @property
    def mestyp(self) -> str | None:
        return self.get("MESTYP")

    @property
    def arckey(self) -> ArcKey | None:
        return parse_arckey(self.get("ARCKEY"))


@dataclass(frozen=True, slots=True)
class Idoc:
    """One IDoc of a document: its control record and how many data segments follow it."""

    control: ControlRecord
    segments: int


@dataclass(frozen=True, slots=True)
class IdocDocument:
    """An IDoc request as the steps get it: the body, the IDocs' control records, how it was sent."""

    root: QName
    idocs: tuple[Idoc, ...]
    body: bytes
    charset: str
    content_type: str
    soap_version: SoapVersion | None = None

    @property
    def idoc_type(self) -> str:
        """The IDoc type (IDOCTYP) of the IDocs, all of one type."""
        return self.idocs[0].control.idoctyp or self.root.name

    @property
    def transfer_ids(self) -> tuple[str, ...]:
        """The DOCNUM of every IDoc, in order (the sender's IDoc numbers)."""
        return tuple(idoc.control.docnum or "" for idoc in self.idocs)

    def adapter_headers(self, *, db_id: str | None = None) -> dict[str, str]:
        """The headers CPI's IDoc sender sets for the steps.

        ``SapIDocType`` IDOCTYP [P]; ``SapIDocTransferId`` the first IDoc's DOCNUM [P: "the ID of
        the first IDoc only" in a bulk]; ``SapIDocDbId`` *db_id*, the number the receiving side
        gave the first IDoc, when the caller assigns one (cpimock keeps no IDoc database; which
        value CPI's sender puts there is UNCONFIRMED); ``SapIDocContentType`` the request's media
        type [I]; ``SapIdocSoapNamespace`` the IDoc root's namespace when it has one [I];
        ``SapMessageId`` the message id of the first IDoc's ARCKEY [P]; ``SapPlainSoapQoS``
        ``ExactlyOnceInOrder`` and ``SapPlainSoapQueueId`` when that ARCKEY names a queue [P:
        set for Exactly Once In Order only].
        """
        headers = {"SapIDocType": self.idoc_type, "SapIDocContentType": self.content_type}
        first = self.idocs[0].control
        if first.docnum:
            headers["SapIDocTransferId"] = first.docnum
        if db_id:
            headers["SapIDocDbId"] = db_id
        if self.root.namespace:
            headers["SapIdocSoapNamespace"] = self.root.namespace
        arckey = first.arckey
        if arckey is not None:
            headers["SapMessageId"] = arckey.message_id
            if arckey.queue_id:
                headers["SapPlainSoapQoS"] = "ExactlyOnceInOrder"
                headers["SapPlainSoapQueueId"] = arckey.queue_id
        return headers


# the text nodes among an element's children: its text and the tails of its children
_TEXTS = etree.XPath("text()", smart_strings=False)


def _tag(namespace: str | None, name: str) -> str:
    """The lxml tag of *name* in *namespace* (``{ns}name``, or *name* without one)."""
    return f"{{{namespace}}}{name}" if namespace else name


def _localname(tag: object) -> str:
    """The local part of an element's tag, as ``etree.QName(element).localname`` reads it."""
    text = str(tag)
    return text[text.find("}") + 1 :]


def _elements(parent: etree._Element, where: str, version: SoapVersion | None) -> list[etree._Element]:
    if "".join(_TEXTS(parent)).strip():
        raise IdocError(f"{where} holds text between its elements; IDoc-XML holds elements only there", version=version)
    return list(parent.iterchildren(etree.Element))


def _control(element: etree._Element, number: int, version: SoapVersion | None) -> ControlRecord:
    fields: list[tuple[str, str]] = []
    names: set[str] = set()
    for entry in _elements(element, f"the control record of IDoc {number}", version):
        name = _localname(entry.tag)
        if len(entry):
            raise IdocError(
                f"control record field {name} of IDoc {number} holds elements; it holds a value", version=version
            )
        value = (entry.text or "").strip()
        if len(value) > _MAX_FIELD or name in names:
            raise IdocError(f"control record field {name} of IDoc {number} is repeated or too long", version=version)
        names.add(name)
        fields.append((name, value))
    return ControlRecord(tuple(fields))


def _idocs(root: etree._Element, version: SoapVersion | None) -> tuple[Idoc, ...]:
    ns = etree.QName(root).namespace
    name = etree.QName(root).localname
    children = _elements(root, name, version)
    if not children:
        raise IdocError(f'{name} holds no IDOC element; IDoc-XML is <{name}><IDOC BEGIN="1">...', version=version)
    idoc_tag, control_tag = _tag(ns, "IDOC"), _tag(ns, "EDI_DC40")
    idocs = []
    for number, child in enumerate(children, 1):
        if child.tag != idoc_tag:
            raise IdocError(
                f"{name} holds {etree.QName(child).localname} where IDoc-XML has IDOC elements only", version=version
            )
        segments = _elements(child, f"IDOC {number}", version)
        controls = [seg for seg in segments if seg.tag == control_tag]
        if not controls or segments[0] is not controls[0] or len(controls) > 1:
            raise IdocError(
                f"IDoc {number} of {len(children)} has no control record EDI_DC40 as its first segment "
                "(or more than one); every IDOC starts with one",
                version=version,
            )
        idocs.append(Idoc(_control(controls[0], number, version), len(segments) - 1))
    return tuple(idocs)


def _check_types(root: etree._Element, idocs: tuple[Idoc, ...], version: SoapVersion | None) -> None:
    name = etree.QName(root).localname
    kinds = {(idoc.control.idoctyp, idoc.control.cimtyp) for idoc in idocs}
    if any(idoctyp is None for idoctyp, _ in kinds):
        raise IdocError(
            "an IDoc's control record has no IDOCTYP; the sender fills it with the IDoc type", version=version
        )
    if len(kinds) > 1:
        names = " and ".join(sorted(f"{t}{'/' + c if c else ''}" for t, c in kinds))
        raise IdocError(
            f"the request mixes IDoc types ({names}); CPI's IDoc sender takes several IDocs in one request only "
            "when they are of one type",
            version=version,
        )
    [(idoctyp, cimtyp)] = kinds
    accepted = {idoctyp, cimtyp, f"{idoctyp}.{cimtyp}"} if cimtyp else {idoctyp}
    if name not in accepted:
        raise IdocError(
            f"the root element {name} does not match the control record's IDoc type {idoctyp}"
            f"{' (extension ' + cimtyp + ')' if cimtyp else ''}",
            version=version,
        )


def _content_type(parsed: ContentType | None) -> str:
    if parsed is None or parsed.media_type not in _MEDIA_TYPES:
        got = parsed.media_type if parsed is not None and parsed.media_type else "none"
        raise IdocError(
            f"the IDoc request's Content-Type is {got}; send IDoc-XML as text/xml (SOAP or plain) or "
            "application/x-sap.idoc"
        )
    return parsed.media_type


def read_idoc(
    data: bytes,
    content_type: str | None,
    soap_action: str | None = None,
    *,
    handling: CharacterHandling = CharacterHandling.THROW,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> IdocDocument:
    """The IDoc request in *data*, posted with *content_type* (and *soap_action*, when SOAP-wrapped).

    The channel's *handling* of characters XML 1.0 does not allow is applied first. Raises
    :class:`IdocError` (a :class:`SoapError`) for a request the IDoc sender refuses: not
    IDoc-XML, an IDoc without EDI_DC40, a bulk of mixed types, several IDocs sent as
    ``application/x-sap.idoc`` (which carries one), or a character *handling* refuses.
    """
    parsed_type = parse_content_type(content_type)
    guess = SoapVersion.V12 if parsed_type and parsed_type.media_type == "application/soap+xml" else None
    media_type = _content_type(parsed_type)
    charset = parsed_type.charset if parsed_type else None
    try:
        data = clean_characters(bytes(data), handling, charset=charset, what="the IDoc request")
    except (InvalidCharacterError, EncodingError) as exc:
        raise IdocError(str(exc), version=guess) from None
    try:
        root = parse_request(data, parsed_type, what="the IDoc request", max_bytes=max_bytes, max_depth=max_depth)
        tag = etree.QName(root)
        version = SoapVersion.of_namespace(tag.namespace) if tag.localname == "Envelope" else None
        if version is not None or media_type == "application/soap+xml":
            envelope, payload = envelope_of(root, parsed_type, soap_action)
            assert payload is not None  # envelope_of refuses an empty Body
            root, body, body_charset, version = payload, envelope.payload, "utf-8", envelope.version
        else:
            body, body_charset = data, document_encoding(data, charset, what="the IDoc request")
    except SoapError as exc:
        raise IdocError(str(exc), code=exc.code, version=exc.version) from None
    idocs = _idocs(root, version)
    _check_types(root, idocs, version)
    if media_type == "application/x-sap.idoc" and len(idocs) > 1:
        raise IdocError(
            f"the request sends {len(idocs)} IDocs as application/x-sap.idoc, which carries one; "
            "send a bulk as text/xml",
            version=version,
        )
    return IdocDocument(QName.of(root), idocs, body, body_charset, media_type, version)
