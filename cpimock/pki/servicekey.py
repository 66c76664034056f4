"""The BTP service-key JSON of a Process Integration Runtime instance: building and reading it.

A service key is ``{"oauth": {...}}`` with ``clientid``, ``url``, ``tokenurl`` and, by key type,
``clientsecret`` (ClientId/Secret), ``certificate`` + ``key`` + ``certificatedetails``
(Certificate) or ``certificate`` + ``certificate-pinning`` (External Certificate). PEM values
are whole chains in one string; JSON escapes their line breaks as ``\\n``.

:func:`parse_service_key` reads cpimock's keys and SAP's alike; :mod:`cpimock.pki.exports` turns a
key into the files each sender needs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from cpimock.errors import ServiceKeyError
from cpimock.pki.authority import Issued
from cpimock.pki.dn import name_to_dn
from cpimock.pki.keys import PrivateKey, cert_to_pem, keys_match, load_key, now, serial_hex

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


# the kinds of service key BTP issues for Process Integration Runtime (plus an external certificate)
KeyType = Literal["certificate", "clientid-secret", "certificate_external"]


KEY_TYPES: tuple[KeyType, ...] = ("certificate", "clientid-secret", "certificate_external")


def _iso_millis(when: dt.datetime) -> str:
    """``2023-06-24T12:56:52.000Z``: the timestamp form of ``validuntil`` and ``createdate``."""
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def new_clientid(tenant: str) -> str:
    """``sb-<uuid>!b<n>|it-rt-<tenant>!b<n>``, the clientid shape of plan integration-flow."""
    return f"sb-{uuid.uuid4()}!b{secrets.randbelow(900000) + 100000}|it-rt-{tenant}!b{secrets.randbelow(900) + 100}"


def secret_digest(secret: str) -> str:
    """How a client secret is kept: its SHA-256, never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """``<uuid>$<43 base64url characters>=``, the shape of SAP's client secrets."""
    return f"{uuid.uuid4()}${base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"


def certificate_details(cert: x509.Certificate) -> dict[str, str]:
    return {
        "issuerdn": name_to_dn(cert.issuer),
        "subjectdn": name_to_dn(cert.subject),
        "validuntil": _iso_millis(cert.not_valid_after_utc),
        "serialnumber": serial_hex(cert),
    }


def build_service_key(
    *,
    key_type: KeyType,
    clientid: str,
    url: str,
    tokenurl: str,
    issued: Issued | None = None,
    clientsecret: str | None = None,
    pinning: bool = True,
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The service-key JSON object, fields in the order BTP shows them."""
    oauth: dict[str, Any] = {"clientid": clientid}
    if key_type == "clientid-secret":
        if clientsecret is None:
            raise ValueError("a clientid-secret key needs clientsecret")
        oauth |= {"clientsecret": clientsecret, "url": url, "createdate": _iso_millis(created or now())}
        oauth["tokenurl"] = tokenurl
        return {"oauth": oauth}
    if issued is None:
        raise ValueError(f"a {key_type} key needs a certificate")
    if key_type == "certificate_external":
        oauth |= {"certificate": cert_to_pem(issued.cert).decode(), "url": url, "tokenurl": tokenurl}
        oauth["certificate-pinning"] = pinning
    else:
        oauth["certificate"] = issued.chain_pem()
        key_pem = issued.key_pem()
        if key_pem is not None:
            oauth["key"] = key_pem
        oauth |= {"url": url, "tokenurl": tokenurl}
    oauth["certificatedetails"] = certificate_details(issued.cert)
    return {"oauth": oauth}


@dataclass(frozen=True)
class ServiceKey:
    """What a service key holds, read from cpimock's JSON or SAP's."""

    source: str
    clientid: str | None
    url: str | None
    tokenurl: str | None
    certificates: tuple[x509.Certificate, ...] = ()
    key: PrivateKey | None = None
    clientsecret: str | None = None
    pinning: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key_type(self) -> KeyType:
        if self.certificates and self.key is None and self.pinning is not None:
            return "certificate_external"
        return "certificate" if self.certificates else "clientid-secret"

    @property
    def leaf(self) -> x509.Certificate | None:
        return self.certificates[0] if self.certificates else None


def normalise_pem(text: str, where: str) -> list[tuple[str, bytes]]:
    """The PEM blocks in *text* as ``(label, canonical PEM)``, whatever became of the line breaks.

    Accepts real line breaks, literal ``\\n`` left over from copying the JSON string, CRLF and
    blocks flattened onto one line by a form field; rejects broken base64 naming *where*.
    """
    text = text.replace("\\r", "").replace("\\n", "\n").replace("\r", "")
    blocks = []
    for match in _PEM_RE.finditer(text):
        label, body = match.group(1), match.group(2)
        if "Proc-Type" in body:
            raise ServiceKeyError(
                f"{where}: the private key is encrypted; decrypt it first (`openssl rsa -in KEY -traditional`)"
            )
        body = "".join(body.split())
        try:
            if not _B64_RE.fullmatch(body):
                raise binascii.Error("characters outside base64")
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ServiceKeyError(
                f"{where}: the {label} block is not valid base64 ({exc}); copy the value again from the key's JSON"
            ) from None
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        blocks.append((label, f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode()))
    if text.count("-----BEGIN") != len(blocks):
        raise ServiceKeyError(f"{where}: a -----BEGIN line has no matching -----END line; copy the whole value again")
    return blocks


def _load_json(text: str, source: str) -> Any:
    text = text.lstrip("\ufeff")
    try:
        # strict=False: keys pasted with real line breaks inside the PEM strings
        return json.loads(text, strict=False)
    except ValueError as first:
        start, end = text.find("{"), text.rfind("}")
        if 0 < start < end:  # `cf service-key` prints a "Getting key ..." line before the JSON
            try:
                return json.loads(text[start : end + 1], strict=False)
            except ValueError:
                pass
        raise ServiceKeyError(
            f"{source}: not valid JSON ({first}); save the key again with the cockpit's download button"
        ) from None


def _credentials(data: Any, source: str) -> tuple[dict[str, Any], str]:
    """The object holding clientid & co. and its path for messages."""
    if isinstance(data, dict) and isinstance(data.get("credentials"), dict):
        data = data["credentials"]  # CF API /details and `cf service-key` wrap the key
    if not isinstance(data, dict):
        raise ServiceKeyError(f'{source}: a service key is a JSON object {{"oauth": {{...}}}}, not a list or value')
    if "oauth" in data:
        if not isinstance(data["oauth"], dict):
            raise ServiceKeyError(f'{source}: "oauth" must be an object with clientid, certificate, ...')
        return {k.lower(): v for k, v in data["oauth"].items()}, "oauth."
    lowered = {k.lower(): v for k, v in data.items()}
    if "clientid" in lowered and "certificate" in lowered:
        return lowered, ""
    raise ServiceKeyError(
        f'{source}: no "oauth" object; a Process Integration Runtime key looks like '
        '{"oauth": {"clientid": ..., "certificate": ..., "key": ...}}: copy the whole key from the cockpit'
    )


def parse_service_key(text: str, source: str) -> ServiceKey:
    """Read and check a service key; :class:`ServiceKeyError` names *source*, the field and the fix."""
    oauth, prefix = _credentials(_load_json(text, source), source)

    def text_field(name: str) -> str | None:
        value = oauth.get(name)
        if value is not None and not isinstance(value, str):
            raise ServiceKeyError(f"{source}: {prefix}{name} must be a string")
        return value

    certificates: list[x509.Certificate] = []
    cert_text = text_field("certificate")
    if cert_text is not None:
        where = f"{source}: {prefix}certificate"
        blocks = [pem for label, pem in normalise_pem(cert_text, where) if label == "CERTIFICATE"]
        if not blocks:
            raise ServiceKeyError(f"{where} holds no -----BEGIN CERTIFICATE----- block; copy it again")
        for pem in blocks:
            try:
                certificates.append(x509.load_pem_x509_certificate(pem))
            except ValueError as exc:
                raise ServiceKeyError(f"{where}: a certificate in it is unreadable ({exc}); copy it again") from None
    key = None
    key_text = text_field("key")
    if key_text:
        where = f"{source}: {prefix}key"
        blocks = [pem for label, pem in normalise_pem(key_text, where) if label.endswith("PRIVATE KEY")]
        if not blocks:
            raise ServiceKeyError(f"{where} holds no -----BEGIN RSA PRIVATE KEY----- block; copy it again")
        key = load_key(blocks[0], where)
        if not certificates:
            raise ServiceKeyError(f"{source}: {prefix}key without {prefix}certificate; copy the whole key")
        if not keys_match(key, certificates[0]):
            raise ServiceKeyError(
                f"{source}: {prefix}key does not belong to the first certificate in {prefix}certificate; "
                "take both from the same service key"
            )
    clientid = text_field("clientid")
    if not clientid:
        raise ServiceKeyError(f"{source}: {prefix}clientid is missing; copy the whole key from the cockpit")
    secret = text_field("clientsecret")
    if not certificates and not secret:
        raise ServiceKeyError(f"{source}: {prefix} has neither certificate nor clientsecret; copy the whole key")
    pinning = oauth.get("certificate-pinning")
    details = oauth.get("certificatedetails")
    return ServiceKey(
        source=source,
        clientid=clientid,
        url=text_field("url"),
        tokenurl=text_field("tokenurl"),
        certificates=tuple(certificates),
        key=key,
        clientsecret=secret,
        pinning=pinning if isinstance(pinning, bool) else None,
        details=details if isinstance(details, dict) else {},
    )


def read_service_key(path: Path) -> ServiceKey:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ServiceKeyError(f"{path}: no such file; give the path of the service key JSON") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceKeyError(f"{path}: cannot read it ({exc}); check the path and its permissions") from None
    return parse_service_key(text, str(path))
