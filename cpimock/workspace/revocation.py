"""Revocation of the workspace's own client certificates, checked after the handshake.

OpenSSL checks ``certs/crl.pem`` during the handshake only while the workspace's root is the
only trusted root: a ``[server] trust`` bundle (a partner's CA, SAP's roots) publishes no CRL
here, and OpenSSL would refuse every certificate under it for the missing CRL. So every
presented certificate is also checked here. The question is asked of the issuing CA itself:
a certificate belongs to the workspace when the client CA's key signed it, whatever its
issuer name or serial claim. For those, the CRLs must vouch: the client CA's CRL, and the
root's CRL for the client CA, present, signed by their CA and current. When they cannot, the
certificates are refused (fail closed) with the reason and the fix, and the server log says
so once. Certificates of other CAs are none of the workspace CRL's business: a partner's
serial that equals a revoked one is served.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from cpimock.errors import PkiError
from cpimock.pki.dn import normalised_name
from cpimock.pki.keys import now
from cpimock.pki.store import Pki
from cpimock.workspace.registry import Registry

log = logging.getLogger(__name__)

FIX = "run `cpimock certs crl` to sign it anew"
# certificates whose issuing CA was worked out (each an RSA verification); a sender reconnects
# with the same certificate, so few are new
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Crl:
    revoked: frozenset[int]
    last_update: dt.datetime
    next_update: dt.datetime | None


def _crl_of(crls: Sequence[x509.CertificateRevocationList], ca: x509.Certificate, role: str) -> _Crl | str:
    """The CRL *ca* signed, or what is wrong (no CRL in its name, or none with its signature)."""
    named = [crl for crl in crls if crl.issuer == ca.subject]
    if not named:
        return f"holds no CRL of the {role} ({ca.subject.rfc4514_string()})"
    signed = []
    for crl in named:
        try:
            if crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                signed.append(crl)
        except (TypeError, ValueError):  # a key type that cannot sign CRLs: not this CA's CRL
            pass
    if not signed:
        return f"holds a CRL in the name of the {role} that the {role}'s key did not sign"
    newest = max(signed, key=lambda crl: crl.last_update_utc)
    revoked = frozenset(entry.serial_number for crl in signed for entry in crl)
    return _Crl(revoked, newest.last_update_utc, newest.next_update_utc)


class WorkspaceRevocation:
    """Whether a presented certificate of the workspace's client CA is revoked, or cannot be vouched for."""

    def __init__(
        self,
        client_ca: x509.Certificate,
        root: x509.Certificate,
        crls: Sequence[x509.CertificateRevocationList] | None,
        source: str,
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        """*crls*: every CRL in *source* (``certs/crl.pem``), None when the file is missing;
        *clock*: the tenant's time, at which the CRLs must be current."""
        self._clock = clock
        self._client_ca = client_ca
        self._source = source
        self._problem: str | None = None
        self._crls: list[tuple[str, _Crl]] = []
        self._ca_revoked = False
        self._revoked: frozenset[int] = frozenset()
        if crls is None:
            self._problem = "is missing"
        else:
            for ca, role in ((client_ca, "client CA"), (root, "root CA")):
                found = _crl_of(crls, ca, role)
                if isinstance(found, str):
                    self._problem = self._problem or found
                else:
                    self._crls.append((role, found))
            if not self._problem:
                self._revoked = self._crls[0][1].revoked
                self._ca_revoked = client_ca.serial_number in self._crls[1][1].revoked
        self._issued_here: dict[str, bool] = {}
        self._reported = False

    @classmethod
    def load(cls, pki: Pki, clock: Callable[[], dt.datetime] = now) -> WorkspaceRevocation:
        """Read the workspace's CRL file; PkiError when a CRL in it cannot be parsed at all."""
        crls = pki.load_crls() if pki.crl_path.exists() else None
        return cls(pki.client_ca.cert, pki.root.cert, crls, str(pki.crl_path), clock)

    def problem(self, at: dt.datetime | None = None) -> str | None:
        """Why the CRLs cannot vouch for the workspace's certificates now (None: they can).

        The first problem seen is logged, once for this object: once per reload.
        """
        problem = self._problem
        when = at or self._clock()
        for role, crl in self._crls:
            if problem:
                break
            if when < crl.last_update:
                problem = f"the {role}'s CRL is valid only from {crl.last_update:%Y-%m-%d %H:%M} UTC (its lastUpdate)"
            elif crl.next_update is not None and when > crl.next_update:
                problem = f"the {role}'s CRL expired on {crl.next_update:%Y-%m-%d %H:%M} UTC (its nextUpdate)"
        if problem is not None:
            problem = f"{self._source} {problem}"
            if not self._reported:
                self._reported = True
                log.warning(
                    "%s; certificates of the workspace's client CA are refused until the CRL is valid again: %s",
                    problem,
                    FIX,
                )
        return problem

    def refusal(self, cert: x509.Certificate, fingerprint: str) -> str | None:
        """Why *cert* is refused if the workspace's client CA signed it: revoked, or its revocation
        cannot be checked. None for a good certificate of the workspace, and for any other CA's."""
        if not self.issued_here(cert, fingerprint):
            return None
        serial = f"0x{cert.serial_number:x}"
        problem = self.problem()
        if problem is not None:
            return f"the revocation of certificate {serial} cannot be checked: {problem}; {FIX}"
        if self._ca_revoked:
            return "the workspace's client CA is revoked in the root CA's CRL"
        if cert.serial_number in self._revoked:
            return f"the certificate {serial} ({cert.subject.rfc4514_string()}) is revoked in the workspace CRL"
        return None

    def issued_here(self, cert: x509.Certificate, fingerprint: str) -> bool:
        """Did the workspace's client CA sign *cert*? (Its name alone proves nothing: two cpimock
        workspaces name their CAs alike, and any CA may copy a name.)"""
        known = self._issued_here.get(fingerprint)
        if known is None:
            try:
                cert.verify_directly_issued_by(self._client_ca)
                known = True
            except (ValueError, TypeError, InvalidSignature):
                known = False
            if len(self._issued_here) >= _CACHE_SIZE:
                self._issued_here.clear()
            self._issued_here[fingerprint] = known
        return known


def rebuild_crl(pki: Pki, registry: Registry) -> int:
    """Sign ``certs/crl.pem`` anew with every revocation still known; returns how many it lists.

    That is what the file lists, when it can be read at all (its entries only ever refuse more),
    and every revoked service key of the workspace's client CA in the registry, which still
    knows them when the file is lost. A renewed key's older certificates are known to the file
    only; they map to no service key any more either way.
    """
    try:
        revoked = pki.revoked_serials()
    except PkiError:
        revoked = {}
    issuer = normalised_name(pki.client_ca.cert.subject)
    for record in registry.records.values():
        if record.revoked and record.serial and record.issuer == issuer:
            revoked.setdefault(int(record.serial, 16), now())
    pki.write_crl(revoked.items())
    return len(revoked)
