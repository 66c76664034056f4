"""An export's flow mapped onto what the tenant serves: channels, steps, what is skipped, strict."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cpimock.config import ExportConfig, FlowSettings
from cpimock.iflows import exported
from cpimock.iflows.export import ExportedFlow, ExportError, load_export
from cpimock.iflows.exported import serve_flow
from cpimock.pki.dn import parse_dn
from cpimock.steps.groovy.toolchain import GroovyUnavailable
from cpimock.steps.kinds import ModifierStep, ScriptFile

from .exports import Channel, Flow, content_modifier, request_reply, script, write_zip

WSDL = (Path(__file__).parents[1] / "adapters" / "samples" / "OrderService.wsdl").read_bytes()
S4 = ("CN=s4-client, O=ACME, C=DE", "CN=ACME CA, O=ACME, C=DE")


def settings(tmp_path: Path, **values: object) -> ExportConfig:
    return ExportConfig(0, "iflows/Flow.zip", tmp_path / "Flow.zip", **values)  # type: ignore[arg-type]


def load(tmp_path: Path, flow: Flow, **overrides: str) -> ExportedFlow:
    [loaded] = load_export(write_zip(tmp_path / "Flow.zip", flow.files()), overrides, scripts=tmp_path / "unpacked")
    return loaded


@pytest.fixture
def groovy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Java and Groovy are there (whether or not this machine has them: nothing runs here)."""
    monkeypatch.setattr(exported, "find_toolchain", lambda: None)


def test_an_https_flow_becomes_one_channel_and_its_steps(tmp_path: Path, groovy: None) -> None:
    flow = Flow(
        channels=[Channel(role="Orders.send", extra={"xsrfProtection": "1", "maximumBodySize": "12"})],
        steps=[content_modifier(headers=[("Create", "a", "constant", "1", "")]), script(file="check.groovy")],
        scripts={"check.groovy": "def processData(m) { m }"},
        namespaces="xmlns:p1=urn:acme",
        allowed_headers="SAP_.*",
    )
    loaded = load(tmp_path, flow)
    served = serve_flow(loaded, settings(tmp_path, timeout_s=5.0))
    iflow = served.iflow
    assert iflow is not None
    assert (iflow.id, iflow.allowed_headers, iflow.timeout_s, iflow.state) == (
        "Orders_Inbound",
        ("SAP_.*",),
        5.0,
        "started",
    )
    [channel] = iflow.channels
    assert (channel.url_path, channel.adapter, channel.authorization, channel.role) == (
        "/http/orders",
        "https",
        "user-role",
        "Orders.send",
    )
    assert (channel.csrf, channel.max_body_mb, channel.max_attachment_mb) == (True, 12.0, 0.0)
    modifier, check = iflow.steps
    assert isinstance(modifier, ModifierStep)
    assert (modifier.label, modifier.namespaces) == ("Set order data (CallActivity_10)", (("p1", "urn:acme"),))
    assert loaded.scripts is not None
    assert check == ScriptFile("Groovy Script 1 (CallActivity_11)", loaded.scripts / "script" / "check.groovy")
    assert [plan.how for plan in served.plans] == ["runs", "runs"]
    assert (served.skipped, served.errors) == ((), ())


def test_skipped_steps_are_served_around_unless_strict_refuses_the_flow(tmp_path: Path) -> None:
    flow = Flow(steps=[content_modifier(), request_reply("Call ERP")], exception_subprocess=True)
    loaded = load(tmp_path, flow)
    lenient = serve_flow(loaded, settings(tmp_path))
    assert lenient.iflow is not None
    assert [type(step).__name__ for step in lenient.iflow.steps] == ["ModifierStep"]
    assert lenient.skipped == (
        "Call ERP (CallActivity_11): Request Reply: not run by cpimock",
        "Exception Subprocess 1 (SubProcess_1): Exception Subprocess: not run by cpimock",
    )
    strict = serve_flow(loaded, settings(tmp_path, strict=True))
    assert strict.iflow is None
    [error] = strict.errors
    assert error.where == "strict"
    assert error.text.startswith("strict = true refuses a flow whose steps cpimock skips, and it skips Call ERP")
    one_flow = settings(tmp_path, strict=True, per_flow=(("Orders_Inbound", FlowSettings(strict=False)),))
    assert serve_flow(loaded, one_flow).iflow is not None


def test_a_script_is_replaced_by_the_step_cpimock_toml_names(tmp_path: Path) -> None:
    flow = Flow(
        steps=[script("Map", "map.groovy", "toIdoc"), script("Log", "map.groovy", "log")],
        scripts={"map.groovy": "def toIdoc(m) { m }\ndef log(m) { m }"},
    )
    loaded = load(tmp_path, flow)
    replace = (("map.groovy", "iflows/map.py:process"), ("map.groovy:log", "iflows/log.py:log"))
    served = serve_flow(loaded, settings(tmp_path, replace=replace))
    assert served.iflow is not None
    assert served.iflow.steps == ("iflows/map.py:process", "iflows/log.py:log")
    assert [plan.note for plan in served.plans] == [
        "replaced by iflows/map.py:process (cpimock.toml)",
        "replaced by iflows/log.py:log (cpimock.toml)",
    ]
    wrong = serve_flow(loaded, settings(tmp_path, replace=(("mapping.groovy", "iflows/map.py:process"),)))
    assert wrong.iflow is None
    assert [line.text for line in wrong.errors] == [
        '[iflows.replace] "mapping.groovy" names no script step of the flow (its scripts: map.groovy)'
    ]


def test_a_script_the_export_lacks_is_skipped_until_replaced(tmp_path: Path) -> None:
    flow = Flow(steps=[script("Shared", "shared.groovy", bundle="Shared_Scripts")])
    loaded = load(tmp_path, flow)
    served = serve_flow(loaded, settings(tmp_path))
    [plan] = served.plans
    assert plan.how == "skipped"
    assert "script collection 'Shared_Scripts'" in plan.note
    assert [line.where for line in served.warnings] == ["step 'Shared' (CallActivity_10)"]
    replaced = serve_flow(loaded, settings(tmp_path, replace=(("shared.groovy", "iflows/shared.py:run"),)))
    assert (replaced.skipped, replaced.warnings) == ((), ())


def test_without_java_a_script_is_skipped_with_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise GroovyUnavailable("Groovy steps need Java, which is not installed; install it with `apt-get ...`")

    monkeypatch.setattr(exported, "find_toolchain", missing)
    loaded = load(tmp_path, Flow(steps=[script()], scripts={"script1.groovy": "def processData(m) { m }"}))
    served = serve_flow(loaded, settings(tmp_path))
    [plan] = served.plans
    assert plan.how == "skipped"
    assert plan.note.startswith("Groovy steps need Java, which is not installed; install it with `apt-get ...`, or")
    assert serve_flow(loaded, settings(tmp_path, strict=True)).iflow is None


def test_soap_sap_rm_and_idoc_channels_carry_their_adapters_settings(tmp_path: Path) -> None:
    soap = Channel(
        "SOAP",
        "SOAP",
        "/orders/soap",
        extra={
            "serviceDefinition": "WSDL",
            "soapWsdlURL": "/wsdl/OrderService.wsdl",
            "soapServiceName": "p1:OrderService",
            "useWSAddressing": "1",
            "maximumAttachmentSize": "7",
        },
    )
    one_way = Channel(
        "SOAP", "Notify", "/notify", extra={"messageExchangePattern": "OneWay", "soapOptions": "cxfRobust"}
    )
    rm = Channel("SOAP", "RM", "/orders/async", protocol="SAP RM")
    idoc = Channel("IDOC", "IDOC", "/idoc/orders", extra={"xmlCharacterHandling": "substitute"})
    flow = Flow(channels=[soap, one_way, rm, idoc], extra_files={"src/main/resources/wsdl/OrderService.wsdl": WSDL})
    served = serve_flow(load(tmp_path, flow), settings(tmp_path))
    assert served.iflow is not None
    by_path = {channel.url_path: channel for channel in served.iflow.channels}
    first = by_path["/cxf/orders/soap"]
    assert first.adapter == "soap"
    assert first.soap is not None
    assert (first.soap.wsdl, first.soap.service, first.soap.ws_addressing) == (WSDL, "p1:OrderService", True)
    assert (first.max_attachment_mb, first.csrf) == (7.0, False)
    second = by_path["/cxf/notify"].soap
    assert second is not None
    assert (second.pattern, second.processing, second.wsdl) == ("one-way", "robust", None)
    third = by_path["/cxf/orders/async"]
    assert third.adapter == "soap-rm"
    assert third.soap is not None
    assert (third.soap.pattern, third.soap.processing) == ("one-way", "robust")
    fourth = by_path["/cxf/idoc/orders"]
    assert fourth.idoc is not None
    assert (fourth.adapter, fourth.idoc.invalid_characters) == ("idoc", "substitute")


def test_a_client_certificate_channel_compares_its_dn_pairs_by_structure(tmp_path: Path) -> None:
    flow = Flow(channels=[Channel(auth="ClientCertificate", role="", certificates=[S4])])
    served = serve_flow(load(tmp_path, flow), settings(tmp_path))
    assert served.iflow is not None
    [channel] = served.iflow.channels
    assert channel.authorization == "client-certificate"
    [pair] = channel.client_certificates
    assert (pair.subject, pair.issuer) == (parse_dn("CN=s4-client,O=ACME,C=DE"), parse_dn("CN=ACME CA,O=ACME,C=DE"))
    bad = Flow(channels=[Channel(auth="ClientCertificate", role="", certificates=[("not a DN", S4[1])])])
    refused = serve_flow(load(tmp_path, bad), settings(tmp_path))
    assert refused.iflow is None
    [error] = refused.errors
    assert error.text.startswith("clientCertificates row 1: ")


def test_an_address_outside_cpis_rules_is_an_error_naming_the_channel(tmp_path: Path) -> None:
    flow = Flow(channels=[Channel(address="/orders/{{Suffix}}")], parameters={"Suffix": "a b"})
    refused = serve_flow(load(tmp_path, flow), settings(tmp_path))
    [error] = refused.errors
    assert error.where == "sender channel HTTPS (MessageFlow_0)"
    assert error.text.startswith("address: '/orders/a b' is not a CPI address")


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)  # what XML can carry


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    address=_TEXT,
    role=_TEXT,
    auth=st.sampled_from(["RoleBased", "ClientCertificate", ""]) | _TEXT,
    size=_TEXT,
    csrf=_TEXT,
    characters=_TEXT,
    subject=_TEXT,
    kind=st.sampled_from(["HTTPS", "SOAP", "IDOC"]),
)
def test_any_channel_values_serve_or_are_refused_with_reasons(
    tmp_path: Path,
    address: str,
    role: str,
    auth: str,
    size: str,
    csrf: str,
    characters: str,
    subject: str,
    kind: str,
) -> None:
    extra = {"maximumBodySize": size, "xsrfProtection": csrf, "xmlCharacterHandling": characters}
    channel = Channel(kind, kind, address, auth=auth, role=role, certificates=[(subject, "CN=CA")], extra=extra)
    path = write_zip(tmp_path / "Fuzz.zip", Flow(channels=[channel]).files())
    try:
        [loaded] = load_export(path)
    except ExportError:
        return  # a value the XML of the export cannot hold: refused while reading, naming the entry
    served = serve_flow(loaded, settings(tmp_path))
    assert (served.iflow is None) == bool(served.errors)
    if served.iflow is not None:
        [mapped] = served.iflow.channels
        assert mapped.address.startswith("/")
        assert mapped.max_body_mb >= 1


@pytest.mark.parametrize(("log", "level"), [("All events", "INFO"), ("Error events", "ERROR"), ("No logging", "NONE")])
def test_the_flows_log_setting_is_its_log_level(tmp_path: Path, log: str, level: str) -> None:
    served = serve_flow(load(tmp_path, Flow(log=log)), settings(tmp_path))
    assert served.iflow is not None
    assert served.iflow.log_level == level
    assert not [line for line in served.problems if line.where == "integration flow: log"]


def test_a_log_setting_cpimock_does_not_know_is_info_and_reported(tmp_path: Path) -> None:
    served = serve_flow(load(tmp_path, Flow(log="Some events")), settings(tmp_path))
    assert served.iflow is not None
    assert served.iflow.log_level == "INFO"
    [line] = [line for line in served.problems if line.where == "integration flow: log"]
    assert (line.level, line.text) == (
        "warning",
        "log 'Some events' is not a log level cpimock knows; its messages are logged at INFO",
    )
