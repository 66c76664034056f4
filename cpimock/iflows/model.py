"""What an iFlow is, whichever way it was described: its sender channels, its steps, its settings.

An ``[[iflows]]`` table of ``cpimock.toml`` and a CPI export both become an :class:`IFlow` before
anything is served. A sender channel (:class:`Channel`) is one way in: CPI's adapter, its
address, who may call and how much they may send, and the adapter's own settings
(:class:`SoapChannel` for SOAP 1.x and SOAP (SAP RM), :class:`IdocChannel` for IDoc; these are
defined with the settings in :mod:`cpimock.config.model`, since ``cpimock.toml`` and an export
both fill them). The server routes a request to a channel (:class:`Route`), asks the channel
whether the caller may call, and runs the iFlow's steps.

How CPI's export keys map onto a channel (:mod:`cpimock.iflows.exported` does it):

==============================  =============================================================
export (``ifl:property``)       :class:`Channel`
==============================  =============================================================
``ComponentType`` HTTPS         ``adapter="https"``, ``address`` from ``urlPath``
``ComponentType`` SOAP          ``adapter="soap"`` (``MessageProtocol`` SOAP 1.x) or
                                ``"soap-rm"`` (SAP RM), ``address`` from ``address``
``ComponentType`` IDOC          ``adapter="idoc"``, ``address`` from ``address``
``senderAuthType``              ``authorization``: RoleBased ``"user-role"``,
                                ClientCertificate ``"client-certificate"``
``userRole``                    ``role``
``clientCertificates``          ``client_certificates``
``xsrfProtection``              ``csrf`` (HTTPS only)
``maximumBodySize``             ``max_body_mb``
``maximumAttachmentSize``       ``max_attachment_mb`` (SOAP-based adapters; 100 when absent)
``messageExchangePattern``      ``soap.pattern``: RequestReply ``"request-reply"``,
                                OneWay ``"one-way"``
``soapOptions``                 ``soap.processing``: cxfRobust ``"robust"``, else
                                ``"ws-standard"``
``serviceDefinition`` WSDL      ``soap.wsdl`` (the file's bytes from ``soapWsdlURL``),
                                ``soap.service`` (``soapServiceName``), ``soap.port``
                                (``soapWsdlPortName``)
``useWSAddressing``             ``soap.ws_addressing``
``xmlCharacterHandling``        ``idoc.invalid_characters``: throwException ``"throw"``,
                                remove..., substitute... (see ``CharacterHandling.parse``)
==============================  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cpimock.config import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_ROLE,
    Adapter,
    IdocChannel,
    IFlowConfig,
    SoapChannel,
    SubjectPair,
)
from cpimock.steps.kinds import StepRef

__all__ = ["PREFIXES", "Adapter", "Channel", "IFlow", "IdocChannel", "Route", "SoapChannel", "from_config"]

Authorization = Literal["user-role", "client-certificate"]

# the path prefix CPI serves each adapter under
PREFIXES: dict[str, str] = {"https": "/http", "soap": "/cxf", "soap-rm": "/cxf", "idoc": "/cxf"}


@dataclass(frozen=True, slots=True)
class Channel:
    """One sender channel: how a sender reaches the iFlow, and who may."""

    iflow_id: str
    adapter: Adapter
    address: str
    authorization: Authorization = "user-role"
    role: str = DEFAULT_ROLE
    client_certificates: tuple[SubjectPair, ...] = ()
    csrf: bool = True  # HTTPS only
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    max_attachment_mb: float = 0.0  # the SOAP-based adapters; HTTPS requests carry no attachments
    soap: SoapChannel | None = None  # adapter "soap" or "soap-rm"
    idoc: IdocChannel | None = None  # adapter "idoc"
    # the most a request may bring, its body and its attachments together (worked out once, at load)
    max_request_bytes: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_request_bytes", self.max_body_bytes + self.max_attachment_bytes)

    @property
    def prefix(self) -> str:
        """``/http`` for the HTTPS adapter, ``/cxf`` for the SOAP-based ones."""
        return PREFIXES[self.adapter]

    @property
    def url_path(self) -> str:
        """What a sender calls: the prefix and the address (``/http/orders``)."""
        return self.prefix + self.address

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_attachment_bytes(self) -> int:
        return int(self.max_attachment_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class IFlow:
    """An integration flow as the tenant serves it."""

    id: str
    channels: tuple[Channel, ...]
    steps: tuple[StepRef, ...] = ()  # references from cpimock.toml, or the steps an export describes
    allowed_headers: tuple[str, ...] = ()
    return_exception_to_sender: bool = False
    state: Literal["started", "stopped"] = "started"
    timeout_s: float = 60.0
    auth_methods: frozenset[str] = frozenset({"certificate", "basic", "oauth"})
    # the level of its messages unless a sender asks for another (SAP_MessageProcessingLogLevel)
    log_level: str = "INFO"
    # the name CPI shows (an export's Bundle-Name); "" = the id, as for an [[iflows]] table
    name: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: the iFlow, the channel it came in by, and the part of the path the
    address matched beyond itself (``CamelHttpPath``)."""

    iflow: IFlow
    channel: Channel
    path: str = ""


def from_config(table: IFlowConfig) -> IFlow:
    """The iFlow an ``[[iflows]]`` table describes: one channel, the table's settings."""
    channel = Channel(
        iflow_id=table.id,
        adapter=table.adapter,
        address=table.address,
        authorization=table.authorization,
        role=table.role,
        client_certificates=table.client_certificates,
        csrf=table.csrf,
        max_body_mb=table.max_body_mb,
        max_attachment_mb=table.max_attachment_mb,
        soap=table.soap,
        idoc=table.idoc,
    )
    return IFlow(
        id=table.id,
        channels=(channel,),
        steps=table.steps,
        allowed_headers=table.allowed_headers,
        return_exception_to_sender=table.return_exception_to_sender,
        state=table.state,
        timeout_s=table.timeout_s,
        auth_methods=table.auth_methods,
        log_level=table.log_level,
    )
