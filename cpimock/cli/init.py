"""``cpimock init [DIR]``: create a workspace, or complete one, without overwriting keys."""

from __future__ import annotations

from pathlib import Path

import click

from cpimock.cli.options import shown, workspace_option
from cpimock.config import CONFIG_NAME
from cpimock.config.hosts import TenantHosts
from cpimock.workspace.create import DEMO_KEY, ensure_workspace

_WHAT = {
    CONFIG_NAME: "tenant, service instance 'default' (ESBMessaging.send), iFlow /clientCertAuth",
    "root-ca.pem": "cpimock Local Root CA: trust it in senders (curl --cacert, Postman, STRUST)",
    "root-ca.key": "its private key (0600)",
    "client-ca.pem": "cpimock Client CA, issues the client certificates of service keys",
    "client-ca.key": "its private key (0600)",
    "server.pem": "the server certificate (localhost, 127.0.0.1, ::1, and the tenant hosts when set)",
    "server.key": "its private key (0600)",
    "crl.pem": "revoked client certificates, read by the server",
    "demo.py": "the demo iFlow step (edit it: it is your Groovy script)",
    f"{DEMO_KEY}.json": "service key 'demo-sender' of instance 'default' (type Certificate)",
}


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@workspace_option("Workspace folder (DIR wins if both are given).")
@click.option(
    "--tenant-host",
    metavar="HOST",
    help="The real tenant's runtime host (mytenant.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com): "
    "written to [tenant] host; keys and the server certificate carry it.",
)
def command(directory: Path | None, workspace: Path, tenant_host: str | None) -> None:
    """Create a workspace in DIR (default: the current folder): PKI, cpimock.toml, a demo iFlow
    and one service key. Re-running it adds only what is missing and never replaces a key
    (with --tenant-host it also sets the tenant's host, for an existing workspace too)."""
    root = (directory or workspace).resolve()
    config, created = ensure_workspace(root, tenant_host)
    if created:
        click.echo(f"Created workspace {root} (tenant {config.tenant.name}):")
        width = max(len(shown(p)) for p in created)
        for path in created:
            click.echo(f"  {shown(path):<{width}}  {_WHAT.get(path.name, '')}".rstrip())
    else:
        click.echo(f"Workspace {root} is complete; nothing was created (existing keys are never replaced).")
    if config.tenant.host is not None:
        names = " ".join(TenantHosts.of(config).certificate_names())
        click.echo(f"\nTenant host {config.tenant.host}: map its names to this machine in /etc/hosts:")
        click.echo(f"  127.0.0.1 {names}")
    where = "" if root == Path.cwd().resolve() else f" --workspace {shown(root)}"
    click.echo("\nNext: start the tenant with")
    click.echo(f"  cpimock serve{where}")
