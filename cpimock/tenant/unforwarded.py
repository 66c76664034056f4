"""A client certificate CPI's load balancer would not pass on: a leaf sent without its intermediate.

SAP's load balancer trusts root CAs only and forwards a client certificate only when it can build
its chain to one of them; a sender that leaves out the intermediate CA certificate reaches the
tenant as a call without a certificate (then 401, or its Basic credentials or OAuth token
decide). With ``client_auth = "optional"`` cpimock does the same: a verify callback on the
server's ``SSLContext`` lets such a handshake complete, marks the connection's SSL object with
why, and the connection's request is treated as having no certificate, with that reason in the
log and the MPL. With ``"required"`` OpenSSL refuses the handshake, as before.

"Its chain cannot be built" is read narrowly: the leaf's issuer is a CA this tenant knows below
its roots (the workspace's client CA, the issuer of a registered key or of a configured subject
and issuer pair) and OpenSSL could not find it. A certificate of a CA the tenant knows nothing
of is refused at the handshake in either mode.

Python's ``ssl`` has no verify callback; it is set with ``SSL_CTX_set_verify`` through ctypes on
the libssl the interpreter already uses (as :func:`cpimock.tenant.tls.advertise_ca_names` does),
and where that is not possible the handshake refusal stays, with a log line.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
from collections.abc import Callable

from cryptography import x509

from cpimock.pki.dn import name_to_dn, normalised_name
from cpimock.tenant.tls import _load_libssl, _ssl_ctx, handshaking

log = logging.getLogger(__name__)

_SSL_VERIFY_PEER = 1
# X509 verify codes of a chain that ends below any trusted root: the issuer is not at hand
_NO_ISSUER = frozenset({2, 20, 21})  # unable to get issuer cert (locally), unable to verify the leaf's signature
# what OpenSSL reports next about a leaf whose issuer it never found: no CRL of that issuer, and the
# leaf's signature it cannot check; its own faults (expired, revoked, a wrong EKU) still refuse it
_FOLLOW_ON = _NO_ISSUER | {3}

_MARK = "_cpimock_unforwarded"

_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def unforwarded(ssl_object: object) -> str | None:
    """Why the client certificate of this connection counts as absent, or None (it counts)."""
    reason = getattr(ssl_object, _MARK, None)
    return reason if isinstance(reason, str) else None


def forward_like_the_load_balancer(ctx: ssl.SSLContext, issuers: frozenset[str]) -> bool:
    """Let *ctx* (``CERT_OPTIONAL``) complete a handshake whose leaf was issued by one of
    *issuers* (canonical DNs) without its intermediate; the connection then counts as one
    without a certificate. False where the callback cannot be set (the handshake is refused then)."""
    if ctx.verify_mode != ssl.CERT_OPTIONAL:
        raise ValueError("only an optional client-auth context passes a chainless certificate over as absent")
    try:
        lib = _libcrypto_calls(_load_libssl())
        ptr = _ssl_ctx(ctx, lib)
    except (OSError, AttributeError, ValueError) as exc:  # a different OpenSSL build
        log.warning("a leaf without its intermediate is refused at the handshake: no verify callback here (%s)", exc)
        return False
    if ptr is None:
        log.warning("a leaf without its intermediate is refused at the handshake: the SSL_CTX is out of reach")
        return False
    callback = _VerifyCallback(_verifier(lib, issuers))
    lib.SSL_CTX_set_verify(ptr, _SSL_VERIFY_PEER, callback)
    # the context holds only a C pointer to the callback: keep the Python object alive with it
    ctx.__dict__["_cpimock_verify_callback"] = callback
    return True


def _libcrypto_calls(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.SSL_CTX_set_verify.restype = None
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
    lib.X509_STORE_CTX_get_error.restype = ctypes.c_int
    lib.X509_STORE_CTX_get_error.argtypes = [ctypes.c_void_p]
    lib.X509_STORE_CTX_get_error_depth.restype = ctypes.c_int
    lib.X509_STORE_CTX_get_error_depth.argtypes = [ctypes.c_void_p]
    lib.X509_STORE_CTX_get_current_cert.restype = ctypes.c_void_p
    lib.X509_STORE_CTX_get_current_cert.argtypes = [ctypes.c_void_p]
    lib.i2d_X509.restype = ctypes.c_int
    lib.i2d_X509.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
    return lib


def _verifier(lib: ctypes.CDLL, issuers: frozenset[str]) -> Callable[[int, int | None], int]:
    def verify(ok: int, store: int | None) -> int:
        if ok:
            return 1
        try:
            return _judge(lib, store, issuers)
        except Exception:  # an exception must not cross into OpenSSL: refuse, as without the callback
            log.exception("verify callback failed; the handshake is refused")
            return 0

    return verify


def _judge(lib: ctypes.CDLL, store: int | None, issuers: frozenset[str]) -> int:
    """1 to go on with the handshake, 0 to refuse it (OpenSSL's own verdict)."""
    connection = handshaking()
    if connection is None or store is None:
        return 0
    error = lib.X509_STORE_CTX_get_error(store)
    if unforwarded(connection) is not None:  # this leaf counts as absent already
        return 1 if error in _FOLLOW_ON else 0
    if error not in _NO_ISSUER or lib.X509_STORE_CTX_get_error_depth(store) != 0:
        return 0
    leaf = _certificate(lib, lib.X509_STORE_CTX_get_current_cert(store))
    if leaf is None or normalised_name(leaf.issuer) not in issuers:
        return 0
    setattr(connection, _MARK, _reason(leaf))
    return 1


def _certificate(lib: ctypes.CDLL, cert: int | None) -> x509.Certificate | None:
    if not cert:
        return None
    size = lib.i2d_X509(cert, None)
    if size <= 0:
        return None
    buffer = (ctypes.c_ubyte * size)()
    cursor = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ubyte))
    if lib.i2d_X509(cert, ctypes.byref(cursor)) != size:
        return None
    try:
        return x509.load_der_x509_certificate(bytes(buffer))
    except ValueError:
        return None


def _reason(leaf: x509.Certificate) -> str:
    return (
        f"the client certificate (subject {name_to_dn(leaf.subject)}) came without its intermediate CA certificate "
        f"({name_to_dn(leaf.issuer)}), so its chain cannot be built to a trusted root and CPI's load balancer "
        "would not pass it on: the call counts as one without a certificate. Send the whole chain (cert.pem of "
        "`cpimock servicekey extract`, or the intermediate in the keystore entry)"
    )
