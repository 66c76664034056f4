"""Groovy script steps: CPI's real scripts, run unmodified on a warm JVM with CPI's script API.

A step reference ``"iflows/script1.groovy"`` (function ``processData``) or
``"iflows/script1.groovy:functionName"`` is a Groovy step. Java and Groovy are needed only when
such a step runs; see docs/handlers.md.
"""

from cpimock.steps.groovy.bridge import ScriptCompileError, ScriptException, ScriptLoadError, SoapHeader
from cpimock.steps.groovy.step import GroovyStep, parse_reference
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
