"""The compact JWS form of a token (RFC 7515): Base64url parts, JSON objects without duplicate
names, and the one error every malformed token becomes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa

# bigger than any token issued here; caps the work spent on garbage
MAX_TOKEN_CHARS = 16 * 1024


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


# the JWS "alg" values of RFC 7518 and 8037, which a refusal may name
_JWS_ALGORITHMS = frozenset(
    {
        "none",
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "ES256",
        "ES384",
        "ES512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
        "ES256K",
    }
)


Reason = Literal[
    "malformed", "algorithm", "unknown_kid", "signature", "expired", "not_yet_valid", "issuer", "tenant", "audience"
]


class TokenError(Exception):
    """A bearer token is refused; ``reason`` is one of :data:`Reason`, the message says more."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64url without padding; the text must be the canonical encoding of its bytes."""
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def json_object(data: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate member")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        # Python's json reads NaN and Infinity, which no JSON number is (RFC 8259): an exp of NaN
        # would never expire
        raise ValueError(f"{name} is not a JSON number")

    value = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constant)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": b64encode(int_bytes(numbers.e)), "kty": "RSA", "n": b64encode(int_bytes(numbers.n))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64encode(hashlib.sha256(canonical.encode()).digest())


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed", "not a token string of sensible length")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed", f"a JWS has 3 dot-separated parts, this has {len(parts)}")
    try:
        header = json_object(b64decode(parts[0]))
        claims = json_object(b64decode(parts[1]))
        signature = b64decode(parts[2])
    except UnicodeDecodeError:
        raise TokenError("malformed", "not a JWS (a part is not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise TokenError("malformed", f"not a JWS (a part is not JSON: {exc.msg})") from None
    except RecursionError:
        raise TokenError("malformed", "not a JWS (its JSON is nested too deeply)") from None
    except ValueError as exc:  # the messages of b64decode and json_object, none quoting the token
        raise TokenError("malformed", f"not a JWS ({exc})") from None
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature
