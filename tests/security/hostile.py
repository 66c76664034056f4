"""Hostile certificates and clients for the security tests.

Certificates an attacker (or a confused sender) would present: forged signatures, CA
certificates that may not sign, weak digests and keys, look-alike intermediates. Each is
built with ``cpimock.pki.build_certificate`` where that can express it, and with the raw
``cryptography`` builder (or by hand, for MD5/SHA-1, which ``cryptography`` refuses to sign
with) where it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cpimock.mpl.record import MplRecord
from cpimock.pki.authority import Authority
from cpimock.pki.keys import BACKDATE, PrivateKey, cert_to_pem, key_to_pem, now
from cpimock.tenant.tls import _SSL_REASONS, _VERIFY_REASONS

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def dn(cn: str, *, o: str = "ACME", ou: str | None = None, c: str = "DE") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, c), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def forge(
    *,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer_name: x509.Name,
    signer: PrivateKey,
    aki_from: rsa.RSAPublicKey | None = None,
    ca: bool = False,
    key_cert_sign: bool | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate with every field under the caller's control (issuer name, AKI, serial included)."""
    start = not_before or now() - BACKDATE
    end = not_after or start + 30 * DAY
    sign_certs = ca if key_cert_sign is None else key_cert_sign
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_from or signer.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=sign_certs,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(signer, hashes.SHA256())


# --- by hand: what cryptography will not build -------------------------------------------

_SHA256_RSA = bytes.fromhex("2a864886f70d01010b")  # OID 1.2.840.113549.1.1.11 (contents only)
_WEAK_RSA = {
    "sha1": (bytes.fromhex("2a864886f70d010105"), hashes.SHA1()),
    "md5": (bytes.fromhex("2a864886f70d010104"), hashes.MD5()),
}


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def resign_weak(cert: x509.Certificate, signer: rsa.RSAPrivateKey, digest: str) -> x509.Certificate:
    """*cert* re-signed with md5WithRSAEncryption or sha1WithRSAEncryption.

    cryptography (>= 41) refuses MD5 and SHA-1 in its certificate builder, so the TBS part is
    taken from a SHA-256 certificate, its signature algorithm swapped (the OIDs have the same
    length, so no length in the TBS changes), signed with PKCS#1 v1.5 over the weak digest,
    and the certificate DER assembled here.
    """
    oid, algorithm = _WEAK_RSA[digest]
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1, "the TBS must name sha256WithRSAEncryption exactly once"
    tbs = tbs.replace(_SHA256_RSA, oid)
    signature = signer.sign(tbs, padding.PKCS1v15(), algorithm)
    alg_id = _der(0x30, _der(0x06, oid) + b"\x05\x00")
    der = _der(0x30, tbs + alg_id + _der(0x03, b"\x00" + signature))
    weak = x509.load_der_x509_certificate(der)
    assert weak.signature_algorithm_oid.dotted_string.endswith((".5", ".4"))
    return weak


def tamper_signature(cert: x509.Certificate) -> x509.Certificate:
    """*cert* with the last byte of its signature flipped: the same TBS, a forged signature."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def crl_pem(
    issuer: Authority,
    revoked: Sequence[int] = (),
    *,
    last_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    signer: PrivateKey | None = None,
) -> bytes:
    """A CRL of *issuer* listing *revoked* serials (what `cpimock servicekey revoke` writes, for any CA).

    *last_update*/*next_update* default to a CRL valid now for 30 days; *signer* signs it in
    *issuer*'s name with another key (a forgery).
    """
    start = last_update or now() - BACKDATE
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(start)
        .next_update(next_update or start + 30 * DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(x509.CRLNumber(int(time.time())), critical=False)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start).build()
        )
    return builder.sign(signer or issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# --- presenting them --------------------------------------------------------------------


@dataclass(frozen=True)
class Presented:
    """What a hostile client sends: a chain (leaf first) and the key it signs with."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / "cert.pem", folder / "key.key"
        cert.write_bytes(b"".join(cert_to_pem(c) for c in self.chain))
        key.write_bytes(key_to_pem(self.key))
        return cert, key


def client_context(
    cafile: Path, cert: Path | None = None, key: Path | None = None, *, weak: bool = False, tls12: bool = False
) -> ssl.SSLContext:
    """A client context trusting *cafile*; *weak* lets it load SHA-1/MD5/RSA-1024 material."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    if weak:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class Outcome:
    port: int  # the client's source port: the MPL's peer is 127.0.0.1:<port>
    status: int | None  # HTTP status, when the request got that far
    error: str | None  # what the client saw instead
    # when the client began to connect: the server's record of this connection starts later, and
    # an older record from a reused source port (same workspace, earlier server) starts before
    started: dt.datetime

    @property
    def peer(self) -> str:
        return f"127.0.0.1:{self.port}"


async def attempt(
    url: str, ctx: ssl.SSLContext, path: str = "/http/clientCertAuth", *, timeout: float = 10.0
) -> Outcome:
    """One TLS connection and one POST; what came back (a status, or the error the client saw)."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    started = dt.datetime.now(dt.UTC)
    sock = socket.socket()
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    local = sock.getsockname()[1]
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname="localhost")
            body = b'{"name": "Mallory"}'
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            line = await reader.readline()
        if not line:
            return Outcome(local, None, "closed without an answer", started)
        return Outcome(local, int(line.split()[1]), None, started)
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ConnectionError) as exc:
        return Outcome(local, None, f"{type(exc).__name__}: {exc}", started)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(timeout):
                    await writer.wait_closed()
        else:
            sock.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait for *check* to hold (polling the server's state, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def record_of(
    records: Callable[[], Awaitable[list[MplRecord]]], peer: str | Outcome, timeout: float = 10.0
) -> MplRecord:
    """The MPL record of the connection from *peer* (``host:port``, or an :class:`Outcome`), once
    the server has written it.

    A source port alone does not name a connection: the kernel hands ephemeral ports out again,
    and a workspace's MPL outlives the servers of a module's tests. Given an :class:`Outcome`,
    only records that began after its client began to connect count.
    """
    address, since = peer, dt.datetime.min.replace(tzinfo=dt.UTC)
    if isinstance(peer, Outcome):  # the MPL keeps whole milliseconds
        address, since = peer.peer, peer.started - dt.timedelta(milliseconds=1)
    found: list[MplRecord] = []

    async def check() -> bool:
        found[:] = [r for r in await records() if r.peer == address and r.log_start >= since]
        return bool(found)

    await eventually(check, timeout, f"the MPL record of {address}")
    assert len(found) == 1, found
    return found[0]


def reasons_for(code: str) -> set[str]:
    """Every plain-words refusal reason cpimock's TLS layer logs under the stable *code*."""
    return {reason for c, reason in (*_VERIFY_REASONS.values(), *_SSL_REASONS.values()) if c == code}
