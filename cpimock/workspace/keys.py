"""Service keys of a workspace: issuing them (certificate, ClientId/Secret, external certificate,
from a CSR), the instances that hold their roles, and revoking them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import tomllib
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from cpimock.config import Config, load_config, parse_config
from cpimock.config.hosts import TenantHosts
from cpimock.errors import ConfigError, PkiError, ServiceKeyError
from cpimock.pki.authority import MAX_CLIENT_DAYS, Issued
from cpimock.pki.clock import MAX_VALIDITY, MIN_VALIDITY
from cpimock.pki.dn import normalised_name
from cpimock.pki.keys import KeySource, fingerprint, is_ca_certificate, load_certs, now, write_file
from cpimock.pki.servicekey import KEY_TYPES, KeyType, build_service_key, new_clientid, new_secret, secret_digest
from cpimock.pki.store import Pki
from cpimock.workspace.registry import KeyRecord, Registry, certificate_fields

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def keys_dir(config: Config) -> Path:
    return config.certs_dir / "keys"


def add_instance(config: Config, name: str, roles: Sequence[str]) -> Config:
    """Append ``[instances.NAME]`` with *roles* to ``cpimock.toml`` and return the reloaded config."""
    text = config.path.read_text(encoding="utf-8")
    table = f"\n[instances.{name}]\nroles = [{', '.join(json.dumps(r) for r in roles)}]\n"
    new = text.rstrip("\n") + "\n" + table
    parse_config(tomllib.loads(new), config.root, source=f"--roles for [instances.{name}]")
    write_file(config.path, new.encode())
    return load_config(config.path)


def instance_with_roles(config: Config, roles: Sequence[str]) -> str | None:
    wanted = frozenset(roles)
    return next((name for name, inst in sorted(config.instances.items()) if inst.roles == wanted), None)


def check_key_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ServiceKeyError(
            f"service key name {name!r}: use up to 64 letters, digits, '_', '-' and '.', starting with a letter "
            "or digit"
        )


def _relative(config: Config, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(config.root.resolve()))
    except ValueError:
        return str(path.resolve())


def key_path(config: Config, record: KeyRecord) -> Path:
    """Where the JSON of *record* was written."""
    return config.root / (record.file or f"certs/keys/{record.name}.json")


def _client_subject(name: str, config: Config, instance: str) -> x509.Name:
    # shaped like SAP's: CN=<guid>,L=sap-uaa,OU=<subaccount>,OU=SAP Cloud Platform Clients,O=SAP SE,C=DE
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpimock"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "cpimock Clients"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, config.tenant.name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, instance),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "sap-uaa"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def _external_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"--cert {path}: cannot read it ({exc.strerror}); give the path of a PEM certificate") from None
    certs = load_certs(data, f"--cert {path}") if b"-----BEGIN" in data else []
    if not certs:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise PkiError(f"--cert {path}: holds no certificate; export it as PEM (BEGIN CERTIFICATE)") from None
    cert = certs[0]
    if is_ca_certificate(cert):
        raise PkiError(
            f"--cert {path}: {cert.subject.rfc4514_string()} is a CA certificate (basicConstraints CA:TRUE), "
            "which the server refuses as a client identity; register the sender's own certificate"
        )
    if cert.not_valid_after_utc < now():
        raise PkiError(f"--cert {path}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; renew it first")
    return cert


def issue_service_key(
    config: Config,
    pki: Pki,
    registry: Registry,
    name: str,
    instance: str,
    days: int | dt.timedelta = MAX_CLIENT_DAYS,
    key_type: KeyType = "certificate",
    *,
    not_before: dt.datetime | None = None,
    csr: Path | None = None,
    cert: Path | None = None,
    pinning: bool = True,
    out: Path | None = None,
    replace: bool = False,
    key_source: KeySource | None = None,
) -> tuple[dict[str, Any], KeyRecord]:
    """Issue a service key, write its JSON (0600) and record it in the registry.

    *days* is the validity (days, or a timedelta from 1 minute); *not_before* starts it at another
    time than now (in the future, or in the past for a key that has expired already).
    *csr* signs a request made elsewhere (the JSON then holds no ``key``); *cert* registers an
    external certificate. With *replace* an existing record of the same name is superseded
    (renewal); otherwise the name must be new. Nothing is written unless everything is valid.
    A certificate key's private key comes from *key_source*, by default from *pki*.
    """
    check_key_name(name)
    if key_type not in KEY_TYPES:
        raise ServiceKeyError(f"--key-type {key_type!r}: choose one of {', '.join(KEY_TYPES)}")
    if instance not in config.instances:
        known = ", ".join(sorted(config.instances)) or "none"
        raise ConfigError(
            f"--instance {instance!r}: no [instances.{instance}] in {config.path} (known: {known}); add it or "
            "pass --roles to create one"
        )
    validity = dt.timedelta(days=days) if isinstance(days, int) else days
    if not MIN_VALIDITY <= validity <= MAX_VALIDITY:
        raise ServiceKeyError(
            f"--validity {days}: SAP issues keys for 1..{MAX_CLIENT_DAYS} days (cpimock from 1 minute); "
            "choose a value in it"
        )
    if name in registry.records and not replace:
        registry.add(KeyRecord(name, instance, key_type, "", ""))  # raises with the fix
    if key_type == "certificate_external" and cert is None:
        raise ServiceKeyError("--key-type certificate_external needs --cert FILE (the sender's PEM certificate)")
    if cert is not None and key_type != "certificate_external":
        raise ServiceKeyError("--cert FILE makes an external-certificate key; use --key-type certificate_external")
    if csr is not None and key_type != "certificate":
        raise ServiceKeyError("--csr FILE makes a certificate key; drop --key-type or use --key-type certificate")
    issued: Issued | None = None
    secret: str | None = None
    if key_type == "clientid-secret":
        secret = new_secret()
    elif cert is not None:
        external = _external_certificate(cert)
        registry.check_certificate_free(fingerprint(external), f"--cert {cert}", renewing=name if replace else None)
        issued = Issued(external, None, ())
    elif csr is not None:
        try:
            request = csr.read_bytes()
        except OSError as exc:
            raise PkiError(f"--csr {csr}: cannot read it ({exc.strerror}); give the path of the request") from None
        issued = pki.sign_csr(request, validity, f"--csr {csr}", not_before=not_before)
    else:
        key = key_source() if key_source is not None else None
        issued = pki.issue_client(_client_subject(name, config, instance), validity, key=key, not_before=not_before)
    url, tokenurl = key_urls(config, key_type, served_port(config, registry))
    clientid = new_clientid(config.tenant.name)
    created = now()
    data = build_service_key(
        key_type=key_type,
        clientid=clientid,
        url=url,
        tokenurl=tokenurl,
        issued=issued,
        clientsecret=secret,
        pinning=pinning,
        created=created,
    )
    target = out or keys_dir(config) / f"{name}.json"
    leaf = issued.cert if issued else None
    record = KeyRecord(
        name=name,
        instance=instance,
        key_type=key_type,
        clientid=clientid,
        created=created.isoformat(timespec="seconds"),
        secret_sha256=secret_digest(secret) if secret else None,
        **certificate_fields(leaf),
        pinning=pinning,
        file=_relative(config, target),
    )
    write_json(target, data, "--out")
    registry.records[name] = record
    try:
        registry.save()
    except OSError:
        target.unlink(missing_ok=True)
        raise
    return data, record


def key_urls(config: Config, key_type: str, port: int) -> tuple[str, str]:
    """The ``url`` and ``tokenurl`` of a key the tenant issues when it is served at *port*: the
    tenant's runtime and token hosts (``[tenant] host``) or localhost; certificate keys get the
    mTLS token host (``authentication.cert``), as BTP writes them."""
    hosts = TenantHosts.of(config)
    return hosts.base_url(port), hosts.token_url(port, certificate=key_type != "clientid-secret")


def served_port(config: Config, registry: Registry) -> int:
    """The port the tenant was last served at (``cpimock serve --port``), else ``[server] port``."""
    return registry.served_port or config.server.port


def point_keys(config: Config, registry: Registry, port: int) -> list[str]:
    """Give the workspace's own keys the ``url`` and ``tokenurl`` of the tenant served at *port*.

    Keys issued here carry the address they are called at; when the server is started on
    another port or the tenant's host changes, their JSON follows, so that senders and
    ``cpimock call`` need no ``--token-url``. Keys brought in from BTP keep their real URLs.
    Returns the names of the keys rewritten.
    """
    changed: list[str] = []
    for record in registry.records.values():
        if record.imported or record.revoked or not record.file:
            continue
        path = key_path(config, record)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            oauth = data["oauth"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # moved, edited or unreadable: the key's owner decides about it
        if not isinstance(oauth, dict):
            continue
        url, tokenurl = key_urls(config, record.key_type, port)
        if oauth.get("url") == url and oauth.get("tokenurl") == tokenurl:
            continue
        oauth["url"], oauth["tokenurl"] = url, tokenurl
        write_json(path, data, record.name)
        changed.append(record.name)
    if registry.served_port != port:
        registry.served_port = port
        registry.save()
    return changed


def write_json(path: Path, data: dict[str, Any], flag: str) -> None:
    try:
        write_file(path, (json.dumps(data, indent=2) + "\n").encode(), private=True)
    except OSError as exc:
        raise ServiceKeyError(
            f"{flag} {path}: cannot write it ({exc.strerror}); choose a folder you can write to"
        ) from None


def revoke_in_crl(pki: Pki, record: KeyRecord, when: dt.datetime | None = None) -> bool:
    """List *record*'s certificate in ``certs/crl.pem`` if the workspace CA issued it; True if added."""
    if not record.serial or record.issuer != normalised_name(pki.client_ca.cert.subject):
        return False
    revoked = pki.revoked_serials()
    serial = int(record.serial, 16)
    added = serial not in revoked
    revoked.setdefault(serial, when or now())
    pki.write_crl(revoked.items())
    return added


def revoke_record(pki: Pki, registry: Registry, record: KeyRecord) -> bool:
    """Mark *record* revoked and update the CRL the server reads; True if the CRL gained an entry."""
    added = revoke_in_crl(pki, record)
    registry.update(record.name, revoked=True)
    registry.save()
    return added


def successor_name(name: str, taken: Container[str]) -> str:
    """The next free name in *name*'s line: ``s4`` → ``s4-2``, ``s4-2`` → ``s4-3``."""
    stem, dash, number = name.rpartition("-")
    base, start = (stem, int(number) + 1) if dash and number.isdigit() and stem else (name, 2)
    return next(f"{base}-{n}" for n in itertools.count(start) if f"{base}-{n}" not in taken)


def rotate_key(
    config: Config,
    pki: Pki,
    registry: Registry,
    name: str,
    *,
    new_name: str | None = None,
    old_until: dt.datetime | None = None,
    days: int | dt.timedelta = MAX_CLIENT_DAYS,
    csr: Path | None = None,
    at: dt.datetime | None = None,
) -> tuple[KeyRecord, KeyRecord]:
    """Issue the successor of certificate key *name* (a new key pair, the same instance) while
    *name* stays accepted until *old_until* (default: until its certificate expires), the way
    BTP users create a second key and delete the first. Returns the old and the new record."""
    old = registry.get(name)
    current = at or now()
    if old.revoked:
        raise ServiceKeyError(f"{name} is revoked; create a new key with `cpimock servicekey create`")
    if old.successor is not None:
        raise ServiceKeyError(f"{name} was rotated to {old.successor} already; rotate {old.successor} instead")
    if old.imported:
        raise ServiceKeyError(
            f"{name} is a real BTP key: rotate it on BTP (create a second key there) and bring that in with "
            "`cpimock servicekey import`"
        )
    if old.key_type != "certificate":
        what = "an external certificate" if old.key_type == "certificate_external" else "a ClientId/Secret key"
        raise ServiceKeyError(
            f"{name} is {what}; rotate Certificate keys only: create the second key with `cpimock servicekey "
            f"create`, then `cpimock servicekey revoke {name}`"
        )
    if csr is None and signed_from_csr(key_path(config, old)):
        raise ServiceKeyError(f"{name} was signed from a CSR (its key is not here); rotate it with --csr NEW.csr")
    if old_until is not None:
        if old_until <= current:
            raise ServiceKeyError(
                f"--old-until {old_until:%Y-%m-%d %H:%M} UTC is past; choose a later time, or revoke {name} at once"
            )
        if old.not_after and old_until > dt.datetime.fromisoformat(old.not_after):
            old_until = None  # its certificate ends first: that is when it stops
    successor = new_name or successor_name(name, registry.records)
    if successor in registry.records:
        registry.add(KeyRecord(successor, old.instance, "certificate", "", ""))  # raises with the fix
    _, new = issue_service_key(config, pki, registry, successor, old.instance, days, "certificate", csr=csr)
    old = registry.update(name, successor=successor, retires=old_until.isoformat() if old_until else None)
    registry.save()
    return old, new


def signed_from_csr(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("oauth"), dict) and "key" not in data["oauth"]
