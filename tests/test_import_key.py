"""`cpimock servicekey import`: a real BTP service key registered and its root trusted in one step,
so the sender's real certificate (or clientid and secret) works against the local tenant."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from cpimock.config import load_config
from cpimock.config.hosts import TenantHosts
from cpimock.workspace.registry import Registry
from tests.serving import serving
from tests.test_extract_clients import _sap_like_key


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    for text in expected:
        assert text in line, line


async def call(url: str, ca: Path, folder: Path | None = None, basic: tuple[str, str] | None = None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(ca))
    if folder is not None:
        ctx.load_cert_chain(folder / "cert.pem", folder / "key.key")
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(basic).encode()).decode()} if basic else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/http/clientCertAuth", data=b"x", ssl=ctx, headers=headers) as response:
            return response.status, await response.text()


async def test_a_real_key_is_served_after_one_import(workspace: Path, tmp_path: Path) -> None:
    key, _ = _sap_like_key(tmp_path)
    before = (workspace / "cpimock.toml").read_text()
    imported = cli("servicekey", "import", key, "-w", workspace)
    assert imported.exit_code == 0, imported.output
    assert "Imported service key 'sap-key'" in imported.output
    assert "Trusted its root CN=SAP Cloud Root CA" in imported.output
    assert "cpimock call https://127.0.0.1:8443/http/clientCertAuth --key ws/certs/keys/sap-key.json" in imported.output
    assert "run `cpimock init --tenant-host acme-dev.it-cpi018-rt" in imported.output
    config = load_config(workspace / "cpimock.toml")
    assert config.server.trust == (workspace / "certs/trust/sap-cloud-root-ca.pem",)
    after = (workspace / "cpimock.toml").read_text()
    assert after.count("# ") == before.count("# ")  # the user's comments stay
    record = Registry.load(workspace / "certs").get("sap-key")
    assert (record.imported, record.key_type, record.instance) == (True, "certificate", "default")
    assert json.loads((workspace / "certs/keys/sap-key.json").read_text()) == json.loads(key.read_text())

    extracted = cli("servicekey", "extract", workspace / "certs/keys/sap-key.json", "--out", tmp_path / "files")
    assert extracted.exit_code == 0, extracted.output
    async with serving(workspace) as running:
        status, body = await call(running.url, running.ca_path, tmp_path / "files")
        assert status == 200, body
        assert "Caller: service key sap-key, instance default" in body
        # the rejecting twin: another real key, not imported, is refused in the handshake
        (tmp_path / "other").mkdir()
        other, _ = _sap_like_key(tmp_path / "other")
        assert cli("servicekey", "extract", other, "--out", tmp_path / "other/files").exit_code == 0
        with pytest.raises(aiohttp.ClientError):
            await call(running.url, running.ca_path, tmp_path / "other/files")

    one_error(cli("servicekey", "import", key, "-w", workspace), "exists already")
    one_error(cli("servicekey", "rotate", "sap-key", "-w", workspace), "is a real BTP key", "rotate it on BTP")
    one_error(cli("servicekey", "renew", "sap-key", "-w", workspace), "is a real BTP key")
    one_error(cli("servicekey", "import", key, "--name", "again", "-w", workspace), "belongs to service key 'sap-key'")


def test_a_chain_without_its_root_needs_root(workspace: Path, tmp_path: Path) -> None:
    key, root = _sap_like_key(tmp_path)
    data = json.loads(key.read_text())
    pem = data["oauth"]["certificate"]
    data["oauth"]["certificate"] = pem[: pem.rindex("-----BEGIN CERTIFICATE-----")]  # leaf and intermediate
    key.write_text(json.dumps(data))
    one_error(cli("servicekey", "import", key, "-w", workspace), "not at a root", "--root FILE")
    assert not (workspace / "certs/keys/sap-key.json").exists()
    assert load_config(workspace / "cpimock.toml").server.trust == ()
    wrong_root = tmp_path / "wrong.pem"
    wrong_root.write_bytes((workspace / "certs/root-ca.pem").read_bytes())
    one_error(cli("servicekey", "import", key, "--root", wrong_root, "-w", workspace), "does not verify")
    done = cli("servicekey", "import", key, "--root", root, "-w", workspace)
    assert done.exit_code == 0, done.output
    assert len(load_config(workspace / "cpimock.toml").server.trust) == 1


def test_a_second_key_under_a_trusted_root_leaves_the_trust_alone(workspace: Path, tmp_path: Path) -> None:
    first, root = _sap_like_key(tmp_path)
    assert cli("servicekey", "import", first, "--name", "one", "-w", workspace).exit_code == 0
    config = workspace / "cpimock.toml"
    text = config.read_text()
    bundle = workspace / "certs/trust/sap-cloud-root-ca.pem"
    second = tmp_path / "second.json"
    data = json.loads(first.read_text())
    data["oauth"]["clientid"] = "sb-other!b1|it-rt-acme-dev!b196"
    second.write_text(json.dumps(data))
    # the same certificate twice is one identity: refused
    one_error(cli("servicekey", "import", second, "--name", "two", "-w", workspace), "Certificate already exists")
    assert config.read_text() == text
    assert bundle.read_bytes() == root.read_bytes()  # the bundle holds the key's root, once


async def test_a_real_clientid_secret_key_calls_with_basic(workspace: Path, tmp_path: Path) -> None:
    secret_key = tmp_path / "basic.json"
    secret_key.write_text(
        json.dumps(
            {
                "oauth": {
                    "clientid": "sb-11111111-2222-4333-8444-555555555555!b123|it-rt-acme!b196",
                    "clientsecret": "0a1b2c3d-0000-4000-8000-000000000000$Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dQ=",
                    "url": "https://acme.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com",
                    "tokenurl": "https://acme.authentication.eu10.hana.ondemand.com/oauth/token",
                }
            }
        )
    )
    done = cli("servicekey", "import", secret_key, "-w", workspace)
    assert done.exit_code == 0, done.output
    assert "Trusted" not in done.output
    oauth = json.loads(secret_key.read_text())["oauth"]
    async with serving(workspace) as running:
        good = (oauth["clientid"], oauth["clientsecret"])
        assert (await call(running.url, running.ca_path, basic=good))[0] == 200
        assert (await call(running.url, running.ca_path, basic=(oauth["clientid"], "wrong")))[0] == 401


def test_create_cert_hints_at_trust_only_when_the_issuer_is_unknown(workspace: Path, tmp_path: Path) -> None:
    key, _ = _sap_like_key(tmp_path)
    leaf_pem = json.loads(key.read_text())["oauth"]["certificate"]
    leaf_pem = leaf_pem[: leaf_pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    (tmp_path / "leaf.pem").write_text(leaf_pem)
    untrusted = cli("servicekey", "create", "ext1", "--cert", tmp_path / "leaf.pem", "-w", workspace)
    assert untrusted.exit_code == 0, untrusted.output
    assert "add the CA bundle to [server] trust" in untrusted.output
    chain = json.loads(key.read_text())["oauth"]["certificate"]
    (workspace / "certs/sap.pem").write_text(chain[chain.index("-----END CERTIFICATE-----") + 26 :])
    text = (workspace / "cpimock.toml").read_text()
    (workspace / "cpimock.toml").write_text(
        text.replace('# trust = ["certs/extra-roots.pem"]', 'trust = ["certs/sap.pem"]')
    )
    assert cli("servicekey", "revoke", "ext1", "-w", workspace).exit_code == 0
    trusted = cli("servicekey", "create", "ext2", "--cert", tmp_path / "leaf.pem", "--no-pinning", "-w", workspace)
    assert trusted.exit_code == 0, trusted.output
    assert "[server] trust" not in trusted.output


@pytest.fixture(autouse=True)
def _no_cwd_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_an_imported_keys_host_becomes_the_tenant_host(workspace: Path, tmp_path: Path) -> None:
    """A real key names its tenant's hosts: the import says how to serve them, and the tenant then
    derives the same token host from the runtime host as BTP wrote into the key."""
    key, _ = _sap_like_key(tmp_path)
    imported = cli("servicekey", "import", key, "-w", workspace)
    assert imported.exit_code == 0, imported.output
    runtime = "acme-dev.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com"
    assert f"run `cpimock init --tenant-host {runtime}`" in imported.output
    assert cli("init", workspace, "--tenant-host", runtime).exit_code == 0
    config = load_config(workspace / "cpimock.toml")
    oauth = json.loads(key.read_text())["oauth"]
    assert TenantHosts.of(config).token_url(443, certificate=True) == oauth["tokenurl"]
    assert TenantHosts.of(config).base_url(443) == oauth["url"]
    # the twin: a workspace that serves that host already needs no hint
    other = tmp_path / "other"
    assert cli("init", other, "--tenant-host", runtime).exit_code == 0
    again = cli("servicekey", "import", key, "-w", other)
    assert again.exit_code == 0, again.output
    assert "--tenant-host" not in again.output
