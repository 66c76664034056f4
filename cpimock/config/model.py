"""The frozen settings of a workspace, as ``cpimock.toml`` gives them (defaults where it is silent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cpimock.pki.dn import DnKey

CONFIG_NAME = "cpimock.toml"


DEFAULT_ROLE = "ESBMessaging.send"


# CPI's body-size field has a minimum of 1 MB; 40 MB is the common default of the channel
DEFAULT_MAX_BODY_MB = 40.0


# the attachment-size field of the SOAP-based channels: 100 MB in SAP's exports
DEFAULT_MAX_ATTACHMENT_MB = 100.0


AUTH_METHODS = ("certificate", "basic", "oauth")


# an iFlow's log level: CPI's levels, and the labels of an export's `log` setting for three of them
IFLOW_LOG_LEVELS: dict[str, str] = {
    "info": "INFO",
    "none": "NONE",
    "debug": "DEBUG",
    "error": "ERROR",
    "trace": "TRACE",
    "all events": "INFO",
    "error events": "ERROR",
    "no logging": "NONE",
}


def iflow_log_level(value: str) -> str | None:
    """The log level *value* names (``"DEBUG"``, ``"All events"``, any case), or None."""
    return IFLOW_LOG_LEVELS.get(" ".join(value.split()).lower())


ClientAuthSetting = Literal["required", "optional", "auto"]


Authorization = Literal["user-role", "client-certificate"]


# CPI's sender adapters cpimock serves: HTTPS at /http/, the SOAP-based ones at /cxf/
Adapter = Literal["https", "soap", "soap-rm", "idoc"]
ADAPTERS: tuple[Adapter, ...] = ("https", "soap", "soap-rm", "idoc")


@dataclass(frozen=True, slots=True)
class SoapChannel:
    """A SOAP 1.x or SOAP (SAP RM) sender channel's own settings (CPI's *Connection* tab).

    *Service Definition* ``Manual`` is ``wsdl = None``: a generic service, any payload element,
    the exchange *pattern* chosen here. ``WSDL`` is the WSDL's content in *wsdl* (read from
    *wsdl_file* in the workspace, or from an export), with *service* and *port* naming its
    service and endpoint (``p1:Name``; optional when the WSDL has one); its operations then say
    which are one-way. *processing* applies to one-way operations: ``ws-standard`` answers
    before the steps run (errors are not returned), ``robust`` after (errors are returned as
    faults). *one_way_status* is the status of a one-way acknowledgement (202 without a body,
    or 200 with an empty envelope). SOAP (SAP RM) channels are one-way and robust; their
    *duplicates* are acknowledged without running the steps again, or processed again.
    """

    pattern: Literal["request-reply", "one-way"] = "request-reply"
    processing: Literal["ws-standard", "robust"] = "ws-standard"
    wsdl: bytes | None = field(default=None, repr=False)
    wsdl_file: Path | None = None
    service: str | None = None
    port: str | None = None
    ws_addressing: bool = False
    one_way_status: Literal[200, 202] = 202
    duplicates: Literal["acknowledge", "process"] = "acknowledge"


@dataclass(frozen=True, slots=True)
class IdocChannel:
    """An IDoc sender channel's own settings (CPI's *Processing* tab, and what its answer holds).

    *invalid_characters* is CPI's *Invalid XML Character Handling*: ``throw`` (Throw Error, the
    default), ``remove``, or ``substitute`` with ``#``. *answer* is the body of a success:
    ``empty``, or ``idoc-assign`` (a SOAP envelope mapping each IDoc number to the number the
    receiving side gave it, for SOAP-wrapped requests).
    """

    invalid_characters: Literal["throw", "remove", "substitute"] = "throw"
    answer: Literal["empty", "idoc-assign"] = "empty"


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str = "mytenant"
    # the real tenant's runtime host (SAP's -rt host): keys carry it, the server certificate lists
    # it, and a Host that names no route of the tenant gets the router's 404; None: localhost
    host: str | None = None
    region: str = "eu10"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8443
    workers: int = 1
    client_auth: ClientAuthSetting = "auto"
    trust: tuple[Path, ...] = ()
    # a client that has not finished its handshake within this time is dropped
    handshake_timeout_s: float = 10.0
    # keep-alive connections idle for longer than this are closed
    keepalive_timeout_s: float = 75.0
    # aiohttp's header limits (a line and the whole block); CPI's front answers 431 beyond
    max_header_size: int = 16384
    max_headers: int = 100
    expose: bool = False
    # whether /cxf/ addresses are matched with their case (CXF, and SAP's troubleshooting page)
    # or without it (as /http/ addresses are); UNCONFIRMED for a real tenant, so a setting
    cxf_case_sensitive: bool = True
    # TLS handshakes in progress at once; beyond, new connections wait and the longest-waiting give way
    max_handshakes: int = 512


@dataclass(frozen=True, slots=True)
class SubjectPair:
    """A certificate subject DN with its issuer DN, as the keys they are compared by."""

    subject: DnKey
    issuer: DnKey


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    name: str
    roles: frozenset[str]
    subjects: tuple[SubjectPair, ...] = ()


@dataclass(frozen=True, slots=True)
class IFlowConfig:
    id: str
    address: str
    steps: tuple[str, ...] = ()
    adapter: Adapter = "https"
    authorization: Authorization = "user-role"
    role: str = DEFAULT_ROLE
    client_certificates: tuple[SubjectPair, ...] = ()
    allowed_headers: tuple[str, ...] = ()
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    max_attachment_mb: float = 0.0  # SOAP-based adapters only; HTTPS requests carry none
    csrf: bool = True
    return_exception_to_sender: bool = False
    state: Literal["started", "stopped"] = "started"
    timeout_s: float = 60.0
    auth_methods: frozenset[str] = frozenset(AUTH_METHODS)
    log_level: str = "INFO"  # one of IFLOW_LOG_LEVELS' values
    soap: SoapChannel | None = None  # adapter "soap" or "soap-rm"
    idoc: IdocChannel | None = None  # adapter "idoc"

    @property
    def wildcard(self) -> bool:
        return self.address.endswith("/*")


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """What ``[iflows.flow.<id>]`` sets for one flow of an export."""

    parameters: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    state: Literal["started", "stopped"] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """One ``[[iflows]]`` table with ``export``: which file, which of its flows, and their configuration."""

    index: int  # the table's place in [[iflows]], for messages (iflows[2])
    export: str  # as written in cpimock.toml
    path: Path  # resolved against the workspace
    flows: tuple[str, ...] = ()  # () = every flow of the export
    strict: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    per_flow: tuple[tuple[str, FlowSettings], ...] = ()
    state: Literal["started", "stopped"] = "started"
    timeout_s: float = 60.0
    auth_methods: frozenset[str] = field(default_factory=lambda: frozenset(AUTH_METHODS))

    @property
    def where(self) -> str:
        return f"iflows[{self.index}]"

    def flow(self, flow_id: str) -> FlowSettings:
        """The settings of one flow (empty when the table names none for it)."""
        return next((settings for name, settings in self.per_flow if name == flow_id), FlowSettings())

    def overrides(self, flow_id: str) -> dict[str, str]:
        """The parameter values for *flow_id*: the table's, then the flow's own."""
        return {**dict(self.parameters), **dict(self.flow(flow_id).parameters)}

    def replacements(self, flow_id: str) -> dict[str, str]:
        return {**dict(self.replace), **dict(self.flow(flow_id).replace)}

    def is_strict(self, flow_id: str) -> bool:
        own = self.flow(flow_id).strict
        return self.strict if own is None else own

    def state_of(self, flow_id: str) -> Literal["started", "stopped"]:
        return self.flow(flow_id).state or self.state


@dataclass(frozen=True, slots=True)
class JournalConfig:
    enabled: bool = True
    # request and response bodies are kept up to this many bytes each
    body_cap_bytes: int = 64 * 1024
    retention_count: int = 100_000
    retention_days: float = 30.0
    # the monitor and OData API answer non-loopback callers only with this role
    monitoring_role: str = "MonitoringDataRead"
    # calls refused before an iFlow ran leave no MPL on CPI: the OData API shows them only when on
    odata_refusals: bool = False


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    token_lifetime_s: int = 3600
    # extra host names the token endpoint answers on (besides the server's own)
    sap_authenticated_user_name: Literal["clientid", "none"] = "clientid"


@dataclass(frozen=True, slots=True)
class GroovyConfig:
    # an unpacked Groovy distribution (its lib/*.jar) instead of Debian's Groovy 2.4: a Groovy 4
    # installation runs script API v2 steps (com.sap.it.script.v2.api.Message)
    home: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    root: Path
    tenant: TenantConfig = field(default_factory=TenantConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    instances: dict[str, InstanceConfig] = field(default_factory=dict)
    iflows: tuple[IFlowConfig, ...] = ()
    journal: JournalConfig = field(default_factory=JournalConfig)
    oauth: OAuthConfig = field(default_factory=OAuthConfig)
    exports: tuple[ExportConfig, ...] = ()  # the [[iflows]] tables that serve a CPI export
    groovy: GroovyConfig = field(default_factory=GroovyConfig)

    @property
    def path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def certs_dir(self) -> Path:
        return self.root / "certs"

    @property
    def db_path(self) -> Path:
        return self.root / "cpimock.db"
