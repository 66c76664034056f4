"""Every example step, run through load_pipeline exactly as cpimock.toml would reference it."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from cpimock.adapters.exchange import build_message, mpl_fields, response_parts
from cpimock.config import parse_config
from cpimock.message import Message
from cpimock.steps.pipeline import StepError, load_pipeline

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DEMO = REPO / "cpimock" / "workspace" / "templates" / "iflows" / "demo.py"


class Identity:
    method = "certificate"
    key_name = "demo-sender"
    instance = "default"
    roles = frozenset({"ESBMessaging.send"})
    clientid = None
    subject = "CN=demo-sender,OU=cpimock,O=mytenant"
    issuer = "CN=cpimock client CA"
    serial = "0x2a"
    fingerprint = "AA:BB"


def incoming(body: bytes, content_type: str | None = "application/json", **headers: str) -> Message:
    if content_type:
        headers["Content-Type"] = content_type
    return build_message(
        body=body,
        headers=headers,
        method="POST",
        url="https://127.0.0.1:8443/http/clientCertAuth",
        query=None,
        context_path="/clientCertAuth",
        path="",
        mpl_id="AGZmpl0001",
        identity=Identity(),
    )


async def run(steps: list[str], message: Message, base: Path = EXAMPLES) -> Message:
    return await load_pipeline(steps, base).run(message, 5)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace as `cpimock init` makes it: the demo copied to iflows/demo.py."""
    (tmp_path / "iflows").mkdir()
    shutil.copy(DEMO, tmp_path / "iflows" / "demo.py")
    return tmp_path


async def test_demo_greets_by_json_name_and_echoes_the_caller(workspace: Path) -> None:
    result = await run(["iflows/demo.py:process"], incoming(b'{"name": "Ada"}'), workspace)
    status, headers, body = response_parts(result)
    assert status == 200
    assert ("Content-Type", "text/plain; charset=utf-8") in headers
    assert body.decode().splitlines() == [
        "Hello Ada, cpimock received your message of 15 bytes (application/json).",
        "Caller: service key demo-sender, instance default, roles ESBMessaging.send",
        "Certificate: CN=demo-sender,OU=cpimock,O=mytenant (serial 0x2a, issued by CN=cpimock client CA)",
        "Message processing log ID: AGZmpl0001",
    ]
    fields = mpl_fields(result)
    assert fields.custom_header_properties == (("greeted", "Ada"),)
    assert fields.application_message_type == "Greeting"


@pytest.mark.parametrize(
    ("body", "content_type", "first_line"),
    [
        (b"Grace\nmore", "text/plain", "Hello Grace, cpimock received your message of 10 bytes (text/plain)."),
        (b"", None, "Hello there, cpimock received your message of 0 bytes (no content type)."),
        (b"\xff\xfe\x00", "application/octet-stream", "Hello there, cpimock received your message of 3 bytes"),
        (b'{"id": 1}', "application/json", "Hello there, cpimock received your message of 9 bytes"),
        (b"[1, 2]", "application/json", "Hello [1, 2], cpimock received"),
    ],
)
async def test_demo_with_other_payloads(
    workspace: Path, body: bytes, content_type: str | None, first_line: str
) -> None:
    result = await run(["iflows/demo.py:process"], incoming(body, content_type), workspace)
    assert result.text.startswith(first_line)


async def test_demo_without_a_caller_identity(workspace: Path) -> None:
    result = await run(["iflows/demo.py:process"], Message(b"Ada", {"Content-Type": "text/plain"}), workspace)
    assert result.text == "Hello Ada, cpimock received your message of 3 bytes (text/plain).\n"


async def test_json_to_xml() -> None:
    body = b'{"order": {"id": 42, "paid": true, "items": ["pen", "ink"], "note": null}}'
    result = await run(["iflows/json_to_xml.py:process"], incoming(body))
    assert result.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert result.text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<order><id>42</id><paid>true</paid><items>pen</items><items>ink</items><note /></order>"
    )


async def test_json_to_xml_refuses_a_non_object() -> None:
    with pytest.raises(StepError, match="expected a JSON object with a single root member") as info:
        await run(["iflows/json_to_xml.py:process"], incoming(b"[1]"))
    assert info.value.step == "iflows/json_to_xml.py:process"


async def test_json_to_xml_on_invalid_json() -> None:
    with pytest.raises(StepError, match="BodyDecodeError: the body is not valid JSON"):
        await run(["iflows/json_to_xml.py:process"], incoming(b"{nope"))


async def test_accepted_sets_202_and_the_monitor_fields() -> None:
    result = await run(["iflows/accepted.py:process"], incoming(b'{"orderId": "4711"}'))
    status, headers, body = response_parts(result)
    assert status == 202
    assert ("SAP_ApplicationID", "4711") in headers
    assert body == b'{"status": "accepted", "orderId": "4711"}\n'
    fields = mpl_fields(result)
    assert (fields.application_message_id, fields.application_message_type) == ("4711", "OrderCreate")
    assert (fields.sender, fields.receiver, fields.custom_status) == ("demo-sender", "ERP", "Queued")
    assert fields.custom_header_properties == (("OrderId", "4711"),)


async def test_accepted_takes_the_order_id_from_a_header() -> None:
    result = await run(["iflows/accepted.py:process"], incoming(b"<order/>", "application/xml", **{"X-Order-Id": "9"}))
    assert mpl_fields(result).application_message_id == "9"


async def test_failing_raises_a_step_error_with_the_original_cause() -> None:
    message = incoming(b'{"bad": true}')
    with pytest.raises(StepError, match=r"step 'iflows/failing\.py:process' raised OrderRejected") as info:
        await run(["iflows/failing.py:process"], message)
    assert type(info.value.__cause__).__name__ == "OrderRejected"
    assert [a.name for a in message.log.attachments] == ["rejected payload"]  # logged before it failed


async def test_three_step_chain() -> None:
    steps = ["iflows/chain.py:parse", "iflows/chain.py:enrich", "iflows/chain.py:render"]
    result = await run(steps, incoming(b"pen, 2\nink,3\n", "text/csv"))
    assert result.json() == {"lines": [{"sku": "pen", "qty": 2}, {"sku": "ink", "qty": 3}], "total": 5}
    assert result.headers["Content-Type"] == "application/json"
    assert result.log.properties == {"lineCount": 2}


async def test_async_lookup_found_and_not_found() -> None:
    found = await run(["iflows/async_lookup.py:process"], incoming(b"C001", "text/plain"))
    assert found.json() == {"id": "C001", "name": "Ada Lovelace"}
    missing = await run(["iflows/async_lookup.py:process"], incoming(b"C999", "text/plain"))
    status, _, body = response_parts(missing)
    assert (status, body) == (404, b"no customer 'C999'\n")


async def test_examples_compose_demo_after_json_to_xml(workspace: Path) -> None:
    shutil.copy(EXAMPLES / "iflows" / "json_to_xml.py", workspace / "iflows")
    result = await run(["iflows/json_to_xml.py:process", "iflows/demo.py:process"], incoming(b'{"a": 1}'), workspace)
    assert result.text.startswith("Hello <?xml")


def test_every_example_is_listed_in_the_readme() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in sorted((EXAMPLES / "iflows").glob("*.py")):
        assert f"iflows/{path.name}" in readme


async def test_the_readme_wiring_parses_and_loads(tmp_path: Path) -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", readme, re.S)
    config = parse_config(tomllib.loads(block), tmp_path)
    shutil.copytree(EXAMPLES / "iflows", tmp_path / "iflows")
    for iflow in config.iflows:
        load_pipeline(iflow.steps, tmp_path)
    assert {iflow.id for iflow in config.iflows} == {"jsonToXml", "orders", "failing", "chain", "customer"}
