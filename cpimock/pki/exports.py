"""The files a sender needs from a service key: ``cert.pem`` (the chain, leaf first), ``key.key``
(PKCS#1), ``ca.pem`` (the chain's CAs) and ``cert.pfx`` (PKCS#12), written all or none.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from cpimock.errors import ServiceKeyError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.keys import cert_to_pem, key_to_pem, now
from cpimock.pki.servicekey import ServiceKey


@dataclass(frozen=True)
class ExportFile:
    name: str
    data: bytes
    private: bool
    purpose: str


def order_chain(certs: tuple[x509.Certificate, ...]) -> list[x509.Certificate]:
    """Leaf first, then each issuer up the chain; certificates that fit nowhere go last."""
    ordered = [certs[0]]
    rest = list(certs[1:])
    while rest:
        parent = next((c for c in rest if c.subject == ordered[-1].issuer), None)
        if parent is None or ordered[-1].subject == ordered[-1].issuer:
            break
        ordered.append(parent)
        rest.remove(parent)
    return ordered + rest


def export_files(
    key: ServiceKey,
    *,
    pfx_password: str | None = None,
    alias: str = "cpimock",
    at: dt.datetime | None = None,
    allow_expired: bool = False,
) -> tuple[list[ExportFile], list[str]]:
    """The files for senders, checked before anything is written, and warnings worth showing.

    An expired certificate is refused unless *allow_expired* (a rejecting test wants its files)."""
    leaf = key.leaf
    if leaf is None:
        raise ServiceKeyError(
            f"{key.source}: a ClientId/Secret key has no certificate to extract; use its clientid and "
            "clientsecret as Basic credentials"
        )
    when = at or now()
    warnings = []
    if leaf.not_valid_after_utc < when:
        expired = f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        if not allow_expired:
            raise ServiceKeyError(
                f"{key.source}: {expired}; create a new key (`cpimock servicekey renew NAME`, or a new key in the "
                "BTP cockpit), or add --allow-expired for a test that must be refused"
            )
        warnings.append(f"{expired}: servers refuse it")
    if leaf.not_valid_before_utc > when:
        warnings.append(f"the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    chain = order_chain(key.certificates)
    cas = chain[1:]
    files = [ExportFile("cert.pem", b"".join(cert_to_pem(c) for c in chain), False, "certificate chain, leaf first")]
    if key.key is not None:
        files.append(ExportFile("key.key", key_to_pem(key.key), True, "private key (PKCS#1), keep it secret"))
    else:
        warnings.append("the key holds no private key (external certificate or CSR): use the key you made it with")
    if cas:
        files.append(ExportFile("ca.pem", b"".join(cert_to_pem(c) for c in cas), False, "CA certificates"))
        top = cas[-1]
        if top.subject != top.issuer:
            warnings.append(
                f"the chain ends at {name_to_dn(top.subject)}, not at a root: add its issuer "
                f"{name_to_dn(top.issuer)} to ca.pem for truststores that need the root"
            )
    else:
        warnings.append(f"the key holds only its own certificate: get the CA of {name_to_dn(leaf.issuer)} separately")
    if pfx_password is not None:
        if key.key is None:
            raise ServiceKeyError(f"{key.source}: --pfx needs the private key, and this service key has none")
        if not pfx_password:
            raise ServiceKeyError(
                "--password: keytool and STRUST cannot read a PKCS#12 file without a password; give one"
            )
        pfx = pkcs12.serialize_key_and_certificates(
            alias.encode(), key.key, leaf, cas or None, BestAvailableEncryption(pfx_password.encode())
        )
        files.append(ExportFile("cert.pfx", pfx, True, "PKCS#12 (key + chain)"))
    return files, warnings


def write_files(folder: Path, files: list[ExportFile], flag: str = "--out") -> list[Path]:
    """Write all *files* into *folder* or none of them: each is staged, then all are renamed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceKeyError(f"{flag} {folder}: cannot create the folder ({exc.strerror}); choose another") from None
    staged: list[tuple[Path, Path]] = []
    done: list[Path] = []
    try:
        for item in files:
            target = folder / item.name
            tmp = folder / f".{item.name}.{secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if item.private else 0o644)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as f:
                f.write(item.data)
        for tmp, target in staged:
            os.replace(tmp, target)
            done.append(target)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise ServiceKeyError(
            f"{flag} {folder}: cannot write there ({exc.strerror}); choose a folder you can write to"
        ) from None
    return done
