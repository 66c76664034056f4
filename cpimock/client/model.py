"""What a call is made of: the request, the reply, the target URL, the facts of the key used, and
the one error a failed call becomes.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cpimock.errors import CpimockError

AuthKind = Literal["cert", "basic", "oauth"]


# long enough for a cold iFlow on a real tenant, short enough to notice a black hole
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Request:
    url: str
    key_path: Path
    auth: AuthKind | None = None  # None: cert for keys with a certificate, else basic
    method: str = "POST"
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    csrf: bool = False
    cacert: Path | None = None
    insecure: bool = False
    token_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    sent_headers: list[tuple[str, str]] = field(default_factory=list)
    tls: str = ""

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str  # with the query

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str, flag: str = "URL") -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http":
        https = urllib.parse.urlunsplit(("https", *parts[1:]))
        raise CallError(f"{flag} {url}: SAP Cloud Integration answers on HTTPS only; use {https}")
    if parts.scheme != "https" or not parts.hostname:
        raise CallError(f"{flag} {url!r}: give a full https:// URL, e.g. https://HOST/http/ADDRESS")
    try:
        port = parts.port or 443
    except ValueError:
        raise CallError(f"{flag} {url}: the port is not a number between 1 and 65535") from None
    path = parts.path or "/"
    return Target(parts.hostname, port, path + (f"?{parts.query}" if parts.query else ""))


class CallError(CpimockError):
    """A call that got no HTTP answer, with the reason and the fix in plain words."""


@dataclass(frozen=True)
class KeyFacts:
    """What the service key says about its certificate, for the diagnosis."""

    source: str
    subject: str | None
    issuer: str | None
    valid_until: dt.datetime | None
    chainless: bool
    workspace_root: Path | None
