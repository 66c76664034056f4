"""One JVM running cpimock's Groovy worker, and the calls open on it.

Frames go through two threads here: a writer (so a JVM that stops reading never blocks the event
loop) and a reader that hands each answer to its call's future. A call that runs past its
timeout is cancelled: the JVM interrupts the script's thread and, if it still runs half a second
later, stops it; if no answer has come :data:`KILL_AFTER_S` seconds after the cancel, the JVM is
killed (its other calls fail with the reason) and the next call starts a fresh one. A JVM that
exits or crashes fails its calls the same way, with the last lines it wrote to stderr.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from cpimock.errors import CpimockError
from cpimock.steps.groovy.bridge import HEADER, HELLO, frame
from cpimock.steps.groovy.toolchain import GroovyUnavailable, Toolchain, compiled_classes

__all__ = ["KILL_AFTER_S", "Worker", "WorkerStopped"]

log = logging.getLogger(__name__)

KILL_AFTER_S = 2.0
START_TIMEOUT_S = 60.0
# a worker that failed to start is not tried again for this long (each try may compile for seconds)
RETRY_START_AFTER_S = 5.0
MAX_FRAME = (1 << 31) - 1

Answer = tuple[bytes, memoryview]  # kind, payload after the call id


class WorkerStopped(CpimockError):
    """The JVM stopped (crashed, was killed after a timeout, or shut down) while a call was open."""


class Worker:
    """One JVM and the calls open on it."""

    def __init__(self, tool: Toolchain) -> None:
        self.tool = tool
        self.generation = 0
        self.pid: int | None = None
        self.info: dict[str, Any] = {}
        self._lock = threading.RLock()  # submit() holds it while the frame is built, which takes released handles
        self._start_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending: dict[int, concurrent.futures.Future[Answer]] = {}
        self._cancelled: set[int] = set()
        self._ids = itertools.count(1)
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._stop_reason = ""
        self._failed: tuple[float, GroovyUnavailable] | None = None
        self.settings_sent: set[str] = set()
        self.released: list[int] = []  # handles whose Python placeholders are gone, sent with the next call

    @property
    def running(self) -> bool:
        return self._proc is not None

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def start(self) -> None:
        """Start the JVM if it is not running (blocking: call it off the event loop)."""
        with self._start_lock:
            if self._proc is not None:
                return
            if self._failed is not None and time.monotonic() - self._failed[0] < RETRY_START_AFTER_S:
                raise self._failed[1]
            try:
                self._spawn()
            except GroovyUnavailable as exc:
                self._failed = (time.monotonic(), exc)
                raise
            self._failed = None

    def _spawn(self) -> None:
        classes = compiled_classes(self.tool)
        classpath = os.pathsep.join([str(classes), *(str(j) for j in self.tool.groovy_jars)])
        command = [str(self.tool.java), "-Xshare:auto", "-XX:+UseSerialGC", "-cp", classpath, "cpimock.jvm.Worker"]
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise GroovyUnavailable(f"cannot start Java ({self.tool.java}): {exc.strerror}") from None
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        hello: concurrent.futures.Future[Answer] = concurrent.futures.Future()
        self._stderr.clear()
        outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        with self._lock:  # a call submitted once the process is visible must reach its writer
            self._outbox = outbox
            self._proc = proc
            self.pid = proc.pid
            self.generation += 1
            self.settings_sent = set()
            self.released = []
            self._stop_reason = ""
            self._pending[0] = hello
        stderr_done = threading.Event()
        threading.Thread(
            target=self._read, args=(proc, proc.stdout, stderr_done), name="cpimock-groovy-reader", daemon=True
        ).start()
        threading.Thread(
            target=self._drain, args=(proc.stderr, stderr_done), name="cpimock-groovy-stderr", daemon=True
        ).start()
        threading.Thread(
            target=self._write, args=(proc, proc.stdin, outbox), name="cpimock-groovy-writer", daemon=True
        ).start()
        try:
            kind, _payload = hello.result(START_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, WorkerStopped) as exc:
            self.kill("it did not start in time" if isinstance(exc, concurrent.futures.TimeoutError) else "")
            tail = " | ".join(self._stderr) or str(exc)
            raise GroovyUnavailable(f"the Groovy worker did not start ({tail})") from None
        if kind != HELLO:
            self.kill("it did not say hello")
            raise GroovyUnavailable("the Groovy worker did not start (it answered with something else than hello)")
        log.info("Groovy worker started (pid %s, Java %s, Groovy %s)", proc.pid, *self._versions(_payload))

    @staticmethod
    def _versions(payload: memoryview) -> tuple[str, str]:
        from cpimock.steps.groovy.wire import Decoder

        try:
            info = Decoder(payload, {}, lambda *_: None).value()  # type: ignore[arg-type]
            return str(info.get("java")), str(info.get("groovy"))
        except Exception:  # the versions are for the log only
            return "?", "?"

    def submit(self, build: Callable[[int, int], bytes]) -> tuple[int, concurrent.futures.Future[Answer]]:
        """Send the frame ``build(call_id, generation)`` makes; the future gets the answer."""
        future: concurrent.futures.Future[Answer] = concurrent.futures.Future()
        with self._lock:
            if self._proc is None:
                raise WorkerStopped(f"the Groovy worker is not running{self._stop_reason}")
            call_id = next(self._ids) & 0x7FFFFFFF or next(self._ids)
            data = build(call_id, self.generation)
            self._pending[call_id] = future
            outbox = self._outbox
        outbox.put(data)
        return call_id, future

    def send(self, data: bytes) -> None:
        self._outbox.put(data)

    def cancel(self, call_id: int) -> None:
        """Ask the JVM to stop a call; kill the JVM if the call has not ended :data:`KILL_AFTER_S` later."""
        with self._lock:
            if call_id not in self._pending or self._proc is None:
                return
            self._cancelled.add(call_id)
            proc = self._proc
        self.send(frame(b"X", call_id))
        timer = threading.Timer(KILL_AFTER_S, self._kill_if_still_running, args=(proc, call_id))
        timer.daemon = True
        timer.start()

    def _kill_if_still_running(self, proc: subprocess.Popen[bytes], call_id: int) -> None:
        with self._lock:
            stuck = self._proc is proc and call_id in self._pending
        if stuck:
            log.warning("a Groovy script ran past its timeout and did not stop; restarting the Groovy worker")
            self.kill(" (killed: a script ran past its timeout and did not stop)")

    def kill(self, reason: str) -> None:
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._stop_reason = reason
        try:
            proc.kill()
        except OSError:
            pass

    def stop(self, timeout_s: float = 2.0) -> None:
        """Close the JVM's stdin (it exits on its own), and kill it if it has not after ``timeout_s``."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._stop_reason = " (stopped with the server)"
            outbox = self._outbox
        outbox.put(None)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # --- the threads ---------------------------------------------------------------------------

    @staticmethod
    def _write(proc: subprocess.Popen[bytes], stdin: IO[bytes], outbox: queue.SimpleQueue[bytes | None]) -> None:
        try:
            while (data := outbox.get()) is not None:
                stdin.write(data)
                if outbox.empty():
                    stdin.flush()
        except (OSError, ValueError):  # the JVM is gone: the reader reports it
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self, proc: subprocess.Popen[bytes], stdout: IO[bytes], stderr_done: threading.Event) -> None:
        try:
            while True:
                head = stdout.read(HEADER.size)
                if len(head) < HEADER.size:
                    break
                length, kind, call_id = HEADER.unpack(head)
                if not 5 <= length <= MAX_FRAME:
                    log.error("the Groovy worker sent a frame of %d bytes; restarting it", length)
                    proc.kill()
                    break
                payload = stdout.read(length - 5)
                if len(payload) < length - 5:
                    break
                with self._lock:
                    future = self._pending.pop(call_id, None)
                    self._cancelled.discard(call_id)
                if future is not None and not future.done():
                    future.set_result((bytes([kind]), memoryview(payload)))
        except (OSError, ValueError):
            pass
        status = proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
            reason = self._stop_reason
            pending, self._pending = self._pending, {}
            self._cancelled.clear()
        if pending:
            stderr_done.wait(0.5)  # the JVM's last words explain the exit
            tail = " | ".join(list(self._stderr)[-5:])
            error = WorkerStopped(
                f"the Groovy worker (JVM) stopped with status {status}{reason}" + (f": {tail}" if tail else "")
            )
            for future in pending.values():
                if not future.done():
                    future.set_exception(error)
            if not reason:
                log.error("%s", error)

    def _drain(self, stderr: IO[bytes], done: threading.Event) -> None:
        try:
            for raw in iter(stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                self._stderr.append(line)
                log.info("groovy: %s", line)
        finally:
            done.set()

    def release(self, generation: int, handle: int) -> None:
        """A :class:`~cpimock.steps.groovy.wire.JavaObject` was collected: free its object in the JVM."""
        with self._lock:
            if generation == self.generation:
                self.released.append(handle)

    def take_released(self) -> list[int]:
        with self._lock:
            released, self.released = self.released, []
        return released
