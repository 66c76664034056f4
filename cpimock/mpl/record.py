"""One entry of the message processing log (MPL): what a call brought, who sent it, what it got.

The server fills an :class:`MplRecord` for every call it sees, including the ones it refuses
before an iFlow runs (a failed TLS handshake, 401, 403, 404), and hands it to
:meth:`cpimock.journal.Journal.record`.

Statuses stay within CPI's set so that OData clients written for a real tenant keep working:
a refused call is ``Status = "FAILED"`` with ``CustomStatus = "REFUSED"`` (a real tenant never
logs such calls: its load balancer or security layer drops them), and ``refusal_stage`` /
``refusal_reason`` say where and why. The OData API shows the reason as the message's
``ErrorInformation``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from dataclasses import dataclass, field

from cpimock.ids import random_bits

# CPI's message statuses (SAP Help "Message Status")
STATUSES = ("COMPLETED", "PROCESSING", "RETRY", "ESCALATED", "FAILED", "CANCELLED", "DISCARDED", "ABANDONED")
# CustomStatus of calls refused before an iFlow ran
REFUSED = "REFUSED"
# where a call was refused, in the order of the request path
REFUSAL_STAGES = ("tls", "http", "auth", "authorization", "routing", "processing")
LOG_LEVELS = ("INFO", "NONE", "DEBUG", "ERROR", "TRACE")
# what a sender may ask for with the SAP_MessageProcessingLogLevel header: "Allowed values are
# INFO, NONE, DEBUG, ERROR (case-insensitive)" (SAP Help, headers and exchange properties)
REQUESTABLE_LOG_LEVELS = ("INFO", "NONE", "DEBUG", "ERROR")
# "Properties added by the Script step are only visible in the MPL if the log level has been set
# to Debug or Trace" (SAP Help, "Add Information to the Message Processing Log")
PROPERTY_LOG_LEVELS = ("DEBUG", "TRACE")

HeaderList = list[tuple[str, str]]
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def new_message_guid(now: float | None = None) -> str:
    """A message id in CPI's shape: 28 URL-safe base64 characters, "AG..." for 2021-2029.

    Real ids are a zero byte, the 4-byte Unix time of the call and 16 further bytes
    (observed: ids of December 2025 start with "AGk_", 0x00 0x69 0x3f...). Here the first two
    of those 16 bytes are the millisecond within that second and the other 14 random, so ids
    made in the same millisecond share their first 9 characters: the MPL's index of ids then
    takes each new id next to the last ones, instead of anywhere in the current second's range.
    """
    millis = int((time.time() if now is None else now) * 1000)
    seconds, within = divmod(millis, 1000)
    # ids need to be unique, not secret (cpimock.ids)
    raw = (((seconds & 0xFFFFFFFF) << 128) | (within << 112) | random_bits(112)).to_bytes(21, "big")
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode("ascii")


def new_transaction_id() -> str:
    """32 hex digits, like CPI's TransactionId."""
    return f"{random_bits(128):032x}"


def requested_log_level(header: str | None, iflow_level: str = "INFO") -> tuple[str, str | None]:
    """The log level of a message whose sender sent *header* as ``SAP_MessageProcessingLogLevel``
    to an iFlow logging at *iflow_level*, and why the header was not followed (None when it was,
    or was not sent).

    A value CPI does not know (``TRACE``, ``verbose``) leaves the iFlow's level, as the header
    "does not get filled by the runtime" and so never carries anything but a choice.
    """
    if header is None:
        return iflow_level, None
    level = header.strip().upper()
    if level in REQUESTABLE_LOG_LEVELS:
        return level, None
    shown = header[:40].encode("unicode_escape").decode("ascii")
    known = ", ".join(REQUESTABLE_LOG_LEVELS)
    return iflow_level, f"SAP_MessageProcessingLogLevel {shown!r} is not one of {known}; logged at {iflow_level}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _body_json(data: bytes, size: int | None) -> dict[str, object]:
    full = len(data) if size is None else size
    out: dict[str, object] = {"size": full, "truncated": full > len(data)}
    try:
        out["text"] = data.decode("utf-8")
    except UnicodeDecodeError:
        out["base64"] = base64.b64encode(data).decode("ascii")
    return out


@dataclass(slots=True)
class StoredAttachment:
    """An MPL attachment added by a handler (``message.log``): name, media type, content."""

    name: str
    content_type: str
    data: bytes
    # the size before the journal's cap was applied; None = len(data)
    size: int | None = None
    id: int | None = None
    timestamp: dt.datetime | None = None


@dataclass(slots=True)
class MplRecord:
    """Everything cpimock knows about one call. Field comments name the CPI OData property."""

    message_guid: str = field(default_factory=new_message_guid)  # MessageGuid
    correlation_id: str = field(default_factory=new_message_guid)  # CorrelationId
    application_message_id: str | None = None  # ApplicationMessageId (SAP_ApplicationID)
    application_message_type: str | None = None  # ApplicationMessageType (SAP_MessageType)
    integration_flow_name: str | None = None  # IntegrationFlowName; None when refused before routing
    # IntegrationArtifact/Name: an exported flow's Bundle-Name; None = the integration flow's id
    integration_artifact_name: str | None = None
    status: str = "COMPLETED"  # Status: one of STATUSES
    custom_status: str | None = None  # CustomStatus; None = the status (REFUSED for refusals)
    log_start: dt.datetime = field(default_factory=utcnow)  # LogStart
    log_end: dt.datetime | None = None  # LogEnd; None = when recorded
    sender: str | None = None  # Sender (SAP_Sender)
    receiver: str | None = None  # Receiver (SAP_Receiver)
    log_level: str = "INFO"  # LogLevel
    transaction_id: str = field(default_factory=new_transaction_id)  # TransactionId
    # the caller, as far as it got (auth.Identity)
    auth_method: str | None = None  # "certificate" | "basic" | "oauth"
    service_key: str | None = None
    instance: str | None = None
    cert_subject: str | None = None
    cert_issuer: str | None = None
    cert_serial: str | None = None
    cert_fingerprint: str | None = None
    peer: str | None = None  # "host:port" of the TCP peer
    # why the call was refused; stage is one of REFUSAL_STAGES
    refusal_stage: str | None = None
    refusal_reason: str | None = None
    # the request as it arrived
    request_method: str | None = None
    request_path: str | None = None
    request_query: str | None = None
    request_headers: HeaderList = field(default_factory=list)
    request_body: bytes = b""
    request_body_size: int | None = None  # before the cap; None = len(request_body)
    # the answer cpimock gave
    response_status: int | None = None
    response_headers: HeaderList = field(default_factory=list)
    response_body: bytes = b""
    response_body_size: int | None = None
    # from message.log
    custom_header_properties: HeaderList = field(default_factory=list)
    # message.log.set_property (setStringProperty, ...): kept only at log level DEBUG or TRACE, as CPI
    log_properties: HeaderList = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    # what went wrong (exception text, handshake error) and in which step
    error: str | None = None
    error_step: str | None = None
    # set by the store
    seq: int | None = None

    @property
    def effective_custom_status(self) -> str:
        if self.custom_status:
            return self.custom_status
        return REFUSED if self.refusal_stage else self.status

    @property
    def refused(self) -> bool:
        return self.refusal_stage is not None

    def error_text(self) -> str | None:
        """The text of the message's ErrorInformation: the refusal reason or the error."""
        if self.refusal_stage:
            reason = self.refusal_reason or self.error or "refused"
            return f"Refused at {self.refusal_stage}: {reason}"
        return self.error

    def summary(self) -> dict[str, object]:
        """The fields of one row of the monitor's list (and of ``cpimock messages --json``)."""
        end = self.log_end or self.log_start
        return {
            "seq": self.seq,
            "guid": self.message_guid,
            "status": self.status,
            "custom_status": self.effective_custom_status,
            "iflow": self.integration_flow_name,
            "log_start": self.log_start.isoformat(timespec="milliseconds"),
            "log_end": end.isoformat(timespec="milliseconds"),
            "duration_ms": round((end - self.log_start).total_seconds() * 1000),
            "method": self.request_method,
            "path": self.request_path,
            "response_status": self.response_status,
            "service_key": self.service_key,
            "cert_subject": self.cert_subject,
            "peer": self.peer,
            "application_message_id": self.application_message_id,
            "application_message_type": self.application_message_type,
            "refusal_stage": self.refusal_stage,
            "refusal_reason": self.refusal_reason,
            "error": self.error_text(),
        }

    def details(self, *, attachment_data: bool = False) -> dict[str, object]:
        """Everything about one message, bodies included (text if UTF-8, else base64)."""
        out = self.summary()
        out |= {
            "correlation_id": self.correlation_id,
            "application_message_id": self.application_message_id,
            "application_message_type": self.application_message_type,
            "sender": self.sender,
            "receiver": self.receiver,
            "log_level": self.log_level,
            "transaction_id": self.transaction_id,
            "caller": {
                "auth_method": self.auth_method,
                "service_key": self.service_key,
                "instance": self.instance,
                "subject": self.cert_subject,
                "issuer": self.cert_issuer,
                "serial": self.cert_serial,
                "fingerprint": self.cert_fingerprint,
            },
            "request": {
                "method": self.request_method,
                "path": self.request_path,
                "query": self.request_query,
                "headers": self.request_headers,
                "body": _body_json(self.request_body, self.request_body_size),
            },
            "response": {
                "status": self.response_status,
                "headers": self.response_headers,
                "body": _body_json(self.response_body, self.response_body_size),
            },
            "custom_header_properties": self.custom_header_properties,
            "log_properties": self.log_properties,
            "attachments": [
                {"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size}
                | ({"base64": base64.b64encode(a.data).decode("ascii")} if attachment_data else {})
                for a in self.attachments
            ],
            "error_step": self.error_step,
        }
        return out


def refusal(stage: str, reason: str, **fields: object) -> MplRecord:
    """A record of a call refused at *stage* (see :data:`REFUSAL_STAGES`) for *reason*."""
    rec = MplRecord(status="FAILED", refusal_stage=stage, refusal_reason=reason)
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec
