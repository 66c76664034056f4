"""`cpimock postman`: the collection newman runs against a served tenant, 200s with the key's
certificate (a CSRF-protected iFlow included), and failures once the key is revoked."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from tests.e2e_support import add_iflow
from tests.security.proc import ServerProcess

pytestmark = pytest.mark.clients

NEWMAN = shutil.which("newman")
needs_newman = pytest.mark.skipif(NEWMAN is None, reason="newman is not installed (npm install -g newman)")


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def newman_line(output: str) -> list[str]:
    [line] = [line for line in output.splitlines() if line.strip().startswith("newman run")]
    return shlex.split(line)


def test_the_collection_has_one_request_per_iflow_and_a_test_each(workspace: Path, tmp_path: Path) -> None:
    add_iflow(workspace, "orders", "/orders", ["iflows/demo.py:process"], csrf=True)
    add_iflow(workspace, "paused", "/paused", ["iflows/demo.py:process"], state="stopped")
    result = cli("postman", "--out", tmp_path / "pm", "-w", workspace)
    assert result.exit_code == 0, result.output
    collection = json.loads((tmp_path / "pm/cpimock-mytenant.postman_collection.json").read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    requests = {item["request"]["url"]["raw"]: item for item in collection["item"]}
    assert set(requests) == {
        "{{baseUrl}}/http/clientCertAuth",
        "{{baseUrl}}/http/orders",
        "{{baseUrl}}/cxf/idoc/orders",
        "{{baseUrl}}/cxf/demo/echo",
    }
    assert "<EDI_DC40" in requests["{{baseUrl}}/cxf/idoc/orders"]["request"]["body"]["raw"]
    assert [e["listen"] for e in requests["{{baseUrl}}/http/orders"]["event"]] == ["prerequest", "test"]
    assert [e["listen"] for e in requests["{{baseUrl}}/http/clientCertAuth"]["event"]] == ["test"]
    environment = json.loads((tmp_path / "pm/cpimock-mytenant.postman_environment.json").read_text())
    assert environment["values"][0] == {
        "key": "baseUrl",
        "value": "https://127.0.0.1:8443",
        "type": "default",
        "enabled": True,
    }
    assert (tmp_path / "pm/demo-sender/key.key").stat().st_mode & 0o077 == 0
    argv = newman_line(result.output)
    assert argv[argv.index("--ssl-client-cert") + 1].endswith("pm/demo-sender/cert.pem")
    assert "Settings > Certificates > Add Certificate: host 127.0.0.1, port 8443" in result.output


def test_a_key_without_a_private_key_makes_no_collection(workspace: Path, tmp_path: Path) -> None:
    assert cli("servicekey", "create", "basic", "--key-type", "clientid-secret", "-w", workspace).exit_code == 0
    result = cli("postman", "--key", workspace / "certs/keys/basic.json", "--out", tmp_path / "pm", "-w", workspace)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "has no private key" in line
    assert not (tmp_path / "pm").exists()


@needs_newman
def test_newman_runs_the_collection_with_200s_and_fails_once_the_key_is_revoked(workspace: Path) -> None:
    add_iflow(workspace, "orders", "/orders", ["iflows/demo.py:process"], csrf=True)
    add_iflow(workspace, "proxy", "/proxy", [], adapter="soap-rm")
    server = ServerProcess(workspace)
    try:
        made = cli("postman", "--url", server.url, "--out", workspace / "pm", "-w", workspace)
        assert made.exit_code == 0, made.output
        argv = newman_line(made.output)
        passed = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=Path.cwd())
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "clientCertAuth answers 2xx" in passed.stdout
        assert "orders answers 2xx" in passed.stdout
        assert "idocOrders answers 2xx" in passed.stdout  # the workspace's IDoc and SOAP iFlows too
        assert "soapEcho answers 2xx" in passed.stdout
        assert "proxy answers 2xx" in passed.stdout
        assert "200 OK" in passed.stdout

        assert cli("servicekey", "revoke", "demo-sender", "-w", workspace).exit_code == 0
        server.wait_for_log("reloaded the workspace")
        failed = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=Path.cwd())
        assert failed.returncode != 0, failed.stdout
        assert "200 OK" not in failed.stdout
    finally:
        server.stop()
