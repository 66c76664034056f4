"""Groovy script steps: CPI's real scripts, run unmodified on a warm JVM with CPI's script API.

A step reference ``"iflows/script1.groovy"`` (function ``processData``) or
``"iflows/script1.groovy:functionName"`` is a Groovy step. Java and Groovy are needed only when
such a step runs; see docs/handlers.md.

The names below are imported when first used (PEP 562), so that code that needs only a part of
this package (the toolchain's settings, whether a reference is a script) does not load the JVM
bridge.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpimock.steps.groovy.bridge import ScriptCompileError, ScriptException, ScriptLoadError, SoapHeader
    from cpimock.steps.groovy.reference import parse_reference
    from cpimock.steps.groovy.step import GroovyStep
    from cpimock.steps.groovy.toolchain import GroovyUnavailable
    from cpimock.steps.groovy.values import (
        JavaBigInteger,
        JavaByte,
        JavaChar,
        JavaFloat,
        JavaLong,
        JavaObject,
        JavaShort,
    )

_WHERE = {
    "GroovyStep": "step",
    "GroovyUnavailable": "toolchain",
    "ScriptCompileError": "bridge",
    "ScriptException": "bridge",
    "ScriptLoadError": "bridge",
    "SoapHeader": "bridge",
    "parse_reference": "reference",
    **dict.fromkeys(
        ("JavaBigInteger", "JavaByte", "JavaChar", "JavaFloat", "JavaLong", "JavaObject", "JavaShort"), "values"
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "GroovyStep",
    "GroovyUnavailable",
    "JavaBigInteger",
    "JavaByte",
    "JavaChar",
    "JavaFloat",
    "JavaLong",
    "JavaObject",
    "JavaShort",
    "ScriptCompileError",
    "ScriptException",
    "ScriptLoadError",
    "SoapHeader",
    "parse_reference",
]
