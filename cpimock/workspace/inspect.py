"""What is in a certificate file or service key, and whether the workspace would accept it.

:func:`inspect_file` reads PEM/DER certificates, PKCS#12 files and service-key JSON;
:func:`render` turns the result into the lines ``cpimock certs inspect`` prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from cpimock.config import CONFIG_NAME, Config
from cpimock.errors import CpimockError, PkiError
from cpimock.pki.dn import name_to_dn
from cpimock.pki.exports import order_chain
from cpimock.pki.keys import PrivateKey, fingerprint, keys_match, load_certs, load_key, now, serial_hex
from cpimock.pki.servicekey import parse_service_key, read_service_key
from cpimock.workspace.create import load_workspace
from cpimock.workspace.expiry import WARN_DAYS
from cpimock.workspace.keys import key_path
from cpimock.workspace.registry import Registry

_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
}


@dataclass
class Inspection:
    source: str
    kind: str  # "service key", "certificate file", "PKCS#12 file"
    certificates: list[x509.Certificate]
    key_matches: bool | None = None  # None: no private key in the file
    chain: str | None = None  # verification verdict against the workspace CA
    chain_ok: bool | None = None
    key_name: str | None = None
    instance: str | None = None
    roles: tuple[str, ...] = ()
    revoked: bool = False
    key: PrivateKey | None = None  # a key file alone, to be matched with the workspace's certificates
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def eku_names(cert: x509.Certificate) -> list[str]:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in usages]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(
    leaf: x509.Certificate,
    untrusted: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: dt.datetime | None = None,
) -> str | None:
    """None if *leaf* chains through *untrusted* to one of *anchors* at time *at*, else the reason.

    Checks signatures, validity periods, the CA flag of every issuer and the clientAuth EKU of the
    leaf, like the TLS server does (SAP's client certificates carry no SAN, so cryptography's
    ClientVerifier, which demands one, cannot be used here).
    """
    when = at or now()
    if (usages := eku_names(leaf)) and "clientAuth" not in usages:
        return "the certificate's extended key usage lacks clientAuth, so TLS servers refuse it as a client"
    current = leaf
    for _ in range(10):
        if current.not_valid_after_utc < when:
            return f"{name_to_dn(current.subject)} expired on {current.not_valid_after_utc:%Y-%m-%d}"
        if current.not_valid_before_utc > when:
            return f"{name_to_dn(current.subject)} is valid only from {current.not_valid_before_utc:%Y-%m-%d}"
        anchor = next((a for a in anchors if a.subject == current.issuer and _signed_by(current, a)), None)
        if anchor is not None:
            return (
                None
                if anchor.not_valid_after_utc >= when
                else f"the trusted CA expired on {anchor.not_valid_after_utc:%Y-%m-%d}"
            )
        parent = next(
            (c for c in untrusted if c.subject == current.issuer and c is not current and _signed_by(current, c)), None
        )
        if parent is None:
            return f"no trusted issuer {name_to_dn(current.issuer)}: the chain does not lead to the workspace CA"
        if not _is_ca(parent):
            return f"{name_to_dn(parent.subject)} signs certificates but is not a CA"
        current = parent
    return "the chain is longer than 10 certificates"


def _read_certificates(path: Path, data: bytes, password: str | None) -> Inspection:
    source = str(path)
    if path.suffix.lower() in (".pfx", ".p12"):
        if password is None:
            raise PkiError(f"{path}: a PKCS#12 file; give its password with --password")
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode())
        except ValueError:
            raise PkiError(f"{path}: cannot open it with that --password; check the password") from None
        if cert is None:
            raise PkiError(f"{path}: holds no certificate")
        found = Inspection(source, "PKCS#12 file", [cert, *extra])
        if key is not None:
            found.key_matches = keys_match(key, cert)  # type: ignore[arg-type]
        return found
    if b"-----BEGIN" in data:
        certs = load_certs(data, source) if b"CERTIFICATE-----" in data else []
        if not certs and b"PRIVATE KEY-----" in data:
            return _read_key(source, data)
        if not certs:
            raise PkiError(f"{path}: holds no -----BEGIN CERTIFICATE----- or PRIVATE KEY block; give a PEM file")
        found = Inspection(source, "certificate file", certs)
        if b"PRIVATE KEY-----" in data:
            found.key_matches = keys_match(load_key(data, source), certs[0])
        return found
    try:
        return Inspection(source, "certificate file", [x509.load_der_x509_certificate(data)])
    except ValueError:
        raise PkiError(f"{path}: neither PEM, DER, PKCS#12 nor a service key; give a certificate file") from None


def _read_key(source: str, data: bytes) -> Inspection:
    """A private key alone: its kind and size, and (against a workspace) whose certificate it fits."""
    if b"ENCRYPTED" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        raise PkiError(
            f"{source}: the private key is encrypted; decrypt it first (openssl pkey -in KEY -out plain.key)"
        )
    key = load_key(data, source)
    found = Inspection(source, "private key", [])
    found.key = key
    if isinstance(key, rsa.RSAPrivateKey):
        form = "PKCS#1 (BEGIN RSA PRIVATE KEY)" if b"BEGIN RSA PRIVATE KEY" in data else "PKCS#8 (BEGIN PRIVATE KEY)"
        found.notes.append(f"type         RSA {key.key_size} bits, {form}")
        if key.key_size < 2048:
            found.warnings.append(f"RSA {key.key_size} bits: servers refuse keys under 2048 bits")
    else:
        found.notes.append(f"type         EC {key.curve.name}")
    digest = hashlib.sha256(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    found.notes.append(f"public key   SHA-256 {digest[:32]}...")
    return found


def inspect_file(path: Path, workspace: Path | None = None, password: str | None = None) -> Inspection:
    """Read *path* and, if *workspace* holds a cpimock workspace, check it against that."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read it ({exc.strerror}); check the path") from None
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") or path.suffix.lower() == ".json":
        key = parse_service_key(data.decode("utf-8", "replace"), str(path))
        found = Inspection(str(path), "service key", list(key.certificates))
        found.key_matches = True if key.key is not None else None
        if key.clientid:
            found.notes.append(f"clientid     {key.clientid}")
        if not key.certificates:
            found.notes.append("type         ClientId/Secret (no certificate)")
    else:
        found = _read_certificates(path, data, password)
    found.certificates = order_chain(tuple(found.certificates)) if found.certificates else []
    if found.key_matches is False:
        found.warnings.append("the private key does not belong to the first certificate")
    if workspace is not None and (workspace / CONFIG_NAME).exists():
        _check_against(found, workspace)
    elif found.certificates:
        found.chain = "not checked: no cpimock workspace here (pass --workspace DIR)"
    for cert in found.certificates[:1]:
        days = (cert.not_valid_after_utc - now()).days
        if days < 0:
            found.warnings.append(f"the certificate expired {-days} days ago")
        elif days < WARN_DAYS:
            found.warnings.append(f"the certificate expires in {days} days; renew it soon")
    return found


def _check_against(found: Inspection, root: Path) -> None:
    try:
        config, pki, registry = load_workspace(root)
    except CpimockError as exc:
        found.chain = f"not checked: {exc}"
        return
    if found.key is not None:
        _owner_of_key(found, found.key, config, registry)
        return
    if not found.certificates:
        return
    anchors = [pki.root.cert]
    for bundle in config.server.trust:
        try:
            anchors += load_certs(bundle.read_bytes(), str(bundle))
        except (OSError, CpimockError):
            found.warnings.append(f"{bundle}: unreadable trust bundle, skipped")
    leaf = found.certificates[0]
    reason = verify_chain(leaf, [*found.certificates[1:], pki.client_ca.cert], anchors)
    if reason is None and leaf.issuer == pki.client_ca.cert.subject and leaf.serial_number in pki.revoked_serials():
        reason = "revoked: listed in certs/crl.pem"
    found.chain_ok = reason is None
    found.chain = "verifies against the workspace CA" if reason is None else f"does not verify: {reason}"
    record = registry.by_fingerprint(fingerprint(leaf))
    if record is not None:
        found.key_name, found.instance, found.revoked = record.name, record.instance, record.revoked
        inst = config.instances.get(record.instance)
        found.roles = tuple(sorted(inst.roles)) if inst else ()
        if inst is None:
            found.warnings.append(f"instance {record.instance!r} is no longer in {config.path}")


def _owner_of_key(found: Inspection, key: PrivateKey, config: Config, registry: Registry) -> None:
    for record in sorted(registry.records.values(), key=lambda r: r.name):
        try:
            leaf = read_service_key(key_path(config, record)).leaf
        except CpimockError:
            continue
        if leaf is not None and keys_match(key, leaf):
            found.key_name, found.instance, found.revoked = record.name, record.instance, record.revoked
            inst = config.instances.get(record.instance)
            found.roles = tuple(sorted(inst.roles)) if inst else ()
            found.notes.append(
                f"certificate  {name_to_dn(leaf.subject)}, valid until {leaf.not_valid_after_utc:%Y-%m-%d}"
            )
            return
    found.notes.append("certificate  no service key of this workspace holds a certificate for this key")


def render(found: Inspection) -> list[str]:
    lines = [f"{found.source}: {found.kind}"]
    lines += [f"  {note}" for note in found.notes]
    total = len(found.certificates)
    for i, cert in enumerate(found.certificates):
        role = "leaf" if i == 0 else ("root CA" if cert.subject == cert.issuer else "CA")
        left = (cert.not_valid_after_utc - now()).days
        lines += [
            f"  certificate {i + 1} of {total} ({role})",
            f"    subject      {name_to_dn(cert.subject)}",
            f"    issuer       {name_to_dn(cert.issuer)}",
            f"    serial       {serial_hex(cert)}",
            f"    sha-256      {fingerprint(cert)}",
            f"    valid        {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M}"
            f" UTC ({left} days left)",
            f"    usage        {', '.join(eku_names(cert)) or ('CA' if _is_ca(cert) else 'no extended key usage')}",
        ]
    if found.key_matches is not None:
        lines.append(f"  private key  {'matches the certificate' if found.key_matches else 'DOES NOT match'}")
    if found.chain:
        lines.append(f"  chain        {found.chain}")
    if found.key_name:
        state = " (revoked)" if found.revoked else ""
        roles = ", ".join(found.roles) or "none"
        lines.append(f"  service key  {found.key_name}{state}, instance {found.instance}, roles {roles}")
    elif found.chain_ok is not None:
        lines.append("  service key  none in this workspace maps to this certificate")
    lines += [f"warning: {w}" for w in found.warnings]
    return lines
