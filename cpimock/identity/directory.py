"""The workspace's service keys and instances, indexed for who a certificate or a clientid is.

Pure: no aiohttp, no files. The tenant builds a :class:`Directory` from the key registry and
``cpimock.toml`` (again on every reload) and asks it about each connection and request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from cryptography import x509

from cpimock.identity.model import FinalRefusal, Identity, PeerCertificate, Refusal, Revoked
from cpimock.pki.dn import DnKey, parse_dn


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
    @property
    def secret_sha256(self) -> str | None: ...
    @property
    def successor(self) -> str | None: ...
    def secret_matches(self, secret: str) -> bool: ...
    def retired(self, at: datetime) -> bool: ...


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
        *,
        tenant: str = "mytenant",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        keys = list(keys)
        # the tenant's time, at which a rotated key's retirement is judged
        self._clock = clock or (lambda: datetime.now(UTC))
        self.instances = dict(instances)
        self.tenant = tenant  # the tenant's name, which token scopes carry
        # every key by name, revoked ones too (a clientid or token of a revoked key is named as such)
        self.keys: dict[str, KeyLike] = {key.name: key for key in keys}
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
        if key is not None and key.retired(self._clock()):
            return Revoked(
                401,
                f"the certificate of service key {key.name!r} was retired after its rotation to "
                f"{key.successor!r}: call with the certificate of {key.successor!r}",
            )
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
