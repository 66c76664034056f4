"""Who a caller is, and why one is refused: the values every identity module passes around."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from cpimock.pki.dn import DnKey, name_key
from cpimock.pki.keys import is_ca_certificate


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller."""

    method: str  # "certificate", "basic" or "oauth"
    key_name: str | None = None
    instance: str | None = None
    roles: frozenset[str] = frozenset()
    clientid: str | None = None
    subject: str | None = None  # RFC 4514, as the certificate carries it
    issuer: str | None = None
    serial: str | None = None  # "0x..." like SAP's certificatedetails
    fingerprint: str | None = None  # SHA-256, colon-separated upper-case hex

    @property
    def label(self) -> str:
        """Who this is, for logs: the service key, else the certificate subject, else the client id."""
        return self.key_name or self.subject or self.clientid or "anonymous"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a caller is refused, with the HTTP status CPI would answer."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class FinalRefusal(Refusal):
    """A certificate refused for what it is: final, whatever else (a DN list) would let it in."""


@dataclass(frozen=True, slots=True)
class Revoked(FinalRefusal):
    """The certificate is revoked, or its revocation cannot be checked."""


@dataclass(frozen=True, slots=True)
class Untrusted(FinalRefusal):
    """The chain was verified at the handshake, but ends in a root CA that is no longer trusted."""


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The facts of a presented leaf certificate that authentication needs."""

    subject: str
    issuer: str
    subject_key: DnKey  # for comparisons
    issuer_key: DnKey
    serial: str
    serial_number: int
    fingerprint: str
    not_before: datetime
    is_ca: bool  # basicConstraints CA:TRUE
    # for questions only a CA can answer (did the workspace's client CA sign it?)
    certificate: x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes) -> PeerCertificate:
        """The facts of a DER certificate; ValueError if it cannot be parsed.

        Parsing and normalising the names takes about 0.1 ms, a tenth of a handshake, and a
        sender usually reconnects with the same certificate: the facts of the last certificates
        seen are kept (they are immutable and derived from the bytes alone).
        """
        return _peer_certificate(der) if cls is PeerCertificate else cls._parse(der)

    @classmethod
    def _parse(cls, der: bytes) -> PeerCertificate:
        cert = x509.load_der_x509_certificate(der)
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            subject_key=name_key(cert.subject),
            issuer_key=name_key(cert.issuer),
            serial=f"0x{cert.serial_number:x}",
            serial_number=cert.serial_number,
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
            not_before=cert.not_valid_before_utc,
            is_ca=is_ca_certificate(cert),
            certificate=cert,
        )


@functools.lru_cache(maxsize=512)
def _peer_certificate(der: bytes) -> PeerCertificate:
    return PeerCertificate._parse(der)
