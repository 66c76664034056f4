"""What senders are told: the openssl line of `extract` sends the chain (`-cert_chain`), a 401 for no
certificate says how Java and browsers choose one, and `cpimock call` with a revoked key repeats the
tenant's exact reason instead of a guess."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from cpimock.cli import main
from tests.security.proc import ServerProcess, set_option


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_openssl_line_of_extract_sends_the_chain_and_passes(workspace: Path, tmp_path: Path) -> None:
    extracted = cli("servicekey", "extract", workspace / "certs/keys/demo-sender.json", "--out", tmp_path / "d")
    assert extracted.exit_code == 0, extracted.output
    [line] = [x for x in extracted.output.splitlines() if x.startswith("openssl: ")]
    argv = shlex.split(line.removeprefix("openssl: ").split("  (")[0])
    assert "-cert_chain" in argv
    server = ServerProcess(workspace, "--client-auth", "required")
    try:
        argv[argv.index("-connect") + 1] = f"127.0.0.1:{server.port}"
        common = ["-CAfile", str(workspace / "certs/root-ca.pem"), "-verify_return_error", "-brief", "-ign_eof"]
        request = "POST /http/clientCertAuth HTTP/1.0\r\nContent-Length: 3\r\n\r\nAda"
        sent = subprocess.run([*argv, *common], input=request, capture_output=True, text=True, timeout=60)
        assert "Hello" in sent.stdout, sent.stdout + sent.stderr
        leaf_only = [a for i, a in enumerate(argv) if a != "-cert_chain" and argv[i - 1] != "-cert_chain"]
        alone = subprocess.run([*leaf_only, *common], input=request, capture_output=True, text=True, timeout=60)
        assert "Hello" not in alone.stdout
        assert "alert" in alone.stderr.lower(), alone.stderr
    finally:
        server.stop()


def test_a_401_for_no_certificate_says_how_java_and_browsers_choose_one(workspace: Path) -> None:
    server = ServerProcess(workspace, "--client-auth", "optional")
    try:
        answer = requests.post(
            f"{server.url}/http/clientCertAuth", data=b"x", verify=str(workspace / "certs/root-ca.pem"), timeout=30
        )
    finally:
        server.stop()
    assert answer.status_code == 401
    assert "Java and browsers pick a certificate by the CA list the server sends" in answer.text


def test_call_with_a_revoked_key_repeats_the_tenants_reason_alone(workspace: Path, tmp_path: Path) -> None:
    # with a [server] trust bundle the workspace CRL is checked after the handshake: 401, not a TLS alert
    shutil.copy(workspace / "certs/root-ca.pem", workspace / "certs/extra.pem")
    set_option(workspace, "server", 'trust = ["certs/extra.pem"]')
    assert cli("servicekey", "create", "s4", "-w", workspace).exit_code == 0
    assert cli("servicekey", "create", "ok", "-w", workspace).exit_code == 0
    assert cli("servicekey", "revoke", "s4", "-w", workspace).exit_code == 0
    server = ServerProcess(workspace)
    try:

        def call(name: str) -> Result:
            key = workspace / f"certs/keys/{name}.json"
            return cli(
                "call",
                f"{server.url}/http/clientCertAuth",
                "--key",
                key,
                "--cacert",
                workspace / "certs/root-ca.pem",
                "-d",
                "x",
            )

        refused, served = call("s4"), call("ok")
    finally:
        server.stop()
    assert refused.exit_code == 1
    assert "has been revoked" in refused.output
    assert "belongs to no service key" not in refused.output
    assert "error: 401 Unauthorized: the service key has been revoked (see the answer above)" in refused.output
    assert served.exit_code == 0, served.output
