"""``cpimock servicekey extract`` and ``import``: service keys (cpimock's or real BTP ones) turned into
the files each sender needs, and real BTP keys brought into the workspace."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click

from cpimock.cli.options import shown, warn_days_option, workspace_option
from cpimock.cli.servicekey_common import choose_instance, describe
from cpimock.config import CONFIG_NAME
from cpimock.errors import ConfigError, ServiceKeyError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.exports import export_files, write_export
from cpimock.pki.keys import now, read_private_key
from cpimock.pki.servicekey import read_service_key
from cpimock.workspace.create import load_workspace
from cpimock.workspace.importing import import_service_key
from cpimock.workspace.pfx import new_password

_USES = {
    "cert.pem": "client certificate + chain, leaf first (curl --cert, Postman CRT file)",
    "key.key": "private key, PKCS#1, keep it secret (curl --key, Postman KEY file)",
    "ca.pem": "the chain's CA certificates (truststores, STRUST certificate list)",
    "cert.pfx": "key + chain as PKCS#12 (S/4 STRUST import, Java keystore)",
}


@click.command("import")
@click.argument("key_file", metavar="KEY.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Name of the key here [default: the file's name].")
@click.option("--instance", help="Service instance ([instances.NAME] in cpimock.toml); default: 'default'.")
@click.option("--roles", help="Comma-separated roles; picks the instance with exactly these or adds one.")
@click.option(
    "--root",
    "root_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The root CA (PEM) when the key's chain does not end at one.",
)
@workspace_option()
def import_key(
    key_file: Path,
    name: str | None,
    instance: str | None,
    roles: str | None,
    root_file: Path | None,
    workspace: Path,
) -> None:
    """Register a real BTP service key (any shape extract reads) and trust its chain's root, so the
    sender keeps using its real certificate, or clientid and secret, against the local tenant."""
    config, pki, registry = load_workspace(workspace)
    chosen_name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", key_file.stem).strip("-.") or "imported"
    role_list = [r.strip() for r in (roles or "").split(",") if r.strip()]
    config, chosen, added_instance = choose_instance(config, chosen_name, instance, role_list)
    done = import_service_key(config, pki, registry, key_file, chosen_name, chosen, root_file=root_file)
    record = done.record
    inst_roles = ", ".join(sorted(config.instances[chosen].roles)) or "no roles"
    if added_instance:
        click.echo(f"Added [instances.{chosen}] with roles {inst_roles} to {shown(config.path)}")
    click.echo(f"Imported service key {record.name!r} from {shown(key_file)} into {shown(done.path)}")
    click.echo(f"  {describe(record)}, roles {inst_roles}")
    if done.root is not None and done.trusted_by is not None:
        root = name_to_dn(done.root.subject)
        if done.added:
            click.echo(f"Trusted its root {root}: wrote {shown(done.trusted_by)}, added to [server] trust")
        else:
            click.echo(f"Its root {root} is trusted already ({shown(done.trusted_by)})")
    port = config.server.port
    address = config.iflows[0].address.rstrip("*") if config.iflows else "/<address>"
    click.echo("\nA running server takes it up within a second. Call the local tenant with the real key:")
    click.echo(
        f"  cpimock call https://127.0.0.1:{port}/http{address} --key {shown(done.path)} "
        f"--cacert {shown(config.certs_dir / 'root-ca.pem')} -d hello"
    )
    host = urlsplit(read_service_key(done.path).url or "").hostname
    if host and host not in ("localhost", "127.0.0.1") and host != config.tenant.host:
        click.echo(
            f"To keep its URL ({host}), run `cpimock init --tenant-host {host}` (the server certificate is issued "
            "anew for it) and map it to 127.0.0.1 in /etc/hosts"
        )


@click.command("extract")
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
    pfx_password = (new_password() if generated else password) if pfx else None
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
    _print_next(key.url, by_name, workspace, pfx_password, key_file)


def _print_next(
    url: str | None, files: dict[str, str], workspace: Path, pfx_password: str | None, key_file: Path
) -> None:
    if "key.key" not in files:
        return
    address, cacert, server_ca, resolve = "/<address>", "", "SERVER-ROOT.pem", ""
    host = urlsplit(url or "").hostname
    if (workspace / CONFIG_NAME).exists():
        try:
            config, _, _ = load_workspace(workspace)
        except (ConfigError, ServiceKeyError):
            config = None
        if config is not None:
            address = next((f.address for f in config.iflows if f.adapter == "https"), address)
            if host in ("localhost", "127.0.0.1", config.tenant.host):
                server_ca = shown(config.certs_dir / "root-ca.pem")
                cacert = f" --cacert {server_ca}"
            if host is not None and host == config.tenant.host:  # reached without the hosts file
                resolve = f" --resolve {host}:{urlsplit(url or '').port or 443}:127.0.0.1"
    click.echo("\nCall the iFlow with curl:")
    click.echo(
        f"  curl --cert {files['cert.pem']} --key {files['key.key']}{cacert}{resolve} -d 'hello' {url or 'https://<host>'}"
        f"/http{address.rstrip('*')}"
    )
    parts = urlsplit(url or "")
    where = f"host {parts.hostname}, port {parts.port or 443}" if parts.hostname else "the host of the url"
    click.echo(
        f"Postman: Settings > Certificates > Add Certificate: {where}, CRT file {files['cert.pem']}, "
        f"KEY file {files['key.key']}"
    )
    click.echo(
        f"newman: cpimock postman --key {shown(key_file)} writes a collection of the iFlows; run it with\n"
        f"  newman run COLLECTION.json --ssl-client-cert {files['cert.pem']} --ssl-client-key {files['key.key']} "
        f"--ssl-extra-ca-certs {server_ca}"
    )
    authority = f"{parts.hostname}:{parts.port or 443}" if parts.hostname else "HOST:443"
    click.echo(
        f"openssl: openssl s_client -connect {authority} -cert {files['cert.pem']} -cert_chain {files['cert.pem']} "
        f"-key {files['key.key']}  (-cert alone sends only the leaf, and the tenant wants the chain)"
    )
    if pfx_password:
        click.echo(f"Java: keytool -list -storetype PKCS12 -keystore {files['cert.pfx']} -storepass {pfx_password}")
        click.echo(
            f"S/4HANA: import {files['cert.pfx']} into STRUST as an SSL client identity and {files['ca.pem']} into its "
            "certificate list; docs/s4hana.md sets up SM59, WE21/WE20 (IDocs) and SOAMANAGER (proxies) to /cxf/"
        )
