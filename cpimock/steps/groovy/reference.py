"""Whether a step reference names a Groovy script: ``"iflows/script1.groovy[:functionName]"``.

Apart from :mod:`cpimock.steps.groovy.step`, so that reading an iFlow's steps does not load the
JVM bridge when none of them is a Groovy script.
"""

from __future__ import annotations

from cpimock.errors import HandlerLoadError

__all__ = ["DEFAULT_FUNCTION", "parse_reference"]

DEFAULT_FUNCTION = "processData"


def parse_reference(ref: str) -> tuple[str, str] | None:
    """``(path, function)`` for a Groovy step reference, or None when ``ref`` is not one."""
    text = ref.strip()
    if text.lower().endswith((".groovy", ".gsh")):
        return text, DEFAULT_FUNCTION
    target, colon, function = text.rpartition(":")
    if colon and target.lower().endswith((".groovy", ".gsh")):
        if not function.isidentifier():
            raise HandlerLoadError(f"steps entry {ref!r}: {function!r} is not a function name")
        return target, function
    return None
