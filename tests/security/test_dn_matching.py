"""Configured DN pairs over real handshakes: a certificate matches only the name it carries.

A partner CA in ``[server] trust`` may issue whatever subject it likes. It must not get the
roles of an instance, or into a DN-mode iFlow, with a subject whose structure differs from the
listed pair's: a multi-valued RDN where the pair has separate RDNs, or a value with a NUL
where the pair has the characters "00". The twins present exactly the listed subject.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from cpimock.pki.authority import Authority

from ..serving import serving
from .hostile import Presented, attempt, client_context, forge, record_of, rsa_key
from .workspace_edits import add_dn_iflow, list_subject, partner_ca, trust_also

C_DE = x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")
ACME = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME Corporation")


def _rdns(*rdns: list[x509.NameAttribute]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])


def _cn(value: str) -> x509.NameAttribute:
    return x509.NameAttribute(NameOID.COMMON_NAME, value)


# (the pair as a user writes it, the look-alike the partner issues, the subject the pair means)
CASES = {
    "multi-valued RDN": (
        "CN=erp, O=ACME Corporation, C=DE",
        _rdns([C_DE], [_cn("erp"), ACME]),  # C=DE, CN=erp+O=ACME Corporation: two RDNs
        _rdns([C_DE], [ACME], [_cn("erp")]),
    ),
    "NUL in a value": (
        "CN=svc00, O=ACME Corporation, C=DE",
        _rdns([C_DE], [ACME], [_cn("svc\x00")]),
        _rdns([C_DE], [ACME], [_cn("svc00")]),
    ),
}


def _issue(ca: Authority, subject: x509.Name) -> Presented:
    key = rsa_key()
    cert = forge(subject=subject, public_key=key.public_key(), issuer_name=ca.cert.subject, signer=ca.key)
    return Presented((cert,), key)


@pytest.mark.parametrize("case", CASES)
async def test_a_look_alike_subject_from_a_partner_ca_gets_no_roles_and_no_dn_mode_iflow(
    case: str, workspace: Path, tmp_path: Path
) -> None:
    pair, look_alike, meant = CASES[case]
    acme, bundle = partner_ca(tmp_path)
    trust_also(workspace, bundle)
    list_subject(workspace, pair, acme.cert.subject)
    dn_only = add_dn_iflow(workspace, "/dnMode", pair, acme.cert.subject)
    async with serving(workspace) as running:

        async def call(presented: Presented, folder: str, path: str) -> tuple[int | None, str, str | None]:
            cert, key = presented.write(tmp_path / folder)
            outcome = await attempt(running.url, client_context(running.ca_path, cert, key), path)
            rec = await record_of(running.records, outcome)
            return outcome.status, rec.refusal_stage or "", rec.refusal_reason

        # the instance's roles: a look-alike maps to nothing (401 at the auth stage)
        status, stage, reason = await call(_issue(acme, look_alike), "look-alike-1", "/http/clientCertAuth")
        assert (status, stage) == (401, "auth"), reason
        assert "is listed under no service instance" in (reason or "")
        # the DN-mode iFlow: CPI's 403 naming the presented subject and issuer, readably
        status, stage, reason = await call(_issue(acme, look_alike), "look-alike-2", dn_only)
        assert (status, stage) == (403, "authorization"), reason
        assert "not contained in the accepted subjectAndIssuers list" in (reason or "")
        assert "issuer: cn=acme root ca,o=acme,c=de)" in (reason or "")
        # the twins: the subject the pair means is served on both
        exact = _issue(acme, meant)
        assert (await call(exact, "exact-1", "/http/clientCertAuth"))[0] == 200
        assert (await call(exact, "exact-2", dn_only))[0] == 200
