"""Service keys of a test tenant, with the files and contexts a sender's test needs.

Keys are issued by :func:`cpimock.workspace.issue_service_key`, as ``cpimock servicekey create``
issues them, from RSA keys generated ahead of need (:mod:`cpimock.keypool`): a key costs the
signature and a few small files, not a key generation.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from cpimock.config import load_config
from cpimock.errors import CpimockError
from cpimock.pki.authority import Issued
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.keys import PrivateKey
from cpimock.pki.servicekey import KeyType, read_service_key
from cpimock.pki.store import Pki
from cpimock.tenant.snapshot import Snapshot
from cpimock.testing.keypool import POOL
from cpimock.workspace.keys import issue_service_key, key_path, revoke_in_crl
from cpimock.workspace.registry import Registry


class KeyOwner(Protocol):
    """What a key needs of its tenant to end or replace itself."""

    def revoke_key(self, key: TenantKey) -> None: ...
    def renew_key(self, key: TenantKey, days: int | dt.timedelta) -> TenantKey: ...
    def rotate_key(
        self, key: TenantKey, name: str | None, old_until: dt.datetime | None, days: int | dt.timedelta
    ) -> TenantKey: ...


# PKCS#12 files need a password for keytool and STRUST; a test's files need no secrecy
PFX_PASSWORD = "cpimock"


class _PooledPki(Pki):
    """The tenant's PKI, certifying keys from the pool instead of generating one per certificate."""

    def issue_client(
        self,
        subject: Any,
        validity: int | dt.timedelta,
        *,
        key: PrivateKey | None = None,
        public_key: object = None,
        not_before: dt.datetime | None = None,
    ) -> Issued:
        if key is None and public_key is None:
            key = POOL.take()
        return super().issue_client(subject, validity, key=key, public_key=public_key, not_before=not_before)


class TenantKey:
    """One service key: its JSON, the files a sender uses, and ready client contexts."""

    def __init__(
        self,
        name: str,
        instance: str,
        roles: frozenset[str],
        key_type: KeyType,
        days: int | dt.timedelta,
        json_path: Path,
        data: dict[str, Any],
        ca_path: Path,
    ) -> None:
        self.name = name
        self.instance = instance
        self.roles = roles
        self.key_type = key_type
        self.days = days
        self.json_path = json_path
        self.data = data
        self.ca_root_path = ca_path  # the tenant's root CA: what verifies the server
        self.folder = json_path.parent / name
        # the tenant that issued it: revoke(), renew() and rotate() go through it
        self.owner: KeyOwner | None = None

    def __repr__(self) -> str:
        return f"<TenantKey {self.name} ({self.key_type}, instance {self.instance}: {', '.join(sorted(self.roles))})>"

    @property
    def clientid(self) -> str:
        return str(self.data["oauth"]["clientid"])

    @property
    def clientsecret(self) -> str:
        secret = self.data["oauth"].get("clientsecret")
        if not secret:
            raise CpimockError(f"service key {self.name} is a {self.key_type} key: it has no clientsecret")
        return str(secret)

    @property
    def basic(self) -> tuple[str, str]:
        """``(clientid, clientsecret)`` for Basic authentication (``requests``' ``auth=``)."""
        return self.clientid, self.clientsecret

    @property
    def certificate(self) -> x509.Certificate:
        """The key's client certificate (the leaf)."""
        leaf = read_service_key(self.json_path).leaf
        if leaf is None:
            raise CpimockError(f"service key {self.name} is a {self.key_type} key: it has no certificate")
        return leaf

    @property
    def not_before(self) -> dt.datetime:
        """When the certificate starts to be valid (UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        """When the certificate expires (UTC): on the tenant clock after this, the tenant refuses it."""
        return self.certificate.not_valid_after_utc

    @cached_property
    def _files(self) -> dict[str, Path]:
        if self.key_type != "certificate":
            raise CpimockError(
                f"service key {self.name} is a {self.key_type} key: it has no certificate and key; use key.basic"
            )
        files, _ = export_files(
            read_service_key(self.json_path), pfx_password=None, alias=self.name, allow_expired=True
        )
        return {p.name: p for p in write_files(self.folder, files)}

    @property
    def cert_path(self) -> Path:
        """``cert.pem``: the certificate chain, leaf first (curl's ``--cert``)."""
        return self._files["cert.pem"]

    @property
    def key_path(self) -> Path:
        """``key.key``: the private key, PKCS#1 (curl's ``--key``)."""
        return self._files["key.key"]

    @property
    def ca_path(self) -> Path:
        """``ca.pem``: the CA certificates of the key's chain (for truststores and STRUST)."""
        return self._files["ca.pem"]

    @property
    def cert(self) -> tuple[str, str]:
        """``(cert.pem, key.key)`` as strings, for ``requests``' ``cert=``."""
        return str(self.cert_path), str(self.key_path)

    @cached_property
    def pfx_path(self) -> Path:
        """``cert.pfx`` (PKCS#12 with the chain), password :data:`PFX_PASSWORD`; made on first use."""
        self._files  # noqa: B018 - raises for keys without a certificate
        files, _ = export_files(
            read_service_key(self.json_path), pfx_password=PFX_PASSWORD, alias=self.name, allow_expired=True
        )
        [written] = write_files(self.folder, [f for f in files if f.name == "cert.pfx"])
        return written

    @property
    def pfx_password(self) -> str:
        return PFX_PASSWORD

    # --- its life ----------------------------------------------------------------------

    def _owner(self) -> KeyOwner:
        if self.owner is None:
            raise CpimockError(f"service key {self.name} belongs to no running tenant")
        return self.owner

    def revoke(self) -> None:
        """Revoke the key, as `cpimock servicekey revoke` does: the tenant refuses its certificate
        in the TLS handshake from now on (and its clientid and tokens with 401)."""
        self._owner().revoke_key(self)

    def renew(self, days: int | dt.timedelta | None = None) -> TenantKey:
        """A new certificate (and key pair) under the same name, the old one revoked, as
        `cpimock servicekey renew` does; this object then holds the new files. Returns it."""
        renewed = self._owner().renew_key(self, self.days if days is None else days)
        self.data, self.days = renewed.data, renewed.days
        self.__dict__.pop("_files", None)
        self.__dict__.pop("pfx_path", None)
        return self

    def rotate(
        self, name: str | None = None, *, old_until: dt.datetime | None = None, days: int | dt.timedelta = 365
    ) -> TenantKey:
        """The successor key (a new key pair, the same instance and roles), as `cpimock servicekey
        rotate` makes it; this key stays accepted until *old_until* (default: until it expires)."""
        return self._owner().rotate_key(self, name, old_until, days)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the tenant and presenting this key's certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_root_path))
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def issue_key(
    snapshot: Snapshot,
    name: str,
    instance: str,
    roles: frozenset[str],
    key_type: KeyType,
    days: int | dt.timedelta,
    *,
    replace: bool,
    not_before: dt.datetime | None = None,
) -> TenantKey:
    """Issue a key into the workspace *snapshot* was built from (the caller reloads the server afterwards)."""
    config = load_config(snapshot.config.path)  # the instances the test just added
    pki = pooled_pki(snapshot)
    registry = Registry.load(config.certs_dir)
    if replace and key_type == "certificate" and name in registry.records:
        revoke_in_crl(pki, registry.records[name])  # a renewal: the old certificate is revoked, as on the CLI
    data, record = issue_service_key(
        config, pki, registry, name, instance, days, key_type, replace=replace, not_before=not_before
    )
    key = TenantKey(name, instance, roles, key_type, days, key_path(config, record), data, pki.root_cert_path)
    if replace:
        key.folder.mkdir(exist_ok=True)
        for old in key.folder.iterdir():
            old.unlink()
    return key


def pooled_pki(snapshot: Snapshot) -> Pki:
    return _PooledPki(snapshot.pki.folder, snapshot.pki.root, snapshot.pki.client_ca)


def existing_key(snapshot: Snapshot, name: str) -> TenantKey:
    """A key the workspace already holds (the demo key)."""
    record = snapshot.registry.get(name)
    path = key_path(snapshot.config, record)
    data = json.loads(path.read_text(encoding="utf-8"))
    roles = snapshot.config.instances[record.instance].roles
    return TenantKey(name, record.instance, roles, record.key_type, 365, path, data, snapshot.pki.root_cert_path)


__all__ = ["PFX_PASSWORD", "KeyOwner", "TenantKey", "existing_key", "issue_key", "pooled_pki"]
