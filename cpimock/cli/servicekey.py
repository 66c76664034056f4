"""``cpimock servicekey create | extract | list | renew | revoke``."""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from cpimock.cli.options import shown, warn_days_option, workspace_option
from cpimock.config import CONFIG_NAME, Config
from cpimock.errors import ConfigError, ServiceKeyError
from cpimock.pki.authority import MAX_CLIENT_DAYS
from cpimock.pki.clock import parse_duration, parse_instant, validity_start
from cpimock.pki.dn import normalised_name
from cpimock.pki.exports import export_files, write_export
from cpimock.pki.keys import now, read_private_key
from cpimock.pki.servicekey import KEY_TYPES, read_service_key
from cpimock.pki.store import Pki
from cpimock.workspace.create import load_workspace
from cpimock.workspace.expiry import key_state
from cpimock.workspace.keys import (
    add_instance,
    instance_with_roles,
    issue_service_key,
    key_path,
    revoke_in_crl,
    revoke_record,
    rotate_key,
    signed_from_csr,
)
from cpimock.workspace.registry import KeyRecord

validity_option = click.option(
    "--validity",
    default=str(MAX_CLIENT_DAYS),
    show_default=True,
    metavar="TIME",
    help=f"How long the certificate is valid: days (1..{MAX_CLIENT_DAYS} as on BTP), or 12h, 30m for tests.",
)

_ALNUM = string.ascii_letters + string.digits
_USES = {
    "cert.pem": "client certificate + chain, leaf first (curl --cert, Postman CRT file)",
    "key.key": "private key, PKCS#1, keep it secret (curl --key, Postman KEY file)",
    "ca.pem": "the chain's CA certificates (truststores, STRUST certificate list)",
    "cert.pfx": "key + chain as PKCS#12 (S/4 STRUST import, Java keystore)",
}


@click.group("servicekey")
def command() -> None:
    """Create BTP-shaped service keys and turn any service key into files for senders."""


def _choose_instance(config: Config, name: str, instance: str | None, roles: list[str]) -> tuple[Config, str, bool]:
    """The instance a new key belongs to; appends [instances.NAME] when --roles asks for a new one."""
    if instance is not None:
        existing = config.instances.get(instance)
        if existing is None and roles:
            return add_instance(config, instance, roles), instance, True
        if existing is not None and roles and existing.roles != frozenset(roles):
            raise ConfigError(
                f"--roles {','.join(roles)}: instance {instance!r} has roles {', '.join(sorted(existing.roles))}; "
                "drop --roles or choose another --instance"
            )
        return config, instance, False
    if roles:
        found = instance_with_roles(config, roles)
        if found is not None:
            return config, found, False
        return add_instance(config, name, roles), name, True
    if "default" in config.instances:
        return config, "default", False
    if len(config.instances) == 1:
        return config, next(iter(config.instances)), False
    raise ConfigError(f"--instance: {config.path} has several instances; say which one the key belongs to")


def _describe(record: KeyRecord) -> str:
    until = ""
    if record.not_after and record.not_before:
        start, end = datetime.fromisoformat(record.not_before), datetime.fromisoformat(record.not_after)
        current = now()
        if end < current:
            until = f", EXPIRED on {end:%Y-%m-%d %H:%M} UTC"
        elif start > current:
            until = f", valid from {start:%Y-%m-%d %H:%M} until {end:%Y-%m-%d %H:%M} UTC"
        else:
            until = f", valid until {end:%Y-%m-%d %H:%M} UTC"
    return f"type {record.key_type}{until}, instance {record.instance}"


@command.command("create")
@click.argument("name")
@click.option("--instance", help="Service instance ([instances.NAME] in cpimock.toml); default: 'default'.")
@click.option("--roles", help="Comma-separated roles; picks the instance with exactly these or adds one.")
@validity_option
@click.option("--not-before", metavar="WHEN", help="Start the validity later (2027-11-20, 2027-11-20T10:30, +2h).")
@click.option("--expired", is_flag=True, help="Issue a certificate that expired a day ago (for rejecting tests).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default=None, help="Default: certificate.")
@click.option("--csr", type=click.Path(dir_okay=False, path_type=Path), help="Sign this PEM/DER CSR (key stays yours).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="Register this external certificate.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
@click.option("--no-pinning", is_flag=True, help="External certificates: match subject and issuer DN only.")
@workspace_option()
def create(
    name: str,
    instance: str | None,
    roles: str | None,
    validity: str,
    not_before: str | None,
    expired: bool,
    key_type: str | None,
    csr: Path | None,
    cert: Path | None,
    out: Path | None,
    no_pinning: bool,
    workspace: Path,
) -> None:
    """Create service key NAME, shaped exactly like one from the BTP cockpit."""
    if csr is not None and cert is not None:
        raise ServiceKeyError("--csr and --cert exclude each other: sign a request or register a certificate")
    length = parse_duration(validity, "--validity")
    start = validity_start(
        length,
        now=now(),
        not_before=parse_instant(not_before, "--not-before") if not_before else None,
        expired=expired,
    )
    if start is not None and (cert is not None or key_type == "clientid-secret"):
        raise ServiceKeyError("--not-before and --expired are for certificates cpimock issues (certificate keys)")
    kind: Any = key_type or ("certificate_external" if cert is not None else "certificate")
    config, pki, registry = load_workspace(workspace)
    if name in registry.records:
        registry.add(registry.records[name])  # raises: the name is taken, and says what to do
    role_list = [r.strip() for r in (roles or "").split(",") if r.strip()]
    config, chosen, added = _choose_instance(config, name, instance, role_list)
    try:
        _, record = issue_service_key(
            config,
            pki,
            registry,
            name,
            chosen,
            length,
            kind,
            not_before=start,
            csr=csr,
            cert=cert,
            pinning=not no_pinning,
            out=out,
        )
    except BaseException:
        if added:
            click.echo(f"note: [instances.{chosen}] stays in {CONFIG_NAME}; remove it if you do not need it", err=True)
        raise
    path = key_path(config, record)
    inst_roles = ", ".join(sorted(config.instances[chosen].roles)) or "no roles"
    if added:
        click.echo(f"Added [instances.{chosen}] with roles {inst_roles} to {shown(config.path)}")
    click.echo(f"Created service key {name!r} in {shown(path)}")
    click.echo(f"  {_describe(record)}, roles {inst_roles}")
    if record.key_type == "clientid-secret":
        click.echo("\nUse oauth.clientid and oauth.clientsecret as Basic credentials or for a token.")
        return
    if record.key_type == "certificate_external" and record.issuer != _client_ca_dn(pki):
        click.echo("\nThe server accepts it only if it trusts its CA: add the CA bundle to [server] trust.")
    click.echo("\nNext: write cert.pem, key.key, ca.pem (and cert.pfx) for your sender with")
    late = " --allow-expired" if expired else ""
    own = " --private-key YOUR.key" if csr is not None else ""  # the key stayed with the sender
    click.echo(f"  cpimock servicekey extract {shown(path)} --out {name}{own} --pfx{late}")


def _client_ca_dn(pki: Pki) -> str:
    return normalised_name(pki.client_ca.cert.subject)


@command.command("extract")
@click.argument("key_file", metavar="KEY.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the files [default: ./NAME].")
@click.option("--pfx", is_flag=True, help="Also write cert.pfx (PKCS#12 with the chain, AES-256).")
@click.option(
    "--pfx-legacy",
    is_flag=True,
    help="Write cert.pfx with PBE-SHA1-3DES and a SHA-1 MAC, for older STRUST/sapgenpse, Java 8 before 8u301 "
    "and older Windows (implies --pfx).",
)
@click.option("--password", help="cert.pfx password [default: a generated one, printed].")
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PEM key a CSR was made with, for keys from --csr (they hold no key).",
)
@click.option("--allow-expired", is_flag=True, help="Write the files of an expired certificate (rejecting tests).")
@warn_days_option()
@workspace_option()
def extract(
    key_file: Path,
    out: Path | None,
    pfx: bool,
    pfx_legacy: bool,
    password: str | None,
    private_key: Path | None,
    allow_expired: bool,
    warn_days: int,
    workspace: Path,
) -> None:
    """Split a service key (cpimock's or SAP's) into cert.pem, key.key, ca.pem and cert.pfx."""
    pfx = pfx or pfx_legacy
    if password is not None and not pfx:
        raise ServiceKeyError("--password is for cert.pfx; add --pfx")
    key = read_service_key(key_file)
    own_key = read_private_key(private_key, "--private-key") if private_key is not None else None
    generated = pfx and password is None
    # letters and digits only: the password goes on command lines (-storepass, -passin pass:)
    pfx_password = ("".join(secrets.choice(_ALNUM) for _ in range(16)) if generated else password) if pfx else None
    files, warnings = export_files(
        key,
        pfx_password=pfx_password,
        alias=key_file.stem,
        allow_expired=allow_expired,
        private_key=own_key,
        legacy=pfx_legacy,
    )
    folder = out or Path(key_file.stem)
    report = write_export(folder, files)
    written = report.written
    replaced = f" ({len(report.replaced)} replaced)" if report.replaced else ""
    click.echo(f"Wrote {len(written)} files to {shown(folder)}/ from {shown(key_file)}{replaced}:")
    width = max(len(shown(p)) for p in written)
    for item, path in zip(files, written, strict=True):
        mark = "  (replaced)" if path in report.replaced else ""
        click.echo(f"  {shown(path):<{width}}  {_USES[item.name]}{mark}")
    for path in report.removed:
        again = " (add --pfx to write it anew)" if path.name == "cert.pfx" else ""
        click.echo(f"Removed {shown(path)}: it was left by an earlier extract and held another certificate{again}")
    leaf = key.leaf
    if leaf is not None and now() < leaf.not_valid_after_utc <= now() + timedelta(days=warn_days):
        left = leaf.not_valid_after_utc - now()
        span = f"{left.days} days" if left.days >= 2 else f"{int(left.total_seconds() // 3600)} hours"
        warnings.append(
            f"the certificate expires in {span} ({leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC): the sender stops "
            "then; renew the key ahead (cpimock servicekey rotate NAME, or a new key in the BTP cockpit)"
        )
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if generated:
        click.echo(f"\ncert.pfx password: {pfx_password}  (generated; choose your own with --password)")
    if pfx_legacy:
        click.echo("cert.pfx is encrypted with PBE-SHA1-3DES and a SHA-1 MAC (legacy importers)")
    by_name = {p.name: shown(p) for p in written}
    _print_next(key.url, by_name, workspace, pfx_password)


def _print_next(url: str | None, files: dict[str, str], workspace: Path, pfx_password: str | None) -> None:
    if "key.key" not in files:
        return
    address, cacert = "/<address>", ""
    host = urlsplit(url or "").hostname
    if (workspace / CONFIG_NAME).exists():
        try:
            config, _, _ = load_workspace(workspace)
        except (ConfigError, ServiceKeyError):
            config = None
        if config is not None:
            address = config.iflows[0].address if config.iflows else address
            if host in ("localhost", "127.0.0.1", config.tenant.host):
                cacert = f" --cacert {shown(config.certs_dir / 'root-ca.pem')}"
    click.echo("\nCall the iFlow with curl:")
    click.echo(
        f"  curl --cert {files['cert.pem']} --key {files['key.key']}{cacert} -d 'hello' {url or 'https://<host>'}"
        f"/http{address.rstrip('*')}"
    )
    parts = urlsplit(url or "")
    where = f"host {parts.hostname}, port {parts.port or 443}" if parts.hostname else "the host of the url"
    click.echo(
        f"Postman: Settings > Certificates > Add Certificate: {where}, CRT file {files['cert.pem']}, "
        f"KEY file {files['key.key']}"
    )
    if pfx_password:
        click.echo(f"Java: keytool -list -storetype PKCS12 -keystore {files['cert.pfx']} -storepass {pfx_password}")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
@warn_days_option()
@workspace_option()
def list_keys(as_json: bool, warn_days: int, workspace: Path) -> None:
    """List the workspace's service keys with expiry and status (valid, expiring, expired,
    not-yet-valid, retiring, retired, revoked)."""
    _, _, registry = load_workspace(workspace)
    current = now()
    states = [key_state(r, current, warn_days) for r in sorted(registry.records.values(), key=lambda r: r.name)]
    if as_json:
        click.echo(json.dumps([s.as_json() for s in states], indent=2))
        return
    if not states:
        click.echo("No service keys yet; create one with `cpimock servicekey create NAME`.")
        return
    rows = [("NAME", "INSTANCE", "TYPE", "EXPIRES (UTC)", "DAYS LEFT", "STATUS")]
    for state in states:
        record = state.record
        expires = f"{datetime.fromisoformat(record.not_after):%Y-%m-%d %H:%M}" if record.not_after else "-"
        left = "-" if state.days_left is None or not state.usable else str(state.days_left)
        status: str = state.status
        if state.status in ("retiring", "retired") and state.ends is not None:
            status += f" {state.ends:%Y-%m-%d %H:%M} (successor {record.successor})"
        rows.append((record.name, record.instance, record.key_type, expires, left, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for warning in (s.describe() for s in states if s.status in ("expiring", "expired")):
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@command.command("renew")
@click.argument("name")
@validity_option
@click.option("--csr", type=click.Path(dir_okay=False, path_type=Path), help="Keys signed from a CSR: the new CSR.")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="External keys: the new certificate.")
@workspace_option()
def renew(name: str, validity: str, csr: Path | None, cert: Path | None, workspace: Path) -> None:
    """Replace NAME's certificate (or secret) and revoke the old one; name and instance stay."""
    config, pki, registry = load_workspace(workspace)
    old = registry.get(name)
    if old.key_type == "certificate_external" and cert is None:
        raise ServiceKeyError(f"{name} holds an external certificate; renew it with --cert NEW.pem")
    path = key_path(config, old)
    if old.imported:
        raise ServiceKeyError(f"{name} is a real BTP key: renew it on BTP and bring it in with `servicekey import`")
    if old.key_type == "certificate" and csr is None and signed_from_csr(path):
        raise ServiceKeyError(f"{name} was signed from a CSR (its key is not here); renew it with --csr NEW.csr")
    _, record = issue_service_key(
        config,
        pki,
        registry,
        name,
        old.instance,
        parse_duration(validity, "--validity"),
        old.key_type,
        csr=csr,
        cert=cert,
        pinning=old.pinning,
        out=path,
        replace=True,
    )
    revoke_in_crl(pki, old)
    click.echo(f"Renewed service key {name!r} in {shown(path)}; the old certificate is revoked.")
    click.echo(f"  {_describe(record)}")
    click.echo(f"\nNext: cpimock servicekey extract {shown(path)} --out {name} --pfx")


@command.command("revoke")
@click.argument("name")
@workspace_option()
def revoke(name: str, workspace: Path) -> None:
    """Revoke NAME: its certificate goes into certs/crl.pem and the server refuses it."""
    _, pki, registry = load_workspace(workspace)
    record = registry.get(name)
    if record.revoked:
        click.echo(f"Service key {name!r} was already revoked.")
        return
    in_crl = revoke_record(pki, registry, record)
    where = f"; its certificate is now listed in {shown(pki.crl_path)}, which the server reads" if in_crl else ""
    click.echo(f"Revoked service key {name!r}{where}.")
    if record.successor and record.successor in registry.records:
        click.echo(f"Its successor {record.successor!r} stays valid: the rotation is complete.")


@command.command("rotate")
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW", help="Name of the successor [default: NAME-2, NAME-3, ...].")
@click.option(
    "--old-until",
    metavar="WHEN",
    help="Accept NAME until then (2027-11-20, +7d) [default: until its certificate expires, or its revoke].",
)
@validity_option
@click.option("--csr", type=click.Path(dir_okay=False, path_type=Path), help="Keys signed from a CSR: the new CSR.")
@workspace_option()
def rotate(
    name: str, new_name: str | None, old_until: str | None, validity: str, csr: Path | None, workspace: Path
) -> None:
    """Create NAME's successor (a new key pair, the same instance and roles) while NAME stays
    accepted until --old-until: rehearse the renewal the way BTP users create a second key and
    delete the first. `cpimock servicekey revoke NAME` ends the old key."""
    config, pki, registry = load_workspace(workspace)
    until = parse_instant(old_until, "--old-until") if old_until else None
    old, new = rotate_key(
        config,
        pki,
        registry,
        name,
        new_name=new_name,
        old_until=until,
        days=parse_duration(validity, "--validity"),
        csr=csr,
    )
    path = key_path(config, new)
    roles = ", ".join(sorted(config.instances[new.instance].roles)) or "no roles"
    click.echo(f"Rotated service key {name!r} to {new.name!r} in {shown(path)}")
    click.echo(f"  {_describe(new)}, roles {roles}")
    if old.retires:
        ends = f"until {datetime.fromisoformat(old.retires):%Y-%m-%d %H:%M} UTC; then {name!r} is retired"
    else:
        expiry = datetime.fromisoformat(old.not_after) if old.not_after else None
        ends = f"until {name!r}'s certificate expires" + (f" ({expiry:%Y-%m-%d %H:%M} UTC)" if expiry else "")
    click.echo(f"\nBoth keys are accepted {ends}. Move every sender to {new.name!r}, then end the old key with")
    click.echo(f"  cpimock servicekey revoke {name}")
    click.echo("Next: write the successor's files for the sender with")
    click.echo(f"  cpimock servicekey extract {shown(path)} --out {new.name} --pfx")
