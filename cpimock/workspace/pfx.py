"""A ``.pfx`` (PKCS#12) from loose PEM files: a certificate (its chain may follow) and its key.

Senders that got their certificate some other way than a service key (an external certificate,
a CSR signed by cpimock or by their own CA) need the same file for STRUST or a Java keystore.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from cpimock.errors import PkiError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.exports import ExportFile, order_chain, pkcs12_bytes, write_files
from cpimock.pki.keys import keys_match, load_certs, read_private_key

_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class WrittenPfx:
    path: Path
    summary: str


def new_password() -> str:
    """16 letters and digits: the password goes on command lines (-storepass, -passin pass:)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


def _certificates(path: Path, flag: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{flag} {path}: cannot read it ({exc.strerror}); give the path of a PEM file") from None
    certs = load_certs(data, f"{flag} {path}") if b"CERTIFICATE-----" in data else []
    if not certs:
        raise PkiError(f"{flag} {path}: holds no -----BEGIN CERTIFICATE----- block; give a PEM certificate")
    return certs


def write_pfx(
    cert_file: Path,
    key_file: Path,
    out: Path | None,
    password: str | None,
    ca_file: Path | None = None,
    *,
    legacy: bool = False,
    alias: str | None = None,
) -> tuple[WrittenPfx, str]:
    """Check that the key belongs to the certificate, then write the .pfx; returns it and its password."""
    certs = _certificates(cert_file, "CERT")
    if ca_file is not None:
        certs += _certificates(ca_file, "--ca")
    key = read_private_key(key_file, "KEY")
    chain = order_chain(tuple(certs))
    leaf = chain[0]
    if not keys_match(key, leaf):
        raise PkiError(
            f"KEY {key_file} does not belong to the certificate in {cert_file} ({name_to_dn(leaf.subject)}); "
            "give the key it was issued for"
        )
    chosen = password if password is not None else new_password()
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    entry = alias or (str(names[0].value) if names else cert_file.stem)
    data = pkcs12_bytes(entry, key, leaf, chain[1:], chosen, legacy=legacy)
    target = out or cert_file.with_suffix(".pfx")
    [path] = write_files(target.parent, [ExportFile(target.name, data, True, "PKCS#12")], "--out")
    how = "PBE-SHA1-3DES, SHA-1 MAC" if legacy else "AES-256, SHA-256 MAC"
    cas = len(chain) - 1
    summary = f"key + {name_to_dn(leaf.subject)} + {cas} CA certificate{'s' * (cas != 1)}, alias {entry!r}, {how}"
    return WrittenPfx(path, summary), chosen
