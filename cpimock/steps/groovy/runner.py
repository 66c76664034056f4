"""The warm JVM that runs Groovy steps: one per toolchain, started on first use, stopped with the server.

Every Groovy step of the process shares the :class:`~cpimock.steps.groovy.jvm.Worker` of its
toolchain (Java and Groovy jars); each call runs on a thread of its own in the JVM, so calls
overlap. A server counts itself in when it starts; when the last one stops, the JVMs stop with it
(and at interpreter exit in any case). A stopped JVM starts again on the next Groovy call.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from pathlib import Path
from typing import Any

from cpimock.steps.groovy.jvm import KILL_AFTER_S, Worker, WorkerStopped
from cpimock.steps.groovy.toolchain import Toolchain

__all__ = [
    "KILL_AFTER_S",
    "Worker",
    "WorkerStopped",
    "classpath_of",
    "server_started",
    "server_stopped",
    "stop_workers",
    "track",
    "worker_for",
]

_WORKERS: dict[Toolchain, Worker] = {}
_WORKERS_LOCK = threading.Lock()
_SERVERS = 0


def worker_for(tool: Toolchain) -> Worker:
    with _WORKERS_LOCK:
        worker = _WORKERS.get(tool)
        if worker is None:
            worker = _WORKERS[tool] = Worker(tool)
        return worker


def stop_workers() -> None:
    """Stop every JVM (blocking, about two seconds at most each)."""
    with _WORKERS_LOCK:
        workers = list(_WORKERS.values())
    for worker in workers:
        worker.stop()


def server_started() -> None:
    global _SERVERS
    with _WORKERS_LOCK:
        _SERVERS += 1


async def server_stopped() -> None:
    """A server stopped: when it was the last one of the process, its Groovy workers stop too."""
    global _SERVERS
    with _WORKERS_LOCK:
        _SERVERS = max(0, _SERVERS - 1)
        last = _SERVERS == 0
        running = any(w.running for w in _WORKERS.values())
    if last and running:
        await asyncio.to_thread(stop_workers)


def _finalize_release(worker: Worker, generation: int, handle: int) -> None:
    worker.release(generation, handle)


def track(obj: Any, worker: Worker, generation: int, handle: int) -> None:
    """Release the JVM's object when its Python placeholder ``obj`` is collected."""
    weakref.finalize(obj, _finalize_release, worker, generation, handle)


atexit.register(stop_workers)


def classpath_of(entries: list[Path]) -> tuple[list[str], str]:
    """The class path entries and a key that changes when one of the jars does."""
    parts = []
    for entry in entries:
        try:
            stat = entry.stat()
            parts.append(f"{entry}:{stat.st_mtime_ns}:{stat.st_size}")
        except OSError:
            parts.append(str(entry))
    return [str(e) for e in entries], "|".join(parts)
