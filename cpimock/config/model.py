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


AUTH_METHODS = ("certificate", "basic", "oauth")


ClientAuthSetting = Literal["required", "optional", "auto"]


Authorization = Literal["user-role", "client-certificate"]


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str = "mytenant"
    host: str = "mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com"
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
    authorization: Authorization = "user-role"
    role: str = DEFAULT_ROLE
    client_certificates: tuple[SubjectPair, ...] = ()
    allowed_headers: tuple[str, ...] = ()
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    csrf: bool = True
    return_exception_to_sender: bool = False
    state: Literal["started", "stopped"] = "started"
    timeout_s: float = 60.0
    auth_methods: frozenset[str] = frozenset(AUTH_METHODS)

    @property
    def wildcard(self) -> bool:
        return self.address.endswith("/*")


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
class Config:
    root: Path
    tenant: TenantConfig = field(default_factory=TenantConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    instances: dict[str, InstanceConfig] = field(default_factory=dict)
    iflows: tuple[IFlowConfig, ...] = ()
    journal: JournalConfig = field(default_factory=JournalConfig)
    oauth: OAuthConfig = field(default_factory=OAuthConfig)

    @property
    def path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def certs_dir(self) -> Path:
        return self.root / "certs"

    @property
    def db_path(self) -> Path:
        return self.root / "cpimock.db"
