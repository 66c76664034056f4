"""The certificate abuse matrix: each hostile chain over a real handshake, refused with its reason.

One workspace holds every case's material (the CRL file carries the CRLs of the test's own
intermediate CAs, and the root's CRL lists the revoked one). Each case is one connection whose
source port, with the time it began, identifies its MPL record (the workspace's MPL keeps the
earlier cases' records, and a source port comes round again); the record must be a TLS-stage
refusal whose reason is the one cpimock's TLS layer gives for the OpenSSL verify error that case
provokes.
The accepting twins (a valid intermediate with a listed leaf, the weak-capable client with a
good key) show that the refusals come from the flaw and not from the set-up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cpimock.pki.authority import CLIENT_CA_NAME, ROOT_CA_NAME, Authority, build_certificate
from cpimock.pki.dn import name_to_dn
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.keys import BACKDATE, PrivateKey, cert_to_pem, now
from cpimock.pki.servicekey import read_service_key
from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace

from ..serving import serving
from .hostile import (
    DAY,
    Presented,
    attempt,
    client_context,
    crl_pem,
    dn,
    forge,
    reasons_for,
    record_of,
    resign_weak,
    rsa_key,
    tamper_signature,
)


@dataclass(frozen=True)
class Case:
    presented: Presented
    code: str | None  # the expected refusal code; None: the accepting twin (200)
    weak: bool = False  # the client must drop to SECLEVEL 0 to even load the material


@dataclass
class Matrix:
    root: Path
    ca: Path
    cases: dict[str, Case]


def _intermediate(root: Authority, cn: str, start: dt.datetime, end: dt.datetime) -> Authority:
    key = rsa_key()
    cert = build_certificate(
        subject=dn(cn, o="cpimock"),
        public_key=key.public_key(),
        issuer=root,
        not_before=start,
        not_after=end,
        ca_path_length=0,
    )
    return Authority(cert, key)


def _leaf_under(ca: Authority, subject: x509.Name, **kwargs: object) -> Presented:
    key = rsa_key()
    cert = forge(subject=subject, public_key=key.public_key(), issuer_name=ca.cert.subject, signer=ca.key, **kwargs)  # type: ignore[arg-type]
    return Presented((cert, ca.cert), key)


def _build(root: Path) -> Matrix:
    ensure_workspace(root)
    pki = Pki.load(root / "certs")
    demo_folder = root / "extracted" / "demo-sender"
    files, _ = export_files(
        read_service_key(root / "certs" / "keys" / "demo-sender.json"), pfx_password=None, alias="demo-sender"
    )
    write_files(demo_folder, files)
    demo_chain = x509.load_pem_x509_certificates((demo_folder / "cert.pem").read_bytes())
    demo = demo_chain[0]
    subject = demo.subject  # what the attacker copies from a valid key
    t = now() - BACKDATE
    cases: dict[str, Case] = {}

    key = rsa_key()
    self_signed = forge(subject=subject, public_key=key.public_key(), issuer_name=subject, signer=key)
    cases["self-signed leaf with a valid key's subject"] = Case(Presented((self_signed,), key), "self-signed")

    not_ca_key = rsa_key()
    not_ca = forge(
        subject=dn("ACME signing box", o="cpimock"),
        public_key=not_ca_key.public_key(),
        issuer_name=ROOT_CA_NAME,
        signer=pki.root.key,
        ca=False,
        key_cert_sign=True,
        eku=None,
    )
    leaf = _leaf_under(Authority(not_ca, not_ca_key), subject)
    cases["leaf signed by a certificate without CA:TRUE"] = Case(leaf, "invalid-ca")

    no_sign_key = rsa_key()
    no_sign = forge(
        subject=dn("ACME CA without keyCertSign", o="cpimock"),
        public_key=no_sign_key.public_key(),
        issuer_name=ROOT_CA_NAME,
        signer=pki.root.key,
        ca=True,
        key_cert_sign=False,
        eku=None,
    )
    cases["leaf signed by a CA without keyCertSign"] = Case(
        _leaf_under(Authority(no_sign, no_sign_key), subject), "invalid-ca"
    )

    good = pki.issue_client(dn("forged-signature"), 30)
    assert good.key is not None
    cases["valid intermediate, forged leaf signature"] = Case(
        Presented((tamper_signature(good.cert), pki.client_ca.cert), good.key), "bad-signature"
    )

    # a look-alike of the client CA: same subject, issuer name and AKI of the real root, own key
    fake_key = rsa_key()
    fake_ca = forge(
        subject=CLIENT_CA_NAME,
        public_key=fake_key.public_key(),
        issuer_name=ROOT_CA_NAME,
        signer=fake_key,
        aki_from=pki.root.key.public_key(),
        ca=True,
        eku=None,
    )  # type: ignore[arg-type]
    # OpenSSL checks revocation before signatures: the real client CA's CRL names the fake CA's
    # subject but not its key (AKI), so the leaf's revocation status is unknown and that is the
    # refusal; test_cert_identity shows the forged signature itself when CRLs are not checked
    cases["fake intermediate with the real intermediate's name"] = Case(
        _leaf_under(Authority(fake_ca, fake_key), subject), "no-crl"
    )

    expired = _intermediate(pki.root, "expired CA", t - 60 * DAY, t - DAY)
    not_yet = _intermediate(pki.root, "future CA", t + DAY, t + 60 * DAY)
    revoked = _intermediate(pki.root, "revoked CA", t, t + 60 * DAY)
    valid = _intermediate(pki.root, "valid CA", t, t + 60 * DAY)
    cases["expired intermediate"] = Case(_leaf_under(expired, subject, not_before=t - 30 * DAY), "expired")
    cases["not-yet-valid intermediate"] = Case(_leaf_under(not_yet, subject), "not-yet-valid")
    cases["revoked intermediate"] = Case(_leaf_under(revoked, subject), "revoked")
    listed = _leaf_under(valid, dn("listed-sender"))
    cases["twin: valid intermediate, listed leaf"] = Case(listed, None)

    for digest in ("sha1", "md5"):
        issued = pki.issue_client(dn(f"{digest}-sender"), 30)
        assert issued.key is not None
        weak = resign_weak(issued.cert, pki.client_ca.key, digest)  # type: ignore[arg-type]
        cases[f"{digest.upper()}-signed leaf"] = Case(
            Presented((weak, pki.client_ca.cert), issued.key), "weak-signature", weak=True
        )
    small = pki.issue_client(dn("rsa1024-sender"), 30, key=rsa_key(1024))
    assert small.key is not None
    cases["RSA 1024 key"] = Case(Presented((small.cert, pki.client_ca.cert), small.key), "weak-key", weak=True)
    cases["EKU serverAuth only"] = Case(
        _leaf_under(pki.client_ca, subject, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)), "bad-eku"
    )
    cases["twin: weak-capable client, valid key"] = Case(
        Presented(tuple(demo_chain[:2]), _demo_key(demo_folder)), None, weak=True
    )

    # CRLs: the root lists the revoked intermediate; every test intermediate publishes an empty one
    crls = [crl_pem(pki.client_ca), crl_pem(pki.root, [revoked.cert.serial_number])]
    crls += [crl_pem(ca) for ca in (expired, not_yet, revoked, valid)]
    (root / "certs" / "crl.pem").write_bytes(b"".join(crls))
    config = root / "cpimock.toml"
    pair = f'{{ subject = "{name_to_dn(listed.chain[0].subject)}", issuer = "{name_to_dn(valid.cert.subject)}" }}'
    text = config.read_text().replace("# subjects = [", f"subjects = [{pair}]\n# [", 1)
    config.write_text(text)
    ca = root / "ca.pem"
    ca.write_bytes(cert_to_pem(pki.root.cert))
    return Matrix(root, ca, cases)


def _demo_key(folder: Path) -> PrivateKey:
    from cpimock.pki.keys import load_key

    return load_key((folder / "key.key").read_bytes(), "demo key")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    return _build(tmp_path_factory.mktemp("matrix") / "ws")


CASES = [
    "self-signed leaf with a valid key's subject",
    "leaf signed by a certificate without CA:TRUE",
    "leaf signed by a CA without keyCertSign",
    "valid intermediate, forged leaf signature",
    "fake intermediate with the real intermediate's name",
    "expired intermediate",
    "not-yet-valid intermediate",
    "revoked intermediate",
    "SHA1-signed leaf",
    "MD5-signed leaf",
    "RSA 1024 key",
    "EKU serverAuth only",
    "twin: valid intermediate, listed leaf",
    "twin: weak-capable client, valid key",
]


@pytest.mark.parametrize("name", CASES)
async def test_hostile_certificate_is_refused_at_the_handshake_with_its_reason(
    matrix: Matrix, name: str, tmp_path: Path
) -> None:
    case = matrix.cases[name]
    cert, key = case.presented.write(tmp_path)
    ctx = client_context(matrix.ca, cert, key, weak=case.weak)
    async with serving(matrix.root) as running:
        outcome = await attempt(running.url, ctx)
        rec = await record_of(running.records, outcome)
    if case.code is None:
        assert outcome.status == 200, outcome
        assert rec.status == "COMPLETED"
        assert rec.refusal_stage is None
        return
    assert outcome.status is None, f"{name}: the server answered HTTP {outcome.status}"
    assert rec.refusal_stage == "tls", rec
    assert rec.status == "FAILED"
    assert rec.refusal_reason in reasons_for(case.code), (rec.refusal_reason, rec.error)
