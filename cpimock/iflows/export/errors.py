"""The one error an unreadable iFlow export raises."""

from __future__ import annotations

from cpimock.errors import CpimockError

__all__ = ["ExportError"]


class ExportError(CpimockError):
    """An iFlow export cannot be read safely or is not an iFlow: the message names the file and the entry."""
