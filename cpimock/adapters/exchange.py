"""Between the HTTP request and the iFlow steps: the ``Message`` a request becomes, and what is read back.

Three pure functions, no aiohttp: :func:`build_message` turns a request (already authenticated and
routed) into the :class:`~cpimock.message.Message` the steps receive, with CPI's Camel headers and
the caller's identity as exchange properties; :func:`response_parts` reads the answer (status from
``CamelHttpResponseCode``, headers, body); :func:`mpl_fields` reads what CPI puts into the message
processing log (``SAP_ApplicationID``, ``SAP_MessageType``, ``SAP_Sender``, ``SAP_Receiver``,
``SAP_MessageProcessingLogCustomStatus``, and the step's ``message.log``).
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, Protocol, cast

from cpimock.message import Headers, LogAttachment, Message
from cpimock.steps.pipeline import StepError
from cpimock.wire import MPL_ID_HEADER

__all__ = [
    "IDENTITY_PROPERTIES",
    "NO_MPL_FIELDS",
    "CallerIdentity",
    "MplFields",
    "ResponseError",
    "ResponseParts",
    "build_message",
    "mpl_fields",
    "response_parts",
    "response_status",
]

# the exchange properties that tell a step who called (cpimock's own; not present on a real tenant)
AUTH_METHOD = "CpimockAuthMethod"
SERVICE_KEY = "CpimockServiceKey"
SERVICE_INSTANCE = "CpimockServiceInstance"
ROLES = "CpimockRoles"
CLIENT_ID = "CpimockClientId"
CERT_SUBJECT = "CpimockCertificateSubject"
CERT_ISSUER = "CpimockCertificateIssuer"
CERT_SERIAL = "CpimockCertificateSerial"
CERT_FINGERPRINT = "CpimockCertificateFingerprint"
IDENTITY_PROPERTIES = (
    AUTH_METHOD,
    SERVICE_KEY,
    SERVICE_INSTANCE,
    ROLES,
    CLIENT_ID,
    CERT_SUBJECT,
    CERT_ISSUER,
    CERT_SERIAL,
    CERT_FINGERPRINT,
)


_HOP_BY_HOP = (
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
)
# request headers that never reach a step: transport, credentials, and what the body decoding consumed
_NOT_INBOUND = frozenset(
    (*_HOP_BY_HOP, "authorization", "content-encoding", "content-length", "cookie", "expect", "host")
)
# exchange headers that never go back to the sender: transport headers the server sets itself
_NOT_OUTBOUND = frozenset((*_HOP_BY_HOP, "authorization", "content-length", "cookie", "host", "proxy-authenticate"))
_MPL_ID_LOWER = MPL_ID_HEADER.lower()
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class CallerIdentity(Protocol):
    """What :func:`build_message` reads from the authenticated caller (``auth.Identity`` fits)."""

    @property
    def method(self) -> str: ...
    @property
    def key_name(self) -> str | None: ...
    @property
    def instance(self) -> str | None: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def clientid(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def fingerprint(self) -> str | None: ...


class ResponseError(StepError):
    """The steps left an answer that cannot be sent (bad ``CamelHttpResponseCode`` or header)."""

    def __init__(self, message: str) -> None:
        super().__init__("response", message)


class ResponseParts(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class MplFields:
    """What the steps contributed to the MPL entry; ``None`` where they set nothing."""

    application_message_id: str | None
    application_message_type: str | None
    sender: str | None
    receiver: str | None
    custom_status: str | None
    custom_header_properties: tuple[tuple[str, str], ...]
    log_properties: Mapping[str, str | int | float | bool | date]
    attachments: tuple[LogAttachment, ...]


def build_message(
    *,
    body: bytes,
    headers: Mapping[str, str],
    method: str,
    url: str,
    query: str | None,
    context_path: str,
    path: str,
    mpl_id: str,
    identity: CallerIdentity | None = None,
    authenticated_user: str | None = None,
    correlation_id: str | None = None,
    charset: str | None = None,
) -> Message:
    """The Message for one request, as CPI's HTTPS sender adapter prepares the exchange.

    ``headers`` are the request headers the iFlow lets through (its *Allowed Header(s)* plus
    ``Content-Type``); transport and credential headers and names starting with ``camel`` are
    dropped here. ``url`` is the full URL without the query, ``query`` the raw query string (None
    when there is none), ``context_path`` the configured address, ``path`` the part matched by a
    trailing ``/*`` (empty otherwise).
    """
    # the Headers' own shape (lower-case name -> (name, value)), set one name after the other as
    # Headers.__setitem__ does: a name sent twice in different case keeps the last one
    items: dict[str, tuple[str, Any]] = {}
    receivers: list[str] = []
    for name, value in headers.items():
        lower = name.lower()
        if lower not in _NOT_INBOUND and not lower.startswith("camel"):
            items[lower] = (name, value)
            if lower == "sap_receiver" and value is not None:
                receivers.append(str(value))
    items["camelhttpmethod"] = ("CamelHttpMethod", method.upper())
    items["camelhttpurl"] = ("CamelHttpUrl", url)
    items["camelhttpquery"] = ("CamelHttpQuery", query)
    items["camelhttppath"] = ("CamelHttpPath", path)
    items["camelservletcontextpath"] = ("CamelServletContextPath", context_path)
    items[_MPL_ID_LOWER] = (MPL_ID_HEADER, mpl_id)
    if correlation_id:
        items["sap_mplcorrelationid"] = ("SAP_MplCorrelationId", correlation_id)
    if authenticated_user:
        items["sapauthenticatedusername"] = ("SapAuthenticatedUserName", authenticated_user)
    properties: dict[str, Any] = {MPL_ID_HEADER: mpl_id}
    if identity is not None:
        properties.update(_identity_pairs(identity))
        if ROLES in properties:
            properties[ROLES] = list(properties[ROLES])  # the step's own list to change
    return Message._adopt(
        body if type(body) is bytes else bytes(body), Headers._adopt(items, receivers), properties, charset
    )


# the last callers' exchange properties, by the identity object: a connection's requests share one
_PAIRS_BY_OBJECT: dict[int, tuple[CallerIdentity, tuple[tuple[str, Any], ...]]] = {}


def _identity_pairs(identity: CallerIdentity) -> tuple[tuple[str, Any], ...]:
    """:func:`identity_properties` once per caller, found by the identity object itself (which
    costs no hashing of its fields), else by its value."""
    known = _PAIRS_BY_OBJECT.get(id(identity))
    if known is not None and known[0] is identity:
        return known[1]
    try:
        pairs = _identity_pairs_by_value(cast(Hashable, identity))
    except TypeError:  # an identity that cannot be hashed (not auth.Identity)
        return tuple(identity_properties(identity).items())
    if len(_PAIRS_BY_OBJECT) >= 1024:
        _PAIRS_BY_OBJECT.clear()
    _PAIRS_BY_OBJECT[id(identity)] = (identity, pairs)
    return pairs


@functools.lru_cache(maxsize=1024)
def _identity_pairs_by_value(identity: Any) -> tuple[tuple[str, Any], ...]:
    """:func:`identity_properties` once per caller: a connection's requests share one identity."""
    return tuple(identity_properties(identity).items())


def identity_properties(identity: CallerIdentity) -> dict[str, Any]:
    """The caller as exchange properties; values that do not apply (a subject for Basic) are left out."""
    values: dict[str, Any] = {
        AUTH_METHOD: identity.method,
        SERVICE_KEY: identity.key_name,
        SERVICE_INSTANCE: identity.instance,
        ROLES: sorted(identity.roles),
        CLIENT_ID: identity.clientid,
        CERT_SUBJECT: identity.subject,
        CERT_ISSUER: identity.issuer,
        CERT_SERIAL: identity.serial,
        CERT_FINGERPRINT: identity.fingerprint,
    }
    return {name: value for name, value in values.items() if value is not None}


def response_parts(message: Message, log_id: str | None = None) -> ResponseParts:
    """Status, headers and body to send back. Raises :class:`ResponseError` if they cannot be sent.

    The status is ``CamelHttpResponseCode`` when set, else 200, or 204 for an empty body (CPI's
    Camel 3 runtime). Every exchange header goes back, as on CPI, except ``Camel*`` headers and
    the transport headers the server sets itself; ``None`` values are left out, lists give one
    header line per item, booleans are ``true``/``false``. With *log_id*, the message processing
    log id is the server's to set: a step's own ``SAP_MessageProcessingLogID`` (in any case) is
    checked like any header but gives way to *log_id*, sent last.
    """
    status = response_status(message, 200 if message.body else 204)
    headers: list[tuple[str, str]] = []
    for name, value in message.headers.pairs():
        if value is None:
            continue
        send = _OUTBOUND_NAMES.get(name)
        if send is None:
            send = _outbound(name)
        if not send:
            continue
        if type(value) is str:
            if "\r" in value or "\n" in value or "\0" in value:
                _checked(name, value)
            if send != _LOG_ID or log_id is None:
                headers.append((name, value))
            continue
        if isinstance(value, list | tuple):
            items = [(name, _checked(name, _header_text(item))) for item in value]
        else:
            items = [(name, _checked(name, _header_text(value)))]
        if send != _LOG_ID or log_id is None:
            headers += items
    if log_id is not None:
        headers.append((MPL_ID_HEADER, log_id))
    return ResponseParts(status, headers, message.body)


# header names seen before: whether they go back to the sender (checked once per name), and
# which of them is the message processing log id (truthy: it goes back unless the server sets it)
_LOG_ID = 2
_OUTBOUND_NAMES: dict[str, int] = {}


def _outbound(name: str) -> int:
    lower = name.lower()
    send = not (lower.startswith("camel") or lower in _NOT_OUTBOUND)
    if send and not _TOKEN_RE.match(name):
        raise ResponseError(f"header name {name!r} cannot be sent: use letters, digits and -_.")
    verdict = (_LOG_ID if lower == _MPL_ID_LOWER else 1) if send else 0
    if len(_OUTBOUND_NAMES) < 4096:
        _OUTBOUND_NAMES[name] = verdict
    return verdict


def _checked(name: str, text: str) -> str:
    if "\r" in text or "\n" in text or "\0" in text:
        raise ResponseError(f"header {name!r} cannot be sent: its value contains a line break or NUL")
    return text


# what mpl_fields returns for a message that brings nothing for the MPL (shared: do not change)
NO_MPL_FIELDS = MplFields(None, None, None, None, None, (), types.MappingProxyType({}), ())
# the headers and properties mpl_fields reads (lower case for headers)
_MPL_HEADERS = frozenset({"sap_applicationid", "sap_messagetype", "sap_sender", "sap_receiver"})
_MPL_PROPERTIES = frozenset({"SAP_ReceiverOverwrite", "SAP_MessageProcessingLogCustomStatus"})


def mpl_fields(message: Message) -> MplFields:
    """What CPI shows in the MPL entry for this message (values cut to CPI's display lengths)."""
    h = message.headers
    log = message._log_if_used()
    if (
        h._lacks(_MPL_HEADERS)
        and _MPL_PROPERTIES.isdisjoint(message.properties)
        and not h.receivers
        and (log is None or not (log.custom_headers or log.properties or log.attachments))
    ):
        return NO_MPL_FIELDS  # what most steps leave: nothing for the MPL
    overwrite = str(message.properties.get("SAP_ReceiverOverwrite", "")).strip().lower() == "true"
    receivers = list(dict.fromkeys(h.receivers))
    receiver = _text(h.get("SAP_Receiver")) if overwrite or not receivers else ",".join(receivers)
    return MplFields(
        application_message_id=_text(h.get("SAP_ApplicationID"), 120),
        application_message_type=_text(h.get("SAP_MessageType"), 100),
        sender=_text(h.get("SAP_Sender")),
        receiver=receiver,
        custom_status=_text(message.properties.get("SAP_MessageProcessingLogCustomStatus"), 40),
        custom_header_properties=tuple(message.log.custom_headers),
        log_properties=dict(sorted(message.log.properties.items())),
        attachments=tuple(message.log.attachments),
    )


def response_status(message: Message, default: int) -> int:
    """``CamelHttpResponseCode`` when a step set it (raising :class:`ResponseError` for one that
    is not a status), else *default*."""
    code = message.headers.get("CamelHttpResponseCode")
    return _status(code) if code is not None and code != "" else default


def _status(code: object) -> int:
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise ResponseError(f"CamelHttpResponseCode must be a number from 200 to 599, got {code!r}")
    text = str(code).strip()
    if not text.isdigit() or not 200 <= int(text) <= 599:
        raise ResponseError(f"CamelHttpResponseCode must be a number from 200 to 599, got {code!r}")
    return int(text)


def _header_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _text(value: object, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    text = _header_text(value)
    return text[:limit] if limit else text
