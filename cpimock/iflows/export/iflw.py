"""The BPMN2 ``.iflw`` of an export: the flow's settings, its sender channels and its integration processes.

Participants say who is who (``EndpointSender``, ``EndpointRecevier`` in SAP's spelling,
``IntegrationProcess``); every ``messageFlow`` from a sender participant is a sender channel
(a flow may have several), and its target start event names the process it starts. Processes
with ``processType`` ``directCall`` are local processes, called from others, not started.
"""

from __future__ import annotations

from lxml import etree

from cpimock.iflows.export.archive import FlowFiles
from cpimock.iflows.export.bpmn import IFL, local, properties, q
from cpimock.iflows.export.errors import ExportError
from cpimock.iflows.export.model import CollaborationSettings, IntegrationProcess, ReportLine, SenderChannel
from cpimock.iflows.export.parameters import ParameterResolver
from cpimock.iflows.export.senders import read_sender_channel, timer_channel
from cpimock.iflows.export.steps import walk_process
from cpimock.xmlsafe import XmlError, parse

__all__ = ["IFLW_FOLDER", "find_iflw", "read_iflw"]

IFLW_FOLDER = "src/main/resources/scenarioflows/integrationflow/"
_MAX_IFLW = 32 * 1024 * 1024
_SETTINGS = ("namespaceMapping", "allowedHeaderList", "returnExceptionToSender", "log", "httpSessionHandling")


def find_iflw(files: FlowFiles) -> str:
    found = sorted(name for name in files.names() if name.startswith(IFLW_FOLDER) and name.endswith(".iflw"))
    if not found:
        raise ExportError(f"{files.origin}: no .iflw under {IFLW_FOLDER}; the export holds no integration flow model")
    if len(found) > 1:
        raise ExportError(f"{files.origin}: {len(found)} .iflw files under {IFLW_FOLDER}; an export holds one")
    return found[0]


def read_iflw(
    files: FlowFiles, resolver: ParameterResolver, report: list[ReportLine]
) -> tuple[CollaborationSettings, tuple[SenderChannel, ...], tuple[IntegrationProcess, ...]]:
    name = find_iflw(files)
    try:
        root = parse(files.read(name), what=f"{files.origin}: {name}", max_bytes=_MAX_IFLW)
    except XmlError as exc:
        raise ExportError(str(exc)) from None
    collaboration = root.find(q("collaboration"))
    if collaboration is None:
        raise ExportError(f"{files.origin}: {name} has no bpmn2:collaboration; it is not an iFlow model")
    settings = _settings(collaboration, resolver, report)
    processes = {element.get("id") or "": element for element in root.iterchildren(q("process"))}
    starts = {
        event.get("id"): process_id
        for process_id, process in processes.items()
        for event in process.iterchildren(q("startEvent"))
    }
    senders = {
        participant.get("id")
        for participant in collaboration.iterchildren(q("participant"))
        if participant.get(f"{{{IFL}}}type") == "EndpointSender"
    }
    channels: list[SenderChannel] = []
    started: dict[str, tuple[str, bool]] = {}  # process id -> (start event, started by a served channel)
    for flow in collaboration.iterchildren(q("messageFlow")):
        raw = properties(flow)
        target = flow.get("targetRef") or ""
        process_id = starts.get(target)
        # a sender's flow into a step (a poll enrich) is no way in; only a flow into a start event is
        if process_id is None or (flow.get("sourceRef") not in senders and dict(raw).get("direction") != "Sender"):
            continue
        channel = read_sender_channel(flow, process_id, files, resolver, report, raw)
        channels.append(channel)
        earlier = started.get(process_id)
        started[process_id] = (earlier[0] if earlier else target, channel.served or bool(earlier and earlier[1]))
    for process_id, process in processes.items():
        if _is_local(process):
            continue
        for event in process.iterchildren(q("startEvent")):
            if any(local(child) == "timerEventDefinition" for child in event):
                channels.append(timer_channel(process_id, process.get("name") or process_id, event.get("id") or ""))
                started.setdefault(process_id, (event.get("id") or "", False))
    local_processes = {key: element for key, element in processes.items() if _is_local(element)}
    walked = []
    for process_id, (start, served) in started.items():
        walked.append(
            walk_process(
                processes[process_id],
                start,
                served=served,
                files=files,
                namespaces=settings.namespaces,
                resolver=resolver,
                report=report,
                local_processes=local_processes,
            )
        )
    return settings, tuple(channels), tuple(walked)


def _is_local(process: etree._Element) -> bool:
    return dict(properties(process)).get("processType") == "directCall"


def _settings(
    collaboration: etree._Element, resolver: ParameterResolver, report: list[ReportLine]
) -> CollaborationSettings:
    resolved = tuple(
        (key, resolver.resolve(value, f"integration flow: {key}", served=key in _SETTINGS)[0])
        for key, value in properties(collaboration)
    )
    values = dict(resolved)
    namespaces: dict[str, str] = {}
    for item in values.get("namespaceMapping", "").split(";"):
        declaration = item.strip()
        if not declaration:
            continue
        prefix, separator, uri = declaration.partition("=")
        prefix = prefix.strip().removeprefix("xmlns:")
        if not separator or not prefix or not uri.strip() or ":" in prefix:
            text = f"{declaration!r} is not xmlns:prefix=URI; XPaths using it will not compile"
            report.append(ReportLine("warning", "integration flow: namespaceMapping", text))
            continue
        namespaces[prefix] = uri.strip()
    headers = tuple(part.strip() for part in values.get("allowedHeaderList", "").split("|") if part.strip())
    return CollaborationSettings(
        namespaces=namespaces,
        allowed_headers=headers,
        return_exception_to_sender=values.get("returnExceptionToSender", "false").strip().lower() == "true",
        log_level=values.get("log", "").strip() or "All events",
        http_session_handling=values.get("httpSessionHandling", "").strip() or "None",
        properties=resolved,
    )
