"""Values between Python and the Groovy worker's JVM: one tag byte each, the same table as ``Wire.java``.

A value keeps its Java type across the bridge, so that an ``Integer`` a script sets is an
``Integer`` again for the next Groovy step. Python sees Java's numbers as ``int`` and ``float``;
the Java types that Python has no type for come back as subclasses that remember them
(:class:`JavaLong`, :class:`JavaShort`, :class:`JavaByte`, :class:`JavaBigInteger`,
:class:`JavaFloat`, :class:`JavaChar`). A plain Python ``int`` goes to Java as ``Integer`` when it
fits in 32 bits, else ``Long``, else ``BigInteger``; ``float`` as ``Double``; ``Decimal`` as
``BigDecimal``; ``datetime`` as ``java.util.Date`` (a naive one in local time), which comes back
as an aware UTC ``datetime`` with millisecond precision.

What has no counterpart on the other side crosses as a handle: a Java object (a Groovy
``NodeChild``, say) becomes a :class:`JavaObject` that shows its ``toString()`` and gives the JVM
the very object back in a later call; a Python object becomes a placeholder in the JVM and is
itself again when it returns from that call.

Frames from the JVM are read strictly: a frame that does not decode whole raises
:class:`WireError`, and nothing half-read is used.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from cpimock.errors import CpimockError
from cpimock.steps.groovy.values import (
    JavaBigInteger,
    JavaByte,
    JavaChar,
    JavaFloat,
    JavaLong,
    JavaObject,
    JavaShort,
    StaleObjectError,
)

__all__ = [
    "Decoder",
    "Encoder",
    "JavaBigInteger",
    "JavaByte",
    "JavaChar",
    "JavaFloat",
    "JavaLong",
    "JavaObject",
    "JavaShort",
    "StaleObjectError",
    "WireError",
]

# containers nest at most this deep; the JVM sends anything deeper as a handle
MAX_DEPTH = 64
# what a Python object's text keeps when it crosses (it is for display in the JVM)
MAX_TEXT = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_I32, _I64, _F64, _F32, _U16 = (
    struct.Struct(">i"),
    struct.Struct(">q"),
    struct.Struct(">d"),
    struct.Struct(">f"),
    struct.Struct(">H"),
)
_I16, _I8 = struct.Struct(">h"), struct.Struct(">b")


class WireError(CpimockError, ValueError):
    """A frame from the Groovy worker that cannot be read whole."""


# the Java types of Python's own classes, in the order isinstance() must try them
_INTS: tuple[tuple[type, bytes, int], ...] = ((JavaLong, b"J", 64), (JavaShort, b"H", 16), (JavaByte, b"Y", 8))


class Encoder:
    """Writes values into one frame. Python objects that cannot cross are kept in ``objects``."""

    def __init__(self, generation: int, objects: dict[int, Any], next_id: Callable[[], int]) -> None:
        self.out = bytearray()
        self.generation = generation
        self.objects = objects
        self._next_id = next_id

    def value(self, v: Any, depth: int = 0) -> None:
        out = self.out
        if v is None:
            out += b"N"
        elif type(v) is str:
            self.text(b"S", v)
        elif v is True or v is False:
            out += b"T" if v else b"F"
        elif isinstance(v, int) and not isinstance(v, bool):
            self._int(v)
        elif isinstance(v, float):
            if isinstance(v, JavaFloat):
                try:
                    out += b"f" + _F32.pack(v)
                    return
                except OverflowError:  # beyond a Float's range: it goes as the Double it is
                    pass
            out += b"D" + _F64.pack(v)
        elif isinstance(v, JavaChar) and len(v) == 1 and ord(v) < 0x10000:
            out += b"C" + _U16.pack(ord(v))
        elif isinstance(v, str):
            self.text(b"S", str(v))
        elif isinstance(v, bytes | bytearray | memoryview):
            data = bytes(v)
            out += b"B" + _I32.pack(len(data)) + data
        elif isinstance(v, Decimal) and v.is_finite():
            self.text(b"d", str(v))
        elif isinstance(v, datetime | date):
            out += b"W" + _I64.pack(_millis(v))
        elif isinstance(v, JavaObject):
            if v.generation != self.generation:
                raise StaleObjectError(v)
            out += b"O" + _I64.pack(v.handle)
            self.text(b"", v.java_class)
            self.text(b"", "")
        elif depth < MAX_DEPTH and isinstance(v, dict):
            out += b"M" + _I32.pack(len(v))
            for key, item in list(v.items()):
                self.value(key, depth + 1)
                self.value(item, depth + 1)
        elif depth < MAX_DEPTH and isinstance(v, list | tuple):
            out += b"L" + _I32.pack(len(v))
            for item in list(v):
                self.value(item, depth + 1)
        elif depth < MAX_DEPTH and isinstance(v, set | frozenset):
            out += b"E" + _I32.pack(len(v))
            for item in list(v):
                self.value(item, depth + 1)
        else:
            self._python_object(v)

    def text(self, tag: bytes, s: str) -> None:
        data = s.encode("utf-8", "surrogatepass")
        self.out += tag + _I32.pack(len(data)) + data

    def _int(self, v: int) -> None:
        for kind, tag, bits in _INTS:
            if isinstance(v, kind) and -(1 << (bits - 1)) <= v < 1 << (bits - 1):
                packer = _I64 if bits == 64 else _I16 if bits == 16 else _I8
                self.out += tag + packer.pack(v)
                return
        if not isinstance(v, JavaBigInteger) and -(1 << 31) <= v < 1 << 31:
            self.out += b"I" + _I32.pack(v)
        elif not isinstance(v, JavaBigInteger) and -(1 << 63) <= v < 1 << 63:
            self.out += b"J" + _I64.pack(v)
        else:
            self.text(b"G", str(int(v)))

    def _python_object(self, v: Any) -> None:
        handle = self._next_id()
        self.objects[handle] = v
        try:
            shown = str(v)
        except Exception:  # a __str__ that fails: the placeholder still needs a text
            shown = object.__repr__(v)
        self.out += b"P" + _I64.pack(handle)
        self.text(b"", f"{type(v).__module__}.{type(v).__qualname__}")
        self.text(b"", shown[:MAX_TEXT])


def _millis(v: date) -> int:
    if not isinstance(v, datetime):
        v = datetime.combine(v, time())
    if v.tzinfo is None:
        v = v.astimezone()  # a naive datetime is local time, as datetime.timestamp() reads it
    return (v - _EPOCH) // _MS


class Decoder:
    """Reads the values of one frame from the JVM."""

    def __init__(
        self,
        data: bytes | memoryview,
        objects: dict[int, Any],
        java_object: Callable[[int, str, str], JavaObject],
    ) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.objects = objects
        self._java_object = java_object

    def done(self) -> None:
        if self.pos != len(self.data):
            raise WireError(f"{len(self.data) - self.pos} bytes left over after the frame's value")

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH + 1:
            raise WireError(f"a value nests deeper than {MAX_DEPTH} levels")
        tag = self._take(1)[0]
        if tag == 0x53:  # S
            return self._text()
        if tag == 0x4E:  # N
            return None
        if tag == 0x54:
            return True
        if tag == 0x46:
            return False
        if tag == 0x49:  # I
            return _I32.unpack(self._take(4))[0]
        if tag == 0x4A:
            return JavaLong(_I64.unpack(self._take(8))[0])
        if tag == 0x48:
            return JavaShort(_I16.unpack(self._take(2))[0])
        if tag == 0x59:
            return JavaByte(_I8.unpack(self._take(1))[0])
        if tag == 0x44:
            return _F64.unpack(self._take(8))[0]
        if tag == 0x66:
            return JavaFloat(_F32.unpack(self._take(4))[0])
        if tag == 0x64:
            return self._decimal()
        if tag == 0x47:
            return self._big_integer()
        if tag == 0x43:
            return JavaChar(chr(_U16.unpack(self._take(2))[0]))
        if tag == 0x42:
            return bytes(self._take(self._length()))
        if tag == 0x57:
            return self._date(_I64.unpack(self._take(8))[0])
        if tag == 0x4C:
            return [self.value(depth + 1) for _ in range(self._count())]
        if tag == 0x45:
            items = [self.value(depth + 1) for _ in range(self._count())]
            try:
                return set(items)
            except TypeError:  # a set of lists: Python cannot hash them
                return items
        if tag == 0x4D:
            pairs = [(self.value(depth + 1), self.value(depth + 1)) for _ in range(self._count())]
            return {_hashable(key): item for key, item in pairs}
        if tag == 0x4F:
            handle = _I64.unpack(self._take(8))[0]
            java_class = self._text()
            return self._java_object(handle, java_class, self._text())
        if tag == 0x50:
            handle = _I64.unpack(self._take(8))[0]
            self._text()
            self._text()
            if handle not in self.objects:
                raise WireError(f"the JVM returned a Python object handle ({handle}) that this call did not send")
            return self.objects[handle]
        raise WireError(f"unknown value tag 0x{tag:02x} at offset {self.pos - 1}")

    def _take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise WireError(f"the frame ends inside a value (offset {self.pos}, {n} bytes wanted)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _length(self) -> int:
        n: int = _I32.unpack(self._take(4))[0]
        if n < 0 or n > len(self.data) - self.pos:
            raise WireError(f"a length of {n} runs past the frame")
        return n

    def _count(self) -> int:
        # every element takes at least one byte, so a count beyond what is left cannot be true
        return self._length()

    def _text(self) -> str:
        data = self._take(self._length())
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"a string is not UTF-8 ({exc.reason})") from None

    def _decimal(self) -> Decimal:
        text = self._text()
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise WireError(f"{text[:40]!r} is not a BigDecimal") from None
        if not value.is_finite():
            raise WireError(f"{text[:40]!r} is not a BigDecimal")
        return value

    def _big_integer(self) -> JavaBigInteger:
        text = self._text()
        try:
            return JavaBigInteger(int(text, 10))
        except ValueError:
            raise WireError(f"{text[:40]!r} is not a BigInteger") from None

    @staticmethod
    def _date(millis: int) -> datetime:
        try:
            return _EPOCH + millis * _MS
        except OverflowError:
            raise WireError(f"a date of {millis} ms since 1970 is out of Python's range") from None


def _hashable(key: Any) -> Any:
    """A map key Python can hash: lists become tuples, sets frozensets, maps tuples of pairs."""
    try:
        hash(key)
    except TypeError:
        if isinstance(key, list):
            return tuple(_hashable(k) for k in key)
        if isinstance(key, set):
            return frozenset(_hashable(k) for k in key)
        if isinstance(key, dict):
            return tuple((_hashable(k), _hashable(v)) for k, v in key.items())
        return repr(key)
    return key
