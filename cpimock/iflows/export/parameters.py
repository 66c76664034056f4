"""Externalized parameters: ``parameters.prop`` and ``.propdef``, ``{{Name}}`` in values, and overrides.

CPI lets any iFlow setting be written as ``{{Name}}`` and stores the value in
``parameters.prop`` (Java properties syntax, read with ``jproperties``, which handles escapes,
``\\uXXXX``, continuation lines and the ``key value`` / ``key:value`` forms as Java does) and its
type in ``parameters.propdef``. Names may hold spaces and ``<>`` (``{{Sender Role}}``). As in
CPI's *Configure* dialog, a value can be overridden (cpimock.toml's
``[iflows.NAME.parameters]``); every resolved value remembers where it came from.

A parameter no file defines, or one whose value is still a template placeholder such as
``/<HTTP Address>``, is an error where cpimock would serve it, naming the parameter and where
to set it; in places cpimock does not serve it is only a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from jproperties import ParseError, Properties

from cpimock.iflows.export.archive import FlowFiles
from cpimock.iflows.export.errors import ExportError
from cpimock.iflows.export.model import Level, Parameter, ParameterSource, ReportLine
from cpimock.xmlsafe import XmlError, parse

__all__ = ["PROP", "PROPDEF", "ParameterResolver", "read_parameters"]

PROP = "src/main/resources/parameters.prop"
PROPDEF = "src/main/resources/parameters.propdef"
_REFERENCE = re.compile(r"\{\{([^{}]+)\}\}")
# a value left as SAP's template wrote it: <HTTP Address>, /<Role>; XML (with </ or />) is not one
_PLACEHOLDER = re.compile(r"<[^<>/=\"']+>")
_TYPES = {"xsd:integer": r"[+-]?\d+", "xsd:int": r"[+-]?\d+", "xsd:long": r"[+-]?\d+", "xsd:boolean": r"true|false"}


def read_parameters(files: FlowFiles) -> tuple[dict[str, str], dict[str, str]]:
    """The values of ``parameters.prop`` and the types of ``parameters.propdef`` (both may be absent)."""
    values: dict[str, str] = {}
    types: dict[str, str] = {}
    if files.has(PROP):
        properties = Properties()
        try:
            properties.load(files.read(PROP), "iso-8859-1")
        except ParseError as exc:
            raise ExportError(
                f"{files.origin}: {PROP} is not a Java properties file ({str(exc).strip() or 'bad escape'})"
            ) from None
        for key, entry in properties.items():
            values[key] = entry.data
        for key, value in values.items():
            if not _is_unicode(key) or not _is_unicode(value):
                raise ExportError(f"{files.origin}: {PROP}: {key[:40]!r} holds a broken \\u escape (a lone surrogate)")
    if files.has(PROPDEF):
        try:
            root = parse(files.read(PROPDEF), what=f"{files.origin}: {PROPDEF}")
        except XmlError as exc:
            raise ExportError(str(exc)) from None
        for parameter in root.iter("parameter"):
            name = (parameter.findtext("name") or "").strip()
            if name:
                types[name] = (parameter.findtext("type") or "").strip()
    return values, types


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ParameterResolver:
    """Resolves ``{{Name}}`` in the values the loader reads and records each use for the report."""

    def __init__(
        self,
        values: Mapping[str, str],
        types: Mapping[str, str],
        overrides: Mapping[str, str],
        flow_id: str,
        report: list[ReportLine],
        *,
        warn_unknown: bool = True,
        single: bool = True,
    ) -> None:
        self._values = dict(values)
        self._types = dict(types)
        self._overrides = {str(name): str(value) for name, value in overrides.items()}
        self._flow_id = flow_id
        self._single = single
        self._report = report
        self._used: dict[str, list[str]] = {}
        for name, value in self._overrides.items():
            if warn_unknown and name not in self._values and name not in self._types:
                report.append(
                    ReportLine("warning", "parameters", f"the override {name!r} names no parameter of the export")
                )
            self._check_type(name, value, "override")

    def resolve(self, text: str, where: str, *, served: bool = True) -> tuple[str, bool]:
        """*text* with its references replaced, and whether every reference had a usable value."""
        complete = True

        def substitute(match: re.Match[str]) -> str:
            nonlocal complete
            name = match.group(1)
            self._used.setdefault(name, [])
            if where not in self._used[name]:
                self._used[name].append(where)
            value, source = self._value(name)
            level: Level = "error" if served else "warning"
            if value is None:
                complete = False
                self._report.append(
                    ReportLine(
                        level, where, f"the parameter {{{{{name}}}}} has no value in the export; {self._hint(name)}"
                    )
                )
                return match.group(0)
            if source == "export" and _looks_unconfigured(value):
                complete = False
                self._report.append(
                    ReportLine(
                        level,
                        where,
                        f"the parameter {{{{{name}}}}} is still the placeholder {value!r}; {self._hint(name)}",
                    )
                )
            return value

        return _REFERENCE.sub(substitute, text), complete

    def parameters(self) -> tuple[Parameter, ...]:
        names = list(dict.fromkeys([*self._values, *self._types, *self._overrides, *self._used]))
        result = []
        for name in names:
            value, source = self._value(name)
            used = tuple(self._used.get(name, ()))
            result.append(Parameter(name, value, source, self._types.get(name) or None, used, self._values.get(name)))
        return tuple(result)

    def _value(self, name: str) -> tuple[str | None, ParameterSource]:
        if name in self._overrides:
            return self._overrides[name], "override"
        if name in self._values:
            return self._values[name], "export"
        return None, "missing"

    def _hint(self, name: str) -> str:
        """Where a value goes: the ``[iflows.parameters]`` of the export's ``[[iflows]]`` table (of a
        package, the flow's own ``[iflows.flow.<id>.parameters]``), or ``-p`` of ``cpimock iflow``."""
        key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'
        table = "iflows.parameters" if self._single else f"iflows.flow.{self._flow_id}.parameters"
        option = "'" + name.replace("'", "'\\''") + "=...'"
        return (
            f'set it in cpimock.toml, in the export\'s [[iflows]] table: [{table}] {key} = "...", '
            f"or give it to cpimock iflow add or inspect as -p {option}"
        )

    def _check_type(self, name: str, value: str, source: str) -> None:
        pattern = _TYPES.get(self._types.get(name, ""))
        if pattern and not re.fullmatch(pattern, value.strip()):
            level: Level = "error" if source == "override" else "warning"
            text = f"the {source} value {value!r} of {name!r} is not of its type {self._types[name]}"
            self._report.append(ReportLine(level, "parameters", text))

    def check_export_types(self) -> None:
        for name, value in self._values.items():
            if name not in self._overrides and value:
                self._check_type(name, value, "export")


def _looks_unconfigured(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) and "</" not in value and "/>" not in value
