"""What never reaches a log or the message processing log: credentials in headers, queries and paths.

Pure text functions, applied where a request is first written down (the MPL record and the log
line of a refusal). A header or parameter is masked by its *name*, never by recognising its
value: a value's shape is the sender's to choose (a tab after ``Basic``, a lower-case scheme, no
scheme, a broken Base64), and a redaction that parses values leaks whatever it fails to parse.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

Headers = list[tuple[str, str]]

MASK = "***"
# the IANA HTTP Authentication Scheme Registry, plus NTLM and AWS's signature scheme; the key is
# the lower-case name, the value how it is written in the MPL
SCHEMES = {
    name.lower(): name
    for name in (
        "Basic",
        "Bearer",
        "Concealed",
        "Digest",
        "DPoP",
        "GNAP",
        "HOBA",
        "Mutual",
        "Negotiate",
        "OAuth",
        "PrivateToken",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "vapid",
        "NTLM",
        "AWS4-HMAC-SHA256",
    )
}
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
# the CSRF protocol's words are not tokens: they show what the sender asked for
_CSRF_WORDS = frozenset({"fetch", "required"})
SENSITIVE_HEADERS = CREDENTIAL_HEADERS | _COOKIE_HEADERS | {"x-csrf-token"}

# query and path parameters whose value is masked: the exact names, and parts of names (any
# name containing one, in any case: "access_token", "client_secret", "sap-password", "sessionId")
SECRET_PARAMS = frozenset({"auth", "authorization", "sig", "pwd", "code_verifier"})
SECRET_PARTS = (
    "token",
    "secret",
    "passw",
    "apikey",
    "api_key",
    "api-key",
    "signature",
    "session",
    "credential",
    "assertion",
)

# an RFC 9110 token at the start: the auth-scheme, if the value has one
_LEADING_TOKEN = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)")


def scheme_of(value: str) -> str | None:
    """The registered auth-scheme *value* starts with (``"Basic"`` for ``"basic\\tdXNl..."``), or None.

    The scheme is the leading token, whatever follows it; None when that token is no registered
    scheme, so that nothing the sender wrote comes back but a name from :data:`SCHEMES`.
    """
    match = _LEADING_TOKEN.match(value)
    return SCHEMES.get(match.group(1).lower()) if match else None


def credential_value(value: str) -> str:
    """An ``Authorization`` value as the MPL keeps it: at most its scheme (``Basic ***``), else ``***``."""
    scheme = scheme_of(value)
    return f"{scheme} {MASK}" if scheme else MASK


def _masked_cookies(value: str) -> str:
    return "; ".join(f"{part.split('=', 1)[0].strip()}={MASK}" for part in value.split(";") if part.strip())


def header_value(name: str, value: str) -> str:
    """*value* of header *name* with its secret parts masked (credentials, cookies, CSRF tokens)."""
    lower = name.lower()
    if lower in CREDENTIAL_HEADERS:
        return credential_value(value)
    if lower in _COOKIE_HEADERS:
        return _masked_cookies(value.split(";", 1)[0] if lower == "set-cookie" else value)
    if lower == "x-csrf-token" and value.strip().lower() not in _CSRF_WORDS:
        return MASK
    return value


def headers(pairs: Headers) -> Headers:
    """*pairs* with secret values masked; the same list when there is nothing to mask."""
    for name, _ in pairs:
        if name.lower() in SENSITIVE_HEADERS:
            return [(k, header_value(k, v)) for k, v in pairs]
    return pairs


def is_secret_param(name: str) -> bool:
    """Whether a query or path parameter of this name carries a credential (the name decoded)."""
    lower = unquote_plus(name).strip().lower()
    return lower in SECRET_PARAMS or any(part in lower for part in SECRET_PARTS)


def _part(part: str, *, bare: bool = True) -> str:
    """One ``&``-separated part of a query (or one path segment), masked from its first secret on.

    Some servers also split parameters at ``;``, and a value may hold a ``;`` of its own: so a
    secret's value runs to the end of the part, and a ``;name=value`` inside another parameter's
    value is looked at too. In a query (*bare*), a name that holds a secret without ``=``
    (``access_token%3D...`` decodes to one) is masked whole; in a path such a piece is a word of
    the path.
    """
    pieces = part.split(";")
    for i, piece in enumerate(pieces):
        name, equals, _ = piece.partition("=")
        if not is_secret_param(name):
            continue
        if equals:
            if len(piece) > len(name) + 1 or i < len(pieces) - 1:  # "name=" alone hides nothing
                return ";".join([*pieces[:i], f"{name}={MASK}"])
        elif bare:
            return ";".join([*pieces[:i], MASK])
    return part


def query(text: str) -> str:
    """A raw query string with the values of secret parameters masked (``access_token=***``)."""
    if not text:
        return text
    return "&".join(_part(part) for part in text.split("&"))


def path(text: str) -> str:
    """A decoded request path with secret parameters masked: ``;jsessionid=***`` in a segment, and
    a query that a decoded ``%3F`` put into the path (``/http/a?access_token=***``)."""
    if "=" not in text and ";" not in text:
        return text
    head, question, tail = text.partition("?")
    masked = "/".join(_part(segment, bare=False) for segment in head.split("/"))
    return f"{masked}?{query(tail)}" if question else masked
