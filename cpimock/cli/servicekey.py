"""``cpimock servicekey create | list | renew | revoke | rotate`` (``extract`` and ``import`` are in
:mod:`cpimock.cli.servicekey_files`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from cryptography.exceptions import InvalidSignature

from cpimock.cli.options import shown, warn_days_option, workspace_option
from cpimock.cli.servicekey_common import choose_instance, describe, validity_option
from cpimock.cli.servicekey_files import extract, import_key
from cpimock.config import CONFIG_NAME, Config
from cpimock.errors import CpimockError, ServiceKeyError
from cpimock.pki.clock import parse_duration, parse_instant, validity_start
from cpimock.pki.keys import load_certs, now
from cpimock.pki.servicekey import KEY_TYPES
from cpimock.pki.store import Pki
from cpimock.workspace.create import load_workspace
from cpimock.workspace.expiry import key_state
from cpimock.workspace.keys import (
    issue_service_key,
    key_path,
    revoke_in_crl,
    revoke_record,
    rotate_key,
    signed_from_csr,
)


@click.group("servicekey")
def command() -> None:
    """Create BTP-shaped service keys and turn any service key into files for senders."""


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
    config, chosen, added = choose_instance(config, name, instance, role_list)
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
    click.echo(f"  {describe(record)}, roles {inst_roles}")
    if record.key_type == "clientid-secret":
        click.echo("\nUse oauth.clientid and oauth.clientsecret as Basic credentials or for a token.")
        return
    if record.key_type == "certificate_external" and not _issuer_trusted(config, pki, cert):
        click.echo(
            "\nThe server accepts it only if it trusts its CA: add the CA bundle to [server] trust "
            "(or bring in a whole BTP key with `cpimock servicekey import`)."
        )
    click.echo("\nNext: write cert.pem, key.key, ca.pem (and cert.pfx) for your sender with")
    late = " --allow-expired" if expired else ""
    own = " --private-key YOUR.key" if csr is not None else ""  # the key stayed with the sender
    click.echo(f"  cpimock servicekey extract {shown(path)} --out {name}{own} --pfx{late}")


def _issuer_trusted(config: Config, pki: Pki, cert_file: Path | None) -> bool:
    """Whether a CA the workspace trusts (its own, or one in [server] trust) issued *cert_file*."""
    if cert_file is None:
        return False
    try:
        leaf = load_certs(cert_file.read_bytes(), str(cert_file))[0]
    except (OSError, IndexError, CpimockError):
        return False
    known = [pki.client_ca.cert, pki.root.cert]
    for bundle in config.server.trust:
        try:
            known += load_certs(bundle.read_bytes(), str(bundle))
        except (OSError, CpimockError):
            continue
    for ca in known:
        try:
            leaf.verify_directly_issued_by(ca)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


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
    click.echo(f"  {describe(record)}")
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
    click.echo(f"  {describe(new)}, roles {roles}")
    if old.retires:
        ends = f"until {datetime.fromisoformat(old.retires):%Y-%m-%d %H:%M} UTC; then {name!r} is retired"
    else:
        expiry = datetime.fromisoformat(old.not_after) if old.not_after else None
        ends = f"until {name!r}'s certificate expires" + (f" ({expiry:%Y-%m-%d %H:%M} UTC)" if expiry else "")
    click.echo(f"\nBoth keys are accepted {ends}. Move every sender to {new.name!r}, then end the old key with")
    click.echo(f"  cpimock servicekey revoke {name}")
    click.echo("Next: write the successor's files for the sender with")
    click.echo(f"  cpimock servicekey extract {shown(path)} --out {new.name} --pfx")


command.add_command(extract)
command.add_command(import_key)
