"""The frozen description of an iFlow read from a CPI export, and its load report.

Everything here is plain data: what the export says, with ``{{parameters}}`` resolved, and
what cpimock makes of it (which adapter serves a sender channel, which steps it runs). The
server later maps an :class:`ExportedFlow` onto its own iFlow model; nothing here serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cpimock.iflows.export.archive import PackageInfo
from cpimock.iflows.export.errors import ExportError
from cpimock.steps.content_modifier import ContentModifier, ContentModifierSpec

__all__ = [
    "Adapter",
    "ClientCertificate",
    "CollaborationSettings",
    "ContentModifierStep",
    "ExportedFlow",
    "IdocOptions",
    "IntegrationProcess",
    "Level",
    "Parameter",
    "ReportLine",
    "ScriptStep",
    "SenderChannel",
    "SoapOptions",
    "Step",
    "UnsupportedStep",
]

Level = Literal["info", "warning", "error"]
RESOURCES = "src/main/resources/"  # where an export keeps its iflw, parameters, script/, lib/, wsdl/...
Authorization = Literal["user-role", "client-certificate"]


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One finding of the load: ``error`` stops the flow from being served, ``warning`` and ``info`` do not."""

    level: Level
    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.text}"


class Adapter(StrEnum):
    """The sender adapters cpimock serves (every other one is listed as not served)."""

    HTTPS = "HTTPS"
    SOAP = "SOAP 1.x"
    SOAP_RM = "SOAP (SAP RM)"
    IDOC = "IDoc"

    @property
    def prefix(self) -> str:
        """The path prefix CPI serves the adapter under: ``/http`` for HTTPS, ``/cxf`` for the SOAP-based ones."""
        return "/http" if self is Adapter.HTTPS else "/cxf"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """One subject/issuer DN pair of a channel's *Client Certificate* authorization, as written in the export."""

    subject: str
    issuer: str


@dataclass(frozen=True, slots=True)
class SoapOptions:
    """SOAP 1.x and SOAP (SAP RM) channel settings."""

    exchange_pattern: str  # RequestReply | OneWay (SAP RM is one-way by nature)
    service_definition: str  # Manual | WSDL
    wsdl: str | None  # the WSDL's path inside the export, for WSDL-defined channels
    service_name: str | None
    port_name: str | None
    ws_addressing: bool
    robust: bool  # one-way processed synchronously, errors returned (soapOptions=cxfRobust)
    wsdl_content: bytes | None = field(default=None, repr=False)  # the WSDL's bytes, when the export carries it


@dataclass(frozen=True, slots=True)
class IdocOptions:
    invalid_xml_characters: str  # throwException (the default) or what the export names


@dataclass(frozen=True, slots=True)
class SenderChannel:
    """One way into the flow: a sender ``messageFlow``, or a start that no sender calls (a timer)."""

    id: str
    name: str
    kind: str  # the export's ComponentType (HTTPS, SOAP, IDOC, XI, AS2, ...) or "Timer"
    adapter: Adapter | None  # None: cpimock does not serve this channel
    address: str | None  # as configured: urlPath for HTTPS, address for the others
    process: str | None  # the integration process the channel starts
    authorization: Authorization | None = None
    role: str | None = None
    client_certificates: tuple[ClientCertificate, ...] = ()
    csrf: bool | None = None  # HTTPS only
    max_body_mb: int = 40
    max_attachment_mb: int | None = None
    soap: SoapOptions | None = None
    idoc: IdocOptions | None = None
    not_served: str | None = None  # why cpimock does not serve it, in words
    properties: tuple[tuple[str, str], ...] = ()  # every ifl:property, parameters resolved

    @property
    def served(self) -> bool:
        return self.adapter is not None

    @property
    def endpoint(self) -> str | None:
        """The path a sender calls on the tenant (``/http/orders``, ``/cxf/CallMe``), for served channels."""
        if self.adapter is None or not self.address:
            return None
        return self.adapter.prefix + self.address

    def property(self, key: str, default: str | None = None) -> str | None:
        for name, value in self.properties:
            if name == key:
                return value
        return default


@dataclass(frozen=True, slots=True)
class ContentModifierStep:
    id: str
    name: str
    spec: ContentModifierSpec
    compiled: ContentModifier | None  # None when a row uses what cpimock cannot run (see the report)

    @property
    def runs(self) -> bool:
        return self.compiled is not None


@dataclass(frozen=True, slots=True)
class ScriptStep:
    id: str
    name: str
    language: str  # GroovyScript | JavaScript
    script: str  # the file name under script/ (or in the script collection)
    function: str  # processData when the export leaves it empty
    bundle: str | None  # the script collection holding the script, if any
    path: str | None  # the script's path inside the export, when the export carries it

    @property
    def runs(self) -> bool:
        """Whether the Groovy runner can run it: a Groovy script the export carries (Java and Groovy aside)."""
        return self.path is not None and self.is_groovy

    @property
    def is_groovy(self) -> bool:
        return "groovy" in self.language.lower() or self.script.lower().endswith((".groovy", ".gsh"))

    @property
    def why_not(self) -> str | None:
        """Why the Groovy runner cannot run it, or None."""
        if not self.is_groovy:
            return f"{self.language} scripts do not run in cpimock (only Groovy does)"
        if self.path is None:
            if self.bundle:
                return f"the script lies in the script collection {self.bundle!r}, which this export does not carry"
            return f"the script {self.script!r} is not in the export's script/ folder"
        return None


@dataclass(frozen=True, slots=True)
class UnsupportedStep:
    id: str
    name: str
    kind: str  # in words: "Router", "Request Reply", "XSLT Mapping", ...

    runs = False


Step = ContentModifierStep | ScriptStep | UnsupportedStep


@dataclass(frozen=True, slots=True)
class IntegrationProcess:
    """An integration process (not a local one) and the steps from its start event to its end event, in order."""

    id: str
    name: str
    steps: tuple[Step, ...]
    complete: bool  # False when the walk stopped early (a branch, a loop, a dead end)
    handlers: tuple[UnsupportedStep, ...] = ()  # exception subprocesses, which cpimock does not run


@dataclass(frozen=True, slots=True)
class CollaborationSettings:
    """The flow's runtime configuration (the collaboration's properties)."""

    namespaces: Mapping[str, str]  # prefix -> URI, from namespaceMapping
    allowed_headers: tuple[str, ...]  # regular expressions, from the pipe-separated allowedHeaderList
    return_exception_to_sender: bool
    log_level: str
    http_session_handling: str
    properties: tuple[tuple[str, str], ...] = ()


ParameterSource = Literal["export", "override", "missing"]


@dataclass(frozen=True, slots=True)
class Parameter:
    """An externalized parameter, its value and where the value came from."""

    name: str
    value: str | None
    source: ParameterSource
    type: str | None = None  # from parameters.propdef: xsd:string, xsd:integer, xsd:boolean
    used_by: tuple[str, ...] = ()
    exported: str | None = None  # the export's own value (parameters.prop), whatever overrides it


@dataclass(frozen=True, slots=True)
class ExportedFlow:
    """One iFlow of an export, as cpimock understands it."""

    id: str  # Bundle-SymbolicName
    name: str
    version: str
    source: str  # the export file or folder (and the package entry)
    bundle_type: str
    channels: tuple[SenderChannel, ...]
    processes: tuple[IntegrationProcess, ...]
    settings: CollaborationSettings
    parameters: tuple[Parameter, ...]
    report: tuple[ReportLine, ...]
    script_collections: tuple[str, ...] = ()
    package: PackageInfo | None = None
    files: tuple[str, ...] = field(default=(), repr=False)
    scripts: Path | None = None  # where the flow's script/ and lib/ were unpacked for the JVM, if asked to

    def script_path(self, step: ScriptStep) -> Path | None:
        """The script of *step* on disk (see :attr:`scripts`), or None."""
        if self.scripts is None or step.path is None:
            return None
        return self.scripts / step.path.removeprefix(RESOURCES)

    @property
    def errors(self) -> tuple[ReportLine, ...]:
        return tuple(line for line in self.report if line.level == "error")

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps of the process the first served sender channel starts (the main path)."""
        process = self.process_of(next((c for c in self.channels if c.served), None))
        return process.steps if process else ()

    def process_of(self, channel: SenderChannel | None) -> IntegrationProcess | None:
        if channel is None:
            return None
        return next((p for p in self.processes if p.id == channel.process), None)

    def check(self) -> None:
        """Raise :class:`ExportError` listing every error of the load report, if there is one."""
        errors = self.errors
        if errors:
            lines = "\n".join(f"  {line.where}: {line.text}" for line in errors)
            raise ExportError(f"{self.source}: iFlow {self.id} cannot be served:\n{lines}")
