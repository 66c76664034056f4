"""An export's flow as the tenant serves it: one :class:`Channel` per served sender channel, the
steps of its main path as a pipeline, and what it skips.

The export reader says what the export holds (:class:`ExportedFlow`); here its sender channels
become the channels a sender calls (CPI's keys mapped as :mod:`cpimock.iflows.model` lists
them), its content modifiers and Groovy scripts become steps (a script replaced by the step
``cpimock.toml`` names in ``[iflows.replace]``), and every step cpimock does not run is named as
skipped. A flow with skipped steps is served with those steps left out, unless its table says
``strict = true``, which refuses it. Everything that keeps a flow from being served is an
``error`` line of :attr:`ServedFlow.problems`, naming the setting and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from cpimock.config import (
    DEFAULT_ROLE,
    Adapter,
    ExportConfig,
    IdocChannel,
    SoapChannel,
    SubjectPair,
    address_problem,
    iflow_log_level,
    normal_address,
    role_problem,
)
from cpimock.iflows.export import Adapter as ExportAdapter
from cpimock.iflows.export import (
    ContentModifierStep,
    ExportedFlow,
    IntegrationProcess,
    ReportLine,
    ScriptStep,
    SenderChannel,
    Step,
)
from cpimock.iflows.model import Channel, IFlow
from cpimock.pki.dn import parse_dn
from cpimock.steps.groovy.toolchain import GroovyUnavailable, find_toolchain
from cpimock.steps.kinds import ModifierStep, ScriptFile, StepRef

__all__ = ["ServedFlow", "StepPlan", "serve_flow"]

_ADAPTERS: dict[ExportAdapter, Adapter] = {
    ExportAdapter.HTTPS: "https",
    ExportAdapter.SOAP: "soap",
    ExportAdapter.SOAP_RM: "soap-rm",
    ExportAdapter.IDOC: "idoc",
}
How = Literal["runs", "replaced", "skipped"]


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What the tenant does with one step of the main path."""

    step: Step
    how: How
    note: str  # in words: "runs", "runs on the JVM", "replaced by iflows/x.py:process", why it is skipped
    ref: StepRef | None = None  # what the pipeline runs, unless skipped

    @property
    def label(self) -> str:
        return f"{self.step.name} ({self.step.id})"


@dataclass(frozen=True, slots=True)
class ServedFlow:
    """One flow of an export as the tenant serves it (``iflow``), or why it cannot (``problems``)."""

    flow: ExportedFlow
    settings: ExportConfig
    iflow: IFlow | None  # None when an error keeps the flow from being served
    plans: tuple[StepPlan, ...]
    skipped: tuple[str, ...]  # every step, handler or path cpimock leaves out, in words
    problems: tuple[ReportLine, ...]  # what the mapping found, besides the reader's report

    @property
    def report(self) -> tuple[ReportLine, ...]:
        """The reader's findings (less the ones a replacement answered) and the mapping's."""
        replaced = {f"step {plan.step.name!r} ({plan.step.id})" for plan in self.plans if plan.how == "replaced"}
        kept = tuple(line for line in self.flow.report if not (line.level == "warning" and line.where in replaced))
        return kept + self.problems

    @property
    def errors(self) -> tuple[ReportLine, ...]:
        return tuple(line for line in self.report if line.level == "error")

    @property
    def warnings(self) -> tuple[ReportLine, ...]:
        return tuple(line for line in self.report if line.level == "warning")


def serve_flow(flow: ExportedFlow, settings: ExportConfig) -> ServedFlow:
    """*flow* mapped onto the tenant's model with the configuration of its ``[[iflows]]`` table."""
    problems: list[ReportLine] = []
    served = [channel for channel in flow.channels if channel.served]
    main = flow.process_of(served[0]) if served else None
    channels = []
    for channel in served:
        if main is not None and channel.process != main.id:
            text = (
                f"starts the integration process {channel.process!r}, and cpimock serves one process per iFlow "
                f"({main.name!r}); it is not served"
            )
            problems.append(ReportLine("warning", _where(channel), text))
            continue
        if any(line.level == "error" and line.where.startswith(_where(channel)) for line in flow.report):
            continue  # the reader found what is wrong with it already (a parameter without value, ...)
        mapped = _channel(flow.id, channel, problems)
        if mapped is not None:
            channels.append(mapped)
    replacements = settings.replacements(flow.id)
    plans = tuple(_plan(flow, step, replacements) for step in (main.steps if main else ()))
    _unused_replacements(plans, replacements, problems)
    skipped = [f"{plan.label}: {plan.note}" for plan in plans if plan.how == "skipped"]
    if main is not None:
        skipped += _process_gaps(main)
    if settings.is_strict(flow.id) and skipped:
        listed = "; ".join(skipped)
        text = f"strict = true refuses a flow whose steps cpimock skips, and it skips {listed}"
        fix = "; serve it without strict = true, or run a skipped script by another step with [iflows.replace]"
        problems.append(ReportLine("error", "strict", text + fix))
    refs = tuple(plan.ref for plan in plans if plan.ref is not None)
    log_level = iflow_log_level(flow.settings.log_level)
    if log_level is None:
        text = f"log {flow.settings.log_level!r} is not a log level cpimock knows; its messages are logged at INFO"
        problems.append(ReportLine("warning", "integration flow: log", text))
    errors = any(line.level == "error" for line in (*flow.report, *problems))
    if not errors and not channels:
        problems.append(ReportLine("error", "sender channels", "no sender channel is left to serve"))
        errors = True
    iflow = None
    if not errors and channels:
        iflow = IFlow(
            id=flow.id,
            name=flow.name,
            channels=tuple(channels),
            steps=refs,
            allowed_headers=flow.settings.allowed_headers,
            return_exception_to_sender=flow.settings.return_exception_to_sender,
            state=settings.state_of(flow.id),
            timeout_s=settings.timeout_s,
            auth_methods=settings.auth_methods,
            log_level=log_level or "INFO",
        )
    return ServedFlow(flow, settings, iflow, plans, tuple(skipped), tuple(problems))


def _where(channel: SenderChannel) -> str:
    return f"sender channel {channel.name} ({channel.id})"


def _channel(flow_id: str, channel: SenderChannel, problems: list[ReportLine]) -> Channel | None:
    assert channel.adapter is not None
    adapter = _ADAPTERS[channel.adapter]
    where = _where(channel)
    found: list[str] = []
    address = channel.address or ""
    problem = address_problem(address, adapter)
    if problem is not None:
        found.append(f"address: {problem}")
    role = channel.role or ""
    if channel.authorization == "user-role" and role_problem(role):
        found.append(f"userRole: {role_problem(role)}")
    pairs = []
    for number, pair in enumerate(channel.client_certificates, start=1):
        try:
            pairs.append(SubjectPair(parse_dn(pair.subject), parse_dn(pair.issuer)))
        except ValueError as exc:
            found.append(f"clientCertificates row {number}: {exc}; write DNs like CN=sender, O=ACME, C=DE")
    idoc = None
    if channel.idoc is not None:
        handling = _characters(channel.idoc.invalid_xml_characters)
        if handling is None:
            value = channel.idoc.invalid_xml_characters
            found.append(f"xmlCharacterHandling {value!r} is none of throwException, remove, substitute")
        else:
            idoc = IdocChannel(invalid_characters=handling)
    for text in found:
        problems.append(ReportLine("error", where, text))
    if found:
        return None
    return Channel(
        iflow_id=flow_id,
        adapter=adapter,
        address=normal_address(address),
        authorization=channel.authorization or "user-role",
        role=role or DEFAULT_ROLE,
        client_certificates=tuple(pairs),
        csrf=bool(channel.csrf) if adapter == "https" else False,
        max_body_mb=float(channel.max_body_mb),
        max_attachment_mb=float(channel.max_attachment_mb or 0) if adapter != "https" else 0.0,
        soap=_soap(channel, adapter),
        idoc=idoc,
    )


def _soap(channel: SenderChannel, adapter: Adapter) -> SoapChannel | None:
    options = channel.soap
    if options is None:
        return None
    if adapter == "soap-rm":  # SAP's SOAP (SAP RM) adapter is one-way and processes as Robust does
        return SoapChannel(
            pattern="one-way",
            processing="robust",
            wsdl=options.wsdl_content,
            service=options.service_name,
            port=options.port_name,
        )
    return SoapChannel(
        pattern="one-way" if options.exchange_pattern == "OneWay" else "request-reply",
        processing="robust" if options.robust else "ws-standard",
        wsdl=options.wsdl_content,
        service=options.service_name,
        port=options.port_name,
        ws_addressing=options.ws_addressing,
    )


def _characters(value: str) -> Literal["throw", "remove", "substitute"] | None:
    """CPI's *Invalid XML Character Handling* as the export writes it (``throwException``, ...)."""
    word = (value or "throw").strip().lower().replace(" ", "")
    if word.startswith("throw"):
        return "throw"
    if word.startswith("remove"):
        return "remove"
    if word.startswith(("substitute", "replace")):
        return "substitute"
    return None


def _plan(flow: ExportedFlow, step: Step, replacements: dict[str, str]) -> StepPlan:
    label = f"{step.name} ({step.id})"
    if isinstance(step, ContentModifierStep):
        if not step.runs:
            return StepPlan(step, "skipped", "a row cpimock cannot run (see the findings)")
        namespaces = tuple(flow.settings.namespaces.items())
        return StepPlan(step, "runs", "runs", ModifierStep(label, step.spec, namespaces))
    if isinstance(step, ScriptStep):
        replacement = replacements.get(f"{step.script}:{step.function}") or replacements.get(step.script)
        if replacement is not None:
            return StepPlan(step, "replaced", f"replaced by {replacement} (cpimock.toml)", replacement)
        path = flow.script_path(step)
        if path is None or not step.runs:
            why = step.why_not or "its script was not unpacked"
            return StepPlan(step, "skipped", f"{why}; {_replace_hint(step)}")
        try:
            find_toolchain()
        except GroovyUnavailable as exc:
            return StepPlan(step, "skipped", f"{exc}, or {_replace_hint(step)}")
        return StepPlan(step, "runs", "runs on the JVM", ScriptFile(label, path, step.function))
    return StepPlan(step, "skipped", f"{step.kind}: not run by cpimock")


def _replace_hint(step: ScriptStep) -> str:
    return f'replace it with a Python step: [iflows.replace] {json.dumps(step.script)} = "iflows/<file>.py:<function>"'


def _process_gaps(process: IntegrationProcess) -> list[str]:
    gaps = [f"{handler.name} ({handler.id}): {handler.kind}: not run by cpimock" for handler in process.handlers]
    if not process.complete:
        gaps.append(f"the steps after the last one listed of {process.name!r} (the path branches or ends early)")
    return gaps


def _unused_replacements(plans: tuple[StepPlan, ...], replacements: dict[str, str], problems: list[ReportLine]) -> None:
    scripts = [plan.step for plan in plans if isinstance(plan.step, ScriptStep)]
    names = {step.script for step in scripts} | {f"{step.script}:{step.function}" for step in scripts}
    for key in replacements:
        if key not in names:
            known = ", ".join(sorted({step.script for step in scripts})) or "none"
            text = f"[iflows.replace] {json.dumps(key)} names no script step of the flow (its scripts: {known})"
            problems.append(ReportLine("error", "replace", text))
