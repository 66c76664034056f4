"""A trust bundle named in cpimock.toml before its file exists takes effect once the file appears,
without a touch of cpimock.toml or a SIGHUP (the watcher's own reload; a real TLS client)."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import aiohttp

from cpimock.pki.exports import export_files, write_files
from cpimock.pki.servicekey import read_service_key
from tests.e2e_support import set_toml
from tests.serving import Running, serving
from tests.test_extract_clients import _sap_like_key


async def status(running: Running, folder: Path) -> int | str:
    ctx = ssl.create_default_context(cafile=str(running.ca_path))
    ctx.load_cert_chain(folder / "cert.pem", folder / "key.key")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{running.url}/http/clientCertAuth", data=b"x", ssl=ctx) as response:
                return response.status
    except aiohttp.ClientError:
        return "refused in the handshake"


async def test_a_trust_bundle_takes_effect_when_its_file_appears(workspace: Path, tmp_path: Path) -> None:
    key, sap_root = _sap_like_key(tmp_path)
    files, _ = export_files(read_service_key(key))
    write_files(tmp_path / "sap", files)
    async with serving(workspace, watch=True) as running:
        assert await status(running, tmp_path / "sap") == "refused in the handshake"
        generation = running.server.snapshot.generation
        set_toml(workspace, '# trust = ["certs/extra-roots.pem"]', 'trust = ["certs/sap-roots.pem"]')
        assert not await running.server.reloader.reload("cpimock.toml changed")  # the file is not there yet
        assert "certs/sap-roots.pem does not exist" in (running.server.reloader.last_error or "")
        shutil.copy(sap_root, workspace / "certs/sap-roots.pem")
        snapshot = await running.server.reloader.wait_for_generation(generation + 1, timeout=10)
        assert workspace / "certs/sap-roots.pem" in snapshot.config.server.trust
        # trusted now: the handshake passes, and the certificate maps to no key of this workspace
        assert await status(running, tmp_path / "sap") == 401


async def test_a_missing_bundle_keeps_the_previous_state_and_is_watched(workspace: Path) -> None:
    async with serving(workspace) as running:
        set_toml(workspace, '# trust = ["certs/extra-roots.pem"]', 'trust = ["certs/nowhere.pem"]')
        assert not await running.server.reloader.reload("test")
        assert running.server.snapshot.config.server.trust == ()
        assert workspace / "certs/nowhere.pem" in running.server.reloader.current.watched
