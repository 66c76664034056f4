"""Time as certificates are judged by: the tenant clock, and the instants and durations people write.

A tenant can live on another day than the machine (``serve --now 2027-11-20``,
``Tenant(now=...)``) so that a sender can rehearse the day its certificate expires. The clock
keeps running from there: it is the real time shifted by a fixed offset.

What people write for times comes from the command line and from tests, so the readers here
accept a few plain forms and refuse everything else with the form that would work.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cpimock.errors import CpimockError
from cpimock.pki.keys import now as real_now

# SAP issues client certificates for at most 365 days; a minute is the least that a test can use
MIN_VALIDITY = dt.timedelta(minutes=1)
MAX_VALIDITY = dt.timedelta(days=365)
# instants and offsets beyond these are typing mistakes, and beyond what time_t and X.509 hold
_EARLIEST = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)
_LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)
_MAX_SHIFT = dt.timedelta(days=100 * 365)
_UNITS = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1)}
_DURATION_RE = re.compile(r"([0-9]{1,6})([mhd]?)")
_RELATIVE_RE = re.compile(r"([+-])([0-9]{1,6})([mhd])")


class TimeError(CpimockError):
    """A time or duration that cannot be read one way only."""


@dataclass(frozen=True, slots=True)
class Clock:
    """The tenant's clock: the real time shifted by *offset*."""

    offset: dt.timedelta = dt.timedelta(0)

    @classmethod
    def at(cls, when: dt.datetime) -> Clock:
        """A clock that reads *when* now and runs on from there."""
        return cls(aware(when) - real_now())

    def now(self) -> dt.datetime:
        return real_now() + self.offset

    @property
    def shifted(self) -> bool:
        return self.offset != dt.timedelta(0)

    def describe(self) -> str:
        return f"{self.now():%Y-%m-%d %H:%M} UTC" + (" (shifted from the real time)" if self.shifted else "")


REAL_CLOCK = Clock()


def aware(when: dt.datetime) -> dt.datetime:
    """*when* in UTC; a time without a zone is taken as UTC, as certificates count."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def parse_duration(text: str, flag: str) -> dt.timedelta:
    """``365`` or ``365d`` (days), ``12h`` (hours), ``30m`` (minutes), within 1 minute .. 365 days."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise TimeError(f"{flag} {text!r}: write days, hours or minutes, e.g. 365, 30d, 12h or 30m")
    value = int(match.group(1)) * _UNITS[match.group(2) or "d"]
    if not MIN_VALIDITY <= value <= MAX_VALIDITY:
        raise TimeError(f"{flag} {text}: choose 1..365 days, as BTP allows (or 30m, 12h: from 1 minute, for tests)")
    return value


def parse_instant(text: str, flag: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An instant in UTC: ``2027-11-20``, ``2027-11-20T10:30`` (UTC unless it names a zone,
    e.g. ``Z`` or ``+02:00``), or relative to *now*: ``+7d``, ``-2h``, ``+30m``."""
    stripped = text.strip()
    relative = _RELATIVE_RE.fullmatch(stripped)
    if relative is not None:
        sign, amount, unit = relative.groups()
        shift = int(amount) * _UNITS[unit]
        if shift > _MAX_SHIFT:
            raise TimeError(f"{flag} {text}: that is more than 100 years away; give a nearer time")
        when = (now or real_now()) + (shift if sign == "+" else -shift)
    else:
        if len(stripped) > 40 or not stripped[:1].isdigit():
            raise TimeError(f"{flag} {text!r}: write a date (2027-11-20), a UTC time (2027-11-20T10:30) or +7d / -2h")
        try:
            when = aware(dt.datetime.fromisoformat(stripped))
        except (ValueError, OverflowError):
            raise TimeError(
                f"{flag} {text!r}: not a date or time; write 2027-11-20, 2027-11-20T10:30 (UTC) or +7d / -2h"
            ) from None
    if not _EARLIEST <= when <= _LATEST:
        raise TimeError(f"{flag} {text}: choose a time between 1970 and 9999")
    return when


def validity_start(
    validity: dt.timedelta, *, now: dt.datetime, not_before: dt.datetime | None = None, expired: bool = False
) -> dt.datetime | None:
    """When a certificate valid for *validity* starts: at *not_before*, or so that it ended a day
    before *now* (*expired*); None for the usual start (now, a few minutes back for clock skew)."""
    if expired and not_before is not None:
        raise TimeError("--expired and --not-before exclude each other: a key either expired or starts later")
    if expired:
        return now - dt.timedelta(days=1) - validity
    return not_before
