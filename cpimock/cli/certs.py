"""``cpimock certs inspect FILE``: what a certificate, key or service key holds and whether it would work;
``cpimock certs pfx CERT KEY``: a .pfx from loose PEM files; ``cpimock certs crl``: the workspace CRL signed anew."""

from __future__ import annotations

from pathlib import Path

import click

from cpimock.cli.options import shown, workspace_option
from cpimock.workspace.create import load_workspace
from cpimock.workspace.inspect import inspect_file, render
from cpimock.workspace.pfx import write_pfx
from cpimock.workspace.revocation import rebuild_crl


@click.group("certs")
def command() -> None:
    """Look into certificates, PKCS#12 files and service keys."""


@command.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password", help="Password of a .pfx/.p12 file.")
@workspace_option()
def inspect(file: Path, password: str | None, workspace: Path) -> None:
    """Subject, issuer, serial, SHA-256 fingerprint, validity, EKU, whether the chain verifies against
    the workspace CA and, for cpimock's keys, the service key, instance and roles."""
    found = inspect_file(file, workspace, password)
    for line in render(found):
        if line.startswith("warning:"):
            click.secho(line, fg="yellow", err=True)
        else:
            click.echo(line)


@command.command("pfx")
@click.argument("cert_file", metavar="CERT.pem", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("key_file", metavar="KEY.key", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The .pfx to write [default: CERT.pfx].")
@click.option("--password", help="Its password [default: a generated one, printed].")
@click.option("--ca", "ca_file", type=click.Path(dir_okay=False, path_type=Path), help="More CA certificates (PEM).")
@click.option(
    "--legacy", is_flag=True, help="PBE-SHA1-3DES and a SHA-1 MAC, for older STRUST, Java 8 before 8u301, Windows."
)
@click.option("--alias", help="The entry's name in the keystore [default: the certificate's CN].")
def pfx(
    cert_file: Path,
    key_file: Path,
    out: Path | None,
    password: str | None,
    ca_file: Path | None,
    legacy: bool,
    alias: str | None,
) -> None:
    """Write a .pfx (PKCS#12: key + certificate chain) for STRUST or a Java keystore from loose PEM
    files: CERT.pem (the certificate, its chain may follow) and KEY.key (its private key)."""
    written, chosen = write_pfx(cert_file, key_file, out, password, ca_file, legacy=legacy, alias=alias)
    click.echo(f"Wrote {shown(written.path)}: {written.summary}")
    if password is None:
        click.echo(f"password: {chosen}  (generated; choose your own with --password)")
    click.echo(f"Check it: keytool -list -storetype PKCS12 -keystore {shown(written.path)} -storepass {chosen}")


@command.command("crl")
@workspace_option()
def crl(workspace: Path) -> None:
    """Sign certs/crl.pem anew (when it is missing, expired or broken): every revocation it lists
    and every revoked service key, valid for another ten years."""
    _, pki, registry = load_workspace(workspace)
    count = rebuild_crl(pki, registry)
    listed = "no revoked certificate" if count == 0 else f"{count} revoked certificate{'s' * (count > 1)}"
    click.echo(f"Signed {shown(pki.crl_path)} anew, listing {listed}; a running server reloads it.")
