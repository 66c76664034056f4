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
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from cpimock.iflows.export.entries import FolderTree, Limits, Tree, ZipTree, open_zip, zip_from_bytes
from cpimock.iflows.export.errors import ExportError

__all__ = ["FlowFiles", "Limits", "OpenedExport", "PackageInfo", "PackageResource", "open_export"]

MANIFEST = "META-INF/MANIFEST.MF"
RESOURCES = "resources.cnt"


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
            top: Tree = FolderTree(root, limits)
        elif root.is_file():
            zf = stack.enter_context(open_zip(root, str(root)))
            top = ZipTree(zf, str(root), limits)
        elif root.exists():
            raise ExportError(f"{root}: not a file or folder; give the export's zip or the folder it was unpacked into")
        else:
            raise ExportError(f"{root}: no such file or folder; give the path of the iFlow export (a .zip or a folder)")
        yield _classify(root, top, limits)


# -- what an export is -------------------------------------------------------------------------


def _classify(root: Path, top: Tree, limits: Limits) -> OpenedExport:
    if top.has(MANIFEST):
        return OpenedExport(root, (_flow_files(top),), None)
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


def _flow_files(tree: Tree) -> FlowFiles:
    return FlowFiles(tree.origin, tree.names, tree.read)


def _is_content_entry(name: str) -> bool:
    return "/" not in name and name.endswith("_content") and len(name) > len("_content")


def _read_package(top: Tree, contents: list[str]) -> PackageInfo:
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


def _looks_like_flow(top: Tree, entry: str) -> bool:
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


def _nested_flow(top: Tree, resource: PackageResource, limits: Limits) -> FlowFiles:
    assert resource.entry is not None
    origin = f"{top.origin}: {resource.entry} ({resource.name})"
    data = top.read(resource.entry)
    inner = ZipTree(zip_from_bytes(data, origin), origin, limits)
    if not inner.has(MANIFEST):
        if inner.has(RESOURCES) or any(_is_content_entry(name) for name in inner.names):
            raise ExportError(f"{origin}: a package inside a package; cpimock reads flows one level deep only")
        raise ExportError(f"{origin}: the package lists it as an iFlow but it has no {MANIFEST}")
    return _flow_files(inner)
