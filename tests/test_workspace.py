"""``ensure_workspace`` and ``issue_service_key``: what a new workspace holds, and that keys survive re-runs."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cpimock.config import load_config
from cpimock.errors import ConfigError, PkiError, ServiceKeyError
from cpimock.pki.keys import KeyBatch, PrivateKey, generate_key, load_key
from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace
from cpimock.workspace.keys import add_instance, issue_service_key, revoke_record
from cpimock.workspace.registry import Registry

PRIVATE = ["certs/root-ca.key", "certs/client-ca.key", "certs/server.key", "certs/keys/demo-sender.json"]


def test_new_workspace_holds_config_pki_demo_flow_and_key(tmp_path: Path) -> None:
    config, created = ensure_workspace(tmp_path / "ws")
    root = tmp_path / "ws"
    names = {str(p.relative_to(root)) for p in created}
    assert {
        "cpimock.toml",
        "certs/root-ca.pem",
        "certs/crl.pem",
        "iflows/demo.py",
        "iflows/demo.groovy",
        "iflows/idoc_demo.py",
        "iflows/soap_demo.py",
        "iflows/ORDERS05.xml",
        "certs/keys/demo-sender.json",
    } <= names
    for private in PRIVATE:
        assert os.stat(root / private).st_mode & 0o777 == 0o600, private
    assert config.instances["default"].roles == {"ESBMessaging.send"}
    (iflow, idoc, soap) = config.iflows
    assert (iflow.id, iflow.address, iflow.steps, iflow.csrf) == (
        "clientCertAuth",
        "/clientCertAuth",
        ("iflows/demo.py:process",),
        False,
    )
    assert (idoc.id, idoc.adapter, idoc.address, idoc.steps) == (
        "idocOrders",
        "idoc",
        "/idoc/orders",
        ("iflows/idoc_demo.py:process",),
    )
    assert (soap.id, soap.adapter, soap.address) == ("soapEcho", "soap", "/demo/echo")
    record = Registry.load(root / "certs").get("demo-sender")
    assert (record.instance, record.key_type, record.file) == ("default", "certificate", "certs/keys/demo-sender.json")
    oauth = json.loads((root / record.file).read_text())["oauth"]
    assert oauth["url"] == "https://localhost:8443"
    assert oauth["tokenurl"] == "https://localhost:8443/oauth/token"


def workspace_keys(root: Path) -> dict[str, int]:
    """The RSA 2048 private keys of a workspace (its CAs, server, demo key, token signing key
    when there is one), by file, as their moduli."""
    pems = {
        name: (root / "certs" / name).read_bytes()
        for name in ("root-ca.key", "client-ca.key", "server.key", "token-signing.key")
        if (root / "certs" / name).exists()
    }
    pems["demo-sender"] = json.loads((root / "certs/keys/demo-sender.json").read_text())["oauth"]["key"].encode()
    moduli = {}
    for name, pem in pems.items():
        key = load_key(pem, name)
        assert isinstance(key, rsa.RSAPrivateKey), name
        assert key.key_size == 2048, name
        moduli[name] = key.private_numbers().public_numbers.n
    return moduli


def test_a_new_workspace_has_four_rsa_2048_keys_each_its_own(tmp_path: Path) -> None:
    one = workspace_keys(ensure_workspace(tmp_path / "one")[0].root)
    two = workspace_keys(ensure_workspace(tmp_path / "two")[0].root)
    assert set(one) == {"root-ca.key", "client-ca.key", "server.key", "demo-sender"}
    assert len(set(one.values())) == len(set(two.values())) == 4
    assert not set(one.values()) & set(two.values())


def test_a_key_batch_hands_out_each_key_once_and_makes_more_when_spent() -> None:
    batch = KeyBatch(2)
    keys: list[PrivateKey] = [batch() for _ in range(3)]
    assert all(isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048 for key in keys)
    assert len({key.private_numbers().public_numbers.n for key in keys if isinstance(key, rsa.RSAPrivateKey)}) == 3


def test_completing_a_workspace_takes_only_the_keys_it_lacks(workspace: Path) -> None:
    (workspace / "certs/server.pem").unlink()
    taken: list[PrivateKey] = []

    def source() -> PrivateKey:
        taken.append(generate_key())
        return taken[-1]

    before = workspace_keys(workspace)
    ensure_workspace(workspace, key_source=source)
    after = workspace_keys(workspace)
    assert len(taken) == 1
    assert isinstance(taken[0], rsa.RSAPrivateKey)
    assert {name for name in before if before[name] != after[name]} == {"server.key"}
    assert after["server.key"] == taken[0].private_numbers().public_numbers.n


def test_rerun_creates_nothing_and_keeps_every_key(workspace: Path) -> None:
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    _, created = ensure_workspace(workspace)
    assert created == []
    assert {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()} == before


def test_rerun_completes_a_workspace_missing_its_server_certificate(workspace: Path) -> None:
    (workspace / "certs/server.pem").unlink()
    ca_before = (workspace / "certs/client-ca.key").read_bytes()
    _, created = ensure_workspace(workspace)
    assert workspace / "certs/server.pem" in created
    assert (workspace / "certs/client-ca.key").read_bytes() == ca_before


def test_server_certificate_names_only_this_machine_without_a_tenant_host(workspace: Path) -> None:
    """A new workspace sets no [tenant] host: its server certificate names localhost and the
    loopback addresses, and nothing of SAP's (the tenant hosts: tests/test_tenant_host.py)."""
    cert = x509.load_pem_x509_certificate((workspace / "certs/server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_generated_config_documents_every_iflow_key(workspace: Path) -> None:
    from cpimock.config.channels import ADAPTER_KEYS, COMMON_KEYS

    text = (workspace / "cpimock.toml").read_text()
    uncommented = "\n".join(line.lstrip("# ") for line in text.splitlines())
    for key in COMMON_KEYS | set(ADAPTER_KEYS) | {"cxf_case_sensitive"}:
        assert f"\n{key} =" in uncommented, key
    assert tomllib.loads(text)["instances"]["default"]["roles"] == ["ESBMessaging.send"]


def test_issue_from_csr_keeps_the_key_with_the_requester(workspace: Path, pki: Pki) -> None:
    config = load_config(workspace / "cpimock.toml")
    registry = Registry.load(config.certs_dir)
    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S4H")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    (workspace / "s4.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    data, record = issue_service_key(config, pki, registry, "s4", "default", 30, csr=workspace / "s4.csr")
    assert "key" not in data["oauth"]
    leaf = x509.load_pem_x509_certificate(data["oauth"]["certificate"].encode())
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert record.subject == "CN=s4h"


def test_issue_refuses_unknown_instance_and_taken_name(workspace: Path, pki: Pki) -> None:
    config = load_config(workspace / "cpimock.toml")
    registry = Registry.load(config.certs_dir)
    with pytest.raises(ConfigError, match=r"--instance 'nope'"):
        issue_service_key(config, pki, registry, "x", "nope")
    with pytest.raises(ServiceKeyError, match="exists already"):
        issue_service_key(config, pki, registry, "demo-sender", "default")
    with pytest.raises(ServiceKeyError, match="--validity 0"):
        issue_service_key(config, pki, registry, "x", "default", 0)
    assert not (config.certs_dir / "keys/x.json").exists()


def test_issue_refuses_a_csr_with_a_bad_signature(workspace: Path, pki: Pki) -> None:
    config = load_config(workspace / "cpimock.toml")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S4H")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(generate_key(), hashes.SHA256())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    (workspace / "bad.csr").write_bytes(bytes(der))
    with pytest.raises(PkiError, match=r"--csr .*bad\.csr: the CSR's signature does not verify"):
        issue_service_key(config, pki, Registry.load(config.certs_dir), "s4", "default", csr=workspace / "bad.csr")
    assert not (config.certs_dir / "keys/s4.json").exists()


def test_add_instance_appends_a_table_and_validates(workspace: Path) -> None:
    config = load_config(workspace / "cpimock.toml")
    config = add_instance(config, "s4", ["ESBMessaging.send", "Orders.write"])
    assert config.instances["s4"].roles == {"ESBMessaging.send", "Orders.write"}
    with pytest.raises(ConfigError, match="may only use"):
        add_instance(config, "bad", ["no spaces"])
    assert "bad" not in load_config(workspace / "cpimock.toml").instances


def test_revoke_lists_the_serial_in_the_crl(workspace: Path, pki: Pki) -> None:
    registry = Registry.load(workspace / "certs")
    record = registry.get("demo-sender")
    assert revoke_record(pki, registry, record) is True
    assert int(str(record.serial), 16) in pki.revoked_serials()
    assert Registry.load(workspace / "certs").get("demo-sender").revoked
