"""Sync steps run on daemon threads, off the event loop.

A thread cannot be killed, so a sync step that hangs keeps its thread after the timeout (the
request fails, other requests get fresh threads).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

from cpimock.message import Message
from cpimock.steps.python import StepFunc


async def run_in_thread(func: StepFunc, message: Message) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():  # timed out or cancelled meanwhile
            return
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)

    def job() -> None:
        try:
            result, exc = context.run(func, message), None
        except BaseException as error:
            result, exc = None, error
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop closed while the step ran
            pass

    THREADS.submit(job)
    return await future


class DaemonThreads:
    """Worker threads for sync steps, started on demand up to ``max_threads``.

    Daemon threads, so a hung step never blocks interpreter exit. A thread whose step hangs
    stays busy; later jobs get other threads, and beyond ``max_threads`` they wait for one.
    """

    def __init__(self, max_threads: int = 256, idle_timeout_s: float = 60.0) -> None:
        self._jobs: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a job that no submitted job has claimed yet
        self._pending = 0  # jobs queued with no thread claimed: the next thread to finish takes one
        self._max_threads = max_threads
        self._idle_timeout_s = idle_timeout_s

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = False
            if self._idle:
                self._idle -= 1
            elif self._threads < self._max_threads:
                self._threads += 1
                start = True
            else:
                self._pending += 1
        self._jobs.put(job)
        if start:
            try:
                threading.Thread(target=self._work, name="cpimock-step", daemon=True).start()
            except RuntimeError:  # the system refuses more threads: wait for a running one
                with self._lock:
                    self._threads -= 1
                    self._pending += 1

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_timeout_s)
            except Empty:
                with self._lock:
                    if self._idle:  # no job claimed an idle thread: this one can go
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue  # a job claimed this thread and is on its way
            job()
            with self._lock:
                if self._pending:
                    self._pending -= 1
                else:
                    self._idle += 1


THREADS = DaemonThreads()


def harden_stdio() -> None:
    """Steps may print anything, lone surrogates included: make stdout/stderr replace what they cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                pass
