"""``cpimock init [DIR]``: create a workspace, or complete one, without overwriting keys."""

from __future__ import annotations

from pathlib import Path

import click

from cpimock.cli.options import shown, workspace_option
from cpimock.config import CONFIG_NAME
from cpimock.workspace.create import DEMO_KEY, ensure_workspace

_WHAT = {
    CONFIG_NAME: "tenant, service instance 'default' (ESBMessaging.send), iFlow /clientCertAuth",
    "root-ca.pem": "cpimock Local Root CA: trust it in senders (curl --cacert, Postman, STRUST)",
    "root-ca.key": "its private key (0600)",
    "client-ca.pem": "cpimock Client CA, issues the client certificates of service keys",
    "client-ca.key": "its private key (0600)",
    "server.pem": "the server certificate (localhost, 127.0.0.1, ::1, the tenant hosts)",
    "server.key": "its private key (0600)",
    "crl.pem": "revoked client certificates, read by the server",
    "demo.py": "the demo iFlow step (edit it: it is your Groovy script)",
    f"{DEMO_KEY}.json": "service key 'demo-sender' of instance 'default' (type Certificate)",
}


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@workspace_option("Workspace folder (DIR wins if both are given).")
def command(directory: Path | None, workspace: Path) -> None:
    """Create a workspace in DIR (default: the current folder): PKI, cpimock.toml, a demo iFlow
    and one service key. Re-running it adds only what is missing and never replaces a key."""
    root = (directory or workspace).resolve()
    config, created = ensure_workspace(root)
    if created:
        click.echo(f"Created workspace {root} (tenant {config.tenant.name}):")
        width = max(len(shown(p)) for p in created)
        for path in created:
            click.echo(f"  {shown(path):<{width}}  {_WHAT.get(path.name, '')}".rstrip())
    else:
        click.echo(f"Workspace {root} is complete; nothing was created (existing keys are never replaced).")
    where = "" if root == Path.cwd().resolve() else f" --workspace {shown(root)}"
    click.echo("\nNext: start the tenant with")
    click.echo(f"  cpimock serve{where}")
