"""Opening an iFlow export: a flow zip, a package zip, or either one unpacked into a folder.

An export comes from outside (a colleague's mail, a download from SAP's content) and is read
as untrusted: an entry name may not climb out of the export (``..``, an absolute name, a
backslash or a drive letter), a symbolic link in a folder may not point out of it, and the
number of entries, the size of each entry and of all of them, and the compression ratio of a
large entry are bounded, so that a zip bomb is refused before it is inflated. A package holds
flow zips one level deep (``<id>_content``); a package inside a package is refused. Nothing is
ever extracted to disk: entries are read into memory on demand, each one bounded.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from cpimock.iflows.export.errors import ExportError

__all__ = ["FlowFiles", "Limits", "OpenedExport", "PackageInfo", "PackageResource", "open_export"]

MANIFEST = "META-INF/MANIFEST.MF"
RESOURCES = "resources.cnt"
_MiB = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# what zipfile raises for a damaged entry: bad CRC, truncated or corrupt data, an unknown method
_UNREADABLE = (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, RuntimeError, NotImplementedError)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one export may hold; the defaults are far above SAP's own published content
    (at most 73 entries per zip, 5.6 MB per entry, compression ratios up to 83 for XSDs)."""

    max_entries: int = 10_000
    max_entry_bytes: int = 64 * _MiB
    max_total_bytes: int = 256 * _MiB
    max_ratio: int = 200
    # small entries cannot inflate far past their bound, so only larger ones have their ratio checked
    ratio_from_bytes: int = _MiB


@dataclass(frozen=True, slots=True)
class PackageResource:
    """One artifact a package lists in ``resources.cnt``: an iFlow, a value mapping, a file, a link..."""

    kind: str
    name: str
    entry: str | None  # the ``<id>_content`` entry holding it, if the export carries one


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """What a package export holds (from ``resources.cnt``) and what could not be read of it."""

    name: str
    resources: tuple[PackageResource, ...]
    notes: tuple[str, ...] = ()


class FlowFiles:
    """The files of one flow export, read on demand with the export's bounds (valid inside :func:`open_export`)."""

    def __init__(self, origin: str, names: tuple[str, ...], reader: Callable[[str], bytes]) -> None:
        self.origin = origin
        self._names = names
        self._set = frozenset(names)
        self._reader = reader

    def names(self) -> tuple[str, ...]:
        return self._names

    def has(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str) -> bytes:
        if name not in self._set:
            raise ExportError(f"{self.origin}: the export has no entry {name!r}")
        return self._reader(name)

    def __repr__(self) -> str:
        return f"<FlowFiles {self.origin} ({len(self._names)} files)>"


@dataclass(frozen=True, slots=True)
class OpenedExport:
    path: Path
    flows: tuple[FlowFiles, ...]
    package: PackageInfo | None


@contextmanager
def open_export(path: str | os.PathLike[str], limits: Limits | None = None) -> Iterator[OpenedExport]:
    """Open *path* (flow zip, package zip or folder); the flows' files can be read until the block ends."""
    limits = limits or Limits()
    root = Path(path)
    with ExitStack() as stack:
        if root.is_dir():
            top: _Tree = _FolderTree(root, limits)
        elif root.is_file():
            zf = stack.enter_context(_open_zip(root, str(root)))
            top = _ZipTree(zf, str(root), limits)
        elif root.exists():
            raise ExportError(f"{root}: not a file or folder; give the export's zip or the folder it was unpacked into")
        else:
            raise ExportError(f"{root}: no such file or folder; give the path of the iFlow export (a .zip or a folder)")
        yield _classify(root, top, limits)


# -- what an export is -------------------------------------------------------------------------


def _classify(root: Path, top: _Tree, limits: Limits) -> OpenedExport:
    if top.has(MANIFEST):
        return OpenedExport(root, (top.flow_files(),), None)
    contents = [name for name in top.names if _is_content_entry(name)]
    if not top.has(RESOURCES) and not contents:
        raise ExportError(
            f"{top.origin}: neither an iFlow export ({MANIFEST} is missing) nor a package export "
            f"(no {RESOURCES} and no <id>_content entries); export the iFlow or its package from CPI's design view"
        )
    package = _read_package(top, contents)
    flows: list[FlowFiles] = []
    for resource in package.resources:
        if resource.kind == "IFlow" and resource.entry is not None:
            flows.append(_nested_flow(top, resource, limits))
    return OpenedExport(root, tuple(flows), package)


def _is_content_entry(name: str) -> bool:
    return "/" not in name and name.endswith("_content") and len(name) > len("_content")


def _read_package(top: _Tree, contents: list[str]) -> PackageInfo:
    notes: list[str] = []
    listed: list[dict[str, Any]] = []
    if top.has(RESOURCES):
        try:
            listed = _resources(top.read(RESOURCES))
        except ValueError as exc:
            notes.append(f"{RESOURCES} cannot be read ({exc}); the package's entries are told apart by their content")
    else:
        notes.append(f"the package has no {RESOURCES}; its entries are told apart by their content")
    name = ""
    resources: list[PackageResource] = []
    seen: set[str] = set()
    for item in listed:
        kind = str(item.get("resourceType") or "unknown")
        label = str(item.get("displayName") or item.get("name") or item.get("id") or "")
        if kind == "ContentPackage":
            name = label
            continue
        entry = f"{item.get('id')}_content"
        if entry in contents:
            seen.add(entry)
            resources.append(PackageResource(kind, label, entry))
        else:
            resources.append(PackageResource(kind, label, None))
            if kind == "IFlow":
                notes.append(f"the iFlow {label!r} is listed in {RESOURCES} but the export has no entry {entry}")
    for entry in contents:
        if entry not in seen:  # not listed: a flow if it is a zip holding a manifest
            kind = "IFlow" if _looks_like_flow(top, entry) else "unknown"
            resources.append(PackageResource(kind, entry, entry))
    return PackageInfo(name or Path(top.origin).stem, tuple(resources), tuple(notes))


def _resources(data: bytes) -> list[dict[str, Any]]:
    text = data.strip()
    if not text.startswith(b"{"):  # CPI writes the JSON base64-encoded
        try:
            text = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            raise ValueError("neither JSON nor base64-encoded JSON") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("not valid JSON") from None
    items = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError("no list of resources")
    return [item for item in items if isinstance(item, dict)]


def _looks_like_flow(top: _Tree, entry: str) -> bool:
    try:
        data = top.read(entry)
    except ExportError:
        return False
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(BytesIO(data)) as inner:
            return MANIFEST in inner.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _nested_flow(top: _Tree, resource: PackageResource, limits: Limits) -> FlowFiles:
    assert resource.entry is not None
    origin = f"{top.origin}: {resource.entry} ({resource.name})"
    data = top.read(resource.entry)
    inner = _ZipTree(_zip_from_bytes(data, origin), origin, limits)
    if not inner.has(MANIFEST):
        if inner.has(RESOURCES) or any(_is_content_entry(name) for name in inner.names):
            raise ExportError(f"{origin}: a package inside a package; cpimock reads flows one level deep only")
        raise ExportError(f"{origin}: the package lists it as an iFlow but it has no {MANIFEST}")
    return inner.flow_files()


# -- zips ------------------------------------------------------------------------------------------


class _Tree:
    """The checked list of files of a zip or folder, and a bounded reader for them."""

    origin: str
    names: tuple[str, ...]

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def flow_files(self) -> FlowFiles:
        return FlowFiles(self.origin, self.names, self.read)


@contextmanager
def _open_zip(path: Path, origin: str) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ExportError(f"{origin}: not a readable zip file ({exc}); give the zip CPI exported") from None
    except OSError as exc:
        raise ExportError(f"{origin}: cannot be read: {exc.strerror or exc}") from None
    with zf:
        yield zf


def _zip_from_bytes(data: bytes, origin: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ExportError(f"{origin}: not a readable zip file ({exc})") from None


class _ZipTree(_Tree):
    def __init__(self, zf: zipfile.ZipFile, origin: str, limits: Limits) -> None:
        self.origin = origin
        self._zf = zf
        self._limits = limits
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise ExportError(f"{origin}: {len(infos):,} entries, more than the {limits.max_entries:,} cpimock reads")
        total = 0
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _checked_name(info.filename, origin)
            _check_entry(info, origin, limits)
            if name in self._infos:
                raise ExportError(f"{origin}: entry {info.filename!r} appears twice; the export is malformed")
            if not info.is_dir():
                total += info.file_size
                self._infos[name] = info
        if total > limits.max_total_bytes:
            raise ExportError(
                f"{origin}: its entries unpack to {total:,} bytes, "
                f"more than the {limits.max_total_bytes:,} cpimock reads"
            )
        self.names = tuple(self._infos)

    def read(self, name: str) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise ExportError(f"{self.origin}: the export has no entry {name!r}")
        try:
            # ZipExtFile stops at the declared size and checks the CRC, so the bound holds for lying headers too
            with self._zf.open(info) as entry:
                return entry.read(self._limits.max_entry_bytes + 1)
        except _UNREADABLE as exc:
            raise ExportError(f"{self.origin}: entry {name!r} cannot be read ({exc}); the export is damaged") from None


def _checked_name(raw: str, origin: str) -> str:
    name = raw[:-1] if raw.endswith("/") else raw
    problem = None
    if not name:
        problem = "has an empty name"
    elif "\\" in name:
        problem = "uses a backslash (a Windows path)"
    elif name.startswith("/"):
        problem = "is an absolute path"
    elif _DRIVE.match(name):
        problem = "starts with a drive letter"
    elif "\x00" in name or any(ord(char) < 0x20 for char in name):
        problem = "holds control characters"
    elif any(part in ("..", ".", "") for part in name.split("/")):
        problem = "climbs out of the export (.. or empty path segments)"
    if problem:
        raise ExportError(f"{origin}: entry {raw!r} {problem}; cpimock refuses such exports")
    return name


def _check_entry(info: zipfile.ZipInfo, origin: str, limits: Limits) -> None:
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        raise ExportError(f"{origin}: entry {info.filename!r} is a symbolic link; cpimock refuses links in exports")
    if info.flag_bits & 0x1:
        raise ExportError(f"{origin}: entry {info.filename!r} is encrypted; export the iFlow again without a password")
    if info.file_size > limits.max_entry_bytes:
        raise ExportError(
            f"{origin}: entry {info.filename!r} unpacks to {info.file_size:,} bytes, "
            f"more than the {limits.max_entry_bytes:,} cpimock reads per entry"
        )
    if info.file_size >= limits.ratio_from_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise ExportError(
            f"{origin}: entry {info.filename!r} is compressed {ratio:,}:1, more than {limits.max_ratio}:1 "
            "(a zip bomb?); cpimock refuses it"
        )


# -- folders -------------------------------------------------------------------------------------------


class _FolderTree(_Tree):
    def __init__(self, root: Path, limits: Limits) -> None:
        self.origin = str(root)
        self._limits = limits
        self._real_root = Path(os.path.realpath(root))
        self._files: dict[str, Path] = {}
        total = 0
        for name, real in self._walk():
            if len(self._files) >= limits.max_entries:
                raise ExportError(f"{root}: more than {limits.max_entries:,} files; cpimock reads no more")
            size = real.stat().st_size
            if size > limits.max_entry_bytes:
                raise ExportError(
                    f"{root}: {name} is {size:,} bytes, more than the {limits.max_entry_bytes:,} cpimock reads per file"
                )
            total += size
            if total > limits.max_total_bytes:
                raise ExportError(f"{root}: its files hold more than the {limits.max_total_bytes:,} bytes read")
            self._files[name] = real
        self.names = tuple(self._files)

    def _walk(self) -> Iterator[tuple[str, Path]]:
        visited = {self._real_root}
        stack: list[tuple[Path, str]] = [(self._real_root, "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError as exc:
                raise ExportError(f"{self.origin}: {prefix or '.'} cannot be listed: {exc.strerror or exc}") from None
            for entry in entries:
                name = prefix + entry.name
                real = self._inside(Path(entry.path), name) if entry.is_symlink() else Path(entry.path)
                if real.is_dir():
                    if real not in visited:  # a link back to a folder already walked would loop
                        visited.add(real)
                        stack.append((real, name + "/"))
                elif real.is_file():
                    yield name, real

    def _inside(self, link: Path, name: str) -> Path:
        real = Path(os.path.realpath(link))
        if real != self._real_root and self._real_root not in real.parents:
            raise ExportError(
                f"{self.origin}: {name} is a symbolic link to {real}, outside the export; "
                "cpimock follows no links out of an export folder"
            )
        return real

    def read(self, name: str) -> bytes:
        real = self._files.get(name)
        if real is None:
            raise ExportError(f"{self.origin}: the export has no file {name!r}")
        try:
            with open(real, "rb") as handle:
                data = handle.read(self._limits.max_entry_bytes + 1)
        except OSError as exc:
            raise ExportError(f"{self.origin}: {name} cannot be read: {exc.strerror or exc}") from None
        if len(data) > self._limits.max_entry_bytes:
            raise ExportError(f"{self.origin}: {name} grew past {self._limits.max_entry_bytes:,} bytes while read")
        return data
