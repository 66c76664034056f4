"""An export named in a workspace's cpimock.toml: served by `cpimock serve`'s server, reloaded when
its file changes, refused beside an iFlow that has its id or address, and shown by its real id in
the MPL (`cpimock messages`, the OData API)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from cpimock.cli import main
from cpimock.cli.serve import _banner
from cpimock.tenant.snapshot import build_snapshot
from tests.serving import Running, serving

from .exports import Channel, Flow, content_modifier, request_reply, write_folder, write_zip

ORDERS = """
[[iflows]]
export = "iflows/Orders.zip"
[iflows.parameters]
"HTTP Address" = "/orders"
"""


def flow(body: str, address: str = "{{HTTP Address}}", **changes: object) -> Flow:
    made = Flow(
        id="Orders_Inbound",
        name="Orders Inbound",
        channels=[Channel(address=address)],
        steps=[content_modifier("Answer", body=body)],
        parameters={"HTTP Address": "/<HTTP Address>"},
    )
    for name, value in changes.items():
        setattr(made, name, value)
    return made


def add(workspace: Path, text: str = ORDERS) -> None:
    with (workspace / "cpimock.toml").open("a", encoding="utf-8") as toml:
        toml.write(text)


async def post(running: Running, path: str, body: bytes = b"<order/>") -> tuple[int, str]:
    async with running.session(running.extract("demo-sender")) as session:
        async with session.post(f"{running.url}{path}", data=body) as answer:
            return answer.status, await answer.text()


def rewrite(path: Path, made: Flow) -> None:
    """Write the zip anew with a later modification time (a second export within a tick is still seen)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    write_zip(path, made.files())
    after = path.stat().st_mtime_ns
    if after <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


async def test_an_export_in_cpimock_toml_is_served_and_the_mpl_names_it_by_its_id_and_name(workspace: Path) -> None:
    write_zip(workspace / "iflows" / "Orders.zip", flow("first").files())
    add(workspace)
    async with serving(workspace) as running:
        assert await post(running, "/http/orders") == (200, "first")
        assert (await post(running, "/http/nowhere"))[0] == 404
        records = await running.records()
        assert [r.integration_flow_name for r in records if r.status == "COMPLETED"] == ["Orders_Inbound"]
        async with running.session() as session:
            url = f"{running.url}/api/v1/MessageProcessingLogs?$format=json&$filter=Status eq 'COMPLETED'"
            async with session.get(url) as answer:
                [entry] = (await answer.json())["d"]["results"]
        assert entry["IntegrationFlowName"] == "Orders_Inbound"
        assert entry["IntegrationArtifact"]["Id"] == "Orders_Inbound"
        assert entry["IntegrationArtifact"]["Name"] == "Orders Inbound"  # the export's Bundle-Name
        # the twin: an iFlow of cpimock.toml has no name but its id
        async with running.session() as session:
            url = f"{running.url}/api/v1/MessageProcessingLogs?$format=json&$filter=Status eq 'FAILED'"
            async with session.get(url + "&cpimockRefusals=include") as answer:
                refused = (await answer.json())["d"]["results"]
        assert [e["IntegrationArtifact"]["Name"] for e in refused] == [None]  # the 404: no flow at all
    listed = CliRunner().invoke(main, ["messages", "--workspace", str(workspace), "--status", "COMPLETED"])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[1].split()[5] == "Orders_Inbound"
    [guid] = [r.message_guid for r in records if r.status == "COMPLETED"]
    shown = CliRunner().invoke(main, ["messages", "show", guid, "--workspace", str(workspace)])
    assert shown.exit_code == 0, shown.output
    assert "Orders_Inbound (Orders Inbound)" in shown.output


async def test_a_changed_export_is_served_within_a_second_and_a_broken_one_keeps_the_last(workspace: Path) -> None:
    export = workspace / "iflows" / "Orders.zip"
    write_zip(export, flow("first").files())
    add(workspace)
    async with serving(workspace, watch=True) as running:
        reloader = running.server.reloader
        assert await post(running, "/http/orders") == (200, "first")

        generation = reloader.current.generation
        rewrite(export, flow("second"))
        await reloader.wait_for_generation(generation + 1)
        assert await post(running, "/http/orders") == (200, "second")

        rewrite(export, flow("third", address="{{Nowhere}}"))  # a parameter nobody set
        assert not await reloader.reload("test")
        assert "the parameter {{Nowhere}} has no value in the export" in (reloader.last_error or "")
        assert await post(running, "/http/orders") == (200, "second")

        generation = reloader.current.generation
        rewrite(export, flow("fourth"))
        await reloader.wait_for_generation(generation + 1)
        assert await post(running, "/http/orders") == (200, "fourth")


async def test_a_file_changed_in_an_export_folder_is_served_once_saved(workspace: Path) -> None:
    made = flow("{{Greeting}}", parameters={"HTTP Address": "/<HTTP Address>", "Greeting": "first"})
    folder = write_folder(workspace / "iflows" / "Orders", made.files())
    add(workspace, ORDERS.replace("iflows/Orders.zip", "iflows/Orders"))
    async with serving(workspace, watch=True) as running:
        assert await post(running, "/http/orders") == (200, "first")
        generation = running.server.reloader.current.generation
        prop = folder / "src" / "main" / "resources" / "parameters.prop"
        prop.write_text(prop.read_text().replace("Greeting=first", "Greeting=second"))
        await running.server.reloader.wait_for_generation(generation + 1)
        assert await post(running, "/http/orders") == (200, "second")


async def test_an_export_that_takes_an_id_or_address_already_served_is_refused(workspace: Path) -> None:
    write_zip(workspace / "iflows" / "Orders.zip", flow("first", address="/clientCertAuth").files())
    add(workspace, '\n[[iflows]]\nexport = "iflows/Orders.zip"\n')
    result = CliRunner().invoke(main, ["serve", "--workspace", str(workspace), "--port", "0"])
    assert result.exit_code == 1
    assert (
        "error: iflows/Orders.zip: /http/clientCertAuth is already served by cpimock.toml (iFlow clientCertAuth); "
        "an address is unique on a tenant"
    ) in result.output


async def test_an_export_whose_file_is_missing_is_watched_until_it_appears(workspace: Path) -> None:
    async with serving(workspace, watch=True) as running:
        reloader = running.server.reloader
        add(workspace)
        assert not await reloader.reload("test")
        assert "iflows[3].export: " in (reloader.last_error or "")
        assert "Orders.zip does not exist" in (reloader.last_error or "")
        generation = reloader.current.generation
        write_zip(workspace / "iflows" / "Orders.zip", flow("late").files())
        await reloader.wait_for_generation(generation + 1)
        assert await post(running, "/http/orders") == (200, "late")


def test_serve_names_each_export_channel_and_what_it_is_served_without(workspace: Path) -> None:
    made = flow("first")
    made.steps.append(request_reply("Call ERP"))
    write_zip(workspace / "iflows" / "Orders.zip", made.files())
    add(workspace)
    snapshot = build_snapshot(workspace)
    with CliRunner().isolation() as streams:
        _banner(snapshot, "127.0.0.1", 8443, 1, None)
        text = streams[0].getvalue().decode()
    assert "https://127.0.0.1:8443/http/orders" in text
    assert "Orders_Inbound (ESBMessaging.send) from iflows/Orders.zip" in text
    assert "Warnings of iFlow Orders_Inbound (iflows/Orders.zip):" in text
    assert "  step 'Call ERP' (CallActivity_11): Request Reply: not run by cpimock" in text
    assert "(strict = true would refuse to serve it; `cpimock iflow inspect iflows/Orders.zip` says more)" in text
