"""A real BTP service key brought into the workspace in one step (``cpimock servicekey import``).

The sender keeps its real certificate (or clientid and secret) in its local tests: the key is
registered like one issued here, its JSON is kept under ``certs/keys/``, and the root of its
certificate chain is added to ``[server] trust`` unless the workspace trusts it already.
``cpimock.toml`` is edited with tomlkit, which keeps the user's comments and layout.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from cpimock.config import Config, parse_config
from cpimock.errors import PkiError, ServiceKeyError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.exports import order_chain
from cpimock.pki.keys import cert_to_pem, fingerprint, is_ca_certificate, load_certs, now, write_file
from cpimock.pki.servicekey import ServiceKey, read_service_key, secret_digest
from cpimock.pki.store import Pki
from cpimock.workspace.inspect import verify_chain
from cpimock.workspace.keys import check_key_name, keys_dir
from cpimock.workspace.registry import KeyRecord, Registry, certificate_fields


@dataclass(frozen=True)
class Imported:
    record: KeyRecord
    path: Path  # the key's JSON in the workspace
    root: x509.Certificate | None  # the chain's root (None: ClientId/Secret)
    trusted_by: Path | None  # the bundle that trusts it already, or the one written now
    added: bool  # whether [server] trust gained the bundle


def _slug(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    text = str(names[0].value) if names else fingerprint(cert)[:11]
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "root"


def _signed(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _root_of(key: ServiceKey, root_file: Path | None) -> tuple[list[x509.Certificate], x509.Certificate]:
    """The chain (leaf first) and its root, taken from the key or from --root."""
    extra: list[x509.Certificate] = []
    if root_file is not None:
        try:
            extra = load_certs(root_file.read_bytes(), f"--root {root_file}")
        except OSError as exc:
            raise PkiError(f"--root {root_file}: cannot read it ({exc.strerror}); give the root CA's PEM") from None
        if not extra:
            raise PkiError(f"--root {root_file}: holds no -----BEGIN CERTIFICATE----- block; give the root CA's PEM")
    chain = order_chain((*key.certificates, *extra))
    top = next((c for c in chain if c.subject == c.issuer), None)
    if top is None or not _signed(top, top):
        last = chain[-1]
        raise ServiceKeyError(
            f"{key.source}: its chain ends at {name_to_dn(last.subject)}, not at a root; pass the root that issued "
            f"{name_to_dn(last.issuer)} with --root FILE (for BTP keys: SAP Cloud Root CA)"
        )
    return chain[: chain.index(top) + 1], top


def _trusting_bundle(config: Config, pki: Pki, root: x509.Certificate) -> Path | None:
    wanted = fingerprint(root)
    for bundle in (pki.root_cert_path, *config.server.trust):
        try:
            certs = load_certs(bundle.read_bytes(), str(bundle))
        except (OSError, PkiError):
            continue
        if any(fingerprint(c) == wanted for c in certs):
            return bundle
    return None


def add_trust_bundle(config: Config, bundle: Path) -> None:
    """Add *bundle* to ``[server] trust`` in ``cpimock.toml``, keeping the file's comments and layout."""
    text = config.path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    server = document.get("server")
    if server is None:
        server = tomlkit.table()
        document["server"] = server
    entry = str(bundle.relative_to(config.root)) if bundle.is_relative_to(config.root) else str(bundle)
    trust = server.get("trust")
    if trust is None:
        server["trust"] = [entry]
    else:
        trust.append(entry)
    new = tomlkit.dumps(document)
    parse_config(tomllib.loads(new), config.root, source=f"[server] trust with {entry}")
    write_file(config.path, new.encode())


def import_service_key(
    config: Config,
    pki: Pki,
    registry: Registry,
    source: Path,
    name: str,
    instance: str,
    *,
    root_file: Path | None = None,
) -> Imported:
    """Register the real service key in *source* as *name* of *instance*, and trust its chain's root."""
    check_key_name(name)
    if name in registry.records:
        registry.add(registry.records[name])  # raises: the name is taken, with the fix
    key = read_service_key(source)
    for other in registry.records.values():
        if other.clientid == key.clientid:
            raise ServiceKeyError(f"{source}: its clientid belongs to service key {other.name!r} already")
    leaf = key.leaf
    root: x509.Certificate | None = None
    trusted_by: Path | None = None
    added = False
    if leaf is not None:
        if is_ca_certificate(leaf):
            raise PkiError(f"{source}: its certificate is a CA certificate (CA:TRUE), not a sender's identity")
        if leaf.not_valid_after_utc < now():
            raise ServiceKeyError(
                f"{source}: its certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}; create a new key on BTP"
            )
        registry.check_certificate_free(fingerprint(leaf), str(source))
        chain, root = _root_of(key, root_file)
        reason = verify_chain(leaf, chain[1:], [root])
        if reason is not None:
            raise PkiError(f"{source}: its certificate chain does not verify: {reason}")
        trusted_by = _trusting_bundle(config, pki, root)
    target = keys_dir(config) / f"{name}.json"
    written: list[Path] = []
    try:
        write_file(target, source.read_bytes(), private=True)
        written.append(target)
        if root is not None and trusted_by is None:
            trusted_by = config.certs_dir / "trust" / f"{_slug(root)}.pem"
            if trusted_by.exists():
                raise ServiceKeyError(f"{trusted_by} exists and holds another CA; move it away and import again")
            write_file(trusted_by, cert_to_pem(root))
            written.append(trusted_by)
            add_trust_bundle(config, trusted_by)  # the last step: it checks the new cpimock.toml first
            added = True
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    record = KeyRecord(
        name=name,
        instance=instance,
        key_type=key.key_type,
        clientid=key.clientid or "",
        created=now().isoformat(timespec="seconds"),
        secret_sha256=secret_digest(key.clientsecret) if key.clientsecret else None,
        **certificate_fields(leaf),
        pinning=True,  # the very certificate of the key, as BTP maps it
        file=str(target.relative_to(config.root)),
        imported=True,
    )
    registry.records[name] = record
    registry.save()
    return Imported(record, target, root, trusted_by, added)
