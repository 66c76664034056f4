"""Java ``SimpleDateFormat`` patterns (``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``), rendered as Java renders them.

Camel's ``${date:now:...}`` hands its pattern to ``SimpleDateFormat``; ``strftime`` has no
milliseconds, no ISO offsets with ``Z`` for UTC and no run-length semantics (``yy`` against
``yyyy``), so the pattern is compiled here, letter by letter, in the English locale CPI uses.
A letter ``SimpleDateFormat`` does not know is refused, as Java refuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

__all__ = ["compile_pattern"]

Render = Callable[[datetime], str]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LETTERS = "GyYMLwWDdFEuaHkKhmsSzZX"


def compile_pattern(pattern: str) -> Render:
    """A function rendering a datetime with *pattern*; raises ``ValueError`` as Java would refuse it."""
    pieces: list[Render | str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            if pattern.startswith("''", index):  # '' outside quotes is one quote
                pieces.append("'")
                index += 2
                continue
            text, index = _quoted(pattern, index + 1)
            pieces.append(text)
        elif char.isascii() and char.isalpha():
            if char not in _LETTERS:
                raise ValueError(f"{char!r} is not a SimpleDateFormat pattern letter (in {pattern!r})")
            count = 1
            while index + count < len(pattern) and pattern[index + count] == char:
                count += 1
            pieces.append(_field(char, count, pattern))
            index += count
        else:
            pieces.append(char)
            index += 1

    def render(moment: datetime) -> str:
        return "".join(piece if isinstance(piece, str) else piece(moment) for piece in pieces)

    return render


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The text of a quoted section starting after its quote, and the index after its closing quote."""
    text: list[str] = []
    index = start
    while True:
        close = pattern.find("'", index)
        if close < 0:
            raise ValueError(f"the date pattern {pattern!r} has an unterminated quote")
        text.append(pattern[index:close])
        if pattern.startswith("''", close):  # '' inside quotes is one quote
            text.append("'")
            index = close + 2
            continue
        return "".join(text), close + 1


def _number(get: Callable[[datetime], int], count: int) -> Render:
    return lambda moment: str(get(moment)).zfill(count)


def _field(letter: str, count: int, pattern: str) -> Render:
    simple: dict[str, Callable[[datetime], int]] = {
        "d": lambda m: m.day,
        "D": lambda m: m.timetuple().tm_yday,
        "F": lambda m: (m.day - 1) // 7 + 1,
        "u": lambda m: m.isoweekday(),
        "H": lambda m: m.hour,
        "k": lambda m: m.hour or 24,
        "K": lambda m: m.hour % 12,
        "h": lambda m: m.hour % 12 or 12,
        "m": lambda m: m.minute,
        "s": lambda m: m.second,
        "S": lambda m: m.microsecond // 1000,
        "w": lambda m: m.isocalendar()[1],
        "W": lambda m: (m.day + m.replace(day=1).weekday()) // 7 + 1,
    }
    if letter in simple:
        return _number(simple[letter], count)
    if letter in "yY":
        year: Callable[[datetime], int] = (lambda m: m.isocalendar()[0]) if letter == "Y" else (lambda m: m.year)
        if count == 2:
            return lambda moment: str(year(moment) % 100).zfill(2)
        return _number(year, count)
    if letter in "ML":
        if count >= 4:
            return lambda moment: _MONTHS[moment.month - 1]
        if count == 3:
            return lambda moment: _MONTHS[moment.month - 1][:3]
        return _number(lambda m: m.month, count)
    if letter == "E":
        return (lambda m: _DAYS[m.weekday()]) if count >= 4 else (lambda m: _DAYS[m.weekday()][:3])
    if letter == "a":
        return lambda moment: "AM" if moment.hour < 12 else "PM"
    if letter == "G":
        return lambda moment: "AD"
    if letter == "z":
        return lambda moment: moment.tzname() or "UTC"
    if letter == "Z":
        return lambda moment: _offset(moment, colon=False, z_for_utc=False)
    # X: ISO 8601 offsets, Z for UTC; Java refuses more than three
    if count > 3:
        raise ValueError(f"{'X' * count} is not a SimpleDateFormat pattern (in {pattern!r}); use X, XX or XXX")
    return lambda moment: _offset(moment, colon=count == 3, z_for_utc=True, hours_only=count == 1)


def _offset(moment: datetime, *, colon: bool, z_for_utc: bool, hours_only: bool = False) -> str:
    offset = moment.utcoffset() or timedelta(0)
    if z_for_utc and not offset:
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    if hours_only:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"
