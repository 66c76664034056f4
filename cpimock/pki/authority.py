"""Issuing certificates: a CA (:class:`Authority`), what it issued (:class:`Issued`), and the
one function that builds every certificate cpimock makes, with SKI, AKI and the right key usages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from cpimock.pki.keys import PrivateKey, cert_to_pem, key_to_pem

ROOT_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "local"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpimock"),
        x509.NameAttribute(NameOID.COMMON_NAME, "cpimock Local Root CA"),
    ]
)


CLIENT_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "local"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpimock"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "cpimock Clients"),
        x509.NameAttribute(NameOID.COMMON_NAME, "cpimock Client CA"),
    ]
)


# long-lived like SAP's roots (SAP Cloud Root CA runs 20 years)
ROOT_DAYS = 20 * 365


CLIENT_CA_DAYS = 10 * 365


# browsers and curl refuse server certificates valid for more than 398 days
SERVER_DAYS = 397


# SAP issues client certificates for 1..365 days
MAX_CLIENT_DAYS = 365


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate, its private key (None when the key stayed with the requester) and its chain.

    ``chain`` runs from the certificate's issuer up to and including the root.
    """

    cert: x509.Certificate
    key: PrivateKey | None
    chain: tuple[x509.Certificate, ...]

    def chain_pem(self) -> str:
        """Leaf first, then each CA up to the root: the ``certificate`` string of a service key."""
        return b"".join(cert_to_pem(c) for c in (self.cert, *self.chain)).decode()

    def key_pem(self) -> str | None:
        return None if self.key is None else key_to_pem(self.key).decode()


@dataclass(frozen=True, slots=True)
class Authority:
    cert: x509.Certificate
    key: PrivateKey

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self.key, hashes.SHA256())


def _ski(public_key: object) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]


def build_certificate(
    *,
    subject: x509.Name,
    public_key: object,
    issuer: Authority | None,
    issuer_key: PrivateKey | None = None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca_path_length: int | bool | None = False,
    eku: Sequence[x509.ObjectIdentifier] = (),
    san: Iterable[x509.GeneralName] = (),
    serial: int | None = None,
    hash_algorithm: Any = None,
) -> x509.Certificate:
    """Build and sign one certificate. ``ca_path_length=False`` makes an end-entity.

    Self-signed when *issuer* is None (then *issuer_key* signs). The low-level builder is public
    so that tests can make the hostile certificates a real attacker would (wrong EKU, no CA
    flag, SHA-1, foreign CA) with the same code paths.
    """
    is_ca = ca_path_length is not False
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=None if not is_ca else ca_path_length),
            critical=True,
        )
        .add_extension(_ski(public_key), critical=False)
    )
    if is_ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=True, key_encipherment=False)
    else:
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True, key_encipherment=True)
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        critical=True,
    )
    signer_public = issuer.cert.public_key() if issuer else public_key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public),  # type: ignore[arg-type]
        critical=False,
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    san = list(san)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    signing_key = issuer.key if issuer else issuer_key
    if signing_key is None:
        raise ValueError("a self-signed certificate needs issuer_key")
    algorithm = hash_algorithm or hashes.SHA256()
    return builder.sign(signing_key, algorithm)
