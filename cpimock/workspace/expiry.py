"""Where a service key stands in its life: valid, expiring, expired, not yet valid, retiring
after a rotation, retired or revoked; and the warnings the server and the CLI give ahead.

BTP issues client certificates for at most 365 days, and a sender that misses the date stops.
Everything that shows a key's state asks here, at the tenant clock's time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cpimock.workspace.registry import KeyRecord

log = logging.getLogger(__name__)

# warn this many days ahead unless told otherwise (--warn-days, CPIMOCK_WARN_DAYS)
WARN_DAYS = 30
# a running server repeats its warnings this often
WARN_INTERVAL_S = 24 * 3600.0

Status = Literal["valid", "expiring", "expired", "not-yet-valid", "retiring", "retired", "revoked"]


def _stamp(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class KeyState:
    """One key at one moment."""

    record: KeyRecord
    status: Status
    at: dt.datetime
    ends: dt.datetime | None  # when the key stops being accepted: expiry, or retirement if sooner

    @property
    def left(self) -> dt.timedelta | None:
        return None if self.ends is None else self.ends - self.at

    @property
    def days_left(self) -> int | None:
        left = self.left
        return None if left is None else left.days

    @property
    def usable(self) -> bool:
        return self.status in ("valid", "expiring", "retiring")

    def describe(self) -> str:
        """One line for a log or a warning, with the fix."""
        name, ends = self.record.name, self.ends
        when = f"{ends:%Y-%m-%d %H:%M} UTC" if ends else ""
        if self.status == "expired":
            return f"service key {name!r} expired on {when}; renew it: cpimock servicekey rotate {name}"
        if self.status == "retiring":
            return f"service key {name!r} was rotated to {self.record.successor!r} and retires on {when}"
        if self.status == "expiring":
            return (
                f"service key {name!r} expires in {_span(self.left)} ({when}); rehearse the renewal: "
                f"cpimock servicekey rotate {name}"
            )
        return f"service key {name!r} is {self.status}"

    def as_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "name": record.name,
            "instance": record.instance,
            "type": record.key_type,
            "status": self.status,
            "not_before": record.not_before,
            "not_after": record.not_after,
            "days_left": self.days_left,
            "retires": record.retires,
            "successor": record.successor,
            "clientid": record.clientid,
            "serial": record.serial,
            "subject": record.subject,
            "issuer": record.issuer,
            "imported": record.imported,
            "file": record.file,
        }


def _span(left: dt.timedelta | None) -> str:
    if left is None:
        return "?"
    if left >= dt.timedelta(days=2):
        return f"{left.days} days"
    hours = int(left.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' * (hours != 1)}"
    minutes = max(int(left.total_seconds() // 60), 0)
    return f"{minutes} minute{'s' * (minutes != 1)}"


def key_state(record: KeyRecord, at: dt.datetime, warn_days: int = WARN_DAYS) -> KeyState:
    """Where *record* stands at *at*; a key is expiring once it ends within *warn_days*."""
    start, expiry, retires = _stamp(record.not_before), _stamp(record.not_after), _stamp(record.retires)
    ends = min((t for t in (expiry, retires) if t is not None), default=None)
    status: Status
    if record.revoked:
        status = "revoked"
    elif retires is not None and retires <= at:
        status = "retired"
    elif expiry is not None and expiry <= at:
        status = "expired"
    elif start is not None and start > at:
        status = "not-yet-valid"
    elif retires is not None:
        status = "retiring"
    elif ends is not None and ends - at <= dt.timedelta(days=warn_days):
        status = "expiring"
    else:
        status = "valid"
    return KeyState(record, status, at, ends)


def warnings(records: Iterable[KeyRecord], at: dt.datetime, warn_days: int = WARN_DAYS) -> list[str]:
    """What to warn about now: keys that are expiring or have expired (revoked and retired keys
    are ended on purpose, and retiring ones were rotated already)."""
    states = [key_state(r, at, warn_days) for r in sorted(records, key=lambda r: r.name)]
    return [s.describe() for s in states if s.status in ("expiring", "expired")]


def log_warnings(records: Iterable[KeyRecord], at: dt.datetime, warn_days: int = WARN_DAYS) -> int:
    """Log :func:`warnings` at WARNING; how many there were."""
    found = warnings(records, at, warn_days)
    for line in found:
        log.warning("%s", line)
    return len(found)


async def warn_daily(
    records: Callable[[], Iterable[KeyRecord]],
    clock: Callable[[], dt.datetime],
    warn_days: int = WARN_DAYS,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Repeat the warnings once a day for as long as the server runs (it warned at start)."""
    while True:
        await sleep(WARN_INTERVAL_S)
        log_warnings(records(), clock(), warn_days)
