"""``cpimock.toml``: frozen settings and their validation.

Reading the file is the only I/O here. Every error names the key path (``iflows[2].address``)
and the fix, so a user sees one line and knows what to edit.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cpimock.errors import ConfigError
from cpimock.pki.dn import DnKey, parse_dn

CONFIG_NAME = "cpimock.toml"
DEFAULT_ROLE = "ESBMessaging.send"
# CPI's body-size field has a minimum of 1 MB; 40 MB is the common default of the channel
DEFAULT_MAX_BODY_MB = 40.0
AUTH_METHODS = ("certificate", "basic", "oauth")

ClientAuth = Literal["required", "optional", "auto"]
Authorization = Literal["user-role", "client-certificate"]

# CPI address rules: leading "/", then alphanumerics, "_", "/", "~", "-", ".", "$", "*";
# "$" only right after the leading "/"; not starting with ".", "-", "~"; "*" only as a final "/*".
_ADDRESS_RE = re.compile(r"^/\$?(?![.\-~])[A-Za-z0-9_/~\-.]*(/\*)?$")
_ROLE_RE = re.compile(r"^[A-Za-z0-9_.]+$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


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
    client_auth: ClientAuth = "auto"
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


def load_config(path: Path) -> Config:
    """Read and validate ``cpimock.toml`` at *path*."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; run `cpimock init {path.parent}` to create a workspace"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}); check the file's permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None
    return parse_config(data, path.parent.resolve(), source=str(path))


def parse_config(data: dict[str, Any], root: Path, *, source: str = CONFIG_NAME) -> Config:
    """Validate the TOML document *data* of a workspace in *root*."""
    reader = _Reader(source)
    reader.only(data, "", {"tenant", "server", "instances", "iflows", "journal", "oauth"})
    tenant = _tenant(reader, reader.table(data, "tenant"))
    server = _server(reader, reader.table(data, "server"), root)
    instances = _instances(reader, reader.table(data, "instances"))
    iflows = _iflows(reader, data.get("iflows", []))
    journal = _journal(reader, reader.table(data, "journal"))
    oauth = _oauth(reader, reader.table(data, "oauth"))
    return Config(root, tenant, server, instances, iflows, journal, oauth)


class _Reader:
    """Typed access to TOML values that fails with the key path and the fix."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def table(self, data: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(prefix + key, f"must be a table ([{prefix}{key}]), not {type(value).__name__}")
        return value

    def only(self, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(prefix + key, f"unknown key; expected one of: {known}")

    def text(self, data: dict[str, Any], key: str, prefix: str, default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(prefix + key, "must be a non-empty string")
        return value

    def flag(self, data: dict[str, Any], key: str, prefix: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(prefix + key, "must be true or false")
        return value

    def number(
        self, data: dict[str, Any], key: str, prefix: str, default: float, low: float, high: float
    ) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(prefix + key, f"must be a number from {low:g} to {high:g}")
        return float(value)

    def whole(self, data: dict[str, Any], key: str, prefix: str, default: int, low: int, high: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(prefix + key, f"must be a whole number from {low} to {high}")
        return value

    def strings(self, data: dict[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            # CPI writes allowed headers pipe-separated; accept that form too
            value = [part.strip() for part in value.split("|") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(prefix + key, 'must be a list of strings, e.g. ["a", "b"]')
        return tuple(value)

    def choice(self, data: dict[str, Any], key: str, prefix: str, default: str, choices: tuple[str, ...]) -> str:
        value = data.get(key, default)
        if value not in choices:
            raise self.fail(prefix + key, f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
        return str(value)

    def pairs(self, data: dict[str, Any], key: str, prefix: str) -> tuple[SubjectPair, ...]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(prefix + key, 'must be a list of {subject = "...", issuer = "..."} tables')
        pairs = []
        for i, item in enumerate(value):
            where = f"{prefix}{key}[{i}]"
            if not isinstance(item, dict) or set(item) != {"subject", "issuer"}:
                raise self.fail(where, 'must be a table with exactly "subject" and "issuer"')
            pairs.append(SubjectPair(self.dn(item, "subject", where), self.dn(item, "issuer", where)))
        return tuple(pairs)

    def dn(self, item: dict[str, Any], key: str, where: str) -> DnKey:
        value = item[key]
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", 'must be a DN string like "CN=sender, O=ACME, C=DE"')
        try:
            return parse_dn(value)
        except ValueError as exc:
            raise self.fail(f"{where}.{key}", f'{exc}; write DNs like "CN=sender, O=ACME, C=DE"') from None


def _tenant(r: _Reader, data: dict[str, Any]) -> TenantConfig:
    r.only(data, "tenant.", {"name", "host", "region"})
    default = TenantConfig()
    return TenantConfig(
        name=r.text(data, "name", "tenant.", default.name),
        host=r.text(data, "host", "tenant.", default.host).lower(),
        region=r.text(data, "region", "tenant.", default.region),
    )


def _server(r: _Reader, data: dict[str, Any], root: Path) -> ServerConfig:
    p = "server."
    r.only(
        data,
        p,
        {
            "host", "port", "workers", "client_auth", "trust", "handshake_timeout_s",
            "keepalive_timeout_s", "max_header_size", "max_headers", "expose",
        },
    )
    d = ServerConfig()
    trust = tuple((root / t) for t in r.strings(data, "trust", p))
    for i, path in enumerate(trust):
        if not path.is_file():
            raise r.fail(f"{p}trust[{i}]", f"{path} does not exist; give the path of a PEM CA bundle")
    return ServerConfig(
        host=r.text(data, "host", p, d.host),
        port=r.whole(data, "port", p, d.port, 0, 65535),
        workers=r.whole(data, "workers", p, d.workers, 1, 64),
        client_auth=r.choice(data, "client_auth", p, d.client_auth, ("required", "optional", "auto")),  # type: ignore[arg-type]
        trust=trust,
        handshake_timeout_s=r.number(data, "handshake_timeout_s", p, d.handshake_timeout_s, 0.1, 600),
        keepalive_timeout_s=r.number(data, "keepalive_timeout_s", p, d.keepalive_timeout_s, 0.1, 3600),
        max_header_size=r.whole(data, "max_header_size", p, d.max_header_size, 1024, 1 << 20),
        max_headers=r.whole(data, "max_headers", p, d.max_headers, 10, 10_000),
        expose=r.flag(data, "expose", p, d.expose),
    )


def _instances(r: _Reader, data: dict[str, Any]) -> dict[str, InstanceConfig]:
    instances = {}
    for name, table in data.items():
        p = f"instances.{name}."
        if not _ID_RE.match(name):
            raise r.fail(f"instances.{name}", "instance names may use letters, digits, '_', '-' and '.'")
        if not isinstance(table, dict):
            raise r.fail(f"instances.{name}", "must be a table with roles = [...]")
        r.only(table, p, {"roles", "subjects"})
        roles = r.strings(table, "roles", p)
        for role in roles:
            if not _ROLE_RE.match(role):
                raise r.fail(p + "roles", f"role {role!r} may only use a-z A-Z 0-9 _ . (as in CPI)")
        instances[name] = InstanceConfig(name, frozenset(roles), r.pairs(table, "subjects", p))
    return instances


_IFLOW_KEYS = {
    "id", "address", "steps", "authorization", "role", "client_certificates", "allowed_headers",
    "max_body_mb", "csrf", "return_exception_to_sender", "state", "timeout_s", "auth_methods",
}


def _iflows(r: _Reader, data: Any) -> tuple[IFlowConfig, ...]:
    if not isinstance(data, list):
        raise r.fail("iflows", "must be an array of tables ([[iflows]])")
    iflows: list[IFlowConfig] = []
    seen_ids: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for i, table in enumerate(data):
        p = f"iflows[{i}]."
        if not isinstance(table, dict):
            raise r.fail(f"iflows[{i}]", "must be a table")
        r.only(table, p, _IFLOW_KEYS)
        if "id" not in table or "address" not in table:
            raise r.fail(f"iflows[{i}]", 'needs id = "..." and address = "/..."')
        iflow_id = r.text(table, "id", p, "")
        if not _ID_RE.match(iflow_id):
            raise r.fail(p + "id", "may use letters, digits, '_', '-' and '.'")
        if iflow_id in seen_ids:
            raise r.fail(p + "id", f"{iflow_id!r} is already used by iflows[{seen_ids[iflow_id]}]")
        seen_ids[iflow_id] = i
        address = _address(r, r.text(table, "address", p, ""), p + "address")
        key = address.lower()
        if key in seen_addresses:
            raise r.fail(
                p + "address",
                f"{address!r} is already used by iflows[{seen_addresses[key]}]; addresses are unique "
                "and case-insensitive",
            )
        seen_addresses[key] = i
        authorization = r.choice(table, "authorization", p, "user-role", ("user-role", "client-certificate"))
        role = r.text(table, "role", p, DEFAULT_ROLE)
        if not _ROLE_RE.match(role):
            raise r.fail(p + "role", "may only use a-z A-Z 0-9 _ . (as in CPI)")
        pairs = r.pairs(table, "client_certificates", p)
        if authorization == "client-certificate" and not pairs:
            raise r.fail(
                p + "client_certificates",
                'authorization = "client-certificate" needs at least one {subject = "...", issuer = "..."}',
            )
        methods = r.strings(table, "auth_methods", p) or AUTH_METHODS
        for method in methods:
            if method not in AUTH_METHODS:
                raise r.fail(p + "auth_methods", f"{method!r} is not one of {', '.join(AUTH_METHODS)}")
        iflows.append(
            IFlowConfig(
                id=iflow_id,
                address=address,
                steps=r.strings(table, "steps", p),
                authorization=authorization,  # type: ignore[arg-type]
                role=role,
                client_certificates=pairs,
                allowed_headers=r.strings(table, "allowed_headers", p),
                max_body_mb=r.number(table, "max_body_mb", p, DEFAULT_MAX_BODY_MB, 1, 4096),
                csrf=r.flag(table, "csrf", p, True),
                return_exception_to_sender=r.flag(table, "return_exception_to_sender", p, False),
                state=r.choice(table, "state", p, "started", ("started", "stopped")),  # type: ignore[arg-type]
                timeout_s=r.number(table, "timeout_s", p, 60.0, 0.01, 86400),
                auth_methods=frozenset(methods),
            )
        )
    _check_wildcard_overlap(r, iflows)
    return tuple(iflows)


def _address(r: _Reader, address: str, where: str) -> str:
    if not _ADDRESS_RE.match(address) or "//" in address or address.count("*") > 1:
        raise r.fail(
            where,
            f"{address!r} is not a CPI address: start with '/', use letters, digits and _ / ~ - . $, "
            "'$' only right after the leading '/', and '*' only as a final '/*'",
        )
    if address != "/" and address.endswith("/") and not address.endswith("/*"):
        address = address.rstrip("/")
    return address


def _check_wildcard_overlap(r: _Reader, iflows: list[IFlowConfig]) -> None:
    # while /path/* is deployed, no other iFlow with /path/... can be deployed (CPI rule)
    for i, wild in enumerate(iflows):
        if not wild.wildcard:
            continue
        prefix = wild.address[:-1].lower()
        for j, other in enumerate(iflows):
            if i != j and other.address.lower().startswith(prefix):
                raise r.fail(
                    f"iflows[{j}].address",
                    f"{other.address!r} lies under {wild.address!r} of iflows[{i}]; CPI refuses to "
                    "deploy both: change one address",
                )


def _journal(r: _Reader, data: dict[str, Any]) -> JournalConfig:
    p = "journal."
    r.only(data, p, {"enabled", "body_cap_bytes", "retention_count", "retention_days", "monitoring_role"})
    d = JournalConfig()
    return JournalConfig(
        enabled=r.flag(data, "enabled", p, d.enabled),
        body_cap_bytes=r.whole(data, "body_cap_bytes", p, d.body_cap_bytes, 0, 1 << 30),
        retention_count=r.whole(data, "retention_count", p, d.retention_count, 1, 1 << 40),
        retention_days=r.number(data, "retention_days", p, d.retention_days, 0.001, 36500),
        monitoring_role=r.text(data, "monitoring_role", p, d.monitoring_role),
    )


def _oauth(r: _Reader, data: dict[str, Any]) -> OAuthConfig:
    p = "oauth."
    r.only(data, p, {"token_lifetime_s", "sap_authenticated_user_name"})
    d = OAuthConfig()
    return OAuthConfig(
        token_lifetime_s=r.whole(data, "token_lifetime_s", p, d.token_lifetime_s, 60, 86400),
        sap_authenticated_user_name=r.choice(  # type: ignore[arg-type]
            data, "sap_authenticated_user_name", p, d.sap_authenticated_user_name, ("clientid", "none")
        ),
    )
