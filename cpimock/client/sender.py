"""A sender in one call: read a service key, authenticate as CPI's HTTPS sender channel expects, send.

Works against cpimock and a real tenant alike, through public behaviour only: a client
certificate (``--auth cert``), Basic ``clientid:clientsecret`` (``basic``), or a token from the
key's ``tokenurl`` by the client-credentials grant (``oauth``; with the certificate for
Certificate keys, with the secret otherwise). ``csrf`` first fetches a token with
``GET`` + ``X-CSRF-Token: Fetch`` on the same connection and sends it back with its cookies.

Failures become :class:`CallError` in plain words (see :mod:`cpimock.call_diagnosis`).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from cpimock.client.diagnosis import diagnose_exception
from cpimock.client.model import AuthKind, CallError, KeyFacts, Reply, Request, Target, parse_url
from cpimock.pki.exports import order_chain
from cpimock.pki.keys import cert_to_pem, key_to_pem, now
from cpimock.pki.servicekey import ServiceKey, read_service_key


def choose_auth(key: ServiceKey, auth: AuthKind | None) -> AuthKind:
    has_cert = key.leaf is not None and key.key is not None
    if auth is None:
        return "cert" if has_cert else "basic"
    if auth == "cert" and not has_cert:
        what = "holds a certificate but no private key" if key.leaf is not None else "is a ClientId/Secret key"
        raise CallError(
            f"--key {key.source} {what}: it cannot authenticate with a certificate; use --auth basic "
            "or --auth oauth, or a key of type Certificate"
        )
    if auth == "basic" and not key.clientsecret:
        raise CallError(
            f"--key {key.source} has no clientsecret: Basic needs a ClientId/Secret key; use "
            "--auth cert (or oauth) with this Certificate key"
        )
    return auth


def key_facts(key: ServiceKey, key_path: Path) -> KeyFacts:
    leaf = key.leaf
    chain = order_chain(key.certificates) if key.certificates else []
    until = leaf.not_valid_after_utc if leaf is not None else None
    detail = key.details.get("validuntil")
    if until is None and isinstance(detail, str):
        try:
            until = dt.datetime.fromisoformat(detail.replace("Z", "+00:00"))
        except ValueError:
            until = None
    return KeyFacts(
        source=str(key_path),
        subject=leaf.subject.rfc4514_string() if leaf is not None else None,
        issuer=leaf.issuer.rfc4514_string() if leaf is not None else None,
        valid_until=until,
        chainless=leaf is not None and len(chain) == 1 and leaf.issuer != leaf.subject,
        workspace_root=_workspace_root(key_path),
    )


def _workspace_root(key_path: Path) -> Path | None:
    """``certs/root-ca.pem`` of the cpimock workspace the key lies in, if it does."""
    for folder in key_path.resolve().parents:
        candidate = folder / "root-ca.pem"
        if candidate.is_file():
            return candidate
        if (folder / "cpimock.toml").is_file():
            return folder / "certs" / "root-ca.pem"
    return None


class Sender:
    """One connection to one host, authenticated with one service key."""

    def __init__(self, request: Request, note: Callable[[str], None] = lambda text: None) -> None:
        self.request = request
        self.target = parse_url(request.url)
        self.key = read_service_key(request.key_path)
        self.auth = choose_auth(self.key, request.auth)
        self.facts = key_facts(self.key, request.key_path)
        self.note = note
        self._tmp = tempfile.TemporaryDirectory(prefix="cpimock-call-")

    def close(self) -> None:
        self._tmp.cleanup()

    def context(self, *, with_cert: bool) -> ssl.SSLContext:
        req = self.request
        if req.insecure:
            ctx = ssl._create_unverified_context()  # --insecure: the user asked not to verify the server
        else:
            ctx = ssl.create_default_context(cafile=str(req.cacert) if req.cacert else None)
        if with_cert and self.key.key is not None:
            cert = Path(self._tmp.name) / "cert.pem"
            key = Path(self._tmp.name) / "key.key"
            cert.write_bytes(b"".join(cert_to_pem(c) for c in order_chain(self.key.certificates)))
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key_to_pem(self.key.key))
            ctx.load_cert_chain(cert, key)
        return ctx

    def _connect(self, target: Target, ctx: ssl.SSLContext) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(target.host, target.port, context=ctx, timeout=self.request.timeout_s)

    def send(self) -> Reply:
        """Do the whole call; raises CallError when no HTTP answer could be had, with the reason."""
        facts = self.facts
        if facts.valid_until is not None and facts.valid_until < now():
            self.note(
                f"warning: the key's certificate expired on {facts.valid_until:%Y-%m-%d %H:%M} UTC "
                "(certificatedetails.validuntil); the server will refuse it"
            )
        if self.auth == "cert" and facts.chainless:
            self.note(
                "warning: the key's certificate comes without its issuing CA; servers that want the "
                "chain (SAP's does) will refuse it"
            )
        headers = list(self.request.headers)
        if self.auth == "basic":
            headers.append(("Authorization", _basic(self.key.clientid or "", self.key.clientsecret or "")))
        elif self.auth == "oauth":
            headers.append(("Authorization", f"Bearer {self._token()}"))
        ctx = self.context(with_cert=self.auth == "cert")
        conn = self._connect(self.target, ctx)
        try:
            if self.request.csrf:
                headers += self._csrf(conn, headers)
            return self._exchange(conn, self.request.method, self.target.path, headers, self.request.body)
        finally:
            conn.close()

    def _exchange(
        self,
        conn: http.client.HTTPSConnection,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> Reply:
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise diagnose_exception(exc, self, self.target) from None
        sock = conn.sock
        cipher = sock.cipher() if isinstance(sock, ssl.SSLSocket) else None
        tls = f"{sock.version()} {cipher[0]}" if isinstance(sock, ssl.SSLSocket) and cipher else ""
        return Reply(response.status, response.reason, list(response.getheaders()), data, headers, tls)

    def _csrf(self, conn: http.client.HTTPSConnection, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        fetch = self._exchange(conn, "GET", self.target.path, [*headers, ("X-CSRF-Token", "Fetch")], None)
        token = fetch.header("X-CSRF-Token")
        if fetch.status < 300 and not token:
            self.note("the server sent no CSRF token: its sender channel is not CSRF protected; sending without one")
            return []
        if not token or token.lower() == "required":
            raise CallError(
                f"the CSRF token fetch (GET {self.target.path} with X-CSRF-Token: Fetch) got "
                f"{fetch.status} {fetch.reason} and no token; check the URL and the credentials, "
                "or call without --csrf if the sender channel does not need it"
            )
        cookies = [v.split(";", 1)[0].strip() for n, v in fetch.headers if n.lower() == "set-cookie"]
        self.note(f"fetched a CSRF token ({len(cookies)} session cookie(s))")
        extra = [("X-CSRF-Token", token)]
        if cookies:
            extra.append(("Cookie", "; ".join(cookies)))
        return extra

    def _token(self) -> str:
        url = self.request.token_url or self.key.tokenurl
        if not url:
            raise CallError(f"--key {self.key.source} has no tokenurl; pass --token-url or use --auth cert/basic")
        target = parse_url(url, "--token-url" if self.request.token_url else "tokenurl")
        form = {"grant_type": "client_credentials", "client_id": self.key.clientid or ""}
        headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        with_cert = self.key.key is not None
        if not with_cert:
            headers.append(("Authorization", _basic(self.key.clientid or "", self.key.clientsecret or "")))
        conn = self._connect(target, self.context(with_cert=with_cert))
        try:
            reply = self._exchange(conn, "POST", target.path, headers, urllib.parse.urlencode(form).encode())
        finally:
            conn.close()
        if reply.status != 200:
            raise CallError(
                f"the token endpoint {url} answered {reply.status} {reply.reason}: "
                f"{reply.body.decode('utf-8', 'replace').strip()[:300]}; "
                "check that the key belongs to this tenant (clientid, secret or certificate)"
            )
        try:
            token = json.loads(reply.body)["access_token"]
        except (ValueError, KeyError, TypeError):
            raise CallError(
                f"the token endpoint {url} answered 200 without an access_token; is it an OAuth token endpoint?"
            ) from None
        self.note(f"got an access token from {url}")
        return str(token)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
