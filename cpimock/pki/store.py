"""The workspace PKI, shaped like SAP's: root CA → client CA → client certificates.

Files under the workspace's ``certs/`` folder (private keys are written 0600)::

    root-ca.pem  root-ca.key      cpimock Local Root CA (trust anchor; also signs the server)
    client-ca.pem client-ca.key   cpimock Client CA (issues every client certificate)
    server.pem   server.key       the server certificate (localhost, 127.0.0.1, ::1, tenant host)
    crl.pem                       the CRLs of both CAs, read by the server

Every certificate carries SKI and AKI (Python 3.13's strict verification needs them) and the
key usages of its role. Client keys are RSA 2048 like SAP's; keys are written as PKCS#1
(``BEGIN RSA PRIVATE KEY``), the format of a BTP service key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cpimock.errors import PkiError
from cpimock.pki.authority import (
    CLIENT_CA_DAYS,
    CLIENT_CA_NAME,
    MAX_CLIENT_DAYS,
    ROOT_CA_NAME,
    ROOT_DAYS,
    SERVER_DAYS,
    Authority,
    Issued,
    build_certificate,
)
from cpimock.pki.clock import MAX_VALIDITY, MIN_VALIDITY
from cpimock.pki.keys import (
    BACKDATE,
    KeySource,
    PrivateKey,
    cert_to_pem,
    generate_key,
    key_to_pem,
    keys_match,
    load_certs,
    load_key,
    now,
    write_file,
)

FILES = {
    "root": ("root-ca.pem", "root-ca.key"),
    "client": ("client-ca.pem", "client-ca.key"),
    "server": ("server.pem", "server.key"),
}


CRL_FILE = "crl.pem"


class Pki:
    """The certificate authorities of one workspace (its ``certs/`` folder)."""

    def __init__(self, folder: Path, root: Authority, client_ca: Authority) -> None:
        self.folder = folder
        self.root = root
        self.client_ca = client_ca

    def __repr__(self) -> str:
        return f"<Pki {self.folder}>"

    # --- files -------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def server_cert_path(self) -> Path:
        return self.folder / FILES["server"][0]

    @property
    def server_key_path(self) -> Path:
        return self.folder / FILES["server"][1]

    @property
    def root_cert_path(self) -> Path:
        return self.folder / FILES["root"][0]

    @property
    def crl_path(self) -> Path:
        return self.folder / CRL_FILE

    # --- create and load ---------------------------------------------------------------

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return all((folder / name).exists() for pair in (FILES["root"], FILES["client"]) for name in pair)

    @classmethod
    def ensure(
        cls, folder: Path, server_hosts: Sequence[str], key_source: KeySource = generate_key
    ) -> tuple[Pki, list[Path]]:
        """Load the PKI in *folder*, creating whatever is missing; never overwrites a key.

        Returns the PKI and the files it created. New keys come from *key_source*.
        """
        created: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if cls.exists(folder):
            pki = cls.load(folder)
        else:
            for pair in (FILES["root"], FILES["client"]):
                for name in pair:
                    if (folder / name).exists():
                        raise PkiError(
                            f"{folder / name} exists but the rest of the CA is missing; move the "
                            f"{folder} folder away to start a new PKI"
                        )
            start = now() - BACKDATE
            root_key = key_source()
            root_cert = build_certificate(
                subject=ROOT_CA_NAME,
                public_key=root_key.public_key(),
                issuer=None,
                issuer_key=root_key,
                not_before=start,
                not_after=start + dt.timedelta(days=ROOT_DAYS),
                ca_path_length=None,
            )
            root = Authority(root_cert, root_key)
            ca_key = key_source()
            ca_cert = build_certificate(
                subject=CLIENT_CA_NAME,
                public_key=ca_key.public_key(),
                issuer=root,
                not_before=start,
                not_after=start + dt.timedelta(days=CLIENT_CA_DAYS),
                ca_path_length=0,
            )
            pki = cls(folder, root, Authority(ca_cert, ca_key))
            for role, authority in (("root", root), ("client", pki.client_ca)):
                cert_name, key_name = FILES[role]
                write_file(folder / key_name, key_to_pem(authority.key), private=True)
                write_file(folder / cert_name, cert_to_pem(authority.cert))
                created += [folder / cert_name, folder / key_name]
        if pki.ensure_server(server_hosts, key_source):
            created += [pki.server_cert_path, pki.server_key_path]
        if not pki.crl_path.exists():
            pki.write_crl(())
            created.append(pki.crl_path)
        return pki, created

    @classmethod
    def load(cls, folder: Path) -> Pki:
        authorities = []
        for role in ("root", "client"):
            cert_name, key_name = FILES[role]
            try:
                cert_data = (folder / cert_name).read_bytes()
                key_data = (folder / key_name).read_bytes()
            except FileNotFoundError as exc:
                raise PkiError(f"{exc.filename}: missing; run `cpimock init` to create the workspace PKI") from None
            certs = load_certs(cert_data, str(folder / cert_name))
            if not certs:
                raise PkiError(f"{folder / cert_name}: holds no certificate; restore it or re-create the PKI")
            key = load_key(key_data, str(folder / key_name), own=True)
            if not keys_match(key, certs[0]):
                raise PkiError(f"{folder / key_name} does not belong to {folder / cert_name}; restore the pair")
            authorities.append(Authority(certs[0], key))
        return cls(folder, authorities[0], authorities[1])

    # --- issue -------------------------------------------------------------------------

    def ensure_server(self, hosts: Sequence[str], key_source: KeySource = generate_key) -> bool:
        """Issue the server certificate anew when it is missing or lists other names than
        localhost, the loopback addresses and *hosts* (a changed ``[tenant] host``); True if issued.

        A certificate that is there but cannot be read is left alone: loading it fails and says
        so, rather than a new one hiding the damage.
        """
        if self.server_cert_path.exists() and self.server_key_path.exists():
            try:
                current = load_certs(self.server_cert_path.read_bytes(), str(self.server_cert_path))
            except (OSError, PkiError):
                return False
            if not current or _names_of(current[0]) == {h.lower() for h in _server_names(hosts)}:
                return False
        self.issue_server(hosts, key_source)
        return True

    def issue_server(self, hosts: Sequence[str], key_source: KeySource = generate_key) -> Issued:
        """(Re)issue the server certificate for localhost, the loopback addresses and *hosts*,
        with a new key from *key_source*."""
        names: list[x509.GeneralName] = []
        for host in _server_names(hosts):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host.lower()))
        key = key_source()
        start = now() - BACKDATE
        cert = build_certificate(
            subject=x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpimock"),
                    x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost"),
                ]
            ),
            public_key=key.public_key(),
            issuer=self.root,
            not_before=start,
            not_after=start + dt.timedelta(days=SERVER_DAYS),
            eku=[ExtendedKeyUsageOID.SERVER_AUTH],
            san=names,
        )
        write_file(self.server_key_path, key_to_pem(key), private=True)
        write_file(self.server_cert_path, cert_to_pem(cert))
        return Issued(cert, key, (self.root.cert,))

    def issue_client(
        self,
        subject: x509.Name,
        validity: int | dt.timedelta,
        *,
        key: PrivateKey | None = None,
        public_key: object = None,
        not_before: dt.datetime | None = None,
    ) -> Issued:
        """Issue a client certificate (EKU clientAuth) from the client CA, valid for *validity*
        (days, or a timedelta of 1 minute to 365 days) from *not_before*, by default from now.

        Pass *public_key* to certify a key held elsewhere (a CSR); otherwise *key* or a fresh
        RSA 2048 key is used.
        """
        length = dt.timedelta(days=validity) if isinstance(validity, int) else validity
        if not MIN_VALIDITY <= length <= MAX_VALIDITY:
            raise PkiError(f"validity {length} is outside 1 minute..{MAX_CLIENT_DAYS} days; choose --validity in it")
        if public_key is None:
            key = key or generate_key()
            public_key = key.public_key()
        current = now()
        # backdated for clock skew, while a key of 30 minutes still ends 30 minutes from now
        start = not_before or current - BACKDATE
        cert = build_certificate(
            subject=subject,
            public_key=public_key,
            issuer=self.client_ca,
            not_before=start,
            not_after=(not_before or current) + length,
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        return Issued(cert, key, (self.client_ca.cert, self.root.cert))

    def sign_csr(
        self, csr_pem: bytes, validity: int | dt.timedelta, source: str, *, not_before: dt.datetime | None = None
    ) -> Issued:
        """Certify the key in a PEM or DER CSR made elsewhere (S/4 STRUST, ``openssl req``)."""
        try:
            pem = b"-----BEGIN" in csr_pem
            csr = x509.load_pem_x509_csr(csr_pem) if pem else x509.load_der_x509_csr(csr_pem)
        except ValueError as exc:
            raise PkiError(f"{source}: not a certificate signing request ({exc}); export it as PEM") from None
        try:
            if not csr.is_signature_valid:
                raise PkiError(f"{source}: the CSR's signature does not verify; create the request again")
        except InvalidSignature:
            raise PkiError(f"{source}: the CSR's signature does not verify; create the request again") from None
        public_key = csr.public_key()
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
            raise PkiError(f"{source}: RSA key of {public_key.key_size} bits; SAP needs at least 2048")
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise PkiError(f"{source}: only RSA and EC keys can be certified")
        if len(csr.subject) == 0:
            raise PkiError(f"{source}: the CSR has an empty subject; give it at least a CN")
        return self.issue_client(csr.subject, validity, public_key=public_key, not_before=not_before)

    # --- revocation --------------------------------------------------------------------

    def revoked_serials(self) -> dict[int, dt.datetime]:
        """Serial → revocation time, as listed in the client CA's CRL on disk."""
        revoked: dict[int, dt.datetime] = {}
        for crl in self.load_crls():
            if crl.issuer == self.client_ca.cert.subject:
                for entry in crl:
                    revoked[entry.serial_number] = entry.revocation_date_utc
        return revoked

    def load_crls(self) -> list[x509.CertificateRevocationList]:
        try:
            data = self.crl_path.read_bytes()
        except FileNotFoundError:
            return []
        crls = []
        for block in data.split(b"-----END X509 CRL-----"):
            if b"-----BEGIN X509 CRL-----" in block:
                try:
                    crls.append(x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n"))
                except ValueError as exc:
                    raise PkiError(
                        f"{self.crl_path}: a CRL in it is broken ({exc}); rebuild it with `cpimock certs crl`"
                    ) from None
        return crls

    def revoke(self, cert: x509.Certificate) -> None:
        """Add *cert* (issued by the client CA) to the CRL the server reads."""
        if cert.issuer != self.client_ca.cert.subject:
            raise PkiError("only certificates issued by this workspace's client CA can be revoked here")
        revoked = self.revoked_serials()
        revoked.setdefault(cert.serial_number, now())
        self.write_crl(revoked.items())

    def write_crl(self, revoked: Iterable[tuple[int, dt.datetime]]) -> None:
        """Re-sign both CRLs: the client CA's with *revoked*, the root's (for the client CA) empty."""
        start = now() - BACKDATE
        blocks = []
        for authority, entries in ((self.client_ca, list(revoked)), (self.root, [])):
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(authority.cert.subject)
                # valid from the CA's own start: a tenant clock set back (serve --now) to any day
                # the CA was valid still reads the CRL, instead of refusing every certificate
                .last_update(min(start, authority.cert.not_valid_before_utc))
                # the server re-reads the file on change; a long window keeps old files usable
                .next_update(start + dt.timedelta(days=CLIENT_CA_DAYS))
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
                    critical=False,
                )
                .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False)
            )
            for serial, when in entries:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
                )
            crl = builder.sign(authority.key, hashes.SHA256())
            blocks.append(crl.public_bytes(serialization.Encoding.PEM))
        write_file(self.crl_path, b"".join(blocks))


def _server_names(hosts: Sequence[str]) -> list[str]:
    """The names of the server certificate, once each: localhost, the loopback addresses, *hosts*."""
    return list(dict.fromkeys(h.lower() for h in ("localhost", "127.0.0.1", "::1", *hosts)))


def _names_of(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses a certificate's SAN lists, as text."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = san.get_values_for_type(x509.DNSName)
    ips = san.get_values_for_type(x509.IPAddress)
    return {*(d.lower() for d in dns), *(str(ip) for ip in ips)}
