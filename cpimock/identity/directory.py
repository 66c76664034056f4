"""Who is calling, and may they: certificate → service key → instance → roles.

Pure: no aiohttp, no files. The server builds a :class:`Directory` from the key registry and
``cpimock.toml`` (again on every reload) and asks it about each connection and request.
Only :mod:`cpimock.dn` and :mod:`cpimock.pki` are imported from the project.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from cpimock.pki.dn import DnKey, name_key, parse_dn
from cpimock.pki.store import is_ca_certificate


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


class KeyLike(Protocol):
    """What the directory needs of a registered service key (see ``registry.KeyRecord``)."""

    @property
    def name(self) -> str: ...
    @property
    def instance(self) -> str: ...
    @property
    def key_type(self) -> str: ...
    @property
    def clientid(self) -> str: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def pinning(self) -> bool: ...
    @property
    def revoked(self) -> bool: ...


class PairLike(Protocol):
    @property
    def subject(self) -> DnKey: ...
    @property
    def issuer(self) -> DnKey: ...


class InstanceLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def subjects(self) -> Sequence[PairLike]: ...


class IFlowLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def authorization(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def client_certificates(self) -> Sequence[PairLike]: ...


class RevocationCheck(Protocol):
    """What the directory asks of the workspace's revocation state (see ``revocation.py``)."""

    def refusal(self, cert: x509.Certificate, fingerprint: str) -> str | None: ...


class Directory:
    """Service keys and instances of one workspace, indexed for the questions the server asks."""

    def __init__(
        self,
        keys: Iterable[KeyLike],
        instances: Mapping[str, InstanceLike],
        revocation: RevocationCheck | None = None,
    ) -> None:
        self.instances = dict(instances)
        self._revocation = revocation
        self._by_fingerprint: dict[str, KeyLike] = {}
        # external certificates with pinning off are matched by subject + issuer
        self._by_names: dict[tuple[DnKey, DnKey], list[KeyLike]] = {}
        self._listed: dict[tuple[DnKey, DnKey], str] = {}
        self._revoked: dict[str, str] = {}
        for key in keys:
            if key.revoked:
                if key.fingerprint:
                    self._revoked[key.fingerprint] = key.name
                continue
            if key.fingerprint:
                self._by_fingerprint[key.fingerprint] = key
            if key.key_type == "certificate_external" and key.subject and key.issuer:
                try:
                    names = parse_dn(key.subject), parse_dn(key.issuer)
                except ValueError:
                    # written by cpimock from a certificate whose name no DN string can hold (a NUL):
                    # that key is matched by its fingerprint only
                    continue
                self._by_names.setdefault(names, []).append(key)
        for instance in self.instances.values():
            for pair in instance.subjects:
                self._listed.setdefault((pair.subject, pair.issuer), instance.name)
        # pinning off: "once a newer cert is used the older one is refused" (SAP's rule)
        self._newest_used: dict[str, datetime] = {}

    def roles_of(self, instance: str | None) -> frozenset[str]:
        found = self.instances.get(instance) if instance else None
        return found.roles if found else frozenset()

    def identify_certificate(self, cert: PeerCertificate) -> Identity | Refusal:
        """Map a verified client certificate to its service key or listed instance."""
        base = {
            "method": "certificate",
            "subject": cert.subject,
            "issuer": cert.issuer,
            "serial": cert.serial,
            "fingerprint": cert.fingerprint,
        }
        if cert.is_ca:
            # OpenSSL lets a CA certificate with the clientAuth EKU (or none) through as the leaf;
            # a CA signs identities, it is not one, and no key or DN list makes it one
            return FinalRefusal(
                401,
                f"the client certificate (subject {cert.subject}) is a CA certificate (basicConstraints "
                "CA:TRUE); a CA is not a TLS client identity: present a certificate that the CA issued "
                "to the sender (CA:FALSE)",
            )
        key = self._by_fingerprint.get(cert.fingerprint)
        if cert.fingerprint in self._revoked:
            return Revoked(401, f"the certificate of service key {self._revoked[cert.fingerprint]!r} has been revoked")
        if self._revocation is not None:
            # OpenSSL checks the workspace CRL only while no extra trust bundle is configured;
            # certificates of the workspace CA stay revoked regardless, also when listed by DN
            revoked = self._revocation.refusal(cert.certificate, cert.fingerprint)
            if revoked is not None:
                return Revoked(401, revoked)
        if key is None:
            candidates = self._by_names.get((cert.subject_key, cert.issuer_key), [])
            if candidates:
                if len(candidates) > 1 or any(c.pinning for c in candidates):
                    pinned = [c.name for c in candidates if c.pinning]
                    if pinned and len(candidates) == len(pinned):
                        return Refusal(
                            401,
                            f"certificate {cert.fingerprint} has the subject and issuer of the pinned "
                            f"external certificate of service key {pinned[0]!r} but is not that certificate",
                        )
                    names = ", ".join(sorted(c.name for c in candidates))
                    return Refusal(
                        401,
                        f"service keys {names} claim the same subject and issuer with conflicting pinning; "
                        "SAP rejects such certificates at runtime: delete all but one key",
                    )
                key = candidates[0]
                newest = self._newest_used.get(key.name)
                if newest is not None and cert.not_before < newest:
                    return Refusal(
                        401,
                        f"an older certificate of service key {key.name!r} was presented after a newer one "
                        "was used; with pinning off only the newest certificate is accepted",
                    )
                self._newest_used[key.name] = cert.not_before
        if key is not None:
            return Identity(
                key_name=key.name,
                instance=key.instance,
                roles=self.roles_of(key.instance),
                clientid=key.clientid,
                **base,
            )
        listed = self._listed.get((cert.subject_key, cert.issuer_key))
        if listed is not None:
            return Identity(instance=listed, roles=self.roles_of(listed), **base)
        return Refusal(
            401,
            f"the certificate (subject {cert.subject}, issuer {cert.issuer}) comes from a trusted CA but "
            "belongs to no service key and is listed under no service instance: create a key with "
            "`cpimock servicekey create`, or add its subject to an instance in cpimock.toml",
        )


def authorize(
    identity: Identity, iflow: IFlowLike, subject_key: DnKey | None, issuer_key: DnKey | None
) -> Refusal | None:
    """May *identity* call *iflow*? None when yes; a 403 refusal with CPI's wording when not.

    *subject_key*/*issuer_key* are the DN keys of the presented certificate (None when the
    caller used Basic or OAuth).
    """
    if iflow.authorization == "client-certificate":
        if subject_key is None or issuer_key is None:
            return Refusal(
                403,
                f"integration flow {iflow.id} accepts only client certificates listed in its channel; "
                f"the caller authenticated with {identity.method}",
            )
        for pair in iflow.client_certificates:
            if pair.subject == subject_key and pair.issuer == issuer_key:
                return None
        # SAP's trace text (KBA 3538749), lower-cased canonical DNs as SAP prints them
        subject, issuer = str(subject_key).lower(), str(issuer_key).lower()
        return Refusal(
            403,
            f"Unauthorized. Subject and issuer (subject: {subject}; issuer: {issuer}) "
            "of the provided certificate is not contained in the accepted subjectAndIssuers list "
            "of the integration flow.",
        )
    if iflow.role not in identity.roles:
        have = ", ".join(sorted(identity.roles)) or "no roles"
        where = f"service instance {identity.instance!r}" if identity.instance else "the caller"
        return Refusal(
            403,
            f"{where} lacks the role {iflow.role} that integration flow {iflow.id} requires (it has: {have}); "
            f"add it to roles of [instances.{identity.instance or 'NAME'}] in cpimock.toml",
        )
    return None
