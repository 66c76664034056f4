"""The two test tenants: :class:`Tenant` on the caller's event loop, :class:`ThreadedTenant` on a
thread of its own (for synchronous clients such as ``requests``).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any

from cpimock.errors import CpimockError
from cpimock.testing.base import RUNNING, TenantBase


class Tenant(TenantBase):
    """A tenant served on the running event loop: ``async with Tenant() as tenant: ...``."""

    async def start(self) -> None:
        """Bind a free loopback port and serve; returns once the server accepts connections."""
        await self._astart()

    async def stop(self) -> None:
        """Stop serving and remove the workspace (step errors not yet checked are kept for :meth:`check`)."""
        await self._astop()

    async def __aenter__(self) -> Tenant:
        await self.start()
        return self

    async def settle(self) -> None:
        """Wait until the steps of every one-way call answered so far have ended and are in the MPL
        (a One-Way SOAP channel with *WS Standard* processing answers before its steps run)."""
        await self.server.endpoint.settle()

    def _settled(self) -> None:
        # a synchronous read on the loop that runs those steps cannot wait for them
        if self._server is not None and self._server.endpoint.busy:
            raise CpimockError(
                "steps of a one-way call are still running; `await tenant.settle()` before reading the messages"
            )

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._server is not None:
            await self.settle()
        errors = self.take_errors() if self._server is not None else []
        await self.stop()
        if exc_type is None and errors:
            raise errors[0]


class ThreadedTenant(TenantBase):
    """A tenant served from an event loop on its own thread, for synchronous clients.

    ``with ThreadedTenant() as tenant: requests.post(..., verify=tenant.ca_path, cert=key.cert)``
    """

    # how long start() waits for the server thread before giving up (it is normally ~0.1 s)
    START_TIMEOUT_S = 60.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the server thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise CpimockError(f"{self!r} is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                failure.append(exc)
            ready.set()
            if not failure:
                loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        # a daemon thread: the interpreter's exit does not wait for it; atexit stops it cleanly
        thread = threading.Thread(target=run, name=f"cpimock-tenant-{self._number}", daemon=True)
        thread.start()
        if not ready.wait(self.START_TIMEOUT_S):
            raise CpimockError(f"the tenant did not start within {self.START_TIMEOUT_S:g} s")
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        """Stop the server and its thread, and remove the workspace."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def _abandon(self) -> None:
        self.stop()

    def settle(self) -> None:
        """Wait until the steps of every one-way call answered so far have ended and are in the MPL
        (:meth:`messages` does this itself)."""
        loop = self._loop
        if loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.endpoint.settle(), loop).result()

    def _settled(self) -> None:
        self.settle()

    def __enter__(self) -> ThreadedTenant:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.settle()
        errors = self.take_errors() if self._server is not None else []
        self.stop()
        if exc_type is None and errors:
            raise errors[0]


@atexit.register
def _stop_all() -> None:
    for tenant in list(RUNNING):
        try:
            tenant._abandon()
        except Exception:  # at exit, one tenant's trouble must not keep the others' ports open
            pass
