"""iFlow steps: loading ``"iflows/file.py:function"`` / ``"package.module:function"`` references and running them.

A :class:`Pipeline` runs an iFlow's steps in order, like the script steps of an iFlow. Sync steps
run on daemon threads (off the event loop), async steps on the loop. A step returns the
``Message`` or ``None`` for in-place changes. A failing, misbehaving or overrunning step raises
:class:`StepError` / :class:`StepTimeout`; the original exception is the ``__cause__``.

Step files (not installed modules) are reloaded when they change: before a run the pipeline
compares each file's mtime and size with what it loaded (one ``stat`` per file, once per
iteration of the event loop, so a request sent after a file was saved runs the new code). A
file that no longer imports keeps the old code, and the reason is logged once per change on
the ``cpimock.handlers`` logger. Reloading runs the file's top-level code on the calling thread.

Limits: a thread cannot be killed, so a sync step that hangs keeps its thread after the
timeout (the request fails, other requests get fresh threads); an async step that blocks the
event loop (``time.sleep`` instead of ``await asyncio.sleep``) stalls every request.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import importlib
import inspect
import logging
import os
import re
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

from cpimock.errors import CpimockError, HandlerLoadError
from cpimock.message import Message
from cpimock.steps.deadlines import deadlines
from cpimock.steps.groovy.step import GroovyStep
from cpimock.steps.groovy.step import parse_reference as parse_groovy_reference

__all__ = ["Pipeline", "StepError", "StepTimeout", "load_pipeline"]

log = logging.getLogger(__name__)

StepFunc = Callable[[Message], "Message | Awaitable[Message | None] | None"]

_EXPECTED = (
    "expected 'path/to/file.py:function' (relative to the workspace), 'package.module:function' "
    "or 'path/to/script.groovy[:function]'"
)
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class StepError(CpimockError):
    """A step raised, returned something other than a Message or None, or could not be loaded."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


class StepTimeout(StepError):
    """The iFlow's steps ran past its ``timeout_s``; ``step`` is the one that was running."""


@dataclass(eq=False)
class _Source:
    """A step file and the module last loaded from it."""

    path: Path
    display: str
    names: set[str] = field(default_factory=set)
    module: types.ModuleType | None = None
    signature: tuple[int, int] | None = None
    error: HandlerLoadError | None = None
    failed_signature: tuple[int, int] | None = None

    @property
    def module_name(self) -> str:
        digest = hashlib.sha1(str(self.path).encode(), usedforsecurity=False).hexdigest()[:10]
        stem = re.sub(r"\W", "_", self.path.stem)
        return f"cpimock_step_{stem}_{digest}"

    def load(self) -> None:
        """Import the file afresh; on success replace the module, else raise HandlerLoadError."""
        try:
            stat = self.path.stat()
            source = self.path.read_bytes()
        except FileNotFoundError:
            raise HandlerLoadError(
                f"{self.display}: step file not found (looked for {self.path}); fix the steps entry in cpimock.toml"
            ) from None
        except OSError as exc:
            raise HandlerLoadError(f"{self.display}: cannot read the file: {exc.strerror}") from None
        signature = (stat.st_mtime_ns, stat.st_size)
        name = self.module_name
        module = types.ModuleType(name)
        module.__file__ = str(self.path)
        previous = sys.modules.get(name)
        sys.modules[name] = module  # dataclasses and pickling look the module up while it runs
        try:
            # compiled here rather than by the import system: no __pycache__ in the workspace, and no
            # stale bytecode when a file is rewritten twice within a second with the same size
            exec(compile(source, str(self.path), "exec", dont_inherit=True), module.__dict__)
            for name_ in sorted(self.names):
                _resolve(module, name_, self.display)
        except HandlerLoadError:
            _restore(name, previous)
            self.failed_signature = signature
            raise
        except (Exception, SystemExit) as exc:
            _restore(name, previous)
            self.failed_signature = signature
            raise HandlerLoadError(f"{self.display}: importing the file failed: {_where(exc, self.path)}") from exc
        self.module, self.signature, self.error, self.failed_signature = module, signature, None, None

    def refresh(self) -> None:
        """Reload if the file changed since it was loaded (or last failed to load)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            self._changed(None)
            return
        current = (stat.st_mtime_ns, stat.st_size)
        if current != self.signature and current != self.failed_signature:  # nearly every call finds it unchanged
            self._changed(current)

    def _changed(self, current: tuple[int, int] | None) -> None:
        if current is None:  # gone: keep serving the code loaded before, if any
            if self.module is not None and self.signature is not None:
                log.warning("%s: the file is gone; keeping the code loaded before", self.display)
                self.signature = self.failed_signature = None
            return
        try:
            self.load()
        except HandlerLoadError as exc:
            self.error = exc if self.module is None else None
            keep = "; keeping the code loaded before" if self.module is not None else ""
            log.warning("%s%s", exc, keep, exc_info=exc.__cause__ or None)
        else:
            log.info("%s: reloaded", self.display)


@dataclass(eq=False)
class _Step:
    ref: str
    attr: str
    source: _Source | None = None
    func: StepFunc | None = None
    error: HandlerLoadError | None = None
    # what current() resolved last, and from which module: resolved again only after a reload
    _resolved: tuple[object, StepFunc, bool] | None = None

    def current(self) -> tuple[StepFunc, bool]:
        """The function to call, and whether it is a coroutine function (runs on the event loop)."""
        if self.source is not None:
            module = self.source.module
            if module is None:
                error = self.source.error or HandlerLoadError(f"{self.ref}: not loaded")
                raise StepError(self.ref, f"step '{self.ref}' cannot be loaded: {error}") from error
            resolved = self._resolved
            if resolved is None or resolved[0] is not module:
                func = _resolve(module, self.attr, self.source.display)
                resolved = self._resolved = (module, func, _is_async(func))
            return resolved[1], resolved[2]
        if self.func is None:
            error = self.error or HandlerLoadError(f"{self.ref}: not loaded")
            raise StepError(self.ref, f"step '{self.ref}' cannot be loaded: {error}") from error
        if self._resolved is None or self._resolved[1] is not self.func:
            self._resolved = (None, self.func, _is_async(self.func))
        return self._resolved[1], self._resolved[2]


class Pipeline:
    """An iFlow's steps, in order. With no steps it is the echo: the message comes back as it arrived."""

    def __init__(self, steps: Sequence[_Step]) -> None:
        self._steps = tuple(steps)
        self._stdio_checked_at = 0.0
        # the event loop on which the step files were checked during its current iteration
        self._checked_on: asyncio.AbstractEventLoop | None = None
        self._sources = tuple({id(s.source): s.source for s in self._steps if s.source is not None}.values())

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(step.ref for step in self._steps)

    @property
    def load_errors(self) -> list[HandlerLoadError]:
        """The steps that cannot run now, and why."""
        errors = [s.error for s in self._steps if s.source is None and s.error is not None]
        return errors + [s.error for s in self._sources if s.module is None and s.error is not None]

    def refresh(self) -> None:
        """Reload changed step files; :meth:`run` calls this first."""
        for source in self._sources:
            source.refresh()
        now = time.monotonic()
        if now >= self._stdio_checked_at:  # a step may have replaced sys.stdout meanwhile
            self._stdio_checked_at = now + 1.0
            _harden_stdio()

    async def run(
        self, message: Message, timeout_s: float | None, loop: asyncio.AbstractEventLoop | None = None
    ) -> Message:
        """Run every step on ``message`` within ``timeout_s`` seconds in total; return the resulting message.

        ``loop`` is the running event loop, when the caller knows it (it spares a system call).
        """
        if loop is None:
            loop = asyncio.get_running_loop()
        if self._checked_on is not loop:
            # Once per iteration of the event loop, not per request: every request that runs in
            # this iteration arrived before its I/O poll, so before this stat(), and a file saved
            # before a request was sent is still seen by that request. The mark is cleared by a
            # callback that runs at the start of the next iteration, before its requests.
            self.refresh()
            self._checked_on = loop
            loop.call_soon(self._uncheck)
        watch = task = None
        if timeout_s is not None:
            task = asyncio.current_task(loop)
            if task is not None:
                watch = deadlines(loop)
                watch.enter(task, timeout_s)
        step = None
        try:
            for step in self._steps:
                func, is_async = step.current()
                try:
                    result: Any = func(message) if is_async else await _run_in_thread(func, message)
                    while inspect.isawaitable(result):
                        result = await result
                except (Exception, SystemExit) as exc:
                    raise StepError(step.ref, f"step '{step.ref}' raised {_describe(exc)}") from exc
                if result is None:
                    continue
                if not isinstance(result, Message):
                    raise StepError(
                        step.ref, f"step '{step.ref}' returned {type(result).__name__}; return the Message or None"
                    )
                message = result
        except asyncio.CancelledError as exc:
            if watch is not None and task is not None and watch.leave(task):
                watch = None
                raise self._timeout(step, timeout_s) from exc
            raise
        finally:
            if watch is not None and task is not None and watch.leave(task):
                # a step swallowed the cancellation: the steps still ran past the timeout
                raise self._timeout(step, timeout_s)
        return message

    def _uncheck(self) -> None:
        self._checked_on = None

    @staticmethod
    def _timeout(step: _Step | None, timeout_s: float | None) -> StepTimeout:
        ref = step.ref if step is not None else "?"
        return StepTimeout(ref, f"step '{ref}' ran past the iFlow's timeout of {timeout_s:g} s")


def load_pipeline(steps: Sequence[str], base_dir: Path, *, defer_errors: bool = False) -> Pipeline:
    """Load an iFlow's step references; file paths are relative to ``base_dir`` (the workspace).

    Raises :class:`HandlerLoadError` for the first step that cannot be loaded. With
    ``defer_errors=True`` (what a running server wants) it logs the problem instead, returns a
    pipeline whose run raises :class:`StepError` for that step, and picks the file up once fixed.
    """
    sources: dict[Path, _Source] = {}
    loaded: list[_Step] = []
    for ref in steps:
        step = _parse(ref, base_dir, sources)
        loaded.append(step)
        if isinstance(step.func, GroovyStep):
            try:
                step.func.check()
            except HandlerLoadError as exc:
                if not defer_errors:
                    raise
                log.warning("%s", exc)  # the JVM picks the script up once it is there
        elif step.source is None:
            try:
                step.func = _import_step(ref, step.attr)
            except HandlerLoadError as exc:
                if not defer_errors:
                    raise
                step.error = exc
                log.warning("%s", exc, exc_info=exc.__cause__ or None)
    for source in sources.values():
        try:
            source.load()
        except HandlerLoadError as exc:
            if not defer_errors:
                raise
            source.error = exc
            log.warning("%s", exc, exc_info=exc.__cause__ or None)
    return Pipeline(loaded)


def _parse(ref: str, base_dir: Path, sources: dict[Path, _Source]) -> _Step:
    groovy = parse_groovy_reference(ref)
    if groovy is not None:  # "script.groovy" or "script.groovy:function": runs on the JVM
        return _Step(ref, groovy[1], func=GroovyStep(ref, groovy[0], groovy[1], base_dir))
    target, colon, attr = ref.strip().rpartition(":")
    if not colon or not target or not attr:
        raise HandlerLoadError(f"steps entry {ref!r}: {_EXPECTED}")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise HandlerLoadError(f"steps entry {ref!r}: {attr!r} is not a function name; {_EXPECTED}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = (base_dir / target).resolve()
        source = sources.setdefault(path, _Source(path, display=target))
        source.names.add(attr)
        return _Step(ref, attr, source=source)
    if not _MODULE_RE.match(target):
        raise HandlerLoadError(f"steps entry {ref!r}: {target!r} is neither a .py file nor a module name; {_EXPECTED}")
    return _Step(ref, attr)


def _import_step(ref: str, attr: str) -> StepFunc:
    module_name = ref.strip().rpartition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise HandlerLoadError(
                f"step '{ref}': could not import module {module_name!r} (no module named {exc.name!r}); {_EXPECTED}"
            ) from None
        # the module exists but something it imports does not: show the user's own error
        raise HandlerLoadError(f"step '{ref}': importing {module_name} failed: {_where(exc, None)}") from exc
    except (Exception, SystemExit) as exc:
        raise HandlerLoadError(f"step '{ref}': importing {module_name} failed: {_where(exc, None)}") from exc
    return _resolve(module, attr, f"step '{ref}'")


def _resolve(module: types.ModuleType, attr: str, display: str) -> StepFunc:
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            defined = f"; it defines: {', '.join(names)}" if names else ""
            raise HandlerLoadError(f"{display}: no function {attr!r} in the module{defined}")
        value = getattr(value, part)
    if not callable(value):
        raise HandlerLoadError(f"{display}: {attr!r} is a {type(value).__name__}, not a function")
    func: StepFunc = value
    return func


def _restore(name: str, previous: types.ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def _where(exc: BaseException, path: Path | None) -> str:
    """``Type: message (file:line)`` at the deepest frame in the user's file."""
    if isinstance(exc, SyntaxError):
        return f"{_describe(exc)} ({exc.filename}:{exc.lineno})"
    frames = [f for f in _walk(exc.__traceback__) if (f[0] == str(path) if path else not f[0].startswith("<"))]
    place = f" ({frames[-1][0]}:{frames[-1][1]})" if frames else ""
    return f"{_describe(exc)}{place}"


def _walk(tb: types.TracebackType | None) -> list[tuple[str, int]]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_async(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # an object whose __call__ is async
    return not inspect.isroutine(func) and inspect.iscoroutinefunction(func.__call__)


async def _run_in_thread(func: StepFunc, message: Message) -> Any:
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

    _THREADS.submit(job)
    return await future


class _DaemonThreads:
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


_THREADS = _DaemonThreads()


def _harden_stdio() -> None:
    """Steps may print anything, lone surrogates included: make stdout/stderr replace what they cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                pass
