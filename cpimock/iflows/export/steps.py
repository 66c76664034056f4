"""The steps of an integration process: from its start event along the sequence flows to its end, in order.

Content modifiers are compiled here (an expression outside cpimock's Simple subset becomes a
report line now, not a failure at the first call); script steps name their file and function;
every other step is kept with its kind, name and id, as not run. A branch (router, multicast)
ends the walk: what follows depends on the message, and cpimock does not route.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from lxml import etree

from cpimock.iflows.export.archive import FlowFiles
from cpimock.iflows.export.bpmn import local, properties, q
from cpimock.iflows.export.model import (
    ContentModifierStep,
    IntegrationProcess,
    ReportLine,
    ScriptStep,
    Step,
    UnsupportedStep,
)
from cpimock.iflows.export.parameters import ParameterResolver
from cpimock.steps.content_modifier import ContentModifierSpec, Row, compile_content_modifier
from cpimock.xmlsafe import XmlError, parse

__all__ = ["walk_process"]

_KINDS = {
    "ProcessCallElement": "Process Call (a local integration process)",
    "LoopingProcessCall": "Looping Process Call",
    "IdempotentProcessCall": "Idempotent Process Call",
    "Mapping": "Mapping",
    "XSLTMapping": "XSLT Mapping",
    "MessageMapping": "Message Mapping",
    "Splitter": "Splitter",
    "Gather": "Gather",
    "Aggregator": "Aggregator",
    "Filter": "Filter",
    "JsonToXmlConverter": "JSON to XML Converter",
    "XmlToJsonConverter": "XML to JSON Converter",
    "XmlToCsvConverter": "XML to CSV Converter",
    "CsvToXmlConverter": "CSV to XML Converter",
    "EDItoXMLConverter": "EDI to XML Converter",
    "XMLtoEDIConverter": "XML to EDI Converter",
    "DBstorage": "Data Store Operation",
    "Variables": "Write Variables",
    "Encoder": "Encoder",
    "Decoder": "Decoder",
    "XmlValidator": "XML Validator",
    "XmlModifier": "XML Modifier",
    "ExternalCall": "Request Reply",
    "Send": "Send",
    "contentEnricherWithLookup": "Content Enricher",
    "ExclusiveGateway": "Router",
    "Multicast": "Parallel Multicast",
    "SequentialMulticast": "Sequential Multicast",
    "Join": "Join",
}
_TABLE_CELLS = ("Action", "Name", "Type", "Value", "Datatype", "Default")
_HANDLER = "Exception Subprocess"


def walk_process(
    process: etree._Element,
    start_id: str | None,
    *,
    served: bool,
    files: FlowFiles,
    namespaces: Mapping[str, str],
    resolver: ParameterResolver,
    report: list[ReportLine],
    local_processes: Mapping[str, etree._Element] | None = None,
    calls: tuple[str, ...] = (),
) -> IntegrationProcess:
    """The steps of *process* from *start_id*; a call of a local process brings the local steps in place."""
    process_id = process.get("id") or "?"
    name = process.get("name") or process_id
    nodes = {child.get("id"): child for child in process if child.get("id") and local(child) != "sequenceFlow"}
    outgoing: dict[str, list[str]] = {}
    for flow in process.iterchildren(q("sequenceFlow")):
        outgoing.setdefault(flow.get("sourceRef") or "", []).append(flow.get("targetRef") or "")
    handlers: list[UnsupportedStep] = []
    for child in process.iterchildren(q("subProcess")):
        if "ErrorEventSubProcess" in dict(properties(child)).get("activityType", "") or child.get("triggeredByEvent"):
            handler = UnsupportedStep(child.get("id") or "?", child.get("name") or "exception subprocess", _HANDLER)
            handlers.append(handler)
            text = "an exception subprocess; cpimock does not run it, a failing step fails the call"
            report.append(ReportLine("warning", f"{handler.name} ({handler.id})", text))
    steps: list[Step] = []
    current = start_id or next((key for key, node in nodes.items() if local(node) == "startEvent"), None)
    complete = False
    nested_complete = True
    visited: set[str] = set()
    where = f"process {name!r}"
    while current is not None:
        visited.add(current)
        targets = outgoing.get(current, [])
        if len(targets) > 1:
            report.append(ReportLine("warning", where, f"the walk stops at the branch after {current}"))
            break
        if not targets:
            node = nodes.get(current)
            complete = node is not None and local(node) == "endEvent"
            if not complete:
                report.append(ReportLine("warning", where, f"{current} leads nowhere; the steps end there"))
            break
        following = targets[0]
        node = nodes.get(following)
        if node is None or following in visited:
            report.append(ReportLine("warning", where, f"the path after {current} loops or leaves the process"))
            break
        if local(node) == "endEvent":
            end = _end_event(node)
            if end is not None:
                steps.append(end)
                report.append(ReportLine("warning", _step_where(end), f"{end.kind}: not run by cpimock"))
            current = following
            continue
        called = _local_call(node, local_processes or {}, (process_id, *calls))
        if called is not None:
            inner = walk_process(
                called,
                None,
                served=served,
                files=files,
                namespaces=namespaces,
                resolver=resolver,
                report=report,
                local_processes=local_processes,
                calls=(process_id, *calls),
            )
            steps.extend(inner.steps)
            nested_complete = nested_complete and inner.complete
            text = f"calls the local process {inner.name!r}: its steps are listed in its place"
            report.append(ReportLine("info", f"step {node.get('name') or following!r} ({following})", text))
        else:
            steps.append(_step(node, served, files, namespaces, resolver, report))
        current = following
    return IntegrationProcess(process_id, name, tuple(steps), complete and nested_complete, tuple(handlers))


_MAX_CALL_DEPTH = 8


def _local_call(
    node: etree._Element, local_processes: Mapping[str, etree._Element], calls: tuple[str, ...]
) -> etree._Element | None:
    """The local process a non-looping Process Call step calls, unless the call would recurse."""
    raw = dict(properties(node))
    if raw.get("activityType") != "ProcessCallElement" or raw.get("subActivityType") == "LoopingProcess":
        return None
    target = raw.get("processId", "")
    if target in calls or len(calls) > _MAX_CALL_DEPTH:
        return None
    return local_processes.get(target)


def _step_where(step: Step) -> str:
    return f"step {step.name!r} ({step.id})"


def _end_event(node: etree._Element) -> UnsupportedStep | None:
    kinds = {local(child) for child in node}
    for definition, kind in (
        ("errorEventDefinition", "Error End Event"),
        ("escalationEventDefinition", "Escalation End Event"),
        ("terminateEventDefinition", "Terminate End Event"),
    ):
        if definition in kinds:
            return UnsupportedStep(node.get("id") or "?", node.get("name") or kind, kind)
    return None


def _step(
    node: etree._Element,
    served: bool,
    files: FlowFiles,
    namespaces: Mapping[str, str],
    resolver: ParameterResolver,
    report: list[ReportLine],
) -> Step:
    raw = dict(properties(node))
    step_id = node.get("id") or "?"
    name = node.get("name") or step_id
    activity = raw.get("activityType", "")
    where = f"step {name!r} ({step_id})"

    def value(key: str) -> str:
        return resolver.resolve(raw.get(key, ""), f"{where}: {key}", served=served)[0]

    if activity == "Enricher":
        return _content_modifier(step_id, name, where, value, raw, namespaces, resolver, served, report)
    if activity == "Script":
        return _script(step_id, name, where, value, raw, files, report)
    if activity == "ProcessCallElement" and raw.get("subActivityType") == "LoopingProcess":
        activity = "LoopingProcessCall"
    variant = re.search(r"cname::([^/]*)", raw.get("cmdVariantUri", ""))
    kind = _KINDS.get(raw.get("subActivityType", "")) if activity == "Mapping" else None
    if kind is None and variant:
        kind = _KINDS.get(variant.group(1)) if activity in ("Mapping", "") else None
    kind = kind or _KINDS.get(activity) or activity or _tag_kind(node)
    step = UnsupportedStep(step_id, name, kind)
    report.append(ReportLine("warning", where, f"{kind}: not run by cpimock"))
    return step


def _tag_kind(node: etree._Element) -> str:
    tag = local(node)
    return {"exclusiveGateway": "Router", "parallelGateway": "Multicast", "serviceTask": "Request Reply"}.get(tag, tag)


def _content_modifier(
    step_id: str,
    name: str,
    where: str,
    value: Callable[[str], str],
    raw: dict[str, str],
    namespaces: Mapping[str, str],
    resolver: ParameterResolver,
    served: bool,
    report: list[ReportLine],
) -> Step:
    tables = []
    for key in ("headerTable", "propertyTable"):
        rows = []
        for cells in _table(raw.get(key, ""), f"{where}: {key}", report):
            resolved = {
                cell: resolver.resolve(text, f"{where}: {key}", served=served)[0] for cell, text in cells.items()
            }
            rows.append(Row(*(resolved.get(cell, "") for cell in _TABLE_CELLS)))
        tables.append(tuple(rows))
    body_type = value("bodyType").strip() or None
    spec = ContentModifierSpec(tables[0], tables[1], body_type, value("wrapContent"))
    compiled, problems = compile_content_modifier(spec, name, namespaces)
    for problem in problems:
        report.append(ReportLine(problem.level if served else "warning", where, problem.text))
    return ContentModifierStep(step_id, name, spec, compiled)


def _table(text: str, where: str, report: list[ReportLine]) -> list[dict[str, str]]:
    """The rows of an HTML-escaped ``<row><cell id='Name'>...</cell>...</row>`` table."""
    if not text.strip():
        return []
    try:
        root = parse(f"<rows>{text}</rows>".encode(), what=f"{where} (a table of rows)")
    except XmlError as exc:
        report.append(ReportLine("error", where, str(exc)))
        return []
    return [{str(cell.get("id", "")): cell.text or "" for cell in row.iter("cell")} for row in root.iter("row")]


def _script(
    step_id: str,
    name: str,
    where: str,
    value: Callable[[str], str],
    raw: dict[str, str],
    files: FlowFiles,
    report: list[ReportLine],
) -> Step:
    script = value("script").strip()
    bundle = value("scriptBundleId").strip() or None
    language = raw.get("subActivityType", "").strip()
    if not language:
        variant = re.search(r"cname::([^/]*)", raw.get("cmdVariantUri", ""))
        language = variant.group(1) if variant else "GroovyScript"
    path = f"src/main/resources/script/{script}" if script else None
    if path and not files.has(path):
        path = None
    step = ScriptStep(step_id, name, language, script, value("scriptFunction").strip() or "processData", bundle, path)
    problem = step.why_not
    if problem is not None:
        replace = f'[iflows.replace] {json.dumps(script)} = "iflows/<file>.py:<function>"'
        report.append(ReportLine("warning", where, f"{problem}; replace it with a Python step: {replace}"))
    return step
