"""The facts of a presented client certificate, as authentication compares them."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from cpimock.identity.model import PeerCertificate
from cpimock.pki.store import Pki


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")])


def test_facts_of_a_certificate(pki: Pki) -> None:
    issued = pki.issue_client(name("s4-sender"), 30)
    cert = issued.cert
    facts = PeerCertificate.from_der(cert.public_bytes(Encoding.DER))
    assert facts.subject == "C=DE,CN=s4-sender"
    assert facts.issuer == cert.issuer.rfc4514_string()
    assert facts.serial == f"0x{cert.serial_number:x}"
    assert facts.fingerprint == cert.fingerprint(hashes.SHA256()).hex(":").upper()


def test_the_same_bytes_are_parsed_once_and_other_bytes_afresh(pki: Pki) -> None:
    one = pki.issue_client(name("one"), 30).cert.public_bytes(Encoding.DER)
    two = pki.issue_client(name("two"), 30).cert.public_bytes(Encoding.DER)
    assert PeerCertificate.from_der(one) is PeerCertificate.from_der(bytes(one))
    assert PeerCertificate.from_der(two).subject == "C=DE,CN=two"
    assert PeerCertificate.from_der(one).subject == "C=DE,CN=one"


def test_garbage_is_a_value_error_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="asn1"):
            PeerCertificate.from_der(b"\x30\x03\x02\x01\x00")
