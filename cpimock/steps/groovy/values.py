"""Python's view of Java values that Python has no type of its own for.

Java's ``Long``, ``Short``, ``Byte`` and ``BigInteger`` are ``int`` subclasses here, ``Float`` a
``float`` subclass and ``Character`` a ``str`` subclass: Python code uses them as the numbers and
strings they are, and the bridge sends them back as the Java type they came as. A Java object
with no Python counterpart is a :class:`JavaObject`, a handle to the object in the JVM.
"""

from __future__ import annotations

from cpimock.errors import CpimockError

__all__ = [
    "JavaBigInteger",
    "JavaByte",
    "JavaChar",
    "JavaFloat",
    "JavaLong",
    "JavaObject",
    "JavaShort",
    "StaleObjectError",
]


class JavaLong(int):
    """A ``java.lang.Long``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaLong({int(self)})"


class JavaShort(int):
    """A ``java.lang.Short``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaShort({int(self)})"


class JavaByte(int):
    """A ``java.lang.Byte``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaByte({int(self)})"


class JavaBigInteger(int):
    """A ``java.math.BigInteger``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaBigInteger({int(self)})"


class JavaFloat(float):
    """A ``java.lang.Float``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaFloat({float(self)!r})"


class JavaChar(str):
    """A ``java.lang.Character``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"JavaChar({str(self)!r})"


class JavaObject:
    """A Java object that stays in the JVM: its class, its ``toString()``, and a handle to it.

    ``str()`` gives the text (so a ``NodeChild`` set as a header value goes to the sender as its
    text). A later Groovy step of the same worker gets the object itself back.
    """

    __slots__ = ("__weakref__", "generation", "handle", "java_class", "text")

    def __init__(self, handle: int, java_class: str, text: str, generation: int) -> None:
        self.handle = handle
        self.java_class = java_class
        self.text = text
        self.generation = generation

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"<JavaObject {self.java_class}: {shown!r}>"


class StaleObjectError(CpimockError):
    """A :class:`JavaObject` from a Groovy worker that has stopped since: its object is gone."""

    def __init__(self, value: JavaObject) -> None:
        super().__init__(
            f"a Java object ({value.java_class}) that an earlier Groovy step left in the message was lost "
            "when the Groovy worker restarted; the step that made it must run again"
        )
