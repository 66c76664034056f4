"""The tenant clock and the readers of the times and durations people write (``--validity``,
``--not-before``, ``--now``, ``--old-until``): what they accept, and that they refuse the rest
with one clear error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.pki.clock import (
    MAX_VALIDITY,
    MIN_VALIDITY,
    Clock,
    TimeError,
    parse_duration,
    parse_instant,
    validity_start,
)
from cpimock.pki.keys import now

NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("365", dt.timedelta(days=365)),
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        ("30m", dt.timedelta(minutes=30)),
        (" 1m ", dt.timedelta(minutes=1)),
    ],
)
def test_durations_in_days_hours_and_minutes(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text, "--validity") == expected


@pytest.mark.parametrize("text", ["0", "366", "0m", "8761h", "", "1.5d", "-1", "1w", "١٢h", "30 m", "1e3"])
def test_durations_outside_the_range_or_form_are_refused(text: str) -> None:
    with pytest.raises(TimeError, match=r"^--validity"):
        parse_duration(text, "--validity")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-11-20", dt.datetime(2027, 11, 20, tzinfo=dt.UTC)),
        ("2027-11-20T10:30", dt.datetime(2027, 11, 20, 10, 30, tzinfo=dt.UTC)),
        ("2027-11-20 10:30:15Z", dt.datetime(2027, 11, 20, 10, 30, 15, tzinfo=dt.UTC)),
        ("2027-11-20T12:30+02:00", dt.datetime(2027, 11, 20, 10, 30, tzinfo=dt.UTC)),
        ("+7d", NOW + dt.timedelta(days=7)),
        ("-2h", NOW - dt.timedelta(hours=2)),
        ("+30m", NOW + dt.timedelta(minutes=30)),
    ],
)
def test_instants_absolute_and_relative(text: str, expected: dt.datetime) -> None:
    assert parse_instant(text, "--now", now=NOW) == expected


@pytest.mark.parametrize(
    "text", ["tomorrow", "20271120x", "2027-13-01", "+7", "7d", "+1w", "0001-01-01", "+99999999d", "", "+36501d"]
)
def test_instants_that_cannot_be_read_one_way_are_refused(text: str) -> None:
    with pytest.raises(TimeError, match=r"^--now"):
        parse_instant(text, "--now", now=NOW)


def outcome(read: Callable[[], dt.datetime | dt.timedelta]) -> dt.datetime | dt.timedelta | str:
    """What a reader gave, or the text of the one error it may raise."""
    try:
        return read()
    except TimeError as exc:
        return str(exc)


@given(st.text(max_size=60))
def test_any_text_is_a_duration_or_one_clear_error(text: str) -> None:
    value = outcome(lambda: parse_duration(text, "--validity"))
    if isinstance(value, str):
        assert value.startswith("--validity")
    else:
        assert MIN_VALIDITY <= value <= MAX_VALIDITY


@given(st.text(max_size=60))
def test_any_text_is_an_instant_or_one_clear_error(text: str) -> None:
    value = outcome(lambda: parse_instant(text, "--now", now=NOW))
    if isinstance(value, str):
        assert value.startswith("--now")
    else:
        assert isinstance(value, dt.datetime)
        assert value.tzinfo is not None
        assert dt.datetime(1970, 1, 1, tzinfo=dt.UTC) < value < dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 1, 1)))
def test_an_instant_written_in_iso_form_reads_back(when: dt.datetime) -> None:
    when = when.replace(microsecond=0, tzinfo=dt.UTC)
    assert parse_instant(when.isoformat(), "--now") == when
    assert parse_instant(when.strftime("%Y-%m-%dT%H:%M:%S"), "--now") == when


@given(st.integers(1, 99_999), st.sampled_from("mhd"), st.sampled_from("+-"))
def test_a_relative_instant_is_that_far_from_now(amount: int, unit: str, sign: str) -> None:
    step = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1)}[unit]
    value = outcome(lambda: parse_instant(f"{sign}{amount}{unit}", "--now", now=NOW))
    if isinstance(value, str):
        assert "100 years" in value or "between 1970 and 9999" in value
        assert amount * step > dt.timedelta(days=20 * 365)
    else:
        assert value == NOW + (amount * step if sign == "+" else -amount * step)


def test_the_tenant_clock_runs_from_the_instant_it_was_set_to() -> None:
    clock = Clock.at(dt.datetime(2027, 11, 20))
    assert clock.shifted
    assert abs(clock.now() - dt.datetime(2027, 11, 20, tzinfo=dt.UTC)) < dt.timedelta(seconds=5)
    assert "2027-11-20" in clock.describe()
    assert not Clock().shifted
    assert abs(Clock().now() - now()) < dt.timedelta(seconds=5)


def test_an_expired_key_ended_a_day_ago_and_excludes_a_later_start() -> None:
    start = validity_start(dt.timedelta(hours=2), now=NOW, expired=True)
    assert start == NOW - dt.timedelta(days=1, hours=2)
    assert validity_start(dt.timedelta(days=1), now=NOW) is None
    with pytest.raises(TimeError, match="exclude each other"):
        validity_start(dt.timedelta(days=1), now=NOW, not_before=NOW, expired=True)
