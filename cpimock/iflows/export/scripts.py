"""An export's scripts and jars on disk, where the JVM of the Groovy runner reads them.

The reader keeps an export in memory; the JVM compiles a script from a file and loads a flow's
``lib/*.jar`` from files. So ``script/`` and ``lib/`` of one flow (and nothing else) are written
to a folder named by a digest of their names and content: the same content always lands in the
same folder, written once (to a temporary folder renamed into place, so that two processes
unpacking it at once do not see half of it), and a changed export lands in a new one. Entry
names were checked by the reader (no ``..``, no absolute names) and are checked again here
against the folder they land in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from cpimock.iflows.export.archive import FlowFiles
from cpimock.iflows.export.errors import ExportError
from cpimock.iflows.export.model import RESOURCES

__all__ = ["unpack_scripts"]

_FOLDERS = (RESOURCES + "script/", RESOURCES + "lib/")
_COMPLETE = ".complete"


def unpack_scripts(files: FlowFiles, into: Path) -> Path | None:
    """The folder under *into* holding the flow's ``script/`` and ``lib/``, or None when it has neither."""
    names = sorted(name for name in files.names() if name.startswith(_FOLDERS))
    if not names:
        return None
    contents = {name: files.read(name) for name in names}
    digest = hashlib.sha256()
    for name in names:
        data = contents[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    try:
        return _write(into, digest.hexdigest()[:32], contents)
    except OSError as exc:  # a read-only home: the temporary folder serves as well
        fallback = Path(tempfile.gettempdir()) / f"cpimock-{os.getuid()}" / "exports"
        if into == fallback:
            raise ExportError(f"{files.origin}: cannot write its scripts for the JVM to {into}: {exc}") from None
        return unpack_scripts(files, fallback)


def _write(into: Path, name: str, contents: dict[str, bytes]) -> Path:
    target = into / name
    if (target / _COMPLETE).is_file():
        return target
    into.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        root = work.resolve()
        for entry, data in contents.items():
            path = (work / entry.removeprefix(RESOURCES)).resolve()
            if root not in path.parents:
                raise ExportError(f"entry {entry!r} would be written outside {into}; cpimock refuses it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (work / _COMPLETE).write_text("unpacked by cpimock\n", encoding="utf-8")
        try:
            work.rename(target)
        except OSError:  # another process unpacked the same content meanwhile
            if not (target / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
