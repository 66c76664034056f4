"""The running tenant's state, built from the workspace's files, and its hot reload.

A :class:`Snapshot` is immutable: the TLS context, the key directory, the router and the step
pipelines of one moment. The :class:`Reloader` watches the files it was built from and swaps in
a new snapshot when one changes (or on SIGHUP). New connections and requests see the new
snapshot; open connections keep the identity they were accepted with. A change that does not
load (broken TOML, a garbage certificate) keeps the old snapshot and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from cpimock.config import Config, IFlowConfig, load_config
from cpimock.errors import CpimockError
from cpimock.identity.directory import Directory
from cpimock.iflows.routing import Router
from cpimock.pki.store import Pki
from cpimock.steps.pipeline import Pipeline, load_pipeline
from cpimock.tenant.tls import ClientAuth, TlsMaterial, crl_checked_by_openssl, server_context
from cpimock.workspace.registry import REGISTRY_FILE, Registry
from cpimock.workspace.revocation import WorkspaceRevocation

log = logging.getLogger(__name__)

# how often the watcher looks at the workspace's files (a stat call each; cheap)
POLL_INTERVAL_S = 1.0

ClientAuthSetting = Literal["required", "optional", "auto"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int
    config: Config
    pki: Pki
    registry: Registry
    directory: Directory
    router: Router[IFlowConfig]
    pipelines: dict[str, Pipeline]
    ssl_context: ssl.SSLContext
    client_auth: ClientAuth
    client_auth_reason: str
    crl_by_openssl: bool
    revocation: WorkspaceRevocation
    watched: dict[Path, tuple[int, int, int] | None] = field(default_factory=dict)


def choose_client_auth(setting: ClientAuthSetting, config: Config, registry: Registry) -> tuple[ClientAuth, str]:
    """``auto``: required while every way in is a certificate, optional once Basic/OAuth can be used."""
    if setting != "auto":
        return setting, f"--client-auth {setting}"
    started = [f for f in config.iflows if f.state == "started"]
    secrets = [r.name for r in registry.records.values() if r.key_type == "clientid-secret" and not r.revoked]
    if any("oauth" in f.auth_methods for f in started):
        return "optional", "an iFlow accepts OAuth tokens, whose callers need not present a certificate"
    if secrets and any("basic" in f.auth_methods for f in started):
        return "optional", f"service key {secrets[0]!r} (clientid-secret) may call with Basic authentication"
    return "required", "every way in is a client certificate"


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def watched_files(config: Config, pki: Pki) -> list[Path]:
    return [
        config.path,
        config.certs_dir / REGISTRY_FILE,
        pki.crl_path,
        pki.server_cert_path,
        pki.server_key_path,
        pki.root_cert_path,
        *config.server.trust,
    ]


def build_snapshot(
    root: Path,
    client_auth: ClientAuthSetting | None = None,
    previous: Snapshot | None = None,
    *,
    strict_steps: bool = True,
) -> Snapshot:
    """Read the workspace in *root* into a snapshot. Raises CpimockError naming what is wrong."""
    config = load_config(root / "cpimock.toml")
    pki = Pki.load(config.certs_dir)
    registry = Registry.load(config.certs_dir)
    watched = {path: _stat(path) for path in watched_files(config, pki)}
    setting: ClientAuthSetting = client_auth or config.server.client_auth
    mode, reason = choose_client_auth(setting, config, registry)
    material = TlsMaterial(
        cert_path=pki.server_cert_path,
        key_path=pki.server_key_path,
        trust=(pki.root_cert_path, *config.server.trust),
        crl_path=pki.crl_path,
    )
    context = server_context(material, mode)
    revocation = WorkspaceRevocation.load(pki)
    directory = Directory(registry.records.values(), config.instances, revocation)
    pipelines: dict[str, Pipeline] = {}
    old = previous.pipelines if previous else {}
    for iflow in config.iflows:
        kept = old.get(iflow.id)
        if kept is not None and kept.references == iflow.steps:
            pipelines[iflow.id] = kept
        else:
            pipelines[iflow.id] = load_pipeline(iflow.steps, config.root, defer_errors=not strict_steps)
    return Snapshot(
        generation=(previous.generation + 1) if previous else 1,
        config=config,
        pki=pki,
        registry=registry,
        directory=directory,
        router=Router(config.iflows),
        pipelines=pipelines,
        ssl_context=context,
        client_auth=mode,
        client_auth_reason=reason,
        crl_by_openssl=crl_checked_by_openssl(material),
        revocation=revocation,
        watched=watched,
    )


class Reloader:
    """Holds the current snapshot and replaces it when the workspace's files change."""

    def __init__(
        self,
        snapshot: Snapshot,
        client_auth: ClientAuthSetting | None,
        on_swap: Callable[[Snapshot, Snapshot], None] | None = None,
    ) -> None:
        self.current = snapshot
        self._client_auth = client_auth
        self._on_swap = on_swap
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self.last_error: str | None = None
        # the server log says once per (re)load when the CRLs cannot vouch for the workspace's keys
        snapshot.revocation.problem()

    def changed_files(self) -> list[Path]:
        return [path for path, seen in self.current.watched.items() if _stat(path) != seen]

    async def reload(self, reason: str = "requested") -> bool:
        """Rebuild the snapshot now; False (and the old one kept) when the workspace does not load."""
        async with self._lock:
            old = self.current
            try:
                new = await asyncio.to_thread(
                    build_snapshot, old.config.root, self._client_auth, old, strict_steps=False
                )
            except (CpimockError, OSError, ValueError, ssl.SSLError) as exc:
                # keep serving with what worked; say once per change what is wrong
                message = f"reload ({reason}) failed, still serving the previous state: {exc}"
                if message != self.last_error:
                    log.error("%s", message)
                self.last_error = message
                # remember the broken files' state so the same breakage is not retried every second
                self.current = replace(old, watched={p: _stat(p) for p in old.watched})
                return False
            self.last_error = None
            self.current = new
            if self._on_swap:
                self._on_swap(old, new)
            log.info("reloaded the workspace (%s); generation %d", reason, new.generation)
            new.revocation.problem()
        async with self._changed:
            self._changed.notify_all()
        return True

    async def wait_for_generation(self, generation: int, timeout: float = 10.0) -> Snapshot:
        """Wait until the snapshot's generation reaches *generation* (for tests and tools)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.current.generation >= generation), timeout)
        return self.current

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            changed = self.changed_files()
            if changed:
                names = ", ".join(sorted(p.name for p in changed))
                await self.reload(f"{names} changed")
