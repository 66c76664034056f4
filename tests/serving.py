"""Helpers for tests that serve a workspace of their own making (its config, PKI, trust, CRLs)
on port 0, as ``cpimock serve`` serves one, and call it over mTLS.

A test that needs only iFlows, keys and the MPL uses the public testing API instead
(:class:`cpimock.testing.Tenant`), as a sender's tests do.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from cpimock.config import load_config
from cpimock.http.server import Server
from cpimock.mpl.record import MplRecord
from cpimock.pki.authority import Issued
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.keys import cert_to_pem, key_to_pem
from cpimock.pki.servicekey import read_service_key
from cpimock.pki.store import Pki
from cpimock.workspace.keys import issue_service_key
from cpimock.workspace.registry import Registry


@dataclass(frozen=True)
class KeyFiles:
    """cert.pem (leaf + chain), key.key and ca.pem of one service key, as `extract` writes them."""

    cert: Path
    key: Path
    ca: Path


@dataclass
class Running:
    server: Server
    root: Path
    files: dict[str, KeyFiles] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_path(self) -> Path:
        return self.root / "certs" / "root-ca.pem"

    def extract(self, name: str) -> KeyFiles:
        """The PEM files of service key *name* (written once into the workspace)."""
        if name not in self.files:
            folder = self.root / "extracted" / name
            key = read_service_key(self.root / "certs" / "keys" / f"{name}.json")
            files, _ = export_files(key, pfx_password=None, alias=name)
            write_files(folder, files)
            self.files[name] = KeyFiles(folder / "cert.pem", folder / "key.key", folder / "ca.pem")
        return self.files[name]

    def issue(self, name: str, instance: str = "default") -> KeyFiles:
        """Issue a certificate service key into the running workspace, as `cpimock servicekey create`
        does, and return its PEM files (reload the server to use it). For ClientId/Secret keys use
        ``tests.e2e_support.issue_secret_key``."""
        config = load_config(self.root / "cpimock.toml")
        issue_service_key(config, Pki.load(config.certs_dir), Registry.load(config.certs_dir), name, instance, 365)
        return self.extract(name)

    def context(self, files: KeyFiles | None = None) -> ssl.SSLContext:
        """A client context trusting the workspace root, presenting *files* when given."""
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        if files is not None:
            ctx.load_cert_chain(files.cert, files.key)
        return ctx

    def session(self, files: KeyFiles | None = None, **kwargs: Any) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.context(files)), **kwargs)

    async def records(self) -> list[MplRecord]:
        """Every MPL record so far, oldest first (after flushing the writer)."""
        journal = self.server.journal
        assert journal is not None
        await journal.aflush()
        return journal.query(order=(("seq", False),), limit=100_000, bodies=True)

    async def reload(self) -> None:
        """Reload the workspace now (what the file watcher does within a second)."""
        assert await self.server.reloader.reload("test")


@asynccontextmanager
async def serving(root: Path, **kwargs: Any) -> AsyncIterator[Running]:
    server = Server(root, host="127.0.0.1", port=0, watch=kwargs.pop("watch", False), **kwargs)
    await server.start()
    try:
        yield Running(server, root)
    finally:
        await server.stop()


def write_pem_pair(folder: Path, issued: Issued, *, chain: bool = True) -> KeyFiles:
    """Write a certificate (with or without its chain) and key made in a test."""
    folder.mkdir(parents=True, exist_ok=True)
    cert = folder / "cert.pem"
    certs = (issued.cert, *issued.chain) if chain else (issued.cert,)
    cert.write_bytes(b"".join(cert_to_pem(c) for c in certs))
    key = folder / "key.key"
    assert issued.key is not None
    key.write_bytes(key_to_pem(issued.key))
    ca = folder / "ca.pem"
    ca.write_bytes(b"".join(cert_to_pem(c) for c in issued.chain))
    return KeyFiles(cert, key, ca)


__all__ = ["KeyFiles", "Running", "serving", "write_pem_pair"]
