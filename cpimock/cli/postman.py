"""``cpimock postman``: a Postman collection and environment for the workspace's iFlows, the
certificate files they need, and the equivalent ``newman`` command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cpimock.cli.options import shown, workspace_option
from cpimock.config.hosts import TenantHosts
from cpimock.errors import ServiceKeyError
from cpimock.iflows.model import from_config
from cpimock.iflows.postman import Newman, collection, environment
from cpimock.pki.exports import ExportFile, export_files, write_export, write_files
from cpimock.pki.servicekey import read_service_key
from cpimock.tenant.exports import load_exports
from cpimock.workspace.create import DEMO_KEY, load_workspace
from cpimock.workspace.keys import keys_dir, served_port


@click.command("postman")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The service key whose certificate calls [default: certs/keys/{DEMO_KEY}.json].",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("postman"), show_default=True)
@click.option(
    "--url",
    "base_url",
    help="The tenant's base URL [default: https://<[tenant] host>:<port> when set, else https://127.0.0.1:<port>].",
)
@workspace_option()
def command(key_file: Path | None, out: Path, base_url: str | None, workspace: Path) -> None:
    """Write a Postman collection (one request per iFlow, each with a 2xx test) and environment,
    the key's certificate files, and print the newman command that runs them."""
    config, pki, registry = load_workspace(workspace)
    key_file = key_file or keys_dir(config) / f"{DEMO_KEY}.json"
    key = read_service_key(key_file)
    if key.key is None:
        raise ServiceKeyError(
            f"{key_file}: Postman and newman call with the key's certificate and private key, and this key has no "
            "private key; give a Certificate service key with --key"
        )
    files, warnings = export_files(key, alias=key_file.stem)
    write_export(out / key_file.stem, [f for f in files if f.name in ("cert.pem", "key.key")])
    served, hosts = served_port(config, registry), TenantHosts.of(config)
    # with a tenant host, Postman calls the production URL (mapped in the hosts file)
    url = (base_url or (hosts.base_url(served) if hosts.runtime else f"https://127.0.0.1:{served}")).rstrip("/")
    name = config.tenant.name
    iflows = [from_config(table) for table in config.iflows]
    iflows += load_exports(config, iflows).iflows
    made = collection(config, iflows)
    documents = [
        ExportFile(f"cpimock-{name}.postman_collection.json", _json(made), False, "collection"),
        ExportFile(f"cpimock-{name}.postman_environment.json", _json(environment(config, url)), False, "environment"),
    ]
    coll, env = write_files(out, documents)
    cert, secret = (out / key_file.stem / "cert.pem"), (out / key_file.stem / "key.key")
    count = len(made["item"])
    click.echo(f"Wrote {shown(coll)} ({count} request{'s' * (count != 1)}) and {shown(env)}")
    for item in made["item"]:
        click.echo(f"  {item['name']}")
    click.echo(f"and the certificate of {shown(key_file)}: {shown(cert)}, {shown(secret)}")
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    host, _, port = url.removeprefix("https://").partition(":")
    click.echo(
        f"\nPostman: File > Import both files; Settings > Certificates > Add Certificate: host {host}, port "
        f"{port or 443}, CRT file {shown(cert)}, KEY file {shown(secret)}; CA certificates: {shown(pki.root_cert_path)}"
    )
    click.echo("newman (npm install -g newman):")
    relative = [Path(shown(path)) for path in (coll, env, cert, secret, pki.root_cert_path)]
    click.echo("  " + Newman(*relative).line())


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
