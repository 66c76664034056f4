"""A builder of CPI iFlow exports shaped like the ones CPI's design view writes (zip, folder, package).

The layout, the manifest's 72-column lines, the Java-properties escapes and the ``.iflw``'s
BPMN2 with its ``ifl:property`` lists follow real exports; every value comes from the test.
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from itertools import pairwise
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
IFL = "http:///com.sap.ifl.model/Ifl.xsd"
IFLW_FOLDER = "src/main/resources/scenarioflows/integrationflow/"
ADAPTER_URI = {
    "HTTPS": ("None", "ctype::AdapterVariant/cname::sap:HTTPS/tp::HTTPS/mp::None/direction::Sender/version::1.5.2"),
    "SOAP": (
        "SOAP 1.x",
        "ctype::AdapterVariant/cname::sap:SOAP/tp::HTTP/mp::SOAP 1.x/direction::Sender/version::1.9.2",
    ),
    "IDOC": (
        "IDoc SOAP",
        "ctype::AdapterVariant/cname::sap:IDOC/tp::HTTP/mp::IDoc SOAP/direction::Sender/version::1.4.1",
    ),
    "XI": ("XI", "ctype::AdapterVariant/cname::sap:XI/tp::HTTP/mp::XI/direction::Sender/version::1.19.1"),
    "AS2": ("AS2", "ctype::AdapterVariant/cname::AS2/tp::HTTP/mp::AS2/direction::Sender/version::1.17.0"),
}


@dataclass
class Channel:
    kind: str = "HTTPS"  # ComponentType
    name: str = "HTTPS"
    address: str = "/orders"
    protocol: str | None = None  # MessageProtocol, when not the adapter's usual one
    auth: str = "RoleBased"
    role: str = "ESBMessaging.send"
    certificates: list[tuple[str, str]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # more ifl:property pairs (csrf, SOAP options...)

    def properties(self) -> list[tuple[str, str]]:
        protocol, uri = ADAPTER_URI.get(
            self.kind, ("None", f"ctype::AdapterVariant/cname::{self.kind}/direction::Sender")
        )
        if self.protocol is not None:
            protocol = self.protocol
            uri = (
                f"ctype::AdapterVariant/cname::sap:{self.kind}/tp::HTTP/mp::{protocol}/direction::Sender/version::1.8.0"
            )
        table = "".join(
            f"<row><cell id='clientCertificate.subjectDN'>{_escape(subject)}</cell>"
            f"<cell id='clientCertificate.issuerDN'>{_escape(issuer)}</cell></row>"
            for subject, issuer in self.certificates
        )
        pairs = [
            ("ComponentType", self.kind),
            ("Name", self.name),
            ("ComponentNS", "sap"),
            ("direction", "Sender"),
            ("MessageProtocol", protocol),
            ("cmdVariantUri", uri),
            ("urlPath" if self.kind == "HTTPS" else "address", self.address),
            ("senderAuthType", self.auth),
            ("userRole", self.role),
            ("clientCertificates", table),
            ("system", "Sender"),
        ]
        return pairs + list(self.extra.items())


@dataclass
class StepSpec:
    name: str
    properties: list[tuple[str, str]]
    tag: str = "callActivity"


def content_modifier(
    name: str = "Set order data",
    headers: Iterable[tuple[str, str, str, str, str]] = (),
    properties: Iterable[tuple[str, str, str, str, str]] = (),
    body_type: str = "expression",
    body: str = "",
) -> StepSpec:
    """Rows are (action, name, type, value, datatype), written as CPI's escaped table."""

    def table(rows: Iterable[tuple[str, str, str, str, str]]) -> str:
        return "".join(
            f"<row><cell id='Action'>{action}</cell><cell id='Type'>{type_}</cell>"
            f"<cell id='Value'>{_escape(value)}</cell><cell id='Default'></cell>"
            f"<cell id='Name'>{_escape(row_name)}</cell><cell id='Datatype'>{datatype}</cell></row>"
            for action, row_name, type_, value, datatype in rows
        )

    return StepSpec(
        name,
        [
            ("bodyType", body_type),
            ("propertyTable", table(properties)),
            ("headerTable", table(headers)),
            ("wrapContent", body),
            ("activityType", "Enricher"),
            ("cmdVariantUri", "ctype::FlowstepVariant/cname::Enricher/version::1.6.1"),
        ],
    )


def script(
    name: str = "Groovy Script 1", file: str = "script1.groovy", function: str = "", bundle: str = ""
) -> StepSpec:
    return StepSpec(
        name,
        [
            ("scriptFunction", function),
            ("scriptBundleId", bundle),
            ("activityType", "Script"),
            ("subActivityType", "GroovyScript"),
            ("cmdVariantUri", "ctype::FlowstepVariant/cname::GroovyScript/version::1.1.2"),
            ("script", file),
        ],
    )


def request_reply(name: str = "Request Reply 1") -> StepSpec:
    uri = "ctype::FlowstepVariant/cname::ExternalCall/version::1.0.4"
    return StepSpec(name, [("activityType", "ExternalCall"), ("cmdVariantUri", uri)], "serviceTask")


def process_call(name: str = "Handle Request", process: str = "Process_L", looping: bool = False) -> StepSpec:
    kind = "LoopingProcess" if looping else "NonLoopingProcess"
    return StepSpec(name, [("processId", process), ("activityType", "ProcessCallElement"), ("subActivityType", kind)])


def router(name: str = "Router 1") -> StepSpec:
    return StepSpec(name, [("activityType", "ExclusiveGateway")], "exclusiveGateway")


@dataclass
class Flow:
    id: str = "Orders_Inbound"
    name: str = "Orders Inbound"
    version: str = "1.0.3"
    bundle_type: str = "IntegrationFlow"
    channels: list[Channel] = field(default_factory=lambda: [Channel(extra={"xsrfProtection": "1"})])
    steps: list[StepSpec] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    parameter_types: dict[str, str] = field(default_factory=dict)
    namespaces: str = ""
    allowed_headers: str = ""
    scripts: dict[str, str] = field(default_factory=dict)
    extra_files: dict[str, bytes] = field(default_factory=dict)
    script_collections: list[str] = field(default_factory=list)
    timer: bool = False
    local_steps: list[StepSpec] = field(default_factory=list)  # a local process, Process_L, called by process_call()
    exception_subprocess: bool = False  # an Exception Subprocess in the main process
    log: str = "All events"  # the flow's log setting

    def files(self) -> dict[str, bytes]:
        files = {
            "META-INF/MANIFEST.MF": self.manifest(),
            "metainfo.prop": b"#Store metainfo properties\ndescription=\n",
            "src/main/resources/parameters.prop": properties_file(self.parameters),
            "src/main/resources/parameters.propdef": self.propdef(),
            f"{IFLW_FOLDER}{self.name}.iflw": self.iflw(),
        }
        files.update({f"src/main/resources/script/{name}": text.encode() for name, text in self.scripts.items()})
        files.update(self.extra_files)
        return files

    def manifest(self) -> bytes:
        headers = [
            ("Manifest-Version", "1.0"),
            ("Bundle-SymbolicName", f"{self.id}; singleton:=true"),
            ("Bundle-ManifestVersion", "2"),
            ("Bundle-Name", self.name),
            ("Bundle-Version", self.version),
            ("SAP-BundleType", self.bundle_type),
            ("SAP-NodeType", "IFLMAP"),
            ("SAP-RuntimeProfile", "iflmap"),
            ("Import-Package", ",".join(f"com.sap.esb.component{n},org.apache.camel.model{n}" for n in range(8))),
        ]
        if self.script_collections:
            capability = ",".join(
                f'scriptcollection.{name};resolution:=optional;bundleType:String="ScriptCollection";'
                'source:String="reference"'
                for name in self.script_collections
            )
            headers.append(("Require-Capability", capability))
        return manifest(headers)

    def propdef(self) -> bytes:
        root = etree.Element("parameters")
        for name in self.parameters:
            parameter = etree.SubElement(root, "parameter")
            etree.SubElement(parameter, "key")
            etree.SubElement(parameter, "name").text = name
            etree.SubElement(parameter, "type").text = self.parameter_types.get(name, "xsd:string")
            etree.SubElement(parameter, "isRequired").text = "false"
        etree.SubElement(root, "param_references")
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def iflw(self) -> bytes:
        nsmap = {"bpmn2": BPMN, "ifl": IFL}
        root = etree.Element(_b("definitions"), nsmap=nsmap, id="Definitions_1")
        collaboration = etree.SubElement(root, _b("collaboration"), id="Collaboration_1", name="Default Collaboration")
        _properties(
            collaboration,
            [
                ("namespaceMapping", self.namespaces),
                ("allowedHeaderList", self.allowed_headers),
                ("httpSessionHandling", "None"),
                ("returnExceptionToSender", "false"),
                ("log", self.log),
                ("cmdVariantUri", "ctype::IFlowVariant/cname::IFlowConfiguration/version::1.2.4"),
            ],
        )
        for index, _channel in enumerate(self.channels):
            participant = etree.SubElement(
                collaboration, _b("participant"), id=f"Participant_{index}", name=f"Sender{index}"
            )
            participant.set(f"{{{IFL}}}type", "EndpointSender")
        receiver = etree.SubElement(collaboration, _b("participant"), id="Participant_R", name="Receiver")
        receiver.set(f"{{{IFL}}}type", "EndpointRecevier")
        process_participant = etree.SubElement(
            collaboration,
            _b("participant"),
            id="Participant_Process_1",
            name="Integration Process",
            processRef="Process_1",
        )
        process_participant.set(f"{{{IFL}}}type", "IntegrationProcess")
        for index, channel in enumerate(self.channels):
            flow = etree.SubElement(
                collaboration,
                _b("messageFlow"),
                id=f"MessageFlow_{index}",
                name=channel.name,
                sourceRef=f"Participant_{index}",
                targetRef="StartEvent_2",
            )
            _properties(flow, channel.properties())
        process = etree.SubElement(root, _b("process"), id="Process_1", name="Integration Process")
        _properties(process, [("transactionTimeout", "30"), ("transactionalHandling", "Not Required")])
        start = etree.SubElement(process, _b("startEvent"), id="StartEvent_2", name="Start")
        etree.SubElement(start, _b("messageEventDefinition"))
        ids = ["StartEvent_2"]
        for number, step in enumerate(self.steps, start=10):
            node = etree.SubElement(process, _b(step.tag), id=f"CallActivity_{number}", name=step.name)
            _properties(node, step.properties)
            ids.append(node.get("id") or "")
        if self.exception_subprocess:
            handler = etree.SubElement(
                process, _b("subProcess"), id="SubProcess_1", name="Exception Subprocess 1", triggeredByEvent="true"
            )
            _properties(handler, [("activityType", "ErrorEventSubProcessTemplate")])
        end = etree.SubElement(process, _b("endEvent"), id="EndEvent_2", name="End")
        etree.SubElement(end, _b("messageEventDefinition"))
        ids.append("EndEvent_2")
        for number, (source, target) in enumerate(pairwise(ids)):
            etree.SubElement(
                process, _b("sequenceFlow"), id=f"SequenceFlow_{number}", sourceRef=source, targetRef=target
            )
        if self.local_steps:
            local = etree.SubElement(root, _b("process"), id="Process_L", name="Handle Request")
            _properties(local, [("processType", "directCall")])
            etree.SubElement(local, _b("startEvent"), id="StartEvent_L")
            local_ids = ["StartEvent_L"]
            for number, step in enumerate(self.local_steps, start=50):
                node = etree.SubElement(local, _b(step.tag), id=f"CallActivity_{number}", name=step.name)
                _properties(node, step.properties)
                local_ids.append(node.get("id") or "")
            etree.SubElement(local, _b("endEvent"), id="EndEvent_L")
            local_ids.append("EndEvent_L")
            for number, (source, target) in enumerate(pairwise(local_ids)):
                etree.SubElement(
                    local, _b("sequenceFlow"), id=f"SequenceFlow_L{number}", sourceRef=source, targetRef=target
                )
        if self.timer:
            scheduled = etree.SubElement(root, _b("process"), id="Process_T", name="Scheduled")
            timer_start = etree.SubElement(scheduled, _b("startEvent"), id="StartEvent_T")
            etree.SubElement(timer_start, _b("timerEventDefinition"))
            etree.SubElement(scheduled, _b("endEvent"), id="EndEvent_T")
            etree.SubElement(
                scheduled, _b("sequenceFlow"), id="SequenceFlow_T", sourceRef="StartEvent_T", targetRef="EndEvent_T"
            )
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def manifest(headers: Iterable[tuple[str, str]]) -> bytes:
    """Manifest lines wrapped at 72 bytes with one-space continuation lines, CRLF-terminated."""
    lines = []
    for name, value in headers:
        line = f"{name}: {value}".encode()
        lines.append(line[:72])
        rest = line[72:]
        while rest:
            lines.append(b" " + rest[:71])
            rest = rest[71:]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def properties_file(values: Mapping[str, str]) -> bytes:
    """Java properties as CPI writes them: a date comment, escaped keys and values, \\uXXXX beyond Latin-1."""
    lines = ["#Mon Jan 17 09:09:42 UTC 2022"]
    for key, value in values.items():
        lines.append(f"{_java_escape(key, key=True)}={_java_escape(value, key=False)}")
    return ("\n".join(lines) + "\n").encode("iso-8859-1")


def _java_escape(text: str, *, key: bool) -> str:
    out = []
    for index, char in enumerate(text):
        if char in "\\:=#!" or (char == " " and (key or index == 0)):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) > 0xFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _b(name: str) -> str:
    return f"{{{BPMN}}}{name}"


def _properties(element: etree._Element, pairs: Iterable[tuple[str, str]]) -> None:
    extension = etree.SubElement(element, _b("extensionElements"))
    for key, value in pairs:
        item = etree.SubElement(extension, f"{{{IFL}}}property")
        etree.SubElement(item, "key").text = key
        etree.SubElement(item, "value").text = value


def write_zip(path: Path, files: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_folder(path: Path, files: Mapping[str, bytes]) -> Path:
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def package_files(
    name: str, flows: Iterable[tuple[str, str, bytes]], others: Iterable[tuple[str, str, str, bytes | None]] = ()
) -> dict[str, bytes]:
    """A package export: flows are (id, display name, flow zip); others (id, type, name, content or None)."""
    resources: list[dict[str, object]] = [{"id": "pkg0", "resourceType": "ContentPackage", "displayName": name}]
    files: dict[str, bytes] = {}
    for resource_id, display, data in flows:
        resources.append({"id": resource_id, "resourceType": "IFlow", "displayName": display, "name": f"{display}.zip"})
        files[f"{resource_id}_content"] = data
    for resource_id, kind, display, content in others:
        resources.append({"id": resource_id, "resourceType": kind, "displayName": display, "name": display})
        if content is not None:
            files[f"{resource_id}_content"] = content
    document = json.dumps({"resources": resources, "relations": []}).encode()
    files["resources.cnt"] = base64.b64encode(document)
    files["ExportInformation.info"] = b"Name= " + name.encode() + b"\n"
    return files
