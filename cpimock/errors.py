"""The errors cpimock raises for things a user can cause.

The CLI turns every :class:`CpimockError` into one line on stderr and exit status 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class CpimockError(Exception):
    """A problem the user can fix; the message names the thing and the fix."""


class ConfigError(CpimockError):
    """``cpimock.toml`` is missing, malformed or inconsistent."""


class MissingFileError(ConfigError):
    """``cpimock.toml`` names a file that does not exist (yet), or cannot be used as it is: the reloader
    watches it (and *more*, such as the files of an export folder) and tries again when it changes."""

    def __init__(self, message: str, path: Path, more: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.paths = (path, *more)


class PkiError(CpimockError):
    """A certificate, key, CSR or CRL is unusable."""


class ServiceKeyError(CpimockError):
    """A service-key JSON file is malformed or inconsistent."""


class HandlerLoadError(CpimockError):
    """An iFlow step reference cannot be loaded."""


class JournalError(CpimockError):
    """The message processing log store cannot be opened or written."""
