"""Hot reload: the current snapshot, and its replacement when the workspace's files change.

The :class:`Reloader` watches the files the snapshot was built from and swaps in a new snapshot
when one changes (or on SIGHUP). New connections and requests see the new snapshot; an open
connection's next request sees it too (the server works out the connection's identity again
when the generation changed). A change that does not load (broken TOML, a garbage certificate)
keeps the old snapshot and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cpimock.config import ClientAuthSetting
from cpimock.errors import CpimockError, MissingFileError
from cpimock.pki.clock import Clock
from cpimock.tenant.snapshot import Snapshot, build_snapshot, stat
from cpimock.tenant.tls import judge_at

log = logging.getLogger(__name__)

# how often the watcher looks at the workspace's files (a stat call each; cheap)
POLL_INTERVAL_S = 1.0


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
        # swaps come from the event loop (reload) and from other threads (rebuild, the testing API)
        self._swap_lock = threading.Lock()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._on_swap = on_swap
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self.last_error: str | None = None
        # the server log says once per (re)load when the CRLs cannot vouch for the workspace's keys
        snapshot.revocation.problem()

    def changed_files(self) -> list[Path]:
        return [path for path, seen in self.current.watched.items() if stat(path) != seen]

    def rebuild(self, clock: Clock | None = None) -> Snapshot:
        """Rebuild the snapshot on the calling thread, strictly (a step that does not load raises
        here), and install it. Raises CpimockError, keeping the current snapshot, when the
        workspace does not load. For code that changed the workspace and needs the change now;
        *clock* sets the tenant clock anew."""
        with self._swap_lock:
            old = self.current
            new = self._install(
                old, build_snapshot(old.config.root, self._client_auth, old, strict_steps=True, clock=clock)
            )
        self._notify()
        return new

    def _install(self, old: Snapshot, new: Snapshot) -> Snapshot:
        """Swap in *new* (numbered after the current one); the caller holds the swap lock."""
        new = replace(new, generation=self.current.generation + 1)
        self.current = new
        if self._on_swap:
            self._on_swap(old, new)
        return new

    def _notify(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self._wake())
        else:
            loop.call_soon_threadsafe(lambda: loop.create_task(self._wake()))

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def reload(self, reason: str = "requested") -> bool:
        """Rebuild the snapshot now; False (and the old one kept) when the workspace does not load."""
        self._loop = asyncio.get_running_loop()
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
                # remember the broken files' state so the same breakage is not retried every second;
                # a file the new state names but that does not exist yet is watched too, so that it
                # takes effect once it appears
                paths = [*old.watched, *(exc.paths if isinstance(exc, MissingFileError) else ())]
                with self._swap_lock:
                    self.current = replace(self.current, watched={p: stat(p) for p in paths})
                return False
            self.last_error = None
            with self._swap_lock:
                new = self._install(old, new)
            log.info("reloaded the workspace (%s); generation %d", reason, new.generation)
            new.revocation.problem()
            _log_export_warnings(old, new)
        async with self._changed:
            self._changed.notify_all()
        return True

    async def wait_for_generation(self, generation: int, timeout: float = 10.0) -> Snapshot:
        """Wait until the snapshot's generation reaches *generation* (for tests and tools)."""
        self._loop = asyncio.get_running_loop()
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.current.generation >= generation), timeout)
        return self.current

    def start(self) -> None:
        """Watch the workspace's files from the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._watch())

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
            current = self.current
            if current.clock.shifted:  # OpenSSL's time was set once: keep it running with the clock
                judge_at(current.ssl_context, current.clock.now())
            changed = self.changed_files()
            if changed:
                names = ", ".join(sorted(p.name for p in changed))
                await self.reload(f"{names} changed")


def _log_export_warnings(old: Snapshot, new: Snapshot) -> None:
    """The warnings of each export flow that changed in the reload (what it serves without, or doubts)."""
    before = {served.flow.id: served.warnings for served in old.exports}
    for served in new.exports:
        warnings = served.warnings
        if warnings and warnings != before.get(served.flow.id):
            for line in warnings:
                log.warning("iFlow %s (%s): %s: %s", served.flow.id, served.settings.export, line.where, line.text)
