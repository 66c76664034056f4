"""What S/4 gets back from the IDoc sender: a 2xx so the IDoc goes to status 03, or a fault.

An S/4 port of type XML HTTP looks at the HTTP status only: a success puts the IDoc into
status 03 (passed to port), anything else into 02 (error passing to port) [S]. The body of
CPI's success answer is UNCONFIRMED; :func:`success_answer` offers two:

- ``"empty"`` (the default): ``200`` with no body;
- ``"idoc-assign"``: for a SOAP-wrapped request, ``200`` with a SOAP envelope (of the
  request's version) whose Body holds one ``idocAssign`` element per IDoc, in the IDoc SOAP
  namespace, mapping the sender's number (``TransferId``, its DOCNUM) to the receiver's
  (``DbId``), as SAP's own IDoc SOAP inbound service answers and as CPI's IDoc *receiver*
  reads "from the response payload" [P for the receiver; the element shape here is cpimock's
  reading of it]. A plain IDoc-XML post gets the empty answer in either style.

A failure is a SOAP fault (the request's version, SOAP 1.1 for plain posts) with HTTP 500,
which S/4 records as status 02 with the fault's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from cpimock.adapters.idoc.document import IDOC_SOAP_NAMESPACE, IdocDocument
from cpimock.adapters.soap.fault import FaultResponse, build_fault, xml_text
from cpimock.adapters.soap.protocol import FaultCode, SoapVersion

__all__ = ["AnswerStyle", "IdocAnswer", "IdocAssignment", "assign_numbers", "failure_answer", "success_answer"]

AnswerStyle = Literal["empty", "idoc-assign"]
# IDoc numbers (DOCNUM) are 16 digits, zero-padded
_DOCNUM_DIGITS = 16


@dataclass(frozen=True, slots=True)
class IdocAssignment:
    """The sender's number of one IDoc (its DOCNUM) and the number the receiving side gave it."""

    transfer_id: str
    db_id: str


@dataclass(frozen=True, slots=True)
class IdocAnswer:
    """A success answer: HTTP status, body and its Content-Type (``None`` without a body)."""

    status: int
    content: bytes
    content_type: str | None


def assign_numbers(document: IdocDocument, first: int) -> tuple[IdocAssignment, ...]:
    """Receiver-side numbers for the IDocs of *document*: *first*, *first* + 1, ... as 16 digits.

    cpimock keeps no IDoc database; the server keeps a counter and passes its next value.
    """
    if first < 0 or first + len(document.idocs) > 10**_DOCNUM_DIGITS:
        raise ValueError(f"IDoc numbers have {_DOCNUM_DIGITS} digits; {first} does not start a range of them")
    return tuple(
        IdocAssignment(transfer_id, str(first + index).zfill(_DOCNUM_DIGITS))
        for index, transfer_id in enumerate(document.transfer_ids)
    )


def success_answer(
    document: IdocDocument,
    *,
    style: AnswerStyle = "empty",
    assignments: Sequence[IdocAssignment] = (),
    status: int = 200,
) -> IdocAnswer:
    """The 2xx answer to *document* in *style*; ``"idoc-assign"`` lists *assignments*."""
    if not 200 <= status <= 299:
        raise ValueError(f"a success answer has a 2xx status, not {status}")
    if style == "empty" or document.soap_version is None:
        return IdocAnswer(status, b"", None)
    version = document.soap_version
    ns = version.envelope_ns
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    body = etree.SubElement(envelope, f"{{{ns}}}Body")
    for assignment in assignments:
        assign = etree.SubElement(body, f"{{{IDOC_SOAP_NAMESPACE}}}idocAssign", nsmap={"idoc": IDOC_SOAP_NAMESPACE})
        etree.SubElement(assign, "TransferId").text = xml_text(assignment.transfer_id)
        etree.SubElement(assign, "DbId").text = xml_text(assignment.db_id)
    return IdocAnswer(status, etree.tostring(envelope, encoding="UTF-8"), f"{version.media_type}; charset=utf-8")


def failure_answer(
    text: str,
    *,
    version: SoapVersion | None,
    code: FaultCode = "server",
    mpl_id: str | None = None,
) -> FaultResponse:
    """The fault S/4 gets when its IDoc was not accepted: HTTP 500 whatever the *code*, so the IDoc goes to 02."""
    return build_fault(version, text, code=code, mpl_id=mpl_id, sender_status=500)
