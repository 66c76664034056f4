"""The warm JVM that runs Groovy steps: one per toolchain, started on first use, stopped with the server.

Every Groovy step of the process shares the :class:`~cpimock.steps.groovy.jvm.Worker` of its
toolchain (Java and Groovy jars); each call runs on a thread of its own in the JVM, so calls
overlap. A server counts itself in when it starts; when the last one stops, the JVMs stop with it
(and at interpreter exit in any case). A stopped JVM starts again on the next Groovy call.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from pathlib import Path
from typing import Any

from cpimock.steps.groovy import servers
from cpimock.steps.groovy.jvm import KILL_AFTER_S, Worker, WorkerStopped
from cpimock.steps.groovy.toolchain import Toolchain

__all__ = [
    "KILL_AFTER_S",
    "Worker",
    "WorkerStopped",
    "classpath_of",
    "stop_workers",
    "track",
    "worker_for",
]

_WORKERS: dict[Toolchain, Worker] = {}
_WORKERS_LOCK = threading.Lock()


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


def _finalize_release(worker: Worker, generation: int, handle: int) -> None:
    worker.release(generation, handle)


def track(obj: Any, worker: Worker, generation: int, handle: int) -> None:
    """Release the JVM's object when its Python placeholder ``obj`` is collected."""
    weakref.finalize(obj, _finalize_release, worker, generation, handle)


def _running() -> bool:
    with _WORKERS_LOCK:
        return any(w.running for w in _WORKERS.values())


servers.on_last_stop(_running, stop_workers)
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
