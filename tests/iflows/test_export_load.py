"""Real-shaped iFlow exports load into the description a sender needs; what cpimock cannot serve is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cpimock.iflows.export import (
    Adapter,
    ClientCertificate,
    ContentModifierStep,
    ExportedFlow,
    ExportError,
    ScriptStep,
    UnsupportedStep,
    load_export,
    render_report,
)
from cpimock.message import Message
from cpimock.steps.simple import SimpleContext

from .exports import (
    Channel,
    Flow,
    StepSpec,
    content_modifier,
    package_files,
    process_call,
    request_reply,
    router,
    script,
    write_folder,
    write_zip,
    zip_bytes,
)

S4 = ("CN=s4-client, OU=Sales, O=ACME \\, Inc., C=DE", "CN=ACME Issuing CA & Co, O=ACME, C=DE")


def load_one(
    tmp_path: Path, flow: Flow, overrides: dict[str, str] | None = None, name: str = "Flow.zip"
) -> ExportedFlow:
    [loaded] = load_export(write_zip(tmp_path / name, flow.files()), overrides)
    return loaded


def test_an_https_flow_with_a_content_modifier_loads_with_its_channel_steps_and_settings(tmp_path: Path) -> None:
    flow = Flow(
        channels=[Channel(extra={"xsrfProtection": "1", "maximumBodySize": "12"})],
        steps=[
            content_modifier(
                headers=[("Create", "SAP_ApplicationID", "xpath", "/p1:Order/p1:Id", "java.lang.String")],
                properties=[("Create", "received", "expression", "${date:now:yyyy-MM-dd}", "")],
                body="<ack id='${header.SAP_ApplicationID}' on='${property.received}'/>",
            ),
            script(file="audit.groovy", function="logIt"),
        ],
        namespaces="xmlns:p1=urn:acme:orders;xmlns:p2=urn:acme:other",
        allowed_headers="SAP_.*|X-Custom-.*",
        scripts={"audit.groovy": "def Message logIt(Message m) { m }"},
    )
    loaded = load_one(tmp_path, flow)
    assert (loaded.id, loaded.name, loaded.version, loaded.bundle_type) == (
        "Orders_Inbound",
        "Orders Inbound",
        "1.0.3",
        "IntegrationFlow",
    )
    [channel] = loaded.channels
    assert channel.adapter is Adapter.HTTPS
    assert (channel.address, channel.endpoint) == ("/orders", "/http/orders")
    assert (channel.authorization, channel.role, channel.csrf) == ("user-role", "ESBMessaging.send", True)
    assert (channel.max_body_mb, channel.max_attachment_mb, channel.soap, channel.idoc) == (12, None, None, None)
    assert channel.property("cmdVariantUri", "").startswith("ctype::AdapterVariant/cname::sap:HTTPS")
    assert loaded.settings.namespaces == {"p1": "urn:acme:orders", "p2": "urn:acme:other"}
    assert loaded.settings.allowed_headers == ("SAP_.*", "X-Custom-.*")
    assert loaded.settings.return_exception_to_sender is False
    modifier, groovy = loaded.steps
    assert isinstance(modifier, ContentModifierStep)
    assert modifier.runs
    assert isinstance(groovy, ScriptStep)
    assert (groovy.script, groovy.function, groovy.path) == (
        "audit.groovy",
        "logIt",
        "src/main/resources/script/audit.groovy",
    )
    assert loaded.errors == ()
    assert loaded.processes[0].complete

    assert modifier.compiled is not None
    message = Message(b'<p1:Order xmlns:p1="urn:acme:orders"><p1:Id>7</p1:Id></p1:Order>')
    context = SimpleContext(now=datetime(2024, 5, 6, tzinfo=UTC))
    modifier.compiled.run(message, context)
    assert message.headers["SAP_ApplicationID"] == "7"
    assert message.text == "<ack id='7' on='2024-05-06'/>"

    report = render_report([loaded])
    assert "iFlow Orders_Inbound (Orders Inbound), version 1.0.3" in report
    assert "HTTPS at /http/orders  (channel 'HTTPS')" in report
    assert "authorization: user role ESBMessaging.send" in report
    assert "body up to 12 MB" in report
    assert "CSRF protection: on (fetch a token first)" in report
    assert (
        "1. Set order data (CallActivity_10): content modifier, 1 header row(s), 1 property row(s), "
        "expression body: runs" in report
    )
    assert (
        "2. Groovy Script 1 (CallActivity_11): GroovyScript audit.groovy (script/), function logIt: "
        "runs on the JVM (needs Java and Groovy)" in report
    )
    assert "allowed headers: SAP_.* | X-Custom-.*" in report
    assert "Result: ready to serve, every step included" in report


def test_a_folder_export_reads_as_the_same_flow_as_its_zip(tmp_path: Path) -> None:
    flow = Flow(steps=[content_modifier(headers=[("Create", "a", "constant", "1", "")])])
    from_zip = load_one(tmp_path, flow)
    [from_folder] = load_export(write_folder(tmp_path / "unpacked", flow.files()))
    assert from_folder.source == str(tmp_path / "unpacked")
    assert from_folder.channels == from_zip.channels
    assert from_folder.parameters == from_zip.parameters
    assert [step.name for step in from_folder.steps] == [step.name for step in from_zip.steps]


def test_an_old_export_without_body_size_or_csrf_keys_gets_cpis_defaults(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(channels=[Channel()]))
    [channel] = loaded.channels
    assert (channel.max_body_mb, channel.csrf) == (40, False)


def test_soap_channels_carry_their_exchange_pattern_and_wsdl(tmp_path: Path) -> None:
    soap = Channel(
        "SOAP",
        "SOAP",
        "/CallMe",
        extra={
            "messageExchangePattern": "OneWay",
            "serviceDefinition": "WSDL",
            "soapWsdlURL": "/wsdl/Orders.wsdl",
            "soapServiceName": "p1:OrdersService",
            "soapWsdlPortName": "p1:OrdersPort",
            "useWSAddressing": "1",
            "soapOptions": "cxfRobust",
            "maximumAttachmentSize": "50",
        },
    )
    flow = Flow(channels=[soap], extra_files={"src/main/resources/wsdl/Orders.wsdl": b"<definitions/>"})
    [channel] = load_one(tmp_path, flow).channels
    assert (channel.adapter, channel.endpoint, channel.csrf) == (Adapter.SOAP, "/cxf/CallMe", None)
    assert channel.soap is not None
    assert channel.soap.exchange_pattern == "OneWay"
    assert channel.soap.robust
    assert channel.soap.ws_addressing
    assert (channel.soap.service_definition, channel.soap.wsdl) == ("WSDL", "src/main/resources/wsdl/Orders.wsdl")
    assert (channel.soap.service_name, channel.soap.port_name) == ("p1:OrdersService", "p1:OrdersPort")
    assert (channel.max_body_mb, channel.max_attachment_mb) == (40, 50)


def test_a_wsdl_channel_whose_wsdl_is_missing_is_an_error(tmp_path: Path) -> None:
    soap = Channel("SOAP", "SOAP", "/CallMe", extra={"serviceDefinition": "WSDL", "soapWsdlURL": "/wsdl/Gone.wsdl"})
    loaded = load_one(tmp_path, Flow(channels=[soap]))
    [error] = loaded.errors
    assert "soapWsdlURL '/wsdl/Gone.wsdl' names a WSDL the export does not carry" in error.text
    with pytest.raises(ExportError, match="cannot be served:\n  sender channel SOAP"):
        loaded.check()


def test_soap_sap_rm_is_told_apart_from_soap_1x_by_its_message_protocol(tmp_path: Path) -> None:
    rm = Channel("SOAP", "SAP RM", "/orders/async", protocol="SAP RM")
    [channel] = load_one(tmp_path, Flow(channels=[rm])).channels
    assert channel.adapter is Adapter.SOAP_RM
    assert channel.soap is not None
    assert channel.soap.exchange_pattern == "OneWay"


def test_an_idoc_channel_keeps_its_invalid_character_handling(tmp_path: Path) -> None:
    idoc = Channel("IDOC", "IDOC", "/ProductUpdates", extra={"xmlCharacterHandling": "throwException"})
    [channel] = load_one(tmp_path, Flow(channels=[idoc])).channels
    assert (channel.adapter, channel.endpoint) == (Adapter.IDOC, "/cxf/ProductUpdates")
    assert channel.idoc is not None
    assert channel.idoc.invalid_xml_characters == "throwException"
    assert channel.max_attachment_mb == 100


def test_a_client_certificate_channel_lists_its_dn_pairs_unescaped(tmp_path: Path) -> None:
    other = ("CN=backup,O=ACME,C=DE", "CN=ACME Root,O=ACME,C=DE")
    dn = Channel(auth="ClientCertificate", role="", certificates=[S4, other])
    loaded = load_one(tmp_path, Flow(channels=[dn]))
    [channel] = loaded.channels
    assert channel.authorization == "client-certificate"
    assert channel.role is None
    assert channel.client_certificates == (ClientCertificate(*S4), ClientCertificate(*other))
    report = render_report([loaded])
    assert "authorization: client certificate, 2 subject/issuer pair(s):" in report
    assert f"subject {S4[0]}  issued by {S4[1]}" in report


def test_a_client_certificate_channel_without_pairs_is_an_error(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(channels=[Channel(auth="ClientCertificate")]))
    assert [line.text for line in loaded.errors] == [
        "asks for Client Certificate authorization but lists no subject/issuer DN pair"
    ]


def test_parameters_with_spaces_resolve_everywhere_and_record_their_source(tmp_path: Path) -> None:
    channel = Channel(
        address="{{Sender Address}}",
        role="{{Sender Role}}",
        extra={"xsrfProtection": "{{CSRF}}", "maximumBodySize": "{{Body Size <MB>}}"},
    )
    flow = Flow(
        channels=[channel],
        steps=[content_modifier(headers=[("Create", "target", "constant", "{{Target System}}", "")])],
        parameters={
            "Sender Address": "/orders/v1",
            "Sender Role": "Orders.send",
            "CSRF": "true",
            "Body Size <MB>": "5",
            "Target System": "https://erp.example:443/sap",
            "Unused": "x",
        },
        parameter_types={"Body Size <MB>": "xsd:integer"},
    )
    loaded = load_one(tmp_path, flow, overrides={"Sender Role": "Custom.send"})
    [resolved] = loaded.channels
    assert (resolved.endpoint, resolved.role, resolved.csrf, resolved.max_body_mb) == (
        "/http/orders/v1",
        "Custom.send",
        True,
        5,
    )
    [step] = loaded.steps
    assert isinstance(step, ContentModifierStep)
    assert step.spec.headers[0].value == "https://erp.example:443/sap"
    by_name = {parameter.name: parameter for parameter in loaded.parameters}
    assert (by_name["Sender Role"].value, by_name["Sender Role"].source) == ("Custom.send", "override")
    assert (by_name["Sender Address"].value, by_name["Sender Address"].source) == ("/orders/v1", "export")
    assert by_name["Body Size <MB>"].type == "xsd:integer"
    assert by_name["Sender Address"].used_by == ("sender channel HTTPS (MessageFlow_0): urlPath",)
    assert by_name["Unused"].used_by == ()
    assert loaded.errors == ()
    report = render_report([loaded])
    assert "Sender Role     'Custom.send'  (overridden; used by 1 setting(s))" in report
    assert "Unused          'x'  (from the export; not used by what cpimock reads)" in report


def test_an_undefined_parameter_is_an_error_naming_it_and_where_to_set_it(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(channels=[Channel(auth="{{Authorization}}")]))
    [error] = loaded.errors
    assert error.where == "sender channel HTTPS (MessageFlow_0): senderAuthType"
    assert error.text == (
        "the parameter {{Authorization}} has no value in the export; set it in cpimock.toml, in the export's "
        '[[iflows]] table: [iflows.parameters] Authorization = "...", '
        "or give it to cpimock iflow add or inspect as -p 'Authorization=...'"
    )
    fixed = load_one(tmp_path, Flow(channels=[Channel(auth="{{Authorization}}")]), {"Authorization": "RoleBased"})
    assert fixed.errors == ()


def test_an_unconfigured_placeholder_is_an_error_until_overridden(tmp_path: Path) -> None:
    flow = Flow(channels=[Channel(address="{{HTTP Address}}")], parameters={"HTTP Address": "/<HTTP Address>"})
    loaded = load_one(tmp_path, flow)
    [error] = loaded.errors
    assert error.text == (
        "the parameter {{HTTP Address}} is still the placeholder '/<HTTP Address>'; set it in cpimock.toml, in "
        'the export\'s [[iflows]] table: [iflows.parameters] "HTTP Address" = "...", '
        "or give it to cpimock iflow add or inspect as -p 'HTTP Address=...'"
    )
    assert "Result: cannot be served: 1 error above" in render_report([loaded])
    fixed = load_one(tmp_path, flow, {"HTTP Address": "/orders"})
    assert fixed.channels[0].endpoint == "/http/orders"
    assert fixed.errors == ()


def test_an_override_of_a_parameter_the_export_does_not_have_is_a_warning(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(), {"Sender Rol": "x"})
    assert [(line.level, line.text) for line in loaded.report if line.where == "parameters"] == [
        ("warning", "the override 'Sender Rol' names no parameter of the export")
    ]


def test_an_override_that_does_not_fit_the_parameters_type_is_an_error(tmp_path: Path) -> None:
    flow = Flow(parameters={"Size": "40"}, parameter_types={"Size": "xsd:integer"})
    loaded = load_one(tmp_path, flow, {"Size": "forty"})
    assert [line.text for line in loaded.errors] == [
        "the override value 'forty' of 'Size' is not of its type xsd:integer"
    ]


def test_unsupported_steps_are_named_with_their_kind_and_id(tmp_path: Path) -> None:
    flow = Flow(steps=[request_reply("Call ERP"), router("Route by type")])
    loaded = load_one(tmp_path, flow)
    call, route = loaded.steps
    assert call == UnsupportedStep("CallActivity_10", "Call ERP", "Request Reply")
    assert route == UnsupportedStep("CallActivity_11", "Route by type", "Router")
    report = render_report([loaded])
    assert "1. Call ERP (CallActivity_10): Request Reply: not run by cpimock" in report
    assert "warning: step 'Route by type' (CallActivity_11): Router: not run by cpimock" in report
    assert loaded.errors == ()


def test_a_local_process_call_brings_the_local_steps_in_place(tmp_path: Path) -> None:
    flow = Flow(
        steps=[process_call(), content_modifier("After"), process_call("Loop", looping=True)],
        local_steps=[content_modifier("Inside"), router("Branch")],
    )
    loaded = load_one(tmp_path, flow)
    assert [(step.name, type(step).__name__) for step in loaded.steps] == [
        ("Inside", "ContentModifierStep"),
        ("Branch", "UnsupportedStep"),
        ("After", "ContentModifierStep"),
        ("Loop", "UnsupportedStep"),
    ]
    assert loaded.steps[3] == UnsupportedStep("CallActivity_12", "Loop", "Looping Process Call")
    assert loaded.processes[0].complete
    report = render_report([loaded])
    assert "info: step 'Handle Request' (CallActivity_10): calls the local process 'Handle Request'" in report


def test_an_expression_outside_the_subset_is_a_load_error_of_its_step(tmp_path: Path) -> None:
    flow = Flow(steps=[content_modifier(headers=[("Create", "file", "expression", "${file:onlyname}", "")])])
    loaded = load_one(tmp_path, flow)
    [step] = loaded.steps
    assert isinstance(step, ContentModifierStep)
    assert not step.runs
    [error] = loaded.errors
    assert error.where == "step 'Set order data' (CallActivity_10)"
    assert error.text.startswith("header 'file': ${file:onlyname} is not in cpimock's Simple subset")


@pytest.mark.parametrize("kind", ["XI", "AS2"])
def test_an_adapter_cpimock_does_not_have_is_listed_as_not_served(tmp_path: Path, kind: str) -> None:
    loaded = load_one(tmp_path, Flow(channels=[Channel(kind, kind, "/inbound")]))
    [channel] = loaded.channels
    assert (channel.served, channel.kind, channel.address, channel.endpoint) == (False, kind, "/inbound", None)
    assert channel.not_served is not None
    assert "cpimock serves HTTPS, SOAP 1.x, SOAP (SAP RM) and IDoc" in channel.not_served
    assert [line.text for line in loaded.errors] == ["the flow has no sender channel cpimock serves"]
    assert f"{kind} channel '{kind}' at /inbound: not served; it speaks" in render_report([loaded])


def test_a_flow_with_two_sender_channels_serves_both_into_one_process(tmp_path: Path) -> None:
    flow = Flow(
        channels=[Channel(), Channel("SOAP", "SOAP", "/orders/soap"), Channel("XI", "XI", "/xi")],
        steps=[content_modifier()],
        timer=True,
    )
    loaded = load_one(tmp_path, flow)
    assert [(c.kind, c.endpoint) for c in loaded.channels] == [
        ("HTTPS", "/http/orders"),
        ("SOAP", "/cxf/orders/soap"),
        ("XI", None),
        ("Timer", None),
    ]
    assert loaded.channels[0].process == loaded.channels[1].process == "Process_1"
    assert loaded.errors == ()
    assert "Timer channel 'Timer (Scheduled)': not served; it is started by a timer" in render_report([loaded])


def test_a_package_with_two_flows_loads_both_and_says_what_else_it_holds(tmp_path: Path) -> None:
    first = Flow(id="Orders_Inbound", channels=[Channel(address="/orders")])
    second = Flow(id="Invoices_Inbound", name="Invoices Inbound", channels=[Channel(address="/invoices")])
    files = package_files(
        "Order to Cash",
        [("a1", "Orders Inbound", zip_bytes(first.files())), ("b2", "Invoices Inbound", zip_bytes(second.files()))],
        [("c3", "ValueMapping", "Country codes", b"PK\x05\x06" + bytes(18)), ("d4", "Url", "Guide", None)],
    )
    flows = load_export(write_zip(tmp_path / "Package.zip", files))
    assert [(flow.id, flow.channels[0].endpoint) for flow in flows] == [
        ("Orders_Inbound", "/http/orders"),
        ("Invoices_Inbound", "/http/invoices"),
    ]
    assert flows[0].source == f"{tmp_path / 'Package.zip'}: a1_content (Orders Inbound)"
    package = flows[0].package
    assert package is not None
    assert package.name == "Order to Cash"
    report = render_report(flows)
    assert report.startswith("Package 'Order to Cash': 2 integration flows, 1 value mapping, 1 link\n")
    assert "  Country codes: value mapping, not served by cpimock" in report
    assert "iFlow Invoices_Inbound (Invoices Inbound)" in report


def test_a_package_without_any_flow_is_refused_saying_what_it_holds(tmp_path: Path) -> None:
    files = package_files("Mappings", [], [("c3", "ValueMapping", "Country codes", b"x")])
    with pytest.raises(ExportError, match=r"the package 'Mappings' holds no integration flow \(ValueMapping\)"):
        load_export(write_zip(tmp_path / "Package.zip", files))


@pytest.mark.parametrize(
    ("bundle_type", "match"),
    [
        ("ScriptCollection", r"it is a script collection \(ScriptCollection\), not an integration flow"),
        ("ValueMapping", r"it is a value mapping \(ValueMapping\), not an integration flow"),
        ("Something", "its SAP-BundleType is 'Something', not IntegrationFlow"),
    ],
)
def test_a_bundle_that_is_no_integration_flow_is_refused_with_the_reason(
    tmp_path: Path, bundle_type: str, match: str
) -> None:
    with pytest.raises(ExportError, match=match):
        load_one(tmp_path, Flow(bundle_type=bundle_type))


def test_the_manifests_continuation_lines_and_directives_are_read(tmp_path: Path) -> None:
    flow = Flow(
        id="A_Very_Long_Symbolic_Name_That_Certainly_Does_Not_Fit_On_One_Manifest_Line_At_All",
        script_collections=["DemoScripts", "Shared_Utilities"],
    )
    assert b"\r\n " in flow.manifest()
    loaded = load_one(tmp_path, flow)
    assert loaded.id == "A_Very_Long_Symbolic_Name_That_Certainly_Does_Not_Fit_On_One_Manifest_Line_At_All"
    assert loaded.script_collections == ("DemoScripts", "Shared_Utilities")


def test_a_rest_api_artifact_is_read_as_an_iflow_with_a_note(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(bundle_type="RESTAPIProvider"))
    assert ("info", "a REST API artifact, read as an iFlow") in [(line.level, line.text) for line in loaded.report]


def test_java_properties_escapes_are_read_as_java_reads_them(tmp_path: Path) -> None:
    flow = Flow(channels=[Channel(address="{{Address}}", role="{{Role}}")])
    files = flow.files()
    files["src/main/resources/parameters.prop"] = (
        b"#Mon Jan 17 09:09:42 UTC 2022\nAddress /orders/caf\\u00e9\\\n    /v1\nRole:Caf\xe9\\:send\n"
    )
    [loaded] = load_export(write_zip(tmp_path / "Flow.zip", files))
    assert (loaded.channels[0].address, loaded.channels[0].role) == ("/orders/café/v1", "Café:send")


def test_in_a_package_a_missing_parameter_is_set_in_the_flows_own_table(tmp_path: Path) -> None:
    orders = Flow(id="Orders_Inbound", channels=[Channel(address="{{HTTP Address}}")])
    files = package_files("Order to Cash", [("a1", "Orders Inbound", zip_bytes(orders.files()))])
    [loaded] = load_export(write_zip(tmp_path / "Package.zip", files))
    [error] = loaded.errors
    assert '[iflows.flow.Orders_Inbound.parameters] "HTTP Address" = "..."' in error.text
    [fixed] = load_export(tmp_path / "Package.zip", flow_overrides={"Orders_Inbound": {"HTTP Address": "/orders"}})
    assert fixed.channels[0].endpoint == "/http/orders"


def test_a_script_the_export_does_not_carry_or_cannot_run_is_named_with_its_replacement(tmp_path: Path) -> None:
    flow = Flow(
        steps=[
            script("From collection", "shared.groovy", bundle="Shared_Scripts"),
            script("Lost", "lost.groovy"),
            StepSpec("JS", [("activityType", "Script"), ("subActivityType", "JavaScript"), ("script", "a.js")]),
            script("Carried", "carried.gsh", "transform"),
        ],
        scripts={"a.js": "function processData(m) { return m; }", "carried.gsh": "def transform(m) { m }"},
        script_collections=["Shared_Scripts"],
    )
    loaded = load_one(tmp_path, flow)
    collection, lost, javascript, carried = loaded.steps
    assert [isinstance(step, ScriptStep) and step.runs for step in loaded.steps] == [False, False, False, True]
    assert isinstance(collection, ScriptStep)
    assert (
        collection.why_not
        == "the script lies in the script collection 'Shared_Scripts', which this export does not carry"
    )
    assert isinstance(lost, ScriptStep)
    assert lost.why_not == "the script 'lost.groovy' is not in the export's script/ folder"
    assert isinstance(javascript, ScriptStep)
    assert javascript.why_not == "JavaScript scripts do not run in cpimock (only Groovy does)"
    assert isinstance(carried, ScriptStep)
    assert (carried.why_not, carried.function) == (None, "transform")
    warnings = {line.where: line.text for line in loaded.report if line.level == "warning"}
    assert warnings["step 'Lost' (CallActivity_11)"].endswith(
        '; replace it with a Python step: [iflows.replace] "lost.groovy" = "iflows/<file>.py:<function>"'
    )
    assert "Result: ready to serve, but 3 steps listed above are not run by cpimock" in render_report([loaded])


def test_an_exception_subprocess_is_kept_as_a_handler_cpimock_does_not_run(tmp_path: Path) -> None:
    loaded = load_one(tmp_path, Flow(steps=[content_modifier()], exception_subprocess=True))
    [process] = loaded.processes
    assert process.handlers == (UnsupportedStep("SubProcess_1", "Exception Subprocess 1", "Exception Subprocess"),)
    assert [step.name for step in process.steps] == ["Set order data"]


def test_scripts_and_jars_are_unpacked_once_per_content_for_the_jvm(tmp_path: Path) -> None:
    flow = Flow(
        steps=[script(file="script1.groovy")],
        scripts={"script1.groovy": "def processData(m) { m }"},
        extra_files={"src/main/resources/lib/helper.jar": b"PK\x05\x06" + bytes(18)},
    )
    path = write_zip(tmp_path / "Flow.zip", flow.files())
    [loaded] = load_export(path, scripts=tmp_path / "unpacked")
    assert loaded.scripts is not None
    assert loaded.scripts.parent == tmp_path / "unpacked"
    [step] = loaded.steps
    assert isinstance(step, ScriptStep)
    assert loaded.script_path(step) == loaded.scripts / "script" / "script1.groovy"
    assert (loaded.scripts / "script" / "script1.groovy").read_text() == "def processData(m) { m }"
    assert (loaded.scripts / "lib" / "helper.jar").is_file()
    assert sorted(p.name for p in loaded.scripts.iterdir()) == [".complete", "lib", "script"]
    [again] = load_export(path, scripts=tmp_path / "unpacked")
    assert again.scripts == loaded.scripts
    flow.scripts["script1.groovy"] = "def processData(m) { m.setBody('changed'); m }"
    [changed] = load_export(write_zip(tmp_path / "Flow.zip", flow.files()), scripts=tmp_path / "unpacked")
    assert changed.scripts not in (None, loaded.scripts)
    [without] = load_export(write_zip(tmp_path / "Plain.zip", Flow().files()), scripts=tmp_path / "unpacked")
    assert without.scripts is None
