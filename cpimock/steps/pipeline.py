"""An iFlow's steps in order: loading their references and running them within the timeout.

References are ``"iflows/file.py:function"`` and ``"package.module:function"`` (Python steps, see
:mod:`cpimock.steps.python`) and ``"iflows/script.groovy[:function]"`` (Groovy steps, see
:mod:`cpimock.steps.groovy`); an iFlow export's steps come as descriptions instead (a content
modifier, a script file: :mod:`cpimock.steps.kinds`). A :class:`Pipeline` runs them in order, like
the steps of an iFlow. Sync steps run on daemon threads (off the event loop), async steps on the
loop. A step returns the ``Message`` or ``None`` for in-place changes. A failing, misbehaving or overrunning
step raises :class:`StepError` / :class:`StepTimeout`; the original exception is the ``__cause__``.

Step files are reloaded when they change: before a run the pipeline compares each file's mtime
and size with what it loaded (one ``stat`` per file, once per iteration of the event loop, so a
request sent after a file was saved runs the new code).

Limits: an async step that blocks the event loop (``time.sleep`` instead of ``await
asyncio.sleep``) stalls every request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpimock.errors import CpimockError, HandlerLoadError
from cpimock.message import Message
from cpimock.steps.deadlines import deadlines
from cpimock.steps.groovy.reference import parse_reference as parse_groovy_reference
from cpimock.steps.kinds import ModifierStep, ScriptFile, StepRef
from cpimock.steps.python import EXPECTED, StepFunc, StepSource, describe, import_step, is_async, resolve
from cpimock.steps.threads import harden_stdio, run_in_thread

if TYPE_CHECKING:
    from cpimock.steps.groovy.step import GroovyStep

log = logging.getLogger(__name__)


_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class StepError(CpimockError):
    """A step raised, returned something other than a Message or None, or could not be loaded."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


class StepTimeout(StepError):
    """The iFlow's steps ran past its ``timeout_s``; ``step`` is the one that was running."""


@dataclass(eq=False)
class _Step:
    ref: str  # what errors and the MPL call the step
    attr: str
    described: StepRef = ""  # as the iFlow gave it
    source: StepSource | None = None
    func: StepFunc | None = None
    error: HandlerLoadError | None = None
    groovy: GroovyStep | None = None  # func, when the step is a Groovy script
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
                func = resolve(module, self.attr, self.source.display)
                resolved = self._resolved = (module, func, is_async(func))
            return resolved[1], resolved[2]
        if self.func is None:
            error = self.error or HandlerLoadError(f"{self.ref}: not loaded")
            raise StepError(self.ref, f"step '{self.ref}' cannot be loaded: {error}") from error
        if self._resolved is None or self._resolved[1] is not self.func:
            self._resolved = (None, self.func, is_async(self.func))
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
    def references(self) -> tuple[StepRef, ...]:
        """The steps as the iFlow gave them: a pipeline whose iFlow gives the same ones again is kept."""
        return tuple(step.described for step in self._steps)

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
            harden_stdio()

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
                    result: Any = func(message) if is_async else await run_in_thread(func, message)
                    while inspect.isawaitable(result):
                        result = await result
                except (Exception, SystemExit) as exc:
                    raise StepError(step.ref, f"step '{step.ref}' raised {describe(exc)}") from exc
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


def load_pipeline(
    steps: Sequence[StepRef], base_dir: Path, *, defer_errors: bool = False, camel_id: str = ""
) -> Pipeline:
    """Load an iFlow's steps; file paths are relative to ``base_dir`` (the workspace).

    Raises :class:`HandlerLoadError` for the first step that cannot be loaded. With
    ``defer_errors=True`` (what a running server wants) it logs the problem instead, returns a
    pipeline whose run raises :class:`StepError` for that step, and picks the file up once fixed.
    *camel_id* is the iFlow's id, which a content modifier's ``${camelId}`` reads.
    """
    sources: dict[Path, StepSource] = {}
    loaded: list[_Step] = []
    for ref in steps:
        if isinstance(ref, ModifierStep):
            step = _Step(ref.label, "", ref)
            try:
                step.func = _modifier(ref, camel_id)
            except HandlerLoadError as exc:
                if not defer_errors:
                    raise
                step.error = exc
                log.warning("%s", exc)
            loaded.append(step)
            continue
        if isinstance(ref, ScriptFile):
            step = _groovy(ref.label, ref, str(ref.path), ref.function, base_dir, display=ref.label)
        else:
            step = _parse(ref, base_dir, sources)
        loaded.append(step)
        if step.groovy is not None:
            try:
                step.groovy.check()
            except HandlerLoadError as exc:
                if not defer_errors:
                    raise
                log.warning("%s", exc)  # the JVM picks the script up once it is there
        elif step.source is None:
            try:
                step.func = import_step(step.ref, step.attr)
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


def _modifier(ref: ModifierStep, camel_id: str) -> StepFunc:
    """A content modifier compiled; its compiler is imported here, when an iFlow has such a step."""
    from cpimock.steps.modifier_step import RunModifier

    return RunModifier(ref, camel_id)


def _groovy(label: str, ref: StepRef, target: str, function: str, base_dir: Path, display: str | None = None) -> _Step:
    """A Groovy script step; the JVM bridge is imported here, when an iFlow has such a step."""
    from cpimock.steps.groovy.step import GroovyStep

    groovy = GroovyStep(label, target, function, base_dir, display=display)
    return _Step(label, function, ref, func=groovy, groovy=groovy)


def _parse(ref: str, base_dir: Path, sources: dict[Path, StepSource]) -> _Step:
    groovy = parse_groovy_reference(ref)
    if groovy is not None:  # "script.groovy" or "script.groovy:function": runs on the JVM
        return _groovy(ref, ref, groovy[0], groovy[1], base_dir)
    target, colon, attr = ref.strip().rpartition(":")
    if not colon or not target or not attr:
        raise HandlerLoadError(f"steps entry {ref!r}: {EXPECTED}")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise HandlerLoadError(f"steps entry {ref!r}: {attr!r} is not a function name; {EXPECTED}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = (base_dir / target).resolve()
        source = sources.setdefault(path, StepSource(path, display=target))
        source.names.add(attr)
        return _Step(ref, attr, ref, source=source)
    if not _MODULE_RE.match(target):
        raise HandlerLoadError(f"steps entry {ref!r}: {target!r} is neither a .py file nor a module name; {EXPECTED}")
    return _Step(ref, attr, ref)
