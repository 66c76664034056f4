"""What ``ITApiFactory`` serves scripts: secure store, value mappings, partner directory, keystore.

The parsers take plain TOML tables (dicts) and paths, so the same shapes can later live in
``cpimock.toml``. Today they come from files in the workspace, all optional:

``secure-store.toml``
    one table per alias: ``user`` and ``password`` (a user credential), ``password`` alone (a
    secure parameter), ``access_token`` (an OAuth2 token for
    ``getAccesTokenForOauth2AuthorizationCodeCredential``), optional ``properties``.
``value-mappings.toml`` and ``value-mappings/``
    ``[[mappings]]`` with ``source = {agency, identifier}``, ``target = {agency, identifier}``,
    ``values = {"DE" = "Germany"}`` (a list maps one value to several) and an optional
    ``default``; and CPI value-mapping exports, ``*.zip`` or their ``value_mapping.xml``.
``partner-directory.toml``
    one table per partner id: ``parameters`` (strings), ``binary`` (``{file, content_type}``,
    the file relative to the workspace), ``alternative_ids`` (``{agency, scheme, id}``), ``users``.
keystore
    ``certs/<alias>.pem`` and ``keystore/<alias>.pem``, each with ``<alias>.key`` beside it when
    it has a private key: the workspace's own PKI (``root-ca``, ``client-ca``, ``server``) and
    whatever the user adds.

Every mistake is a :class:`SettingsError` naming the file, the key and the fix.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cpimock import xmlsafe
from cpimock.errors import CpimockError

__all__ = ["ScriptSettings", "SettingsError", "WorkspaceSettings"]

SECURE_STORE = "secure-store.toml"
VALUE_MAPPINGS = "value-mappings.toml"
VALUE_MAPPINGS_DIR = "value-mappings"
PARTNER_DIRECTORY = "partner-directory.toml"
KEYSTORE_DIRS = ("certs", "keystore")
MAX_EXPORT_BYTES = 64 * 1024 * 1024

Entry = tuple[str, str, str, bool]  # agency, identifier (schema), value, is the default


class SettingsError(CpimockError):
    """A secure-store, value-mapping, partner-directory or keystore file cannot be used."""


@dataclass(frozen=True, slots=True)
class ScriptSettings:
    """The services' data, as the JVM gets it (secrets stay out of ``repr``)."""

    secure_store: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    value_mappings: list[list[Entry]] = field(default_factory=list)
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    keystore: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def wire(self) -> dict[str, Any]:
        return {
            "secure_store": self.secure_store,
            "value_mappings": [[list(entry) for entry in group] for group in self.value_mappings],
            "partners": self.partners,
            "keystore": self.keystore,
        }


def parse_secure_store(data: dict[str, Any], source: str = SECURE_STORE) -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = {}
    for alias, table in data.items():
        if not isinstance(table, dict):
            raise SettingsError(f'{source}: {alias}: must be a table, e.g. [{alias}] user = "..." password = "..."')
        unknown = set(table) - {"user", "password", "access_token", "properties"}
        if unknown:
            raise SettingsError(
                f"{source}: {alias}.{sorted(unknown)[0]}: unknown key; use user, password, access_token, properties"
            )
        entry: dict[str, Any] = {}
        for key in ("user", "password", "access_token"):
            if key in table:
                if not isinstance(table[key], str):
                    raise SettingsError(f"{source}: {alias}.{key}: must be a string")
                entry[key] = table[key]
        if not entry:
            raise SettingsError(f"{source}: {alias}: give it a password (and a user), or an access_token")
        properties = table.get("properties", {})
        if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
            raise SettingsError(f"{source}: {alias}.properties: must be a table of strings")
        entry["properties"] = dict(properties)
        store[alias] = entry
    return store


def parse_value_mappings(data: dict[str, Any], source: str = VALUE_MAPPINGS) -> list[list[Entry]]:
    unknown = set(data) - {"mappings"}
    if unknown:
        raise SettingsError(f"{source}: {sorted(unknown)[0]}: unknown key; write [[mappings]] tables")
    mappings = data.get("mappings", [])
    if not isinstance(mappings, list):
        raise SettingsError(f"{source}: mappings: write [[mappings]] tables")
    groups: list[list[Entry]] = []
    for i, table in enumerate(mappings):
        where = f"{source}: mappings[{i}]"
        if not isinstance(table, dict) or set(table) - {"source", "target", "values", "default"}:
            raise SettingsError(f"{where}: a mapping has source, target, values and an optional default")
        src, tgt = _scheme(table.get("source"), f"{where}.source"), _scheme(table.get("target"), f"{where}.target")
        values = table.get("values", {})
        if not isinstance(values, dict):
            raise SettingsError(f'{where}.values: must be a table, e.g. values = {{ "DE" = "Germany" }}')
        for key, mapped in values.items():
            targets = mapped if isinstance(mapped, list) else [mapped]
            if not targets or not all(isinstance(t, str) for t in targets):
                raise SettingsError(f"{where}.values.{key}: must be a string or a list of strings")
            groups.extend([(*src, key, False), (*tgt, target, False)] for target in targets)
        if "default" in table:
            if not isinstance(table["default"], str):
                raise SettingsError(f"{where}.default: must be a string")
            groups.append([(*tgt, table["default"], True)])
    return groups


def _scheme(value: Any, where: str) -> tuple[str, str]:
    if not isinstance(value, dict) or set(value) != {"agency", "identifier"}:
        raise SettingsError(f'{where}: must be {{ agency = "...", identifier = "..." }}')
    agency, identifier = value["agency"], value["identifier"]
    if not isinstance(agency, str) or not isinstance(identifier, str):
        raise SettingsError(f"{where}: agency and identifier are strings")
    return agency, identifier


def read_value_mapping_export(path: Path) -> list[list[Entry]]:
    """The groups of a CPI value-mapping export: the artifact's zip, or its ``value_mapping.xml``."""
    what = str(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if m.filename.rsplit("/", 1)[-1] == "value_mapping.xml"]
                if not members:
                    raise SettingsError(f"{what}: no value_mapping.xml inside; export the value mapping artifact")
                if members[0].file_size > MAX_EXPORT_BYTES:
                    raise SettingsError(f"{what}: value_mapping.xml is larger than {MAX_EXPORT_BYTES} bytes")
                data = archive.read(members[0])
                what = f"{path}!{members[0].filename}"
        else:
            data = path.read_bytes()
    except (OSError, zipfile.BadZipFile) as exc:
        raise SettingsError(f"{what}: cannot read it ({exc})") from None
    try:
        root = xmlsafe.parse(data, what=what, max_bytes=MAX_EXPORT_BYTES)
    except xmlsafe.XmlError as exc:
        raise SettingsError(str(exc)) from None
    groups: list[list[Entry]] = []
    for group in root.iter("{*}group"):
        entries: list[Entry] = []
        for item in group.iter("{*}entry"):
            parts = {child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else "": child for child in item}
            if not {"agency", "schema", "value"} <= set(parts):
                raise SettingsError(f"{what}: an entry of group {group.get('id')!r} lacks agency, schema or value")
            text = [(parts[k].text or "").strip() for k in ("agency", "schema", "value")]
            entries.append((text[0], text[1], text[2], item.get("isDefault") == "true"))
        groups.append(entries)
    return groups


def parse_partner_directory(data: dict[str, Any], base: Path, source: str = PARTNER_DIRECTORY) -> dict[str, Any]:
    partners: dict[str, Any] = {}
    for pid, table in data.items():
        where = f"{source}: {pid}"
        if not isinstance(table, dict) or set(table) - {"parameters", "binary", "alternative_ids", "users"}:
            raise SettingsError(f"{where}: a partner has parameters, binary, alternative_ids and users")
        parameters = table.get("parameters", {})
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise SettingsError(f"{where}.parameters: must be a table of strings")
        binary: dict[str, list[Any]] = {}
        for name, spec in _table(table, "binary", where).items():
            if not isinstance(spec, dict) or set(spec) != {"file", "content_type"}:
                raise SettingsError(f'{where}.binary.{name}: must be {{ file = "...", content_type = "..." }}')
            try:
                binary[name] = [(base / str(spec["file"])).read_bytes(), str(spec["content_type"])]
            except OSError as exc:
                raise SettingsError(f"{where}.binary.{name}: cannot read {spec['file']} ({exc.strerror})") from None
        ids = table.get("alternative_ids", [])
        if not isinstance(ids, list) or not all(
            isinstance(i, dict) and set(i) == {"agency", "scheme", "id"} and all(isinstance(v, str) for v in i.values())
            for i in ids
        ):
            raise SettingsError(f'{where}.alternative_ids: a list of {{ agency = "...", scheme = "...", id = "..." }}')
        users = table.get("users", [])
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise SettingsError(f"{where}.users: must be a list of strings")
        partners[pid] = {
            "parameters": dict(parameters),
            "binary": binary,
            "alternative_ids": [[i["agency"], i["scheme"], i["id"]] for i in ids],
            "users": list(users),
        }
    return partners


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{where}.{key}: must be a table")
    return value


def read_keystore(folders: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``<alias>.pem`` files (with ``<alias>.key`` when there is a key); files without a certificate are skipped."""
    entries: dict[str, dict[str, Any]] = {}
    for folder in folders:
        for pem in sorted(folder.glob("*.pem")):
            try:
                certificates = x509.load_pem_x509_certificates(pem.read_bytes())
            except (OSError, ValueError):
                continue  # a CRL or a bundle of something else: not a keystore entry
            entry: dict[str, Any] = {"certificates": [c.public_bytes(serialization.Encoding.DER) for c in certificates]}
            key_path = pem.with_suffix(".key")
            if key_path.is_file():
                try:
                    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                except (OSError, ValueError, TypeError) as exc:
                    raise SettingsError(f"{key_path}: not a readable unencrypted private key ({exc})") from None
                entry["key"] = key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                entry["algorithm"] = (
                    "RSA"
                    if isinstance(key, rsa.RSAPrivateKey)
                    else "EC"
                    if isinstance(key, ec.EllipticCurvePrivateKey)
                    else type(key).__name__
                )
            entries[pem.stem] = entry
    return entries


class WorkspaceSettings:
    """The settings of one workspace, read again when one of their files changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._signature: tuple[Any, ...] | None = None
        self._settings = ScriptSettings()
        self._key = ""

    def _files(self) -> list[Path]:
        files = [self.root / SECURE_STORE, self.root / VALUE_MAPPINGS, self.root / PARTNER_DIRECTORY]
        exports = self.root / VALUE_MAPPINGS_DIR
        if exports.is_dir():
            files += sorted(p for p in exports.iterdir() if p.suffix.lower() in (".zip", ".xml"))
        for name in KEYSTORE_DIRS:
            folder = self.root / name
            if folder.is_dir():
                files += sorted(p for p in folder.iterdir() if p.suffix in (".pem", ".key"))
        return files

    def current(self) -> tuple[ScriptSettings, str]:
        """The settings and a key that changes with them (so the JVM gets each version once)."""
        files = self._files()
        signature = tuple((str(p), *_stat(p)) for p in files)
        if signature != self._signature:
            self._settings = self._load()
            self._key = hashlib.sha256(repr(signature).encode()).hexdigest()[:16]
            self._signature = signature
        return self._settings, self._key

    def _load(self) -> ScriptSettings:
        groups = parse_value_mappings(_toml(self.root / VALUE_MAPPINGS), VALUE_MAPPINGS)
        exports = self.root / VALUE_MAPPINGS_DIR
        if exports.is_dir():
            for path in sorted(exports.iterdir()):
                if path.suffix.lower() in (".zip", ".xml"):
                    groups += read_value_mapping_export(path)
        return ScriptSettings(
            secure_store=parse_secure_store(_toml(self.root / SECURE_STORE), SECURE_STORE),
            value_mappings=groups,
            partners=parse_partner_directory(_toml(self.root / PARTNER_DIRECTORY), self.root, PARTNER_DIRECTORY),
            keystore=read_keystore(self.root / name for name in KEYSTORE_DIRS if (self.root / name).is_dir()),
        )


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path.name}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path.name}: not valid TOML ({exc}); fix the syntax there") from None
