"""The entries of an export, zip or folder: their names checked, their sizes bounded, read on demand.

A zip's entry list is checked before anything is inflated: names that climb out of the export,
absolute names, backslashes, drive letters and control characters, symbolic-link and encrypted
entries, duplicate names, too many entries, too large ones and zip-bomb compression ratios are
refused. A folder's symbolic links may not point out of it. Every refusal names the file and
the entry.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from cpimock.iflows.export.errors import ExportError

__all__ = ["FolderTree", "Limits", "Tree", "ZipTree", "open_zip", "zip_from_bytes"]

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


class Tree:
    """The checked list of files of a zip or folder, and a bounded reader for them."""

    origin: str
    names: tuple[str, ...]

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> bytes:
        raise NotImplementedError


@contextmanager
def open_zip(path: Path, origin: str) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ExportError(f"{origin}: not a readable zip file ({exc}); give the zip CPI exported") from None
    except OSError as exc:
        raise ExportError(f"{origin}: cannot be read: {exc.strerror or exc}") from None
    with zf:
        yield zf


def zip_from_bytes(data: bytes, origin: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ExportError(f"{origin}: not a readable zip file ({exc})") from None


class ZipTree(Tree):
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


class FolderTree(Tree):
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
