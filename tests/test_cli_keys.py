"""``cpimock init``, ``servicekey ...`` and ``certs inspect`` through the CLI, in-process and as a real process."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from cpimock.cli import main
from cpimock.pki.authority import build_certificate
from cpimock.pki.keys import cert_to_pem, generate_key, key_to_pem, now
from cpimock.pki.servicekey import build_service_key
from cpimock.pki.store import Pki
from cpimock.workspace.registry import Registry


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def failed(result: Result, *expected: str) -> str:
    """The single error line of a failed run; it must name *expected*."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_init_reports_what_it_made_and_the_next_command(tmp_path: Path) -> None:
    result = cli("init", tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "certs/keys/demo-sender.json" in result.output
    assert result.output.splitlines()[-1].strip().startswith("cpimock serve")
    again = cli("init", tmp_path / "ws")
    assert "nothing was created" in again.output


def test_create_with_known_roles_uses_that_instance(workspace: Path) -> None:
    result = cli("servicekey", "create", "s4-sender", "--roles", "ESBMessaging.send", "--workspace", workspace)
    assert result.exit_code == 0, result.output
    assert "instance default" in result.output
    assert "cpimock servicekey extract" in result.output.splitlines()[-1]
    oauth = json.loads((workspace / "certs/keys/s4-sender.json").read_text())["oauth"]
    assert oauth["key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "[instances.s4-sender]" not in (workspace / "cpimock.toml").read_text()


def test_create_with_new_roles_appends_an_instance(workspace: Path) -> None:
    result = cli(
        "servicekey", "create", "orders", "--roles", "ESBMessaging.send,Orders.write", "--workspace", workspace
    )
    assert result.exit_code == 0, result.output
    assert "Added [instances.orders]" in result.output
    assert Registry.load(workspace / "certs").get("orders").instance == "orders"
    clash = cli("servicekey", "create", "x", "--instance", "default", "--roles", "Other", "--workspace", workspace)
    failed(clash, "--roles", "drop --roles")


def test_create_other_key_types(workspace: Path, pki: Pki, tmp_path: Path) -> None:
    secret = cli("servicekey", "create", "basic", "--key-type", "clientid-secret", "--workspace", workspace)
    assert secret.exit_code == 0, secret.output
    assert "clientsecret" in json.loads((workspace / "certs/keys/basic.json").read_text())["oauth"]
    issued = pki.issue_client(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ext")]), 30)
    (tmp_path / "ext.pem").write_bytes(cert_to_pem(issued.cert))
    out = tmp_path / "ext.json"
    ext = cli(
        "servicekey",
        "create",
        "ext",
        "--cert",
        tmp_path / "ext.pem",
        "--no-pinning",
        "--out",
        out,
        "--workspace",
        workspace,
    )
    assert ext.exit_code == 0, ext.output
    oauth = json.loads(out.read_text())["oauth"]
    assert oauth["certificate-pinning"] is False
    assert "key" not in oauth


def test_a_ca_certificate_is_not_registered_as_an_external_key(workspace: Path, pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(cert_to_pem(pki.client_ca.cert))
    result = cli("servicekey", "create", "ext", "--cert", tmp_path / "ca.pem", "--workspace", workspace)
    failed(result, "is a CA certificate (basicConstraints CA:TRUE)", "register the sender's own certificate")
    assert "ext" not in Registry.load(workspace / "certs").records


@pytest.mark.parametrize("days", ["0", "366"])
def test_validity_outside_the_range_is_refused(workspace: Path, days: str) -> None:
    result = cli("servicekey", "create", "x", "--validity", days, "--workspace", workspace)
    failed(result, f"--validity {days}", "1..365")
    assert not (workspace / "certs/keys/x.json").exists()


def test_csr_with_bad_signature_is_refused(workspace: Path, tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S4H")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(generate_key(), hashes.SHA256())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-7] ^= 0x10
    (tmp_path / "bad.csr").write_bytes(bytes(der))
    failed(
        cli("servicekey", "create", "s4", "--csr", tmp_path / "bad.csr", "--workspace", workspace), "bad.csr", "again"
    )
    assert not (workspace / "certs/keys/s4.json").exists()
    assert "s4" not in Registry.load(workspace / "certs").records


def test_list_renew_revoke(workspace: Path) -> None:
    old_serial = Registry.load(workspace / "certs").get("demo-sender").serial
    renewed = cli("servicekey", "renew", "demo-sender", "--validity", "10", "--workspace", workspace)
    assert renewed.exit_code == 0, renewed.output
    record = Registry.load(workspace / "certs").get("demo-sender")
    assert record.serial != old_serial
    assert record.instance == "default"
    assert not record.revoked
    pki = Pki.load(workspace / "certs")
    assert int(str(old_serial), 16) in pki.revoked_serials()
    listing = cli("servicekey", "list", "--workspace", workspace).output.splitlines()
    assert listing[0].split()[:3] == ["NAME", "INSTANCE", "TYPE"]
    assert listing[1].split()[0] == "demo-sender"
    assert listing[1].split()[-1] == "expiring"  # 10 days: within the 30-day warning window
    assert listing[1].split()[-2] in ("9", "10")
    revoked = cli("servicekey", "revoke", "demo-sender", "--workspace", workspace)
    assert "crl.pem" in revoked.output
    assert int(str(record.serial), 16) in Pki.load(workspace / "certs").revoked_serials()
    assert cli("servicekey", "list", "--workspace", workspace).output.splitlines()[1].split()[-1] == "revoked"
    failed(cli("servicekey", "revoke", "nope", "--workspace", workspace), "'nope'", "servicekey list")


def test_workspace_from_environment(workspace: Path) -> None:
    result = cli("servicekey", "list", env={"CPIMOCK_WORKSPACE": str(workspace)})
    assert "demo-sender" in result.output


def _key_json(workspace: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((workspace / "certs/keys/demo-sender.json").read_text())
    return data


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", ["bad.json", "not valid JSON"]),
        ('{"clientid": "x"}', ["bad.json", 'no "oauth"']),
        ("BROKEN_BASE64", ["bad.json", "oauth.certificate", "base64"]),
        ("FOREIGN_KEY", ["bad.json", "oauth.key does not belong"]),
    ],
)
def test_extract_refuses_bad_keys_without_output(
    workspace: Path, tmp_path: Path, content: str, expected: list[str]
) -> None:
    data = _key_json(workspace)
    oauth = data["oauth"]
    assert isinstance(oauth, dict)
    if content == "BROKEN_BASE64":
        oauth["certificate"] = oauth["certificate"].replace("\nMII", "\nM!I", 1)
        content = json.dumps(data)
    elif content == "FOREIGN_KEY":
        oauth["key"] = key_to_pem(generate_key()).decode()
        content = json.dumps(data)
    (tmp_path / "bad.json").write_text(content)
    result = cli("servicekey", "extract", tmp_path / "bad.json", "--out", tmp_path / "out", "--pfx")
    failed(result, *expected)
    assert not (tmp_path / "out").exists()


def test_extract_refuses_an_expired_certificate(pki: Pki, tmp_path: Path) -> None:
    issued = pki.issue_client(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")]), 1, not_before=now() - dt.timedelta(days=5)
    )
    data = build_service_key(key_type="certificate", clientid="c", url="u", tokenurl="t", issued=issued)
    (tmp_path / "old.json").write_text(json.dumps(data))
    failed(cli("servicekey", "extract", tmp_path / "old.json", "--out", tmp_path / "out"), "old.json", "expired")
    assert not (tmp_path / "out").exists()


def test_extract_refuses_an_unwritable_folder(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    result = cli("servicekey", "extract", workspace / "certs/keys/demo-sender.json", "--out", tmp_path / "file/out")
    failed(result, "--out", "file/out", "choose")


def test_extract_prints_each_file_and_how_to_use_it(workspace: Path, tmp_path: Path) -> None:
    result = cli(
        "servicekey",
        "extract",
        workspace / "certs/keys/demo-sender.json",
        "--out",
        tmp_path / "o",
        "--pfx",
        "--password",
        "secret",
        "--workspace",
        workspace,
    )
    assert result.exit_code == 0, result.output
    for name in ("cert.pem", "key.key", "ca.pem", "cert.pfx"):
        assert (tmp_path / "o" / name).exists()
        assert name in result.output
    assert "curl --cert" in result.output
    assert "--cacert" in result.output
    assert "Postman" in result.output
    assert "keytool" in result.output
    assert "into STRUST as an SSL client identity" in result.output
    assert "docs/s4hana.md" in result.output
    assert "/http/clientCertAuth" in result.output  # the curl line names the HTTPS demo, not a /cxf/ channel


def test_extract_generates_and_prints_a_pfx_password(workspace: Path, tmp_path: Path) -> None:
    result = cli("servicekey", "extract", workspace / "certs/keys/demo-sender.json", "--out", tmp_path / "o", "--pfx")
    line = next(line for line in result.output.splitlines() if line.startswith("cert.pfx password: "))
    assert len(line.split()[2]) >= 12


def test_inspect_a_service_key_shows_instance_and_roles(workspace: Path) -> None:
    result = cli("certs", "inspect", workspace / "certs/keys/demo-sender.json", "--workspace", workspace)
    assert result.exit_code == 0, result.output
    assert "verifies against the workspace CA" in result.output
    assert "service key  demo-sender, instance default, roles ESBMessaging.send" in result.output
    assert "sha-256" in result.output
    assert "clientAuth" in result.output


def test_inspect_a_foreign_certificate_does_not_verify(workspace: Path, tmp_path: Path) -> None:
    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    start = now()
    cert = build_certificate(
        subject=name,
        public_key=key.public_key(),
        issuer=None,
        issuer_key=key,
        not_before=start,
        not_after=start + dt.timedelta(days=10),
    )
    (tmp_path / "stranger.pem").write_bytes(cert_to_pem(cert))
    result = cli("certs", "inspect", tmp_path / "stranger.pem", "--workspace", workspace)
    assert "does not verify: no trusted issuer CN=stranger" in result.output
    assert "warning: the certificate expires in 9 days" in result.output


def test_inspect_a_revoked_certificate(workspace: Path) -> None:
    cli("servicekey", "revoke", "demo-sender", "--workspace", workspace)
    result = cli("certs", "inspect", workspace / "certs/keys/demo-sender.json", "--workspace", workspace)
    assert "does not verify: revoked" in result.output
    assert "demo-sender (revoked)" in result.output


def test_real_process(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cpimock", "init", str(tmp_path / "ws")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "cpimock", "servicekey", "create", "p", "--validity", "400"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path / "ws",
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "error: --validity 400: choose 1..365 days, as BTP allows (or 30m, 12h: from 1 minute, for tests)"
    ]
    assert "Traceback" not in run.stderr


def test_one_external_certificate_backs_one_key(workspace: Path, pki: Pki, tmp_path: Path) -> None:
    """BTP refuses a second key for a certificate another key holds ("Certificate already exists
    for Follower within Leader ...", SAP Help loio 0a38373; one certificate per key across all
    instances, loio 19af5e2); a deleted key (here: revoked) frees it."""
    issued = pki.issue_client(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s4-sender")]), 30)
    (tmp_path / "s4.pem").write_bytes(cert_to_pem(issued.cert))
    first = cli("servicekey", "create", "s4", "--cert", tmp_path / "s4.pem", "--workspace", workspace)
    assert first.exit_code == 0, first.output
    second = cli("servicekey", "create", "s4-again", "--cert", tmp_path / "s4.pem", "-w", workspace)
    failed(second, "Certificate already exists", "service key 's4' holds it", "cpimock servicekey revoke s4")
    assert "s4-again" not in Registry.load(workspace / "certs").records
    assert not (workspace / "certs/keys/s4-again.json").exists()
    # the demo key's own certificate cannot back an external key either
    demo = json.loads((workspace / "certs/keys/demo-sender.json").read_text())["oauth"]["certificate"]
    (tmp_path / "demo.pem").write_text(demo)
    failed(cli("servicekey", "create", "x", "--cert", tmp_path / "demo.pem", "-w", workspace), "'demo-sender' holds it")
    # renewing s4 with its own certificate is no second key; revoking s4 frees the certificate
    renewed = cli("servicekey", "renew", "s4", "--cert", tmp_path / "s4.pem", "-w", workspace)
    assert renewed.exit_code == 0, renewed.output
    assert cli("servicekey", "revoke", "s4", "-w", workspace).exit_code == 0
    again = cli("servicekey", "create", "s4-again", "--cert", tmp_path / "s4.pem", "-w", workspace)
    assert again.exit_code == 0, again.output
