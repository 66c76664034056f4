"""A server imports the code of an adapter, the export reader, Groovy and the content modifier
only when the workspace it serves uses them, and the OData API's at its first request (a shorter
start), and a reload that brings a new adapter kind still serves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cpimock.workspace.create import ensure_workspace
from tests.iflows.exports import Channel, Flow, content_modifier, write_zip
from tests.serving import Running, serving

# imported only for a workspace that has a channel, a step or a table of that kind
OPTIONAL = (
    "cpimock.adapters.idoc_sender",
    "cpimock.adapters.soap_sender",
    "cpimock.adapters.sap_rm_sender",
    "cpimock.iflows.export.loader",
    "cpimock.iflows.exported",
    "cpimock.steps.groovy.step",
    "cpimock.steps.groovy.runner",
    "cpimock.steps.modifier_step",
)
# the OData API's modules: imported at its first request, whatever the workspace serves
ODATA = "cpimock.mpl.odata"

# start a server on the workspace, stop it, and say which of OPTIONAL the process imported
_PROBE = """
import asyncio, json, sys
from pathlib import Path
import cpimock.cli.serve
from cpimock.http.server import Server

async def main():
    server = Server(Path(sys.argv[1]), host="127.0.0.1", port=0, watch=False)
    await server.start()
    await server.stop()

asyncio.run(main())
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""

_SOAP_IFLOW = """
[[iflows]]
id = "soapEcho"
adapter = "soap"
address = "/demo/echo"
steps = ["iflows/soap_demo.py:process"]
"""

_ENVELOPE = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<p:Order xmlns:p="urn:acme"><Id>1</Id></p:Order></soap:Body></soap:Envelope>'
)


def _https_only(root: Path) -> Path:
    """A workspace as ``cpimock init`` makes it, less its IDoc and SOAP iFlows."""
    ensure_workspace(root)
    toml = root / "cpimock.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.split("# An IDoc sender channel", 1)[0], encoding="utf-8")
    return root


def _imported(root: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(root), json.dumps([*OPTIONAL, ODATA])],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_workspace_of_https_iflows_starts_without_the_code_it_does_not_use(tmp_path: Path) -> None:
    assert _imported(_https_only(tmp_path / "ws")) == []


def test_a_workspace_with_soap_idoc_an_export_and_groovy_imports_their_code(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ensure_workspace(root)  # HTTPS, IDoc and SOAP 1.x iFlows
    flow = Flow(
        channels=[Channel(address="/orders")],
        steps=[content_modifier(headers=[("Create", "X-Order", "constant", "42", "java.lang.String")])],
    )
    write_zip(root / "iflows" / "Orders.zip", flow.files())
    toml = root / "cpimock.toml"
    text = toml.read_text(encoding="utf-8").replace(
        'steps = ["iflows/demo.py:process"]', 'steps = ["iflows/demo.groovy"]', 1
    )
    toml.write_text(text + '\n[[iflows]]\nexport = "iflows/Orders.zip"\n', encoding="utf-8")
    assert _imported(root) == sorted(set(OPTIONAL) - {"cpimock.adapters.sap_rm_sender"})  # and not ODATA


async def _post_soap(running: Running, path: str) -> tuple[int, bytes]:
    key = running.extract("demo-sender")
    async with (
        running.session(key) as session,
        session.post(
            running.url + path,
            data=_ENVELOPE,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"order"'},
        ) as answer,
    ):
        return answer.status, await answer.read()


async def test_a_reload_that_adds_a_soap_iflow_serves_it(tmp_path: Path) -> None:
    root = _https_only(tmp_path / "ws")
    async with serving(root) as running:
        toml = root / "cpimock.toml"
        toml.write_text(toml.read_text(encoding="utf-8") + _SOAP_IFLOW, encoding="utf-8")
        await running.reload()
        status, body = await _post_soap(running, "/cxf/demo/echo")
    assert status == 200
    assert b"Hello, cpimock received your SOAP request" in body


async def test_before_the_reload_the_soap_address_is_a_soap_fault(tmp_path: Path) -> None:
    root = _https_only(tmp_path / "ws")
    async with serving(root) as running:
        status, body = await _post_soap(running, "/cxf/demo/echo")
    assert status == 404
    assert b"Fault" in body
