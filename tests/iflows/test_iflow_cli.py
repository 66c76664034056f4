"""`cpimock iflow inspect | add | list`: the journey from an export to a served iFlow, in words a newcomer reads."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from tests.serving import serving

from .exports import (
    Channel,
    Flow,
    content_modifier,
    package_files,
    request_reply,
    script,
    write_folder,
    write_zip,
    zip_bytes,
)

ORDER = b'<p1:Order xmlns:p1="urn:acme:orders"><p1:Id>4711</p1:Id></p1:Order>'


def orders(**changes: object) -> Flow:
    flow = Flow(
        channels=[
            Channel(address="{{HTTP Address}}", role="{{Sender Role}}", extra={"xsrfProtection": "0"}),
            Channel("XI", "XI", "/xi"),
        ],
        steps=[
            content_modifier(
                "Acknowledge",
                headers=[("Create", "SAP_ApplicationID", "xpath", "/p1:Order/p1:Id", "java.lang.String")],
                body="<ack id='${header.SAP_ApplicationID}'/>",
            ),
            request_reply("Call ERP"),
        ],
        namespaces="xmlns:p1=urn:acme:orders",
        parameters={"HTTP Address": "/<HTTP Address>", "Sender Role": "ESBMessaging.send"},
    )
    for name, value in changes.items():
        setattr(flow, name, value)
    return flow


def cpimock(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "Orders_Inbound.zip", orders().files())


def test_inspect_says_what_is_served_what_is_not_and_what_to_set(export: Path, tmp_path: Path) -> None:
    result = cpimock("iflow", "inspect", str(export), "--workspace", str(tmp_path / "none"))
    assert result.exit_code == 1
    text = result.output
    assert "iFlow Orders_Inbound (Orders Inbound), version 1.0.3" in text
    assert "https://127.0.0.1:8443/http/<HTTP Address>  (HTTPS, sender channel 'HTTPS')" in text
    assert "who may call: a service key whose instance holds the role ESBMessaging.send" in text
    assert "XI channel 'XI' at /xi: it speaks SAP's XI 3.0 protocol, which cpimock does not" in text
    assert (
        "1. Acknowledge (CallActivity_10): content modifier (1 header row, 0 property rows, expression body): runs"
        in text
    )
    assert "2. Call ERP (CallActivity_11): Request Reply: skipped: not run by cpimock" in text
    assert 'HTTP Address  "/<HTTP Address>"    from the export\'s parameters.prop' in text
    assert "Errors (it cannot be served until each is fixed):" in text
    assert "-p 'HTTP Address=...'" in text
    assert "Result: cannot be served: 1 error above" in text

    fixed = cpimock("iflow", "inspect", str(export), "-p", "HTTP Address=/orders", "-w", str(tmp_path / "none"))
    assert fixed.exit_code == 0
    assert 'HTTP Address  "/orders"            from -p; the export has "/<HTTP Address>"' in fixed.output
    assert "https://127.0.0.1:8443/http/orders  (HTTPS, sender channel 'HTTPS')" in fixed.output
    assert "Result: ready to serve, without 1 step listed above (strict = true would refuse it)" in fixed.output
    assert f"Serve it with: cpimock iflow add {export} -p 'HTTP Address=/orders'" in fixed.output


def test_inspect_in_a_workspace_names_its_keys_and_the_address_another_iflow_has(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    export = write_zip(tmp_path / "Orders.zip", orders().files())
    result = cpimock("iflow", "inspect", str(export), "-p", "HTTP Address=/orders")
    assert result.exit_code == 0
    assert "in this workspace: instance default (keys demo-sender)" in result.output
    assert (
        "call it: cpimock call https://127.0.0.1:8443/http/orders --key certs/keys/demo-sender.json "
        "--cacert certs/root-ca.pem -d @FILE" in result.output
    )
    taken = cpimock("iflow", "inspect", str(export), "-p", "HTTP Address=/clientCertAuth")
    assert taken.exit_code == 1
    assert "In this workspace: " in taken.output
    assert "/http/clientCertAuth is already served by cpimock.toml (iFlow clientCertAuth)" in taken.output
    custom = cpimock("iflow", "inspect", str(export), "-p", "HTTP Address=/orders", "-p", "Sender Role=Orders.send")
    assert (
        "no instance holds it yet; make a key with: cpimock servicekey create NAME --roles Orders.send" in custom.output
    )


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"../evil": b"x"}, "entry '../evil' climbs out of the export (.. or empty path segments)"),
        ({"META-INF/MANIFEST.MF": b"SAP-BundleType: ValueMapping\r\n"}, "it is a value mapping (ValueMapping)"),
    ],
)
def test_inspect_of_a_bad_export_is_one_line_naming_the_file(
    tmp_path: Path, files: dict[str, bytes], match: str
) -> None:
    bad = write_zip(tmp_path / "Bad.zip", files)
    result = CliRunner().invoke(main, ["iflow", "inspect", str(bad), "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {bad}")
    assert match in result.output
    assert "Traceback" not in result.output


def test_add_copies_the_export_writes_its_table_and_serves_it(
    workspace: Path, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    before = (workspace / "cpimock.toml").read_text()
    refused = cpimock("iflow", "add", str(export))
    assert refused.exit_code == 1
    assert "iFlow Orders_Inbound cannot be served: sender channel HTTPS (MessageFlow_0): urlPath" in refused.output
    assert "nothing was added" in refused.output
    assert (workspace / "cpimock.toml").read_text() == before
    assert not (workspace / "iflows" / "Orders_Inbound.zip").exists()

    added = cpimock("iflow", "add", str(export), "-p", "HTTP Address=/orders")
    assert added.exit_code == 0, added.output
    assert "Copied iflows/Orders_Inbound.zip from ../Orders_Inbound.zip" in added.output
    assert "Added to cpimock.toml as iflows[3]:" in added.output
    assert "    https://127.0.0.1:8443/http/orders" in added.output
    assert "    served without: Call ERP (CallActivity_11): Request Reply: not run by cpimock" in added.output
    text = (workspace / "cpimock.toml").read_text()
    assert text.startswith(before)  # the user's file, comments and all, with the table after it
    [table] = tomllib.loads(text)["iflows"][3:]
    assert table == {"export": "iflows/Orders_Inbound.zip", "parameters": {"HTTP Address": "/orders"}}

    inspected = cpimock("iflow", "inspect", "iflows/Orders_Inbound.zip")
    assert inspected.exit_code == 0
    assert "  served by this workspace (cpimock.toml iflows[3])" in inspected.output
    assert 'from cpimock.toml ([iflows.parameters] of iflows[3]); the export has "/<HTTP Address>"' in inspected.output
    assert "Serve it with" not in inspected.output

    again = cpimock("iflow", "add", str(export), "-p", "Sender Role=ESBMessaging.send", "--strict")
    assert again.exit_code == 1  # strict refuses the flow that skips Call ERP, and nothing changes
    assert "strict = true refuses a flow whose steps cpimock skips" in again.output
    assert (workspace / "cpimock.toml").read_text() == text

    postman = cpimock("postman")
    assert postman.exit_code == 0
    assert "(4 requests)" in postman.output
    assert "Orders_Inbound (/http/orders)" in postman.output

    listed = cpimock("iflow", "list")
    row = "Orders_Inbound  iflows/Orders_Inbound.zip  started  https://127.0.0.1:8443/http/orders"
    assert f"{row} (HTTPS, ESBMessaging.send)" in listed.output


async def test_an_added_export_answers_over_mtls(
    workspace: Path, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    assert cpimock("iflow", "add", str(export), "-p", "HTTP Address=/orders").exit_code == 0
    async with serving(workspace) as running:
        async with running.session(running.extract("demo-sender")) as session:
            async with session.post(f"{running.url}/http/orders", data=ORDER) as answer:
                assert (answer.status, await answer.text()) == (200, "<ack id='4711'/>")
        async with running.session() as session:  # the rejecting twin: no certificate
            async with session.post(f"{running.url}/http/orders", data=ORDER) as refused:
                assert refused.status == 401


def test_add_again_updates_the_table_and_replaces_the_copy(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    first = write_zip(tmp_path / "Orders_Inbound.zip", orders().files())
    assert cpimock("iflow", "add", str(first), "-p", "HTTP Address=/orders").exit_code == 0
    newer = orders(version="1.0.4")
    write_zip(first, newer.files())
    again = cpimock("iflow", "add", str(first), "-p", "Sender Role=ESBMessaging.send")
    assert again.exit_code == 0, again.output
    assert "Replaced iflows/Orders_Inbound.zip" in again.output
    assert "Updated in cpimock.toml as iflows[3]:" in again.output
    [table] = tomllib.loads((workspace / "cpimock.toml").read_text())["iflows"][3:]
    assert table["parameters"] == {"HTTP Address": "/orders", "Sender Role": "ESBMessaging.send"}
    assert (workspace / "iflows" / "Orders_Inbound.zip").read_bytes() == first.read_bytes()


def test_add_a_folder_and_a_package_with_the_flows_picked(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    folder = write_folder(
        tmp_path / "Orders", orders(parameters={"HTTP Address": "/orders", "Sender Role": "ESBMessaging.send"}).files()
    )
    assert cpimock("iflow", "add", str(folder)).exit_code == 0
    assert (workspace / "iflows" / "Orders" / "META-INF" / "MANIFEST.MF").is_file()
    a = Flow(id="A_Inbound", channels=[Channel(address="/a")])
    b = Flow(id="B_Inbound", channels=[Channel(address="/b")])
    package = write_zip(
        tmp_path / "Pkg.zip", package_files("Pkg", [("a", "A", zip_bytes(a.files())), ("b", "B", zip_bytes(b.files()))])
    )
    unknown = cpimock("iflow", "add", str(package), "--flow", "C_Inbound")
    assert unknown.exit_code == 1
    assert "--flow C_Inbound: " in unknown.output
    assert "holds no such flow; it holds A_Inbound, B_Inbound" in unknown.output
    added = cpimock("iflow", "add", str(package), "--flow", "B_Inbound")
    assert added.exit_code == 0, added.output
    assert "iFlow B_Inbound" in added.output
    assert "A_Inbound" not in added.output
    [_, table] = tomllib.loads((workspace / "cpimock.toml").read_text())["iflows"][3:]
    assert table == {"export": "iflows/Pkg.zip", "flows": ["B_Inbound"]}


def test_list_names_an_export_that_cannot_be_served(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    write_zip(workspace / "iflows" / "Orders.zip", orders().files())
    with (workspace / "cpimock.toml").open("a") as toml:
        toml.write('\n[[iflows]]\nexport = "iflows/Orders.zip"\n')
    listed = cpimock("iflow", "list")
    assert listed.exit_code == 0
    assert (
        "iflows/Orders.zip  iflows/Orders.zip  -        cannot be served: iflows/Orders.zip: iFlow Orders_Inbound"
        in listed.output
    )
    as_json = cpimock("iflow", "list", "--json")
    assert '"problem": "iflows/Orders.zip: iFlow Orders_Inbound cannot be served' in as_json.output


def test_a_parameter_without_equals_sign_is_refused_with_the_form(export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["iflow", "inspect", str(export), "-p", "HTTP Address", "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: -p 'HTTP Address': write NAME=VALUE, e.g. -p 'HTTP Address=/orders'" in result.output


def test_a_groovy_script_is_named_with_its_function(tmp_path: Path) -> None:
    flow = orders(steps=[script("Map", "map.groovy", "toIdoc")], scripts={"map.groovy": "def toIdoc(m) { m }"})
    export = write_zip(tmp_path / "Map.zip", flow.files())
    result = cpimock("iflow", "inspect", str(export), "-p", "HTTP Address=/map", "-w", str(tmp_path))
    assert "1. Map (CallActivity_10): GroovyScript map.groovy, function toIdoc: " in result.output
