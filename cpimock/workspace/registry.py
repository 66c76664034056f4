"""The workspace's record of issued service keys: which instance, which certificate, which secret.

Kept in ``certs/registry.json`` (0600). The server maps a presented certificate or a Basic
``clientid:clientsecret`` to its service key, and so to the key's service instance and roles,
with this record; secrets are stored only as SHA-256 digests.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypedDict

from cryptography import x509

from cpimock.errors import ServiceKeyError
from cpimock.pki.dn import normalised_name
from cpimock.pki.keys import fingerprint, serial_hex, write_file
from cpimock.pki.servicekey import KeyType, secret_digest

REGISTRY_FILE = "registry.json"


class CertificateFields(TypedDict):
    """What a :class:`KeyRecord` keeps of its key's leaf certificate."""

    fingerprint: str | None
    serial: str | None
    subject: str | None
    issuer: str | None
    not_before: str | None
    not_after: str | None


def certificate_fields(leaf: x509.Certificate | None) -> CertificateFields:
    """The record's fields of *leaf* (all None for a key without a certificate)."""
    if leaf is None:
        return CertificateFields(
            fingerprint=None, serial=None, subject=None, issuer=None, not_before=None, not_after=None
        )
    return CertificateFields(
        fingerprint=fingerprint(leaf),
        serial=serial_hex(leaf),
        subject=normalised_name(leaf.subject),
        issuer=normalised_name(leaf.issuer),
        not_before=leaf.not_valid_before_utc.isoformat(),
        not_after=leaf.not_valid_after_utc.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One issued service key."""

    name: str
    instance: str
    key_type: KeyType
    clientid: str
    created: str
    secret_sha256: str | None = None
    # of the key's leaf certificate (certificate and certificate_external keys)
    fingerprint: str | None = None
    serial: str | None = None
    subject: str | None = None  # canonical subject DN (cpimock.dn.normalised_name)
    issuer: str | None = None  # canonical issuer DN
    not_before: str | None = None
    not_after: str | None = None
    # external certificates: exact match when pinned, else subject + issuer
    pinning: bool = True
    revoked: bool = False
    file: str | None = None
    # rotation: the key that replaces this one, and when this one stops being accepted
    successor: str | None = None
    retires: str | None = None  # ISO time; None: until its certificate expires or it is revoked
    imported: bool = False  # a real BTP key brought in with `servicekey import`, not issued here

    def retired(self, at: dt.datetime) -> bool:
        return self.retires is not None and dt.datetime.fromisoformat(self.retires) <= at

    def secret_matches(self, secret: str) -> bool:
        return self.secret_sha256 is not None and hmac.compare_digest(self.secret_sha256, secret_digest(secret))


class Registry:
    """The issued keys of one workspace, by name."""

    def __init__(self, path: Path, records: dict[str, KeyRecord] | None = None, served_port: int | None = None) -> None:
        self.path = path
        self.records: dict[str, KeyRecord] = records or {}
        # the port the tenant was last served at: the keys' url and tokenurl carry it
        self.served_port = served_port

    def __repr__(self) -> str:
        return f"<Registry {self.path} keys={len(self.records)}>"

    @classmethod
    def load(cls, certs_dir: Path) -> Registry:
        path = certs_dir / REGISTRY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise ServiceKeyError(f"{path}: unreadable key registry ({exc}); restore it from a backup") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise ServiceKeyError(f'{path}: not a cpimock key registry (no "keys" object)')
        names = {f.name for f in fields(KeyRecord)}
        records = {}
        for name, raw in data["keys"].items():
            if not isinstance(raw, dict) or not {"name", "instance", "key_type", "clientid", "created"} <= set(raw):
                raise ServiceKeyError(f"{path}: entry {name!r} is incomplete; restore the file")
            for stamp in ("not_before", "not_after", "retires"):
                try:
                    if raw.get(stamp) is not None:
                        dt.datetime.fromisoformat(raw[stamp])
                except (TypeError, ValueError):
                    raise ServiceKeyError(f"{path}: entry {name!r} has no readable {stamp}; restore the file") from None
            records[name] = KeyRecord(**{k: v for k, v in raw.items() if k in names})
        port = data.get("served_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise ServiceKeyError(f"{path}: served_port must be a port number; remove it or restore the file")
        return cls(path, records, port)

    def save(self) -> None:
        data: dict[str, Any] = {"keys": {name: asdict(r) for name, r in sorted(self.records.items())}}
        if self.served_port is not None:
            data["served_port"] = self.served_port
        write_file(self.path, (json.dumps(data, indent=2) + "\n").encode(), private=True)

    def add(self, record: KeyRecord) -> None:
        if record.name in self.records:
            raise ServiceKeyError(
                f"a service key named {record.name!r} exists already; choose another name or "
                f"`cpimock servicekey renew {record.name}`"
            )
        self.records[record.name] = record

    def get(self, name: str) -> KeyRecord:
        try:
            return self.records[name]
        except KeyError:
            known = ", ".join(sorted(self.records)) or "none yet"
            raise ServiceKeyError(
                f"no service key named {name!r} (known: {known}); see `cpimock servicekey list`"
            ) from None

    def update(self, name: str, **changes: Any) -> KeyRecord:
        record = replace(self.get(name), **changes)
        self.records[name] = record
        return record

    def check_certificate_free(self, fingerprint: str, what: str, *, renewing: str | None = None) -> None:
        """Refuse a certificate that a live service key holds already, as BTP does.

        BTP lets one certificate back one service key across all instances and answers a
        second with ``Certificate already exists ...``; a revoked key (BTP: a deleted one)
        frees its certificate. *renewing* names the key that is being given a new certificate.
        """
        for record in self.records.values():
            if record.fingerprint == fingerprint and not record.revoked and record.name != renewing:
                raise ServiceKeyError(
                    f"{what}: Certificate already exists: service key {record.name!r} holds it, and BTP lets one "
                    f"certificate back one key; give the instance of {record.name!r} the roles you need, or "
                    f"revoke {record.name!r} first (`cpimock servicekey revoke {record.name}`)"
                )

    def by_fingerprint(self, fingerprint: str) -> KeyRecord | None:
        for record in self.records.values():
            if record.fingerprint == fingerprint:
                return record
        return None
