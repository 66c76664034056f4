"""Keys and certificates as files and bytes: generating keys (several at once on threads), PEM
in and out, fingerprints, writing private files.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cpimock.errors import PkiError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# where the code that creates a workspace's PKI and keys gets each fresh RSA 2048 key
KeySource = Callable[[], PrivateKey]


# tolerate a little clock skew between the machine that issues and the one that verifies
BACKDATE = dt.timedelta(minutes=5)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key(key_type: str = "rsa") -> PrivateKey:
    """A fresh private key: RSA 2048 (SAP's choice) or EC P-256."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeyBatch:
    """*count* fresh RSA 2048 keys generated at once, each on a thread of its own: a
    :data:`KeySource` for code that needs several keys one after another (a new workspace).

    OpenSSL releases the GIL while it generates, so the keys use every core, and the caller
    works with the first keys while the others are still being made. Called, it hands out the
    next key ready, each key once; when all are handed out it generates one on the spot. Keys
    nobody took are dropped with the batch (the interpreter waits for one in progress at exit).
    """

    def __init__(self, count: int) -> None:
        executor = ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="cpimock-keys")
        self._ready = as_completed([executor.submit(generate_key) for _ in range(count)])
        executor.shutdown(wait=False)
        self._lock = threading.Lock()

    def __call__(self) -> PrivateKey:
        with self._lock:
            future = next(self._ready, None)
        return future.result() if future is not None else generate_key()


def key_to_pem(key: PrivateKey) -> bytes:
    """PEM of *key* in the traditional form: PKCS#1 ``BEGIN RSA PRIVATE KEY`` for RSA."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as upper-case hex pairs joined by ':' (as openssl prints it)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def serial_hex(cert: x509.Certificate) -> str:
    """The serial number as SAP writes it in ``certificatedetails``: ``0x`` and lower-case hex."""
    return f"0x{cert.serial_number:x}"


def write_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write *data* atomically; private files are created 0600 and never readable by others."""
    # a folder made for a private key is private too (certs/keys/)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_certs(data: bytes, source: str) -> list[x509.Certificate]:
    """All certificates in PEM *data*; PkiError naming *source* if there are none or one is broken."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PkiError(f"{source}: a certificate in it is not valid PEM ({exc}); re-export it") from None
    return certs


def load_key(data: bytes, source: str, *, own: bool = False) -> PrivateKey:
    """The private key in PEM *data*. ``own`` keys (the workspace's CA and signing keys, written
    0600 by cpimock itself) skip OpenSSL's RSA consistency check, which costs 50-80 ms a key and
    would otherwise dominate every reload; keys from users are always checked."""
    try:
        key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=own)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"{source}: not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"{source}: only RSA and EC private keys are supported")
    return key


def is_ca_certificate(cert: x509.Certificate) -> bool:
    """basicConstraints CA:TRUE (a certificate without the extension is no CA)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def keys_match(key: PrivateKey, cert: x509.Certificate) -> bool:
    return key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def read_private_key(path: Path, flag: str) -> PrivateKey:
    """The unencrypted PEM private key in the file at *path* (named *flag* in errors)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{flag} {path}: cannot read it ({exc.strerror}); give the path of a PEM private key") from None
    if b"PRIVATE KEY-----" not in data:
        raise PkiError(f"{flag} {path}: holds no -----BEGIN ... PRIVATE KEY----- block; give the PEM private key")
    return load_key(data, f"{flag} {path}")
