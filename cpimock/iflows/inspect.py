"""``cpimock iflow inspect``: an export in words, for someone who exported it from CPI a minute ago.

For each flow: the URLs a sender calls and who may call them, the channels that are not served
and why, each step of the main path and whether cpimock runs it, the flow's settings, each
externalized parameter with its value and where that value came from, and last every problem
with what to do about it. The words come from the reader's and the mapping's findings; the
workspace around the export (its URL, which instances hold a role) comes in a
:class:`Surroundings`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cpimock.iflows.export import ContentModifierStep, Parameter, ScriptStep, SenderChannel
from cpimock.iflows.export.report import package_lines, settings_lines
from cpimock.iflows.exported import ServedFlow, StepPlan
from cpimock.iflows.model import Channel

__all__ = ["Surroundings", "call_line", "render_inspection"]

_WAYS = {
    "certificate": "the service key's client certificate",
    "basic": "Basic with a ClientId/Secret key",
    "oauth": "an OAuth token",
}


@dataclass(frozen=True)
class Surroundings:
    """What the report says about the workspace the export is (or would be) served in."""

    base_url: str = "https://127.0.0.1:8443"
    # who holds a role in the workspace, in words ("instance default: keys demo-sender, s4"), or None
    holders: Callable[[str], str | None] = field(default=lambda role: None)
    # where an overriding parameter value came from ("cpimock.toml", "-p")
    override_source: Callable[[str], str] = field(default=lambda name: "cpimock.toml")
    served_by: str | None = None  # "cpimock.toml iflows[2]" when the workspace serves the export already
    key_file: str | None = None  # a service key for the "call it" line
    ca_file: str | None = None


def render_inspection(flows: Sequence[ServedFlow], around: Surroundings) -> str:
    """The report on every flow of one export (a package's header first)."""
    lines: list[str] = []
    package = flows[0].flow.package if flows else None
    if package is not None:
        lines += package_lines(package)
    for served in flows:
        if lines:
            lines.append("")
        lines += _flow(served, around)
    return "\n".join(lines) + "\n"


def _flow(served: ServedFlow, around: Surroundings) -> list[str]:
    flow = served.flow
    title = f"iFlow {flow.id}" + (f" ({flow.name})" if flow.name != flow.id else "")
    lines = [f"{title}, version {flow.version or '?'}", f"  from {flow.source}"]
    if around.served_by:
        lines.append(f"  served by this workspace ({around.served_by})")
    mapped = {channel.url_path: channel for channel in (served.iflow.channels if served.iflow else ())}
    served_channels = [channel for channel in flow.channels if channel.served]
    lines += ["", "  Sender channels cpimock serves:"]
    for channel in served_channels:
        lines += [f"    {line}" for line in _served_channel(channel, mapped, served, around)]
    if not served_channels:
        lines.append("    none")
    idle = [channel for channel in flow.channels if not channel.served]
    if idle:
        lines += ["", "  Sender channels cpimock does not serve:"]
        for channel in idle:
            place = f" at {channel.address}" if channel.address else ""
            lines.append(f"    {channel.kind} channel {channel.name!r}{place}: it {channel.not_served}")
    main = flow.process_of(served_channels[0]) if served_channels else None
    if main is not None:
        lines += ["", f"  Steps of {main.name!r}, in order:"]
        lines += [f"    {number}. {_plan(plan)}" for number, plan in enumerate(served.plans, start=1)]
        if not served.plans:
            lines.append("    none: the message comes back to the sender as it arrived")
        for handler in main.handlers:
            lines.append(f"    {handler.name} ({handler.id}): {handler.kind}: skipped; a failing step fails the call")
        if not main.complete:
            lines.append("    (the path branches or ends before an end event: the steps after it are skipped)")
    lines += ["", "  Settings:", *(f"    {line}" for line in settings_lines(flow))]
    if flow.parameters:
        lines += ["", "  Externalized parameters:", *_parameters(flow.parameters, around)]
    lines += _findings(served)
    lines += ["", f"  Result: {_result(served)}"]
    return lines


def _served_channel(
    channel: SenderChannel, mapped: dict[str, Channel], served: ServedFlow, around: Surroundings
) -> list[str]:
    assert channel.adapter is not None
    endpoint = channel.endpoint or f"{channel.adapter.prefix}(no address)"
    target = mapped.get(endpoint.rstrip("/") or endpoint)
    lines = [f"{around.base_url}{endpoint}  ({channel.adapter.value}, sender channel {channel.name!r})"]
    if channel.authorization == "client-certificate":
        lines.append("  who may call: a client certificate with one of these subjects and issuers:")
        lines += [f"    {pair.subject}  issued by  {pair.issuer}" for pair in channel.client_certificates]
    else:
        role = channel.role or "ESBMessaging.send"
        lines.append(f"  who may call: a service key whose instance holds the role {role}")
        holders = around.holders(role)
        if holders is not None:
            lines.append(f"    in this workspace: {holders}")
    methods = [_WAYS[method] for method in ("certificate", "basic", "oauth") if method in served.settings.auth_methods]
    lines.append(f"  ways in: {', '.join(methods)}")
    if channel.csrf:
        lines.append("  CSRF protection: on; fetch a token with a GET and X-CSRF-Token: Fetch, send it with the POST")
    elif channel.csrf is not None:
        lines.append("  CSRF protection: off")
    limits = f"  body up to {channel.max_body_mb} MB"
    if channel.max_attachment_mb is not None:
        limits += f", attachments up to {channel.max_attachment_mb} MB"
    lines.append(limits)
    if channel.soap is not None:
        soap = channel.soap
        pattern = "one-way" if soap.exchange_pattern == "OneWay" else "request-reply"
        text = f"  SOAP: {pattern}" + (", robust (errors returned as faults)" if soap.robust else "")
        if soap.wsdl:
            text += f", WSDL {soap.wsdl.removeprefix('src/main/resources/')} (GET {endpoint}?wsdl)"
        text += ", WS-Addressing on" if soap.ws_addressing else ""
        lines.append(text)
    if channel.idoc is not None:
        lines.append(f"  invalid XML characters: {channel.idoc.invalid_xml_characters}")
    if target is not None and around.key_file and channel.authorization != "client-certificate":
        lines.append(f"  call it: {call_line(around, target)}")
    return lines


def call_line(around: Surroundings, channel: Channel) -> str:
    url = around.base_url + channel.url_path.removesuffix("/*")
    options = f"--key {around.key_file}" + (f" --cacert {around.ca_file}" if around.ca_file else "")
    if channel.adapter == "idoc":
        return f"cpimock call {url} {options} --idoc FILE"
    if channel.adapter in ("soap", "soap-rm"):
        return f"cpimock call {url} {options} --soap FILE"
    csrf = " --csrf" if channel.csrf else ""
    return f"cpimock call {url} {options}{csrf} -d @FILE"


def _plan(plan: StepPlan) -> str:
    step = plan.step
    if isinstance(step, ContentModifierStep):
        spec = step.spec
        parts = [_count(len(spec.headers), "header row"), _count(len(spec.properties), "property row")]
        if spec.body_type and spec.body:
            parts.append(f"{spec.body_type} body")
        what = f"content modifier ({', '.join(parts)})"
    elif isinstance(step, ScriptStep):
        where = f" in the script collection {step.bundle}" if step.bundle else ""
        what = f"{step.language} {step.script}{where}, function {step.function}"
    else:
        what = step.kind
    if plan.how == "skipped":
        return f"{plan.label}: {what}: skipped: {plan.note.removeprefix(what + ': ')}"
    return f"{plan.label}: {what}: {plan.note}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _parameters(parameters: Sequence[Parameter], around: Surroundings) -> list[str]:
    width = min(max(len(parameter.name) for parameter in parameters), 32)
    values = ["(no value)" if p.value is None else json.dumps(p.value, ensure_ascii=False) for p in parameters]
    value_width = min(max(len(value) for value in values), 40)
    lines = []
    for parameter, value in zip(parameters, values, strict=True):
        if parameter.source == "override":
            source = f"from {around.override_source(parameter.name)}"
            if parameter.exported is not None:
                source += f"; the export has {json.dumps(parameter.exported, ensure_ascii=False)}"
        elif parameter.source == "export":
            source = "from the export's parameters.prop"
        else:
            source = "missing: neither the export nor cpimock.toml sets it"
        if not parameter.used_by:
            source += "; used by nothing cpimock reads"
        lines.append(f"    {parameter.name.ljust(width)}  {value.ljust(value_width)}  {source}")
    return lines


def _findings(served: ServedFlow) -> list[str]:
    report = served.report
    lines = []
    errors = [line for line in report if line.level == "error"]
    shown = _listed_above(served)
    warnings = [line for line in report if line.level == "warning" and line.where not in shown]
    notes = [line for line in report if line.level == "info"]
    if errors:
        lines += ["", "  Errors (it cannot be served until each is fixed):"]
        lines += [f"    {line.where}: {line.text}" for line in errors]
    if warnings:
        lines += ["", "  Warnings (served all the same):"]
        lines += [f"    {line.where}: {line.text}" for line in warnings]
    if notes:
        lines += ["", "  Notes:", *(f"    {line.where}: {line.text}" for line in notes)]
    return lines


def _listed_above(served: ServedFlow) -> set[str]:
    """The places whose warning the report has said already: skipped steps, handlers, channels not served."""
    flow = served.flow
    places = {f"step {plan.step.name!r} ({plan.step.id})" for plan in served.plans if plan.how == "skipped"}
    places |= {f"{h.name} ({h.id})" for process in flow.processes for h in process.handlers}
    places |= {f"sender channel {c.name} ({c.id})" for c in flow.channels if not c.served}
    return places


def _result(served: ServedFlow) -> str:
    errors = len(served.errors)
    if errors:
        return f"cannot be served: {_count(errors, 'error')} above"
    skipped = len(served.skipped)
    if skipped:
        return f"ready to serve, without {_count(skipped, 'step')} listed above (strict = true would refuse it)"
    return "ready to serve, every step included"
