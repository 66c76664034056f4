"""The running tenant's state of one moment, built from the workspace's files.

A :class:`Snapshot` is immutable: the TLS context, the key directory, the iFlows with their
routes and step pipelines. :mod:`cpimock.tenant.reloader` replaces it when a file changes; a
request reads the current snapshot once and keeps it to its end.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cpimock.config import ClientAuthSetting, Config, load_config
from cpimock.config.hosts import LOOPBACK_NAMES, TenantHosts
from cpimock.identity.directory import Directory
from cpimock.iflows.model import IFlow, from_config
from cpimock.iflows.routing import Routes
from cpimock.pki.clock import REAL_CLOCK, Clock
from cpimock.pki.dn import normalised_name
from cpimock.pki.store import Pki
from cpimock.steps.groovy.toolchain import use_groovy_home
from cpimock.steps.pipeline import Pipeline, load_pipeline
from cpimock.tenant.exports import LoadedExports, load_exports
from cpimock.tenant.tls import ClientAuthMode, TlsMaterial, crl_checked_by_openssl, judge_at, server_context
from cpimock.tenant.unforwarded import forward_like_the_load_balancer
from cpimock.workspace.registry import REGISTRY_FILE, Registry
from cpimock.workspace.revocation import WorkspaceRevocation

if TYPE_CHECKING:
    from cpimock.iflows.exported import ServedFlow

log = logging.getLogger(__name__)


def _names(config: Config) -> list[str]:
    return [*LOOPBACK_NAMES, *TenantHosts.of(config).certificate_names()]


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int
    config: Config
    pki: Pki
    registry: Registry
    directory: Directory
    iflows: dict[str, IFlow]
    routes: Routes
    pipelines: dict[str, Pipeline]
    ssl_context: ssl.SSLContext
    client_auth: ClientAuthMode
    client_auth_reason: str
    crl_by_openssl: bool
    revocation: WorkspaceRevocation
    exports: tuple[ServedFlow, ...] = ()  # the flows served from CPI exports, with their reports
    clock: Clock = REAL_CLOCK  # the tenant's time, at which certificates are judged
    watched: dict[Path, tuple[int, int, int] | None] = field(default_factory=dict)
    # DER of every CA certificate the TLS context trusts: an open connection's root must stay among them
    trusted_roots: frozenset[bytes] = frozenset()
    # the Host names a request may carry ([tenant] host set), or None: every Host is served
    host_routes: frozenset[str] | None = None


def choose_client_auth(
    setting: ClientAuthSetting, iflows: list[IFlow], registry: Registry
) -> tuple[ClientAuthMode, str]:
    """``auto``: required while every way in is a certificate, optional once Basic/OAuth can be used."""
    if setting != "auto":
        return setting, f"--client-auth {setting}"
    started = [f for f in iflows if f.state == "started"]
    secrets = [r.name for r in registry.records.values() if r.key_type == "clientid-secret" and not r.revoked]
    if any("oauth" in f.auth_methods for f in started):
        return "optional", "an iFlow accepts OAuth tokens, whose callers need not present a certificate"
    if secrets and any("basic" in f.auth_methods for f in started):
        return "optional", f"service key {secrets[0]!r} (clientid-secret) may call with Basic authentication"
    return "required", "every way in is a client certificate"


def stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def watched_files(config: Config, pki: Pki, exports: LoadedExports) -> list[Path]:
    return [
        config.path,
        config.certs_dir / REGISTRY_FILE,
        pki.crl_path,
        pki.server_cert_path,
        pki.server_key_path,
        pki.root_cert_path,
        *config.server.trust,
        # a SOAP channel's WSDL is read with cpimock.toml, and reloaded when it changes
        *(f.soap.wsdl_file for f in config.iflows if f.soap is not None and f.soap.wsdl_file is not None),
        # an export is read again when its zip, or a file of its folder, changes
        *exports.watched,
    ]


def known_issuers(config: Config, pki: Pki, registry: Registry) -> frozenset[str]:
    """The CAs (canonical DNs) whose leaves this tenant knows: its client CA, the issuers of its
    keys and of the subject and issuer pairs it is configured with."""
    issuers = {normalised_name(pki.client_ca.cert.subject)}
    issuers.update(r.issuer for r in registry.records.values() if r.issuer)
    pairs = [*(p for i in config.instances.values() for p in i.subjects)]
    pairs += [p for f in config.iflows for p in f.client_certificates]
    issuers.update(str(p.issuer) for p in pairs)
    return frozenset(issuers)


def build_snapshot(
    root: Path,
    client_auth: ClientAuthSetting | None = None,
    previous: Snapshot | None = None,
    *,
    strict_steps: bool = True,
    clock: Clock | None = None,
) -> Snapshot:
    """Read the workspace in *root* into a snapshot. Raises CpimockError naming what is wrong.

    Step pipelines whose references did not change are taken over from *previous*. The
    snapshot's generation is one more than *previous*'s; the reloader numbers what it installs.
    *clock* (by default *previous*'s, or the real time) is the time certificates are judged at.
    """
    clock = clock or (previous.clock if previous else REAL_CLOCK)
    config = load_config(root / "cpimock.toml")
    use_groovy_home(config.groovy.home)  # before the exports' script steps look for Groovy
    pki = Pki.load(config.certs_dir)
    # the server certificate lists the tenant's host names: issued anew when [tenant] host changed
    hosts = TenantHosts.of(config)
    if pki.ensure_server(hosts.certificate_names()):
        log.info("issued the server certificate anew for %s", ", ".join(_names(config)))
    registry = Registry.load(config.certs_dir)
    iflows = {table.id: from_config(table) for table in config.iflows}
    exports = load_exports(config, list(iflows.values()))
    iflows.update((iflow.id, iflow) for iflow in exports.iflows)
    watched = {path: stat(path) for path in watched_files(config, pki, exports)}
    setting: ClientAuthSetting = client_auth or config.server.client_auth
    mode, reason = choose_client_auth(setting, list(iflows.values()), registry)
    material = TlsMaterial(
        cert_path=pki.server_cert_path,
        key_path=pki.server_key_path,
        trust=(pki.root_cert_path, *config.server.trust),
        crl_path=pki.crl_path,
    )
    context = server_context(material, mode)
    if mode == "optional":  # a leaf without its intermediate counts as absent, as at SAP's load balancer
        forward_like_the_load_balancer(context, known_issuers(config, pki, registry))
    if clock.shifted:
        judge_at(context, clock.now())
    revocation = WorkspaceRevocation.load(pki, clock.now)
    directory = Directory(
        registry.records.values(), config.instances, revocation, tenant=config.tenant.name, clock=clock.now
    )
    pipelines: dict[str, Pipeline] = {}
    old = previous.pipelines if previous else {}
    for iflow in iflows.values():
        kept = old.get(iflow.id)
        if kept is not None and kept.references == iflow.steps:
            pipelines[iflow.id] = kept
        else:
            pipelines[iflow.id] = load_pipeline(
                iflow.steps, config.root, defer_errors=not strict_steps, camel_id=iflow.id
            )
    return Snapshot(
        generation=(previous.generation + 1) if previous else 1,
        config=config,
        pki=pki,
        registry=registry,
        directory=directory,
        iflows=iflows,
        routes=Routes(iflows.values(), cxf_case_sensitive=config.server.cxf_case_sensitive),
        pipelines=pipelines,
        ssl_context=context,
        client_auth=mode,
        client_auth_reason=reason,
        crl_by_openssl=crl_checked_by_openssl(material),
        revocation=revocation,
        exports=exports.flows,
        clock=clock,
        watched=watched,
        trusted_roots=frozenset(context.get_ca_certs(binary_form=True)),
        host_routes=hosts.routes(config.server.host) if hosts.runtime is not None else None,
    )
