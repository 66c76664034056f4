"""``cpimock certs inspect FILE``: what a certificate or service key holds and whether it would work;
``cpimock certs crl``: the workspace CRL signed anew."""

from __future__ import annotations

from pathlib import Path

import click

from cpimock.cli.options import shown, workspace_option
from cpimock.workspace.create import load_workspace
from cpimock.workspace.inspect import inspect_file, render
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


@command.command("crl")
@workspace_option()
def crl(workspace: Path) -> None:
    """Sign certs/crl.pem anew (when it is missing, expired or broken): every revocation it lists
    and every revoked service key, valid for another ten years."""
    _, pki, registry = load_workspace(workspace)
    count = rebuild_crl(pki, registry)
    listed = "no revoked certificate" if count == 0 else f"{count} revoked certificate{'s' * (count > 1)}"
    click.echo(f"Signed {shown(pki.crl_path)} anew, listing {listed}; a running server reloads it.")
