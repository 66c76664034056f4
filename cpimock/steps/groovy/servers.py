"""How many servers of this process are running: the Groovy JVMs stop when the last one stops.

Apart from :mod:`cpimock.steps.groovy.runner`, so that a server whose iFlows have no Groovy step
counts itself in without loading the JVM code; the runner, once imported, says here how its
JVMs stop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["on_last_stop", "server_started", "server_stopped"]

_LOCK = threading.Lock()
_SERVERS = 0
_ON_LAST_STOP: list[Callable[[], bool]] = []


def on_last_stop(running: Callable[[], bool], stop: Callable[[], None]) -> None:
    """When the last server stops, call *stop* (on a thread) if *running* says there is something to stop."""

    def stop_if_running() -> bool:
        if not running():
            return False
        stop()
        return True

    with _LOCK:
        _ON_LAST_STOP.append(stop_if_running)


def server_started() -> None:
    global _SERVERS
    with _LOCK:
        _SERVERS += 1


async def server_stopped() -> None:
    """A server stopped: when it was the last one of the process, its Groovy workers stop too."""
    global _SERVERS
    with _LOCK:
        _SERVERS = max(0, _SERVERS - 1)
        hooks = list(_ON_LAST_STOP) if _SERVERS == 0 else []
    for hook in hooks:
        await asyncio.to_thread(hook)
