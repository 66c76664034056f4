"""What the sender adapters under ``/cxf/`` share: SOAP 1.x, SOAP (SAP RM) and IDoc.

They are CXF endpoints on CPI, so everything they answer that is not a success is a SOAP fault
in the version the sender spoke (SOAP 1.1 when it cannot be told), carrying the message
processing log id in its detail and in the ``SAP_MessageProcessingLogID`` header:

- a refusal before the steps (401, 403, 404, 413, 429, 503) keeps its status and headers and
  gets a ``soap:Client`` fault as its body (how CPI words these is UNCONFIRMED: its load
  balancer and security layer answer them before CXF);
- a request the adapter cannot read (not a SOAP envelope, not IDoc-XML) and a request by any
  method but POST get a ``soap:Client`` fault with HTTP 500, as CXF answers them (S/4's SM59
  connection test sends a GET, and sees this 500);
- a failed step gets a ``soap:Server`` fault with HTTP 500, saying SAP's error template (or the
  exception, with ``return_exception_to_sender``), or the fault the step raised
  (:class:`cpimock.message.SoapFault`, CPI's ``SoapFaultFactory``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cpimock.adapters import answers
from cpimock.adapters.request import call_message
from cpimock.adapters.seam import Call, Refused, Reply, SenderAdapter
from cpimock.adapters.soap.fault import FaultResponse, build_fault, fault_for_error, fault_from_step
from cpimock.adapters.soap.protocol import SoapError, SoapVersion, parse_content_type
from cpimock.message import Message, SoapFault
from cpimock.mpl.record import MplRecord
from cpimock.steps.pipeline import StepError
from cpimock.wire import LOG_ID_HEADER, MPL_ID_HEADER

__all__ = ["CxfAdapter", "fault_reply", "request_version"]

# where an adapter keeps the SOAP version of the call in Call.state
VERSION = "cxf.version"


def request_version(headers: Iterable[tuple[str, str]]) -> SoapVersion | None:
    """The SOAP version a request's Content-Type stands for (``None`` for neither or none)."""
    content_type = next((value for name, value in headers if name.lower() == "content-type"), None)
    return SoapVersion.of_media_type(parse_content_type(content_type))


def fault_reply(fault: FaultResponse, mpl_id: str, headers: Mapping[str, str] | None = None) -> Reply:
    """*fault* as the answer, with the message processing log id (and *headers*, such as ``Retry-After``)."""
    lines = [(name, value) for name, value in (headers or {}).items() if name.lower() != "content-type"]
    lines += [("Content-Type", fault.content_type), (MPL_ID_HEADER, mpl_id), (LOG_ID_HEADER, mpl_id)]
    return Reply(fault.status, lines, fault.content)


def unreadable(error: SoapError, call: Call) -> Refused:
    """The refusal of a request the adapter cannot read: *error*'s fault, HTTP 500."""
    mpl_id = call.record.message_guid
    reply = fault_reply(fault_for_error(error, mpl_id=mpl_id), mpl_id)
    return Refused("processing", answers.refused(reply.status, str(error)), reply)


def too_large(call: Call, limit_mb: float, keys: str, what: str) -> Refused:
    """The refusal of a request whose envelope or attachments exceed the channel's limit (413)."""
    return Refused("http", answers.too_large(limit_mb, call.route.iflow.id, keys, what))


def check_body(call: Call, body: bytes) -> None:
    """Refuse a body (without attachments) over the channel's ``max_body_mb`` with 413: the
    endpoint read up to the body and attachment limits together."""
    channel = call.route.channel
    if len(body) > channel.max_body_bytes:
        raise too_large(call, channel.max_body_mb, "max_body_mb", "the body")


def server_problem(text: str, call: Call) -> Refused:
    """The refusal of a request the channel cannot serve through no fault of the sender (a broken WSDL)."""
    mpl_id = call.record.message_guid
    version = call.state.get(VERSION) or request_version(call.request.headers.items())
    reply = fault_reply(build_fault(version, text, code="server", mpl_id=mpl_id), mpl_id)
    return Refused("processing", answers.refused(500, text), reply)


def adapter_message(call: Call, payload: bytes, content_type: str, adapter_headers: Mapping[str, str]) -> Message:
    """The Message of a ``/cxf/`` request whose *payload* (UTF-8 unless it says otherwise) the steps get.

    The headers are the HTTPS adapter's (the allowed request headers, ``CamelHttp*``, the log
    id, ``SapAuthenticatedUserName``, as Camel's CXF binding sets them from the HTTP request),
    with *content_type* for the payload and the adapter's own headers on top.
    """
    message = call_message(call, payload)
    message.headers["Content-Type"] = content_type
    for name, value in adapter_headers.items():
        message.headers[name] = value
    return message


class CxfAdapter(SenderAdapter):
    """An adapter under ``/cxf/``: POST only, and SOAP faults for whatever is not a success."""

    def admit(self, call: Call) -> Reply | None:
        method = call.request.method
        if method == "POST":
            return None
        early = self.get(call)
        if early is not None:
            return early
        reason = (
            f"{call.route.channel.url_path} takes SOAP requests by POST, not {method} (a 500 here from an SM59 "
            "connection test means the connection, TLS and authorization work)"
        )
        raise Refused("http", answers.refused(500, reason))

    def get(self, call: Call) -> Reply | None:
        """The answer to a GET the channel serves (``?wsdl``), or ``None`` to refuse it."""
        return None

    def refusal(self, record: MplRecord, answer: answers.Answer) -> Reply:
        version = request_version(record.request_headers)
        reason = answer.reason or answer.body.strip()
        mpl_id = record.message_guid
        fault = build_fault(version, reason, code="client", mpl_id=mpl_id, sender_status=answer.status)
        return fault_reply(fault, mpl_id, answer.headers)

    def failure(self, call: Call, error: StepError) -> Reply:
        mpl_id = call.record.message_guid
        version = call.state.get(VERSION)
        cause = error.__cause__
        if isinstance(cause, SoapFault):
            fault = fault_from_step(cause, request_version=version, mpl_id=mpl_id)
            return fault_reply(fault, mpl_id)
        text = (str(cause) if cause is not None else "") or str(error)
        if call.route.iflow.return_exception_to_sender:
            string = answers.exception_text(mpl_id, text)
        else:
            string = answers.error_template(mpl_id)
        return fault_reply(build_fault(version, string, code="server", mpl_id=mpl_id), mpl_id)
