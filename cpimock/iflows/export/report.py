"""The load report in words, as ``cpimock iflow inspect`` prints it.

Written for someone who exported an iFlow from CPI a minute ago: where a sender calls it on
cpimock and with which authorization, which steps cpimock runs and which it does not, which
parameter values it took and from where, and, last, what stops it from being served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from cpimock.iflows.export.archive import PackageInfo
from cpimock.iflows.export.model import (
    ContentModifierStep,
    ExportedFlow,
    IntegrationProcess,
    Parameter,
    ScriptStep,
    SenderChannel,
    Step,
)

__all__ = ["package_lines", "render_report", "settings_lines"]

_KINDS = {
    "IFlow": ("integration flow", "integration flows"),
    "ValueMapping": ("value mapping", "value mappings"),
    "ScriptCollection": ("script collection", "script collections"),
    "MessageMapping": ("message mapping", "message mappings"),
    "File": ("file", "files"),
    "Url": ("link", "links"),
}


def render_report(flows: Sequence[ExportedFlow]) -> str:
    """The report on every flow of one export (a package's header first)."""
    lines: list[str] = []
    package = flows[0].package if flows else None
    if package is not None:
        lines += package_lines(package)
    for flow in flows:
        if lines:
            lines.append("")
        lines += _flow(flow)
    return "\n".join(lines) + "\n"


def package_lines(package: PackageInfo) -> list[str]:
    counts = Counter(resource.kind for resource in package.resources)
    held = ", ".join(_count(kind, number) for kind, number in counts.items()) or "nothing"
    lines = [f"Package {package.name!r}: {held}"]
    for resource in package.resources:
        if resource.kind not in ("IFlow", "Url", "File"):
            lines.append(f"  {resource.name}: {_count(resource.kind, 1)[2:]}, not served by cpimock")
    lines += [f"  note: {note}" for note in package.notes]
    return lines


def _count(kind: str, number: int) -> str:
    singular, plural = _KINDS.get(kind, (kind, kind))
    return f"{number} {singular if number == 1 else plural}"


def _flow(flow: ExportedFlow) -> list[str]:
    title = f"iFlow {flow.id}" + (f" ({flow.name})" if flow.name != flow.id else "")
    lines = [f"{title}, version {flow.version or '?'}", f"  from {flow.source}", "", "  Sender channels:"]
    lines += [f"    {line}" for channel in flow.channels for line in _channel(channel)] or ["    (none)"]
    for process in flow.processes:
        lines += ["", *_process(flow, process)]
    lines += ["", "  Settings:", *(f"    {line}" for line in settings_lines(flow))]
    if flow.parameters:
        lines += ["", "  Externalized parameters:", *_parameters(flow.parameters)]
    findings = [line for line in flow.report if line.level != "info"]
    notes = [line for line in flow.report if line.level == "info"]
    if findings or notes:
        lines += ["", "  Findings:"]
        lines += [f"    {line.level}: {line.where}: {line.text}" for line in (*findings, *notes)]
    lines += ["", f"  Result: {_result(flow)}"]
    return lines


def _result(flow: ExportedFlow) -> str:
    errors = len(flow.errors)
    if errors:
        return f"cannot be served: {errors} error{'s' if errors != 1 else ''} above"
    served = {channel.process for channel in flow.channels if channel.served}
    idle = sum(not step.runs for process in flow.processes if process.id in served for step in process.steps)
    if idle:
        steps = f"{idle} steps listed above are" if idle != 1 else "1 step listed above is"
        return f"ready to serve, but {steps} not run by cpimock"
    return "ready to serve, every step included"


def _channel(channel: SenderChannel) -> list[str]:
    if not channel.served:
        place = f" at {channel.address}" if channel.address else ""
        return [f"{channel.kind} channel {channel.name!r}{place}: not served; it {channel.not_served}"]
    assert channel.adapter is not None
    first = f"{channel.adapter.value} at {channel.endpoint or '(no address)'}  (channel {channel.name!r})"
    if channel.authorization == "client-certificate":
        auth = [f"authorization: client certificate, {len(channel.client_certificates)} subject/issuer pair(s):"]
        auth += [f"  subject {pair.subject}  issued by {pair.issuer}" for pair in channel.client_certificates]
    else:
        auth = [f"authorization: user role {channel.role}"]
    limits = f"body up to {channel.max_body_mb} MB"
    if channel.max_attachment_mb is not None:
        limits += f", attachments up to {channel.max_attachment_mb} MB"
    details = [*auth, limits]
    if channel.csrf is not None:
        details.append("CSRF protection: " + ("on (fetch a token first)" if channel.csrf else "off"))
    if channel.soap is not None:
        soap = channel.soap
        text = f"SOAP: {soap.exchange_pattern}" + (" (robust: errors returned)" if soap.robust else "")
        text += f", service definition {soap.service_definition}" + (f" ({soap.wsdl})" if soap.wsdl else "")
        text += ", WS-Addressing on" if soap.ws_addressing else ""
        details.append(text)
    if channel.idoc is not None:
        details.append(f"invalid XML characters: {channel.idoc.invalid_xml_characters}")
    return [first, *(f"  {detail}" for detail in details)]


def _process(flow: ExportedFlow, process: IntegrationProcess) -> list[str]:
    starters = [channel.name for channel in flow.channels if channel.process == process.id]
    head = f"  Steps of {process.name!r}" + (f" (started by {', '.join(starters)})" if starters else "") + ":"
    lines = [head]
    for number, step in enumerate(process.steps, start=1):
        lines.append(f"    {number}. {step.name} ({step.id}): {_step(step)}")
    if not process.steps:
        lines.append("    (none: the message comes back as it arrived)")
    if not process.complete:
        lines.append("    (the path does not go on to an end event: see the findings)")
    return lines


def _step(step: Step) -> str:
    if isinstance(step, ContentModifierStep):
        spec = step.spec
        parts = [f"{len(spec.headers)} header row(s)", f"{len(spec.properties)} property row(s)"]
        if spec.body_type and spec.body:
            parts.append(f"{spec.body_type} body")
        return "content modifier, " + ", ".join(parts) + (": runs" if step.runs else ": cannot run (see findings)")
    if isinstance(step, ScriptStep):
        where = f"script collection {step.bundle}" if step.bundle else "script/"
        done = "runs on the JVM (needs Java and Groovy)" if step.runs else f"not run: {step.why_not}"
        return f"{step.language} {step.script} ({where}), function {step.function}: {done}"
    return f"{step.kind}: not run by cpimock"


def settings_lines(flow: ExportedFlow) -> list[str]:
    settings = flow.settings
    headers = " | ".join(settings.allowed_headers) if settings.allowed_headers else "none"
    lines = [
        f"allowed headers: {headers}",
        f"return exception to sender: {'yes' if settings.return_exception_to_sender else 'no'}",
        f"log level: {settings.log_level}",
    ]
    if settings.namespaces:
        lines.append("namespaces: " + ", ".join(f"{prefix}={uri}" for prefix, uri in settings.namespaces.items()))
    if flow.script_collections:
        lines.append("script collections: " + ", ".join(flow.script_collections))
    return lines


def _parameters(parameters: Sequence[Parameter]) -> list[str]:
    width = min(max(len(parameter.name) for parameter in parameters), 40)
    lines = []
    for parameter in parameters:
        value = "(no value)" if parameter.value is None else repr(parameter.value)
        source = {"export": "from the export", "override": "overridden", "missing": "missing"}[parameter.source]
        used = (
            f"; used by {len(parameter.used_by)} setting(s)"
            if parameter.used_by
            else "; not used by what cpimock reads"
        )
        lines.append(f"    {parameter.name.ljust(width)}  {value}  ({source}{used})")
    return lines
