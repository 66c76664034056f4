"""Sender channels: each ``messageFlow`` from a sender participant, and what cpimock makes of it.

HTTPS is told by ``ComponentType`` HTTPS and its ``urlPath``; SOAP 1.x, SOAP (SAP RM) and IDoc
by ``ComponentType`` SOAP or IDOC and their ``address``. SOAP 1.x and SOAP (SAP RM) share
``ComponentType`` SOAP and differ in ``MessageProtocol`` (``SOAP 1.x`` against ``SAP RM``, the
value also written as ``mp::`` in ``cmdVariantUri``); SAP's published content holds no SAP RM
sender, so the ``SAP RM`` spelling follows the adapter's name in CPI and is an assumption.
Every other adapter is kept with its name and the reason cpimock does not serve it.
"""

from __future__ import annotations

import re

from lxml import etree

from cpimock.config import DEFAULT_ROLE
from cpimock.iflows.export.archive import FlowFiles
from cpimock.iflows.export.model import (
    Adapter,
    Authorization,
    ClientCertificate,
    IdocOptions,
    ReportLine,
    SenderChannel,
    SoapOptions,
)
from cpimock.iflows.export.parameters import ParameterResolver
from cpimock.xmlsafe import XmlError, parse

__all__ = ["read_sender_channel", "timer_channel"]


_PLACEHOLDER = re.compile(r"<[^<>/=\"']+>")
_SERVED = "cpimock serves HTTPS, SOAP 1.x, SOAP (SAP RM) and IDoc senders"
_NOT_SERVED = {
    "ProcessDirect": "called by other iFlows on the tenant, not by senders from outside",
    "JMS": "reads CPI's own message queues",
    "SFTP": "polls an SFTP server",
    "PollingSFTP": "polls an SFTP server",
    "Mail": "polls a mail server",
    "AMQP": "reads from a message broker",
    "XI": "speaks SAP's XI 3.0 protocol, which cpimock does not",
    "AS2": "speaks AS2, which cpimock does not",
    "AS4": "speaks AS4, which cpimock does not",
    "ODataSender": "is an OData service, which cpimock does not provide",
}


def read_sender_channel(
    flow: etree._Element,
    process: str | None,
    files: FlowFiles,
    resolver: ParameterResolver,
    report: list[ReportLine],
    raw: list[tuple[str, str]],
) -> SenderChannel:
    """The channel of the sender ``messageFlow`` *flow* (its ``ifl:property`` pairs are *raw*)."""
    channel_id = flow.get("id") or "?"
    name = flow.get("name") or dict(raw).get("Name") or channel_id
    where = f"sender channel {name} ({channel_id})"
    kind = dict(raw).get("ComponentType", "").strip() or "unknown"
    adapter, reason = _adapter(kind, raw)
    served = adapter is not None
    pending: set[str] = set()  # keys whose parameter the resolver already reported
    resolved_pairs = []
    for key, value in raw:
        text, complete = resolver.resolve(value, f"{where}: {key}", served=served)
        resolved_pairs.append((key, text))
        if not complete:
            pending.add(key)
    resolved = tuple(resolved_pairs)
    values = dict(resolved)
    address = (values.get("urlPath") if adapter is Adapter.HTTPS else values.get("address")) or None
    if adapter is None:
        report.append(ReportLine("warning", where, f"{kind}: not served; it {reason}"))
        return SenderChannel(channel_id, name, kind, None, address, process, not_served=reason, properties=resolved)
    problems: list[str] = []
    address_key = "urlPath" if adapter is Adapter.HTTPS else "address"
    if not address:
        problems.append(f"has no address ({address_key} is empty)")
    elif address_key in pending:
        pass
    elif _PLACEHOLDER.search(address):
        problems.append(
            f"its address {address!r} is still the template's placeholder: configure it in CPI and export again"
        )
    elif not address.startswith("/"):
        problems.append(f"its address {address!r} does not start with /")
    authorization, role, certificates = _authorization(values, problems)
    csrf = _flag(values.get("xsrfProtection", "0"), "xsrfProtection", problems) if adapter is Adapter.HTTPS else None
    body_mb = _megabytes(values.get("maximumBodySize"), 40, "maximumBodySize", problems)
    attachment_mb = None
    soap = idoc = None
    if adapter is not Adapter.HTTPS:
        attachment_mb = _megabytes(values.get("maximumAttachmentSize"), 100, "maximumAttachmentSize", problems)
    if adapter in (Adapter.SOAP, Adapter.SOAP_RM):
        soap = _soap(adapter, values, files, problems)
    if adapter is Adapter.IDOC:
        idoc = IdocOptions(values.get("xmlCharacterHandling") or "throwException")
    for problem in problems:
        if not any(repr(values[key]) in problem for key in pending):  # the resolver reported it already
            report.append(ReportLine("error", where, problem))
    return SenderChannel(
        channel_id,
        name,
        kind,
        adapter,
        address,
        process,
        authorization=authorization,
        role=role,
        client_certificates=certificates,
        csrf=csrf,
        max_body_mb=body_mb,
        max_attachment_mb=attachment_mb,
        soap=soap,
        idoc=idoc,
        properties=resolved,
    )


def timer_channel(process_id: str, process_name: str, event_id: str) -> SenderChannel:
    reason = "is started by a timer on the tenant, not by a sender"
    return SenderChannel(event_id, f"Timer ({process_name})", "Timer", None, None, process_id, not_served=reason)


def _adapter(kind: str, raw: list[tuple[str, str]]) -> tuple[Adapter | None, str]:
    values = dict(raw)
    protocol = values.get("MessageProtocol", "").strip()
    if not protocol:
        match = re.search(r"/mp::([^/]*)", values.get("cmdVariantUri", ""))
        protocol = match.group(1) if match else ""
    if kind == "HTTPS":
        return Adapter.HTTPS, ""
    if kind == "IDOC":
        return Adapter.IDOC, ""
    if kind == "SOAP":
        if "SAP RM" in protocol.upper():
            return Adapter.SOAP_RM, ""
        if protocol in ("SOAP 1.x", ""):
            return Adapter.SOAP, ""
        return None, f"uses the SOAP message protocol {protocol!r}; {_SERVED}"
    return None, f"{_NOT_SERVED.get(kind, 'is an adapter cpimock does not have')}; {_SERVED}"


_Auth = tuple[Authorization | None, str | None, tuple[ClientCertificate, ...]]


def _authorization(values: dict[str, str], problems: list[str]) -> _Auth:
    mode = values.get("senderAuthType", "RoleBased").strip() or "RoleBased"
    if mode == "RoleBased":
        return "user-role", values.get("userRole", "").strip() or DEFAULT_ROLE, ()
    if mode == "ClientCertificate":
        certificates = _certificates(values.get("clientCertificates", ""), problems)
        if not certificates and not problems:
            problems.append("asks for Client Certificate authorization but lists no subject/issuer DN pair")
        return "client-certificate", None, certificates
    problems.append(f"senderAuthType {mode!r} is neither RoleBased (User Role) nor ClientCertificate")
    return None, None, ()


def _certificates(table: str, problems: list[str]) -> tuple[ClientCertificate, ...]:
    """The rows of the ``clientCertificates`` table: ``<row><cell id='clientCertificate.subjectDN'>...``."""
    if not table.strip():
        return ()
    try:
        root = parse(f"<rows>{table}</rows>".encode(), what="the clientCertificates table")
    except XmlError as exc:
        problems.append(str(exc))
        return ()
    pairs = []
    for row in root.iter("row"):
        cells = {str(cell.get("id", "")): (cell.text or "").strip() for cell in row.iter("cell")}
        subject, issuer = cells.get("clientCertificate.subjectDN", ""), cells.get("clientCertificate.issuerDN", "")
        if not subject or not issuer:
            problems.append("a row of the clientCertificates table lacks its subject or issuer DN")
            continue
        pairs.append(ClientCertificate(subject, issuer))
    return tuple(pairs)


def _flag(value: str, key: str, problems: list[str]) -> bool:
    text = value.strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false", ""):
        return False
    problems.append(f"{key} {value!r} is none of 0, 1, true, false")
    return False


def _megabytes(value: str | None, default: int, key: str, problems: list[str]) -> int:
    if value is None or not value.strip():
        return default
    if not re.fullmatch(r"\d{1,6}", value.strip()) or int(value) < 1:
        problems.append(f"{key} {value!r} is not a whole number of megabytes (1 or more)")
        return default
    return int(value)


def _soap(adapter: Adapter, values: dict[str, str], files: FlowFiles, problems: list[str]) -> SoapOptions:
    definition = values.get("serviceDefinition", "").strip() or "Manual"
    wsdl_url = values.get("soapWsdlURL", "").strip()
    wsdl = None
    content = None
    if wsdl_url:
        wsdl = "src/main/resources/" + wsdl_url.lstrip("/")
        if not files.has(wsdl):
            problems.append(f"soapWsdlURL {wsdl_url!r} names a WSDL the export does not carry ({wsdl})")
            wsdl = None
        else:
            content = files.read(wsdl)
    elif definition == "WSDL":
        problems.append("its service definition is WSDL but soapWsdlURL names no WSDL")
    if definition not in ("Manual", "WSDL") and "{{" not in definition:
        problems.append(f"serviceDefinition {definition!r} is neither Manual nor WSDL")
    default_pattern = "OneWay" if adapter is Adapter.SOAP_RM else "RequestReply"
    return SoapOptions(
        exchange_pattern=values.get("messageExchangePattern", "").strip() or default_pattern,
        service_definition=definition,
        wsdl=wsdl,
        service_name=values.get("soapServiceName", "").strip() or None,
        port_name=values.get("soapWsdlPortName", "").strip() or None,
        ws_addressing=_flag(values.get("useWSAddressing", "0"), "useWSAddressing", problems),
        robust=values.get("soapOptions", "").strip() == "cxfRobust",
        wsdl_content=content,
    )
