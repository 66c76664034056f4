"""Reading ``cpimock.toml``: the I/O of the settings (with the WSDL files it names), and the tables
other than ``[[iflows]]``.

Every error names the key path (``iflows[2].address``) and the fix, so a user sees one line and
knows what to edit.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cpimock.config.hosts import valid_host_name
from cpimock.config.iflows import _ID_RE, _ROLE_RE, _iflows
from cpimock.config.model import (
    CONFIG_NAME,
    Config,
    GroovyConfig,
    InstanceConfig,
    JournalConfig,
    OAuthConfig,
    ServerConfig,
    TenantConfig,
)
from cpimock.config.reader import Reader
from cpimock.errors import ConfigError, MissingFileError


def load_config(path: Path) -> Config:
    """Read and validate ``cpimock.toml`` at *path*."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; run `cpimock init {path.parent}` to create a workspace") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}); check the file's permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None
    return parse_config(data, path.parent.resolve(), source=str(path))


def parse_config(data: dict[str, Any], root: Path, *, source: str = CONFIG_NAME) -> Config:
    """Validate the TOML document *data* of a workspace in *root*."""
    reader = Reader(source)
    reader.only(data, "", {"tenant", "server", "instances", "iflows", "journal", "oauth", "groovy"})
    tenant = _tenant(reader, reader.table(data, "tenant"))
    server = _server(reader, reader.table(data, "server"), root)
    instances = _instances(reader, reader.table(data, "instances"))
    iflows, exports = _iflows(reader, data.get("iflows", []), root, cxf_case_sensitive=server.cxf_case_sensitive)
    journal = _journal(reader, reader.table(data, "journal"))
    oauth = _oauth(reader, reader.table(data, "oauth"))
    groovy = _groovy(reader, reader.table(data, "groovy"), root)
    return Config(root, tenant, server, instances, iflows, journal, oauth, exports, groovy)


def _groovy(r: Reader, data: dict[str, Any], root: Path) -> GroovyConfig:
    r.only(data, "groovy.", {"home"})
    if "home" not in data:
        return GroovyConfig()
    home = root / r.text(data, "home", "groovy.", "")
    if not any((home / "lib").glob("*.jar")):
        raise r.fail("groovy.home", f"{home} has no lib/*.jar; name the folder of an unpacked Groovy distribution")
    return GroovyConfig(home.resolve())


def _tenant(r: Reader, data: dict[str, Any]) -> TenantConfig:
    r.only(data, "tenant.", {"name", "host", "region"})
    default = TenantConfig()
    host = r.text(data, "host", "tenant.", "-").lower() if "host" in data else None
    if host is not None and not valid_host_name(host):
        raise r.fail(
            "tenant.host",
            "must be a host name such as mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com "
            "(no https://, port or path); remove the line to serve on localhost",
        )
    return TenantConfig(
        name=r.text(data, "name", "tenant.", default.name),
        host=host,
        region=r.text(data, "region", "tenant.", default.region),
    )


def _server(r: Reader, data: dict[str, Any], root: Path) -> ServerConfig:
    p = "server."
    r.only(
        data,
        p,
        {
            "host",
            "port",
            "workers",
            "client_auth",
            "trust",
            "handshake_timeout_s",
            "keepalive_timeout_s",
            "max_header_size",
            "max_headers",
            "expose",
            "cxf_case_sensitive",
            "max_handshakes",
        },
    )
    d = ServerConfig()
    trust = tuple((root / t) for t in r.strings(data, "trust", p))
    for i, path in enumerate(trust):
        if not path.is_file():
            problem = r.fail(f"{p}trust[{i}]", f"{path} does not exist; give the path of a PEM CA bundle")
            raise MissingFileError(str(problem), path)
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
        cxf_case_sensitive=r.flag(data, "cxf_case_sensitive", p, d.cxf_case_sensitive),
        max_handshakes=r.whole(data, "max_handshakes", p, d.max_handshakes, 1, 1_000_000),
    )


def _instances(r: Reader, data: dict[str, Any]) -> dict[str, InstanceConfig]:
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


def _journal(r: Reader, data: dict[str, Any]) -> JournalConfig:
    p = "journal."
    r.only(
        data, p, {"enabled", "body_cap_bytes", "retention_count", "retention_days", "monitoring_role", "odata_refusals"}
    )
    d = JournalConfig()
    return JournalConfig(
        enabled=r.flag(data, "enabled", p, d.enabled),
        body_cap_bytes=r.whole(data, "body_cap_bytes", p, d.body_cap_bytes, 0, 1 << 30),
        retention_count=r.whole(data, "retention_count", p, d.retention_count, 1, 1 << 40),
        retention_days=r.number(data, "retention_days", p, d.retention_days, 0.001, 36500),
        monitoring_role=r.text(data, "monitoring_role", p, d.monitoring_role),
        odata_refusals=r.flag(data, "odata_refusals", p, d.odata_refusals),
    )


def _oauth(r: Reader, data: dict[str, Any]) -> OAuthConfig:
    p = "oauth."
    r.only(data, p, {"token_lifetime_s", "sap_authenticated_user_name"})
    d = OAuthConfig()
    return OAuthConfig(
        token_lifetime_s=r.whole(data, "token_lifetime_s", p, d.token_lifetime_s, 60, 86400),
        sap_authenticated_user_name=r.choice(  # type: ignore[arg-type]
            data, "sap_authenticated_user_name", p, d.sap_authenticated_user_name, ("clientid", "none")
        ),
    )
