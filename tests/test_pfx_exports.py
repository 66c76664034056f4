"""`.pfx` files every importer reads: AES-256 by default, PBE-SHA1-3DES with `--pfx-legacy` (read by
`openssl pkcs12 -legacy` and keytool); keys from a CSR with `--private-key`; `certs pfx` from loose
PEM files; stale files of an earlier extract; `certs inspect` on a key file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from cpimock.cli import main
from cpimock.pki.keys import generate_key, key_to_pem

pytestmark = pytest.mark.clients


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, timeout=60)


def extract(workspace: Path, out: Path, *extra: str, key: str = "demo-sender") -> Result:
    result = cli("servicekey", "extract", workspace / f"certs/keys/{key}.json", "--out", out, *extra, "-w", workspace)
    assert result.exit_code == 0, result.output
    return result


def pfx_info(pfx: Path, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(need("openssl"), "pkcs12", "-info", "-noout", "-in", pfx, "-passin", f"pass:{password}", *extra)


def keytool_list(pfx: Path, password: str) -> subprocess.CompletedProcess[str]:
    return run(need("keytool"), "-list", "-v", "-storetype", "PKCS12", "-keystore", pfx, "-storepass", password)


def test_the_legacy_pfx_is_3des_with_a_sha1_mac_and_openssl_and_keytool_read_it(
    workspace: Path, tmp_path: Path
) -> None:
    result = extract(workspace, tmp_path / "legacy", "--pfx-legacy", "--password", "changeit")
    assert "PBE-SHA1-3DES" in result.output
    info = pfx_info(tmp_path / "legacy/cert.pfx", "changeit", "-legacy")
    assert info.returncode == 0, info.stderr
    assert "MAC: sha1" in info.stderr
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr
    assert "AES" not in info.stderr
    listed = keytool_list(tmp_path / "legacy/cert.pfx", "changeit")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "PrivateKeyEntry" in listed.stdout
    assert "Certificate chain length: 3" in listed.stdout
    assert keytool_list(tmp_path / "legacy/cert.pfx", "wrong").returncode != 0


def test_the_default_pfx_is_aes_256_with_a_sha256_mac(workspace: Path, tmp_path: Path) -> None:
    extract(workspace, tmp_path / "modern", "--pfx", "--password", "changeit")
    info = pfx_info(tmp_path / "modern/cert.pfx", "changeit")
    assert info.returncode == 0, info.stderr
    assert "MAC: sha256" in info.stderr
    assert "AES-256-CBC" in info.stderr
    assert "3-KeyTripleDES" not in info.stderr


def test_a_key_from_a_csr_gets_its_pfx_with_the_senders_own_key(workspace: Path, tmp_path: Path) -> None:
    own = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S4H_SSL_CLIENT")]))
        .sign(own, hashes.SHA256())
    )
    (tmp_path / "s4.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "s4.key").write_bytes(key_to_pem(own))
    created = cli("servicekey", "create", "s4", "--csr", tmp_path / "s4.csr", "-w", workspace)
    assert created.exit_code == 0, created.output
    assert "--private-key YOUR.key --pfx" in created.output
    without = cli("servicekey", "extract", workspace / "certs/keys/s4.json", "--out", tmp_path / "x", "--pfx")
    assert without.exit_code == 1
    assert "add --private-key FILE" in without.output
    extract(
        workspace,
        tmp_path / "s4",
        *("--private-key", str(tmp_path / "s4.key"), "--pfx-legacy", "--password", "changeit"),
        key="s4",
    )
    assert (tmp_path / "s4/key.key").read_bytes() == key_to_pem(own)
    listed = keytool_list(tmp_path / "s4/cert.pfx", "changeit")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "CN=S4H_SSL_CLIENT" in listed.stdout
    (tmp_path / "other.key").write_bytes(key_to_pem(generate_key()))
    wrong = cli(
        *("servicekey", "extract", workspace / "certs/keys/s4.json", "--out", tmp_path / "y"),
        *("--private-key", tmp_path / "other.key", "--pfx"),
    )
    assert wrong.exit_code == 1
    assert "does not belong to the certificate" in wrong.output
    assert not (tmp_path / "y" / "cert.pfx").exists()


def test_certs_pfx_makes_a_pfx_from_loose_pem_files(workspace: Path, tmp_path: Path) -> None:
    files = tmp_path / "demo"
    extract(workspace, files)
    made = cli("certs", "pfx", files / "cert.pem", files / "key.key", "--out", tmp_path / "s4.pfx", "--legacy")
    assert made.exit_code == 0, made.output
    assert "CN=demo-sender" in made.output
    assert "2 CA certificates" in made.output
    password = made.output.split("password: ", 1)[1].split()[0]
    listed = keytool_list(tmp_path / "s4.pfx", password)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Certificate chain length: 3" in listed.stdout
    assert "Alias name: demo-sender" in listed.stdout
    assert pfx_info(tmp_path / "s4.pfx", password, "-legacy").returncode == 0
    (tmp_path / "other.key").write_bytes(key_to_pem(generate_key()))
    wrong = cli("certs", "pfx", files / "cert.pem", tmp_path / "other.key", "--out", tmp_path / "bad.pfx")
    assert wrong.exit_code == 1
    [line] = wrong.output.strip().splitlines()
    assert "does not belong to the certificate" in line
    assert not (tmp_path / "bad.pfx").exists()


def test_extract_after_renew_removes_the_pfx_that_held_the_revoked_certificate(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    extract(workspace, out, "--pfx", "--password", "changeit")
    assert cli("servicekey", "renew", "demo-sender", "-w", workspace).exit_code == 0
    again = extract(workspace, out)
    assert "Wrote 3 files" in again.output
    assert "(3 replaced)" in again.output
    assert "Removed " in again.output
    assert "cert.pfx: it was left by an earlier extract" in again.output
    assert sorted(p.name for p in out.iterdir()) == ["ca.pem", "cert.pem", "key.key"]
    fresh = extract(workspace, tmp_path / "fresh")
    assert "replaced" not in fresh.output
    assert "Removed" not in fresh.output


def test_inspect_reads_a_key_file_and_names_its_service_key(workspace: Path, tmp_path: Path) -> None:
    files = tmp_path / "demo"
    extract(workspace, files)
    shown = cli("certs", "inspect", files / "key.key", "-w", workspace)
    assert shown.exit_code == 0, shown.output
    assert "private key" in shown.output
    assert "RSA 2048 bits, PKCS#1 (BEGIN RSA PRIVATE KEY)" in shown.output
    assert "service key  demo-sender, instance default" in shown.output
    (tmp_path / "stray.key").write_bytes(key_to_pem(generate_key()))
    stray = cli("certs", "inspect", tmp_path / "stray.key", "-w", workspace)
    assert stray.exit_code == 0, stray.output
    assert "no service key of this workspace holds a certificate for this key" in stray.output
    encrypted = generate_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (tmp_path / "locked.key").write_bytes(encrypted)
    locked = cli("certs", "inspect", tmp_path / "locked.key", "-w", workspace)
    assert locked.exit_code == 1
    [line] = locked.output.strip().splitlines()
    assert "the private key is encrypted; decrypt it first" in line
