"""The ids of a message that its sender may choose, read failing closed.

``SAP_PregeneratedMplId``: "Base64-encoded UUID used as the MPL id" (SAP Help, Headers and
Exchange Properties Provided by the Integration Framework). CPI's own pregenerated ids have the
shape of its message ids (28 URL-safe characters), so both are taken: 16 bytes in Base64 (22
characters, or 24 with ``==``; the standard or the URL-safe alphabet) or 21 bytes in 28 URL-safe
characters. The MPL id is the value as sent, so that the sender finds its message by it. Anything
else, and an id a message has already, is refused: a message under a mangled id, or a second
message under the first one's, would be lost to the sender that looks it up.

``SAP_MplCorrelationId``: the message's CorrelationId. CPI makes one per message and keeps the
sender's; its shape is not documented, so any plain text id is taken (visible ASCII, at most 128
characters), and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Literal

__all__ = [
    "CORRELATION_HEADER",
    "PREGENERATED_HEADER",
    "SenderIdError",
    "UsedIds",
    "chosen",
    "correlation_id",
    "mpl_id",
]

PREGENERATED_HEADER = "SAP_PregeneratedMplId"
CORRELATION_HEADER = "SAP_MplCorrelationId"
MAX_CORRELATION_ID = 128

_UUID_FORMS = (
    re.compile(r"[A-Za-z0-9_-]{22}(?:==)?"),  # URL-safe, with or without padding
    re.compile(r"[A-Za-z0-9+/]{22}(?:==)?"),  # standard (java.util.Base64.getEncoder())
)
_MPL_ID_FORM = re.compile(r"[A-Za-z0-9_-]{28}")
_CORRELATION_FORM = re.compile(rf"[!-~]{{1,{MAX_CORRELATION_ID}}}")


class SenderIdError(ValueError):
    """A sender's id that cannot name a message; the text says why and what to send instead."""


def _shown(value: str) -> str:
    return repr(value[:40].encode("unicode_escape").decode("ascii")) + ("..." if len(value) > 40 else "")


def mpl_id(value: str) -> str:
    """The MPL id a sender's ``SAP_PregeneratedMplId`` *value* gives its message (*value* itself);
    :class:`SenderIdError` if it is neither a Base64-encoded UUID nor a message id."""
    if _MPL_ID_FORM.fullmatch(value):
        raw, size = value, 21
    elif any(form.fullmatch(value) for form in _UUID_FORMS):
        raw, size = value.rstrip("="), 16
    else:
        raw, size = "", 0
    if size and _canonical(raw, size):
        return value
    raise SenderIdError(
        f"{PREGENERATED_HEADER} {_shown(value)} is not a Base64-encoded UUID (22 characters, or 24 ending "
        "in ==) or a message id (28 characters); send one, or leave the header out"
    )


def _canonical(text: str, size: int) -> bool:
    """Whether *text* (without padding) is the one Base64 spelling of *size* bytes: the unused bits
    of its last character must be zero, or two spellings would name one id."""
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == size and base64.b64encode(raw).decode("ascii").rstrip("=") == padded.rstrip("=")


def correlation_id(value: str) -> str:
    """The CorrelationId a sender's ``SAP_MplCorrelationId`` *value* gives its message (*value*
    itself); :class:`SenderIdError` unless it is 1 to 128 visible ASCII characters."""
    if _CORRELATION_FORM.fullmatch(value):
        return value
    raise SenderIdError(
        f"{CORRELATION_HEADER} {_shown(value)} is not a correlation id: send 1 to {MAX_CORRELATION_ID} "
        "visible ASCII characters (letters, digits, punctuation; no spaces), or leave the header out"
    )


def chosen(getall: Callable[[str], Sequence[str]]) -> tuple[str | None, str | None]:
    """The MPL id and the correlation id a request's headers (*getall* gives a header's values)
    choose, None where they choose none; :class:`SenderIdError` for a value that cannot be one,
    or a header sent twice (which one would count is a guess)."""
    found: list[str | None] = []
    for name, read in ((PREGENERATED_HEADER, mpl_id), (CORRELATION_HEADER, correlation_id)):
        values = getall(name)
        if len(values) > 1:
            raise SenderIdError(f"the request carries {name} {len(values)} times; send it once")
        found.append(read(values[0]) if values else None)
    return found[0], found[1]


class UsedIds:
    """Which pregenerated ids name a message already: the ones this process gave out lately (whose
    messages may not be in the store yet), and the store's, asked off the event loop."""

    def __init__(self, logged: Callable[[str], bool], remembered: int = 65536) -> None:
        self._logged = logged
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._remembered = remembered

    async def claim(self, guid: str) -> Literal["new", "used", "unknown"]:
        """Take *guid* for a new message: ``"new"``; ``"used"`` if a message has it already,
        ``"unknown"`` if the store cannot say (it is not taken then)."""
        if guid in self._recent:
            return "used"
        self._recent[guid] = None  # taken while the store is asked: a copy arriving meanwhile is "used"
        try:
            logged = await asyncio.to_thread(self._logged, guid)
        except sqlite3.Error:
            self._recent.pop(guid, None)
            return "unknown"
        if logged:
            return "used"
        while len(self._recent) > self._remembered:
            self._recent.popitem(last=False)
        return "new"
