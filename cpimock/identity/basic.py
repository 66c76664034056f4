"""Basic authentication with a service key's ``clientid:clientsecret``, and the brake on guessing.

Pure: no aiohttp, no I/O. The server parses the ``Authorization`` header with
:func:`parse_basic`, asks a :class:`FailureLimiter` whether the caller may try at all, checks the
secret with :func:`authenticate`, and tells the limiter how it went.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from cpimock.pki.servicekey import secret_digest

# longer headers than this are not Basic credentials anyone typed; refuse before decoding
MAX_HEADER_CHARS = 4096
_TOKEN68 = re.compile(r"[A-Za-z0-9+/]+=*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SecretHolder(Protocol):
    """What Basic authentication needs of a service key (``workspace.registry.KeyRecord`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def clientid(self) -> str: ...
    @property
    def key_type(self) -> str: ...
    @property
    def revoked(self) -> bool: ...
    @property
    def secret_sha256(self) -> str | None: ...
    def secret_matches(self, secret: str) -> bool: ...


K = TypeVar("K", bound=SecretHolder)


class BasicError(Exception):
    """Basic credentials are refused; ``reason`` says why in a few words (for the server log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    userid: str
    secret: str = field(repr=False)


def authorization_scheme(header: str) -> tuple[str, str]:
    """``("basic", "dXNlcjpwdw==")`` from ``"Basic dXNlcjpwdw=="``: the scheme lower-cased, and the rest."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), rest.strip()


def parse_basic(header: str) -> BasicCredentials:
    """The user id and secret of an ``Authorization: Basic ...`` header value (RFC 7617), strictly.

    A secret is taken as sent, trailing whitespace and newlines included: such a secret is a
    wrong secret, not a malformed header (SAP answers 401 alike). Raises :class:`BasicError`
    for anything that is not well-formed Basic credentials, and nothing else.
    """
    if len(header) > MAX_HEADER_CHARS:
        raise BasicError(f"Authorization header longer than {MAX_HEADER_CHARS} characters")
    scheme, credentials = authorization_scheme(header)
    if scheme != "basic":
        # the "scheme" may be the whole credential (no space in it): never repeat it
        raise BasicError("the Authorization header is not Basic credentials" if scheme else "empty Authorization")
    if not credentials:
        raise BasicError("Basic without credentials")
    if not _TOKEN68.fullmatch(credentials):
        raise BasicError("credentials are not base64 (RFC 7617 token68)")
    try:
        raw = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        raise BasicError("credentials are not valid base64 (check the padding)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BasicError("credentials are not UTF-8") from None
    userid, colon, secret = text.partition(":")
    if not colon:
        raise BasicError("credentials have no ':' between clientid and secret")
    if not userid:
        raise BasicError("the clientid before ':' is empty")
    if _CONTROL.search(userid):
        raise BasicError("the clientid contains control characters")
    if not secret:
        raise BasicError("the secret after ':' is empty")
    return BasicCredentials(userid, secret)


# what the caller is told for any clientid and secret that make no live key: an unknown clientid
# and a wrong secret get the same words (CPI does not tell them apart either), or a 401 would
# tell anyone which clientids exist; authenticate()'s reason, for the server's DEBUG log, says which
NOT_ACCEPTED = (
    "the Basic credentials are not those of a valid service key (unknown clientid, wrong secret, revoked key "
    "or a key without a secret); copy clientid and clientsecret from the service key"
)


def not_accepted(credentials: BasicCredentials) -> str:
    """The one reason a caller gets for credentials :func:`authenticate` refused, with a hint drawn
    from what the caller sent alone (a line break after the secret), never from the keys."""
    return NOT_ACCEPTED + secret_hint(credentials.secret)


def secret_hint(secret: str) -> str:
    """A note for the server log on why a secret may be wrong, without revealing it."""
    if secret != secret.rstrip("\r\n"):
        return " (the secret ends with a line break: copy it without the newline)"
    if secret != secret.strip():
        return " (the secret starts or ends with spaces)"
    return ""


def authenticate(credentials: BasicCredentials, records: Iterable[K]) -> K:
    """The service key whose ``clientid`` and secret these are.

    Several keys of one instance may share a clientid; any of them whose secret matches will
    do. Raises :class:`BasicError` naming the cause: unknown clientid, a key without secret
    (a certificate key), a revoked key, or a wrong secret.
    """
    candidates = [r for r in records if r.clientid == credentials.userid]
    if not candidates:
        # spend the same work as a real check, so a wrong clientid is not told apart by timing
        secret_digest(credentials.secret)
        raise BasicError("no service key has this clientid")
    matching = [r for r in candidates if r.secret_matches(credentials.secret)]
    live = [r for r in matching if not r.revoked]
    if live:
        return live[0]
    if matching:
        raise BasicError(f"service key {matching[0].name!r} is revoked")
    if all(r.secret_sha256 is None for r in candidates):
        raise BasicError(
            f"service key {candidates[0].name!r} is a {candidates[0].key_type} key without a secret; "
            "call with its certificate"
        )
    raise BasicError(f"wrong secret for service key {candidates[0].name!r}{secret_hint(credentials.secret)}")


def limiter_key(host: str, clientid: str | None) -> str:
    """The :class:`FailureLimiter` key of a Basic attempt from *host* (an IP address, no port).

    Failures count per clientid *and* address, so that wrong secrets sent from elsewhere never
    lock a client out at its own address, and alike for known and unknown clientids, so that
    a 429 tells nobody whether a clientid exists. Credentials that name no clientid at all
    (malformed ones) count against the address alone.
    """
    address = host.strip("[]")
    return f"peer:{address}" if clientid is None else f"client:{address} {clientid}"


@dataclass
class _Bucket:
    failures: deque[float]
    blocked_until: float = 0.0


class FailureLimiter:
    """Refuses a client for a cool-down after too many failed attempts within a window.

    Keys are strings the caller chooses, e.g. :func:`limiter_key`'s ``"client:<address> <clientid>"``
    for a wrong secret and ``"peer:<address>"`` for garbage that names no client. Only keys
    that failed are remembered, at most *max_entries* of them (the least recently failing are
    forgotten first); checking is a dictionary lookup, so callers that never fail are not slowed.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        cooldown_s: float = 60.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or cooldown_s <= 0 or max_entries < 1:
            raise ValueError("FailureLimiter needs max_failures, window_s, cooldown_s and max_entries above 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.max_entries = max_entries
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, *keys: str) -> int | None:
        """Whole seconds until any of *keys* may try again, or None when none of them is refused."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is not None and bucket.blocked_until > now:
                wait = max(wait, bucket.blocked_until - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failure(self, *keys: str) -> int | None:
        """Count a failed attempt against each key; the Retry-After seconds if that makes one refused."""
        now = self._clock()
        for key in keys:
            bucket = self._buckets.pop(key, None) or _Bucket(deque(maxlen=self.max_failures))
            self._buckets[key] = bucket
            while bucket.failures and bucket.failures[0] <= now - self.window_s:
                bucket.failures.popleft()
            bucket.failures.append(now)
            if len(bucket.failures) >= self.max_failures:
                bucket.blocked_until = now + self.cooldown_s
                bucket.failures.clear()
        while len(self._buckets) > self.max_entries:
            self._buckets.popitem(last=False)
        return self.retry_after(*keys)

    def success(self, *keys: str) -> None:
        """Forget the failures of each key."""
        for key in keys:
            self._buckets.pop(key, None)
