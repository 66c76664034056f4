"""The server's TLS layer: the one function that builds its ``SSLContext``, and handshake reasons.

Where mTLS is enforced: with ``client_auth="required"`` OpenSSL rejects a client without a
valid certificate during the handshake, as SAP's load balancer does (the client sees a TLS
alert, never an HTTP answer). With ``"optional"`` a client without a certificate gets through
the handshake and the HTTP layer answers 401 with a body that says what was missing; a
certificate that *is* presented is verified all the same and refused at the handshake when bad.
"""

from __future__ import annotations

import asyncio
import ctypes
import datetime as dt
import logging
import os
import socket
import ssl
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cpimock.errors import PkiError

log = logging.getLogger(__name__)

ClientAuthMode = Literal["required", "optional"]


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """The files a server context is built from."""

    cert_path: Path
    key_path: Path
    trust: tuple[Path, ...]  # PEM bundles of trusted CA certificates (roots)
    crl_path: Path | None  # the workspace CRLs; checked when every root is the workspace's own
    own_roots: int = 1  # how many of *trust* are the workspace's own (leading entries)


def server_context(material: TlsMaterial, client_auth: ClientAuthMode) -> ssl.SSLContext:
    """Build the server context: TLS 1.2 and 1.3 only, client certificates verified, no tickets.

    Starts from Python's hardened defaults for a server, loads the server chain, trusts the
    configured roots only (so clients must send their intermediates, like towards SAP's load
    balancer), and checks the workspace CRLs for the whole chain. Extra trust bundles of CAs
    that publish no CRL here (a real SAP chain) switch OpenSSL's CRL check off, because
    OpenSSL would otherwise refuse every certificate without a CRL; the server then checks
    revocation of workspace-issued certificates itself after the handshake.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(material.cert_path, material.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise PkiError(
            f"{material.cert_path} / {material.key_path}: cannot load the server certificate and key "
            f"({exc}); re-create them with `cpimock init` after moving the broken files away"
        ) from None
    for bundle in material.trust:
        try:
            ctx.load_verify_locations(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise PkiError(f"{bundle}: not a usable PEM bundle of CA certificates ({exc})") from None
    # the same strictness on every Python: no partial chains, RFC 5280 profile checks
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if material.crl_path is not None and crl_checked_by_openssl(material):
        try:
            ctx.load_verify_locations(cafile=material.crl_path)
        except (OSError, ssl.SSLError) as exc:
            raise PkiError(
                f"{material.crl_path}: not a usable CRL file ({exc}); rebuild it with `cpimock certs crl`"
            ) from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    ctx.verify_mode = ssl.CERT_REQUIRED if client_auth == "required" else ssl.CERT_OPTIONAL
    # no session tickets: TLS 1.3 resumes only with tickets, so every TLS 1.3 connection is a
    # full handshake in which the client's certificate is verified against the current trust and
    # CRL, and the server spares the two tickets per handshake it would otherwise encrypt. TLS 1.2
    # clients can still resume by session id, from this context's cache: a reload (a revocation,
    # a new key, a trust change) builds a new context and so forgets every session.
    ctx.num_tickets = 0
    ctx.options |= ssl.OP_NO_TICKET
    ctx.sslobject_class = AlertingSSLObject
    advertise_ca_names(ctx, material.trust)
    return ctx


def crl_checked_by_openssl(material: TlsMaterial) -> bool:
    return material.crl_path is not None and len(material.trust) <= material.own_roots


def verified_root(ssl_object: object) -> bytes | None:
    """The DER of the root CA an established connection's client chain was verified to, or None.

    OpenSSL keeps the verified chain for the connection's lifetime. Python 3.13 exposes it as
    ``SSLObject.get_verified_chain``; 3.10 to 3.12 have the same method on the ``_ssl`` object
    underneath only.
    """
    get_chain = getattr(ssl_object, "get_verified_chain", None)
    if get_chain is None:
        get_chain = getattr(getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    if get_chain is None:
        return None
    try:
        chain = get_chain()
    except (ssl.SSLError, ValueError):
        return None
    if not chain:
        return None
    root = chain[-1]
    # 3.13 hands back DER bytes; the _ssl objects of earlier versions serialise themselves
    der = root if isinstance(root, bytes) else root.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
    return bytes(der)


# --- sending the alert of a refused handshake --------------------------------------------
#
# When OpenSSL refuses a handshake it writes a TLS alert ("certificate expired", "unknown
# ca", "certificate required") for the client. asyncio's and uvloop's TLS protocols drop the
# connection on that error without sending what OpenSSL wrote, so the client would only see
# a reset. The server sets HANDSHAKE_SOCKET around the handshake; the SSL object made for
# that connection remembers the socket and, on a fatal handshake error, sends the pending
# alert on it before the error propagates.
#
# Sending is not enough. With TLS 1.3 a client's handshake ends before the server has judged
# its certificate, so the client is already sending its request when the alert goes out; the
# transport then closes the socket with that request unread, the kernel answers the client's
# next bytes with a reset, and a reset makes the client's kernel drop the alert it had not yet
# read (a client saw "EOF" instead of "certificate expired" two times in three). So after the
# alert the socket is half-closed (the alert, then FIN) and kept open a moment on a duplicate
# descriptor that reads and discards what the client still sends, until it closes or
# LINGER_S passes; at most MAX_LINGERING sockets linger at once (a flood of bad certificates
# gets plain closes).

HANDSHAKE_SOCKET: ContextVar[socket.socket | None] = ContextVar("cpimock_handshake_socket", default=None)


class _Handshaking(threading.local):
    current: ssl.SSLObject | None = None


_HANDSHAKING = _Handshaking()


def handshaking() -> ssl.SSLObject | None:
    """The SSL object whose handshake this thread is in (a verify callback's connection), or None."""
    return _HANDSHAKING.current


class AlertingSSLObject(ssl.SSLObject):
    """An SSL object that delivers its TLS alert when the handshake fails."""

    _cpimock_outgoing: ssl.MemoryBIO | None = None
    _cpimock_socket: socket.socket | None = None

    @classmethod
    def _create(cls, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, *args: Any, **kwargs: Any) -> Any:
        obj = super()._create(incoming, outgoing, *args, **kwargs)  # type: ignore[misc]
        obj._cpimock_outgoing = outgoing
        obj._cpimock_socket = HANDSHAKE_SOCKET.get()
        return obj

    def do_handshake(self) -> None:
        _HANDSHAKING.current = self  # for a verify callback, which OpenSSL calls within this call
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError:
            self._send_alert()
            raise
        finally:
            _HANDSHAKING.current = None

    def _send_alert(self) -> None:
        sock, outgoing = self._cpimock_socket, self._cpimock_outgoing
        if sock is None or outgoing is None or sock.fileno() == -1:
            return
        data = outgoing.read()
        if not data:
            return
        try:
            sock.send(data)  # a few bytes into an empty send buffer: never blocks in practice
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the peer is gone already, or the buffer is full: nothing to tell it
            return
        _linger(sock)


LINGER_S = 2.0
MAX_LINGERING = 256
_lingering: set[int] = set()


def _linger(sock: socket.socket) -> None:
    """Keep *sock*'s connection open on a duplicate descriptor, reading and discarding, until the
    client closes it or LINGER_S passes: the transport's close cannot reset it meanwhile."""
    if len(_lingering) >= MAX_LINGERING:
        return
    try:
        loop = asyncio.get_running_loop()
        fd = os.dup(sock.fileno())
    except (RuntimeError, OSError):
        return
    _lingering.add(fd)

    def done() -> None:
        if fd in _lingering:
            _lingering.discard(fd)
            loop.remove_reader(fd)
            timer.cancel()
            os.close(fd)

    def drain() -> None:
        try:
            if os.read(fd, 65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        done()

    timer = loop.call_later(LINGER_S, done)
    try:
        loop.add_reader(fd, drain)
    except (OSError, ValueError, NotImplementedError):
        timer.cancel()
        _lingering.discard(fd)
        os.close(fd)


# --- the CA list in the CertificateRequest ----------------------------------------------
#
# Python's ssl module loads trust anchors but never tells OpenSSL which CA names to send in
# the CertificateRequest, so clients with several certificates (Java keystores, Postman,
# browsers) cannot pick the right one. OpenSSL's SSL_CTX_set_client_CA_list does it; it is
# reached through ctypes on the libssl the interpreter already has loaded, and checked for
# sanity first. When anything is off, the server still works, only without the hint.

_SSL_VERIFY = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}
_libssl: ctypes.CDLL | None = None


def _load_libssl() -> ctypes.CDLL:
    global _libssl
    if _libssl is None:
        import _ssl  # the extension module; its libssl is the one to talk to

        lib = ctypes.CDLL(_ssl.__file__)  # symbols of libssl are reachable through its dependencies
        lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
        lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
        lib.SSL_CTX_set_client_CA_list.restype = None
        lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.OPENSSL_sk_num.restype = ctypes.c_int
        lib.OPENSSL_sk_num.argtypes = [ctypes.c_void_p]
        lib.OPENSSL_sk_push.restype = ctypes.c_int
        lib.OPENSSL_sk_push.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.OPENSSL_sk_shift.restype = ctypes.c_void_p
        lib.OPENSSL_sk_shift.argtypes = [ctypes.c_void_p]
        lib.OPENSSL_sk_free.restype = None
        lib.OPENSSL_sk_free.argtypes = [ctypes.c_void_p]
        _libssl = lib
    return _libssl


def _ssl_ctx(ctx: ssl.SSLContext, lib: ctypes.CDLL) -> int | None:
    """The SSL_CTX pointer of *ctx*, checked by a round trip of its verify mode; None if unsure."""
    # PySSLContext starts with PyObject_HEAD (refcount, type) followed by the SSL_CTX pointer
    ptr = ctypes.c_void_p.from_address(id(ctx) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    probe = ctx.verify_mode
    ctx.verify_mode = ssl.CERT_REQUIRED
    sane = bool(ptr) and lib.SSL_CTX_get_verify_mode(ptr) == _SSL_VERIFY[ssl.CERT_REQUIRED]
    ctx.verify_mode = ssl.CERT_OPTIONAL
    sane = sane and lib.SSL_CTX_get_verify_mode(ptr) == _SSL_VERIFY[ssl.CERT_OPTIONAL]
    ctx.verify_mode = probe
    return ptr if sane else None


def advertise_ca_names(ctx: ssl.SSLContext, bundles: Sequence[Path]) -> bool:
    """Send the subjects of the trusted roots as acceptable CA names; False if not possible."""
    try:
        lib = _load_libssl()
        ptr = _ssl_ctx(ctx, lib)
        if ptr is None:
            log.debug("cannot reach the SSL_CTX; the CA list is not advertised")
            return False
        names = None
        for bundle in bundles:
            stack = lib.SSL_load_client_CA_file(str(bundle).encode())
            if not stack:
                continue
            if names is None:
                names = stack
                continue
            while lib.OPENSSL_sk_num(stack) > 0:
                lib.OPENSSL_sk_push(names, lib.OPENSSL_sk_shift(stack))
            lib.OPENSSL_sk_free(stack)
        if names is None:
            return False
        lib.SSL_CTX_set_client_CA_list(ptr, names)  # the context takes ownership of the list
        return True
    except (OSError, AttributeError, ValueError) as exc:  # no libssl symbols: a different build
        log.debug("CA list not advertised: %s", exc)
        return False


# --- the tenant clock ----------------------------------------------------------------------
#
# OpenSSL judges certificates (validity periods, CRL dates) at the current time; a tenant whose
# clock is set to another day (``serve --now``) has OpenSSL judge them at that time instead, with
# X509_VERIFY_PARAM_set_time on the context's verify parameters (which Python does not expose).
# Call it after the last change of ``verify_flags``: Python's setter would clear the flag it sets.


def judge_at(ctx: ssl.SSLContext, when: dt.datetime) -> None:
    """Have OpenSSL judge client certificates on *ctx* as at *when*; PkiError where it cannot."""
    try:
        lib = _load_libssl()
        lib.SSL_CTX_get0_param.restype = ctypes.c_void_p
        lib.SSL_CTX_get0_param.argtypes = [ctypes.c_void_p]
        lib.X509_VERIFY_PARAM_set_time.restype = None
        lib.X509_VERIFY_PARAM_set_time.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        ptr = _ssl_ctx(ctx, lib)
        param = lib.SSL_CTX_get0_param(ptr) if ptr is not None else None
    except (OSError, AttributeError, ValueError) as exc:
        raise PkiError(f"--now: this Python's OpenSSL cannot be given another time ({exc}); run without it") from None
    if not param or ctypes.sizeof(ctypes.c_long) != 8:
        raise PkiError("--now: this Python's OpenSSL cannot be given another time; run without it")
    lib.X509_VERIFY_PARAM_set_time(param, int(when.timestamp()))


# --- why a handshake failed ---------------------------------------------------------------

# X509 verify codes (openssl/x509_vfy.h) → what it means for a sender, in plain words
_VERIFY_REASONS = {
    2: ("unknown-issuer", "the issuer of a certificate in the chain is not known here"),
    3: ("no-crl", "no CRL is known for the certificate's issuer"),
    7: ("bad-signature", "a certificate's signature does not verify (forged or corrupted)"),
    8: ("bad-signature", "a CRL's signature does not verify against its issuing CA"),
    9: ("not-yet-valid", "the client certificate is not yet valid"),
    11: (
        "crl-invalid",
        "the CRL of the certificate's CA (certs/crl.pem) is not yet valid, so its revocation cannot be "
        "checked: run `cpimock certs crl` to sign it anew",
    ),
    12: (
        "crl-invalid",
        "the CRL of the certificate's CA (certs/crl.pem) has expired, so its revocation cannot be "
        "checked: run `cpimock certs crl` to sign it anew",
    ),
    10: ("expired", "the client certificate has expired"),
    18: ("self-signed", "the client certificate is self-signed; use one issued by a trusted CA"),
    19: ("untrusted-root", "the chain ends in a root CA this tenant does not trust"),
    20: (
        "unknown-issuer",
        "the chain does not lead to a trusted root: the CA is unknown here, or the client did not "
        "send its intermediate CA certificate (send the whole chain, e.g. cert.pem from "
        "`cpimock servicekey extract`)",
    ),
    21: ("unknown-issuer", "the chain has only the leaf; the intermediate CA certificate is missing"),
    23: ("revoked", "the client certificate has been revoked"),
    25: ("invalid-ca", "the chain is longer than a CA's path length constraint allows"),
    26: ("bad-eku", "the certificate is not for TLS client authentication (Extended Key Usage)"),
    28: ("rejected", "the certificate is marked as rejected for client authentication"),
    32: ("invalid-ca", "the issuing CA may not sign certificates (keyUsage lacks keyCertSign)"),
    66: ("weak-key", "the client key is too small (RSA needs at least 2048 bits)"),
    67: ("weak-key", "a CA key in the chain is too small"),
    68: ("weak-signature", "the chain uses a signature digest that is too weak (MD5/SHA-1)"),
    # OpenSSL 3 numbering (1.1.1 used 24 for "invalid CA"; 3.0 moved it to 79)
    79: ("invalid-ca", "a certificate in the chain signs others but is not a CA (basicConstraints/keyUsage)"),
    80: ("invalid-extension", "a certificate that is not a CA carries a path length constraint"),
    82: ("invalid-extension", "a certificate that is not a CA has keyUsage keyCertSign"),
    85: ("invalid-extension", "a certificate violates RFC 5280: it lacks the Authority Key Identifier"),
    86: ("invalid-extension", "a CA certificate violates RFC 5280: it lacks the Subject Key Identifier"),
    89: ("invalid-ca", "a CA certificate's basicConstraints extension is not marked critical (RFC 5280)"),
    92: ("invalid-ca", "a CA certificate has no keyUsage extension (RFC 5280)"),
}
if ssl.OPENSSL_VERSION_INFO >= (3,):
    _VERIFY_REASONS[24] = ("unknown-issuer", "the public key of a certificate's issuer cannot be read")
else:  # pragma: no cover - OpenSSL 1.1.1
    _VERIFY_REASONS[24] = _VERIFY_REASONS[79]

_NO_SIGALG = (
    "the client offered no signature algorithm the server can use: its RSA key signs with rsa_pss_rsae_sha256/384/512 "
    "(and rsa_pkcs1_sha256/384/512 in TLS 1.2), and its certificate is signed with rsa_pkcs1_sha256, which the "
    "client's signature_algorithms_cert must allow when it sends one (SAP's certificates are signed the same way)"
)

# OpenSSL reason names (ssl.SSLError.reason) → plain words
_SSL_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": ("no-certificate", "the client sent no certificate"),
    "HTTP_REQUEST": ("plain-http", "the client spoke plain HTTP to the HTTPS port; use https://"),
    "UNSUPPORTED_PROTOCOL": ("protocol-too-old", "the client offered only TLS 1.1 or older; TLS 1.2+ is required"),
    "TLSV1_ALERT_PROTOCOL_VERSION": ("protocol-too-old", "the client offered only TLS 1.1 or older"),
    "WRONG_VERSION_NUMBER": ("not-tls", "the client did not speak TLS"),
    "NO_SHARED_CIPHER": (
        "no-shared-cipher",
        "the client offered no cipher suite the server accepts: TLS 1.2 needs ECDHE with AES-GCM, "
        "ChaCha20-Poly1305 or AES-CBC with SHA-256/384; suites with SHA-1 MACs (such as "
        "ECDHE-RSA-AES128-SHA) and RSA or DHE key exchange are refused",
    ),
    # OpenSSL's two names for one cause: none of the client's signature algorithms fits the server's
    # RSA key (TLS 1.2 picks per suite, TLS 1.3 once), or its signature_algorithms_cert excludes
    # the PKCS#1 v1.5 signature on the server's certificate
    "NO_SHARED_SIGNATURE_ALGORITHMS": ("no-shared-sigalg", _NO_SIGALG),
    "NO_SUITABLE_SIGNATURE_ALGORITHM": ("no-shared-sigalg", _NO_SIGALG),
    "TLSV1_ALERT_UNKNOWN_CA": (
        "client-distrusts-server",
        "the client does not trust the server certificate: add ca.pem (the cpimock root CA) to its truststore",
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": ("client-distrusts-server", "the client rejected the server certificate"),
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": (
        "client-distrusts-server",
        "the client rejected the server certificate (untrusted CA or host name mismatch)",
    ),
    "TLSV1_ALERT_DECRYPT_ERROR": (
        "bad-key",
        "the client's proof of its private key failed (right subject, wrong key?)",
    ),
    "BAD_SIGNATURE": ("bad-key", "the client's CertificateVerify signature is wrong (certificate and key differ)"),
    "RECORD_LAYER_FAILURE": ("not-tls", "the client sent bytes that are not TLS"),
    "PACKET_LENGTH_TOO_LONG": ("not-tls", "the client sent bytes that are not TLS"),
    "UNEXPECTED_EOF_WHILE_READING": ("closed", "the client closed the connection during the handshake"),
}


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    code: str  # short, stable, for filters and tests: "expired", "no-certificate", ...
    reason: str  # one line in plain words for the log and the MPL
    detail: str  # what OpenSSL said, for the curious


def classify_handshake_error(exc: BaseException) -> HandshakeFailure:
    """Why a handshake failed, from the exception ``loop.start_tls`` raised."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, reason = _VERIFY_REASONS.get(exc.verify_code, ("verify-failed", exc.verify_message or detail))
        return HandshakeFailure(code, reason, detail)
    if isinstance(exc, ssl.SSLError):
        name = exc.reason or ""
        if name in _SSL_REASONS:
            code, reason = _SSL_REASONS[name]
            return HandshakeFailure(code, reason, detail)
        if "ALERT" in name:
            return HandshakeFailure("client-alert", f"the client aborted the handshake ({name.lower()})", detail)
        return HandshakeFailure("tls-error", f"TLS error: {name.lower() or detail}", detail)
    # asyncio and uvloop both end a stalled handshake with ConnectionAbortedError("SSL handshake
    # is taking longer than N seconds: aborting the connection"), not with TimeoutError
    if isinstance(exc, TimeoutError) or (isinstance(exc, ConnectionAbortedError) and "taking longer" in detail):
        return HandshakeFailure("timeout", "the client did not complete the handshake in time", detail)
    if isinstance(exc, ConnectionError | EOFError):
        return HandshakeFailure("closed", "the client closed the connection during the handshake", detail)
    return HandshakeFailure("tls-error", f"handshake failed: {detail}", detail)
