"""OAuth access tokens shaped like XSUAA's client-credentials tokens: RS256 JWS, JWKS, verification.

The signing key lives in the workspace as ``certs/token-signing.key`` (RSA 2048, 0600), made on
first use; its ``kid`` is the RFC 7638 thumbprint of the public key, so it stays the same for as
long as the key does. Verification trusts nothing the token says about how to check it: the
algorithm must be RS256, the ``kid`` must be this workspace's, and ``jku``/``jwk``/``x5u``
headers are never followed. A token this workspace did not sign is never accepted.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cpimock.errors import PkiError
from cpimock.identity.jws import _JWS_ALGORITHMS, TokenError, b64encode, compact, int_bytes, key_id, split
from cpimock.pki.keys import KeySource, generate_key, load_key, write_file

SIGNING_KEY_FILE = "token-signing.key"


ALGORITHM = "RS256"


# clock skew tolerated on exp and nbf/iat, in seconds
LEEWAY_S = 30


# every client-credentials token of XSUAA carries this scope besides the application's
UAA_RESOURCE = "uaa.resource"


def zone_id_for(tenant: str) -> str:
    """A stable identity-zone GUID (``zid``) for the tenant name, as XSUAA has one per subaccount."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cpimock:zone:{tenant}"))


def instance_id_for(tenant: str, instance: str) -> str:
    """A stable service-instance GUID for ``ext_attr.serviceinstanceid``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cpimock:instance:{tenant}:{instance}"))


def xsappname(clientid: str, tenant: str) -> str:
    """The application name that prefixes the scopes: the part of the clientid after ``|``.

    ``sb-<uuid>!b1|it-rt-mytenant!b2`` gives ``it-rt-mytenant!b2``; a clientid without ``|``
    falls back to ``it-rt-<tenant>``.
    """
    _, bar, app = clientid.partition("|")
    return app if bar and app else f"it-rt-{tenant}"


def is_runtime_app(app: str, tenant: str) -> bool:
    """Whether *app* is the xsappname of *tenant*'s runtime: ``it-rt-<tenant>``, optionally ``!b<n>``."""
    return re.fullmatch(rf"it-rt-{re.escape(tenant)}(?:!b\d+)?", app) is not None


def scopes_for(clientid: str, tenant: str, roles: Iterable[str]) -> list[str]:
    app = xsappname(clientid, tenant)
    return [f"{app}.{role}" for role in sorted(roles)] + [UAA_RESOURCE]


def token_roles(claims: dict[str, Any], tenant: str) -> frozenset[str]:
    """The CPI roles a verified token grants: its scopes of its own application, prefix removed."""
    clientid = claims.get("client_id")
    scopes = claims.get("scope")
    if not isinstance(clientid, str) or not isinstance(scopes, list):
        return frozenset()
    prefix = xsappname(clientid, tenant) + "."
    return frozenset(s[len(prefix) :] for s in scopes if isinstance(s, str) and s.startswith(prefix))


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed", f"claim {name!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: no time at all
        number = math.inf
    if not math.isfinite(number):
        raise TokenError("malformed", f"claim {name!r} is not a finite number")
    return number


def load_signing_key(certs_dir: Path, key_source: KeySource = generate_key) -> rsa.RSAPrivateKey:
    """The workspace's token signing key, created (RSA 2048, 0600, from *key_source*) if there
    is none yet.

    Creation is exclusive: when several server processes start at once, all of them end up
    with the key the first one wrote.
    """
    path = certs_dir / SIGNING_KEY_FILE
    if not path.exists():
        key = key_source()
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 2048:
            raise TypeError("the token signing key must be made as RSA 2048")
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        write_file(staging, pem, private=True)
        try:
            os.link(staging, path)
        except FileExistsError:
            pass
        finally:
            staging.unlink(missing_ok=True)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read the token signing key ({exc}); check its permissions") from None
    loaded = load_key(data, str(path), own=True)
    if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < 2048:
        raise PkiError(
            f"{path}: the token signing key must be RSA with at least 2048 bits; delete the file and "
            "a new key is made (tokens issued before stop working)"
        )
    return loaded


@dataclass(frozen=True)
class TokenAuthority:
    """Issues and verifies the tenant's access tokens.

    ``issuers`` are the token URLs (``https://<tenant>.authentication.<region>.hana.ondemand.com/oauth/token``
    and, for certificate keys, the ``.authentication.cert.`` one); the first is the default ``iss``.
    """

    key: rsa.RSAPrivateKey
    tenant: str
    issuers: tuple[str, ...]
    lifetime_s: int = 3600
    zone_id: str = ""
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.issuers:
            raise ValueError("TokenAuthority needs at least one issuer (token URL)")
        object.__setattr__(self, "kid", key_id(self.key.public_key()))
        if not self.zone_id:
            object.__setattr__(self, "zone_id", zone_id_for(self.tenant))

    def __repr__(self) -> str:
        return f"<TokenAuthority tenant={self.tenant!r} kid={self.kid!r}>"

    def issuer_for(self, host: str | None) -> str:
        """The issuer whose host is *host* (the Host the token was asked at), else the default one."""
        wanted = (host or "").split(":")[0].lower()
        for issuer in self.issuers:
            if urlsplit(issuer).hostname == wanted:
                return issuer
        return self.issuers[0]

    def issue_token(
        self,
        *,
        clientid: str,
        roles: Iterable[str],
        instance: str | None = None,
        key_name: str | None = None,
        issuer: str | None = None,
        now: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A signed client-credentials token for *clientid* with one scope per role, and its claims."""
        iss = issuer or self.issuers[0]
        if iss not in self.issuers:
            raise ValueError(f"{iss!r} is not one of this tenant's token URLs")
        issued = int(time.time() if now is None else now)
        app = xsappname(clientid, self.tenant)
        scopes = scopes_for(clientid, self.tenant, roles)
        ext_attr: dict[str, Any] = {"enhancer": "XSUAA", "subaccountid": self.zone_id, "zdn": self.tenant}
        if instance is not None:
            ext_attr["serviceinstanceid"] = instance_id_for(self.tenant, instance)
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "ext_attr": ext_attr,
            "sub": clientid,
            "authorities": scopes,
            "scope": scopes,
            "client_id": clientid,
            "cid": clientid,
            "azp": clientid,
            "grant_type": "client_credentials",
            "iat": issued,
            "exp": issued + self.lifetime_s,
            "iss": iss,
            "zid": self.zone_id,
            "zdn": self.tenant,
            "aud": sorted({"uaa", app, clientid}),
        }
        if key_name is not None:
            # cpimock's own claim: which service key asked, for the message log
            claims["cpimock_key"] = key_name
        origin = urlsplit(iss)
        jku = f"{origin.scheme}://{origin.netloc}/token_keys"
        header = {"alg": ALGORITHM, "jku": jku, "kid": self.kid, "typ": "JWT"}
        signing_input = ".".join(b64encode(compact(part)) for part in (header, claims))
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64encode(signature)}", claims

    def jwks(self) -> dict[str, Any]:
        """The public key as an RFC 7517 JWK set, with XSUAA's extra ``value`` (PEM) member."""
        public = self.key.public_key()
        numbers = public.public_numbers()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": b64encode(int_bytes(numbers.n)),
            "e": b64encode(int_bytes(numbers.e)),
            "value": pem.decode("ascii"),
        }
        return {"keys": [jwk]}

    def verify_token(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of *token* if this workspace signed it for this tenant and it is valid at *now*.

        Raises :class:`TokenError` with the first reason found, in the order: malformed, algorithm,
        unknown_kid, signature, tenant, issuer, audience, expired, not_yet_valid.
        """
        header, claims, signing_input, signature = split(token)
        alg = header.get("alg")
        if alg != ALGORITHM:
            # a reason quotes the token only from a fixed list: the rest of it is the sender's text
            named = f"alg {alg!r}" if isinstance(alg, str) and alg in _JWS_ALGORITHMS else "the token's alg"
            raise TokenError("algorithm", f"{named} is not accepted; tokens are signed {ALGORITHM}")
        if "crit" in header:
            raise TokenError("malformed", "critical header extensions are not supported")
        kid = header.get("kid")
        if kid != self.kid:
            raise TokenError("unknown_kid", f"the token's kid is not this tenant's signing key ({self.kid})")
        try:
            self.key.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenError("signature", "the signature does not match the token") from None
        if claims.get("zid") != self.zone_id:
            raise TokenError("tenant", f"the token's zid is another tenant's, not {self.tenant!r}'s")
        if claims.get("iss") not in self.issuers:
            raise TokenError("issuer", f"the token's iss is not one of {', '.join(self.issuers)}")
        self._check_audience(claims)
        moment = time.time() if now is None else now
        expires = _number(claims, "exp")
        if expires is None:
            raise TokenError("malformed", "the token has no exp claim")
        if moment > expires + LEEWAY_S:
            raise TokenError("expired", f"expired {int(moment - expires)} s ago")
        for name in ("nbf", "iat"):
            start = _number(claims, name)
            if start is not None and moment + LEEWAY_S < start:
                raise TokenError("not_yet_valid", f"{name} is {int(start - moment)} s in the future")
        return claims

    def _check_audience(self, claims: dict[str, Any]) -> None:
        """The token must be meant for this tenant's runtime: its ``aud`` names the xsappname that
        prefixes its scopes (the part of its ``client_id`` after ``|``), and that is this tenant's."""
        clientid = claims.get("client_id")
        if not isinstance(clientid, str):
            raise TokenError("malformed", "the token has no client_id claim")
        audience = claims.get("aud")
        names = [audience] if isinstance(audience, str) else audience
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise TokenError("audience", "the token has no aud claim (a string or a list of strings)")
        app = xsappname(clientid, self.tenant)
        if not is_runtime_app(app, self.tenant):
            raise TokenError("audience", f"the token's client belongs to another runtime than it-rt-{self.tenant}")
        if app not in names:
            raise TokenError("audience", f"the token's aud does not name {app}, the runtime of {self.tenant!r}")
