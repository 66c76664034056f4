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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    KeySerializationEncryption,
    PrivateFormat,
    pkcs12,
)

from cpimock.errors import ServiceKeyError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.keys import PrivateKey, cert_to_pem, key_to_pem, keys_match, now
from cpimock.pki.servicekey import ServiceKey

# what OpenSSL's own -legacy export uses: older importers cap the iterations they accept
LEGACY_KDF_ROUNDS = 2048


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
    private_key: PrivateKey | None = None,
    legacy: bool = False,
) -> tuple[list[ExportFile], list[str]]:
    """The files for senders, checked before anything is written, and warnings worth showing.

    An expired certificate is refused unless *allow_expired* (a rejecting test wants its files).
    *private_key* is the key a CSR was made with, for keys that hold none; *legacy* encrypts
    ``cert.pfx`` the way older importers need (see :func:`pkcs12_bytes`)."""
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
    secret = key.key
    if private_key is not None:
        if key.key is not None:
            raise ServiceKeyError(f"{key.source} holds its private key already; drop --private-key")
        if not keys_match(private_key, leaf):
            raise ServiceKeyError(
                f"--private-key: that key does not belong to the certificate of {key.source} "
                f"({name_to_dn(leaf.subject)}); give the key the CSR was made with"
            )
        secret = private_key
    if secret is not None:
        files.append(ExportFile("key.key", key_to_pem(secret), True, "private key (PKCS#1), keep it secret"))
    else:
        warnings.append(
            "the key holds no private key (external certificate or CSR): use the key you made it with "
            "(--private-key FILE writes key.key and cert.pfx with it)"
        )
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
        if secret is None:
            raise ServiceKeyError(
                f"{key.source}: --pfx needs the private key, and this service key has none; add --private-key "
                "FILE (the key the CSR was made with)"
            )
        pfx = pkcs12_bytes(alias, secret, leaf, cas, pfx_password, legacy=legacy)
        files.append(ExportFile("cert.pfx", pfx, True, "PKCS#12 (key + chain)"))
    return files, warnings


def pkcs12_bytes(
    alias: str,
    key: PrivateKey,
    leaf: x509.Certificate,
    cas: list[x509.Certificate],
    password: str,
    *,
    legacy: bool = False,
) -> bytes:
    """A password-protected PKCS#12 file of *key*, *leaf* and its *cas*.

    By default AES-256 with PBKDF2 and a SHA-256 MAC, which current OpenSSL, Java 8u301+ and
    Windows read. *legacy* uses PBE-SHA1-3DES with a SHA-1 MAC instead: older STRUST and
    ``sapgenpse``, Java 8 before 8u301 and older Windows cannot read anything else.
    """
    if not password:
        raise ServiceKeyError("--password: keytool and STRUST cannot read a PKCS#12 file without a password; give one")
    encryption: KeySerializationEncryption
    if legacy:
        encryption = (
            PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password.encode())
        )
    else:
        encryption = BestAvailableEncryption(password.encode())
    return pkcs12.serialize_key_and_certificates(alias.encode(), key, leaf, cas or None, encryption)


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


# every file extract writes: one left from an earlier extract that this one does not write
# would hold another certificate (a renewed key's old, revoked one)
EXPORT_NAMES = ("cert.pem", "key.key", "ca.pem", "cert.pfx")


@dataclass(frozen=True)
class Written:
    """What writing an export did to its folder."""

    written: list[Path]
    replaced: list[Path]  # of *written*: files that were there before
    removed: list[Path]  # files of an earlier export that this one does not write


def write_export(folder: Path, files: list[ExportFile], flag: str = "--out") -> Written:
    """Write *files* (all or none), and remove what an earlier export left that they do not replace."""
    before = {name for name in EXPORT_NAMES if (folder / name).is_file()}
    written = write_files(folder, files, flag)
    removed = []
    for name in sorted(before - {item.name for item in files}):
        try:
            (folder / name).unlink()
        except OSError as exc:
            raise ServiceKeyError(
                f"{flag} {folder}: cannot remove {name} of an earlier extract ({exc.strerror}); remove it yourself, "
                "it holds another certificate"
            ) from None
        removed.append(folder / name)
    return Written(written, [p for p in written if p.name in before], removed)
