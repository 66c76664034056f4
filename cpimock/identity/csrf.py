"""CSRF tokens as CPI's HTTPS sender adapter hands them out and checks them.

A ``GET``/``HEAD`` (or ``OPTIONS``) with ``X-CSRF-Token: Fetch`` gets a token in the
``X-CSRF-Token`` response header and the iFlow does not run; every other request except a plain
``GET`` or ``HEAD`` must send it back, with the session cookie of the fetch, or gets ``403`` with
``X-CSRF-Token: Required``.

Tokens are stateless: each carries its expiry and tags of the caller's identity, session and
integration flow, all under an HMAC with the guard's secret. A token is good only for the iFlow
it was fetched on, as on CPI, whose HTTPS adapter keeps its tokens per integration flow. Nothing
is stored per token, so memory stays flat however many are fetched, and several server processes
that share the secret accept each other's tokens (a sender's fetch and post may land on different workers, as on CPI).
Pure: no aiohttp, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

HEADER = "X-CSRF-Token"
FETCH = "fetch"
REQUIRED = "Required"
# CPI's runtime is a Java servlet container: its session cookie is JSESSIONID (what SAP's
# cookie-handling advice for CSRF senders round-trips). Exact name on CPI: unconfirmed.
SESSION_COOKIE = "JSESSIONID"
# the only methods that run an iFlow without a token. A list of the methods that need one would
# let through every method it forgets (MERGE, PROPPATCH, TRACE with a body, ...), and the iFlow
# runs the same steps whatever the method. Method names are case-sensitive (RFC 9110 9.1): "get"
# is not GET, so it needs a token too.
SAFE_METHODS = frozenset({"GET", "HEAD"})
# OPTIONS asks for a token like GET and HEAD do; without X-CSRF-Token: Fetch it needs one
FETCH_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_LIFETIME_S = 30 * 60

Reason = Literal[
    "required",
    "invalid",
    "expired",
    "bound to another identity",
    "bound to another session",
    "bound to another integration flow",
    "no session",
]

_TAG = 8
_MAC = 16
_TOKEN_BYTES = 8 + 3 * _TAG + _MAC
_SESSION_RANDOM = 16


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to a fetch: the token, and the session cookie to set when ``new_session``."""

    token: str
    session: str
    new_session: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: Reason | None = None

    @property
    def detail(self) -> str:
        return "CSRF token valid" if self.ok else f"CSRF token validation failed: {self.reason}"


OK = Verdict(True)


def is_fetch(method: str, header_value: str | None) -> bool:
    """Whether the request asks for a token (and so does not run the iFlow)."""
    return method in FETCH_METHODS and (header_value or "").strip().lower() == FETCH


def needs_token(method: str) -> bool:
    """Whether a request with *method* must carry a token: every method but GET and HEAD."""
    return method not in SAFE_METHODS


class CsrfGuard:
    """Issues and checks CSRF tokens bound to an identity key and a session cookie.

    *identity* is any string that names the caller for the server, e.g. ``"basic:<clientid>"``
    or ``"certificate:<key name>"``; *iflow* the id of the integration flow the token is for
    (``""`` where tokens are not per flow); *secret* must be the same in every server process of one
    tenant (random when not given, which suits a single process).
    """

    def __init__(
        self,
        secret: bytes | None = None,
        lifetime_s: float = DEFAULT_LIFETIME_S,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lifetime_s <= 0:
            raise ValueError("CSRF token lifetime must be above 0 seconds")
        self._key = secret if secret is not None else os.urandom(32)
        if len(self._key) < 16:
            raise ValueError("the CSRF secret needs at least 16 bytes")
        self.lifetime_s = lifetime_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"<CsrfGuard lifetime_s={self.lifetime_s:g}>"

    def _hmac(self, label: bytes, *parts: bytes) -> bytes:
        mac = hmac.new(self._key, label, hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(4, "big"))
            mac.update(part)
        return mac.digest()

    def new_session(self) -> str:
        """A fresh session id, upper-case hex like a servlet container's, that this guard recognises."""
        nonce = secrets.token_bytes(_SESSION_RANDOM)
        return (nonce + self._hmac(b"session", nonce)[:_TAG]).hex().upper()

    def is_own_session(self, session: str) -> bool:
        try:
            raw = bytes.fromhex(session)
        except ValueError:
            return False
        if len(raw) != _SESSION_RANDOM + _TAG:
            return False
        nonce, tag = raw[:_SESSION_RANDOM], raw[_SESSION_RANDOM:]
        return hmac.compare_digest(tag, self._hmac(b"session", nonce)[:_TAG])

    def fetch(self, identity: str, session: str | None, iflow: str = "") -> Fetched:
        """A token for *identity* in *session* on *iflow*; a new session when the caller has none of ours."""
        new = session is None or not self.is_own_session(session)
        sid = self.new_session() if new or session is None else session
        expires = struct.pack(">d", self._clock() + self.lifetime_s)
        id_tag = self._hmac(b"identity", identity.encode())[:_TAG]
        session_tag = self._hmac(b"session-bind", sid.encode())[:_TAG]
        flow_tag = self._hmac(b"iflow", iflow.encode())[:_TAG]
        mac = self._hmac(b"token", expires, id_tag, session_tag, flow_tag)[:_MAC]
        raw = expires + id_tag + session_tag + flow_tag + mac
        token = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        return Fetched(token, sid, new)

    def check(self, method: str, identity: str, session: str | None, presented: str | None, iflow: str = "") -> Verdict:
        """Whether a request with *method* to *iflow* may pass: always for GET and HEAD, else with a
        valid token fetched on that iFlow."""
        if not needs_token(method):
            return OK
        value = (presented or "").strip()
        if not value or value.lower() == FETCH:
            return Verdict(False, "required")
        if not session:
            return Verdict(False, "no session")
        raw = _decode(value)
        if raw is None:
            return Verdict(False, "invalid")
        expires, id_tag, session_tag, flow_tag, mac = (
            raw[:8],
            raw[8 : 8 + _TAG],
            raw[8 + _TAG : 8 + 2 * _TAG],
            raw[8 + 2 * _TAG : 8 + 3 * _TAG],
            raw[8 + 3 * _TAG :],
        )
        if not hmac.compare_digest(mac, self._hmac(b"token", expires, id_tag, session_tag, flow_tag)[:_MAC]):
            return Verdict(False, "invalid")
        if not hmac.compare_digest(id_tag, self._hmac(b"identity", identity.encode())[:_TAG]):
            return Verdict(False, "bound to another identity")
        if not hmac.compare_digest(session_tag, self._hmac(b"session-bind", session.encode())[:_TAG]):
            return Verdict(False, "bound to another session")
        if not hmac.compare_digest(flow_tag, self._hmac(b"iflow", iflow.encode())[:_TAG]):
            return Verdict(False, "bound to another integration flow")
        if struct.unpack(">d", expires)[0] < self._clock():
            return Verdict(False, "expired")
        return OK


def _decode(token: str) -> bytes | None:
    if len(token) > 128:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _TOKEN_BYTES else None
