"""A Groovy script step: ``"iflows/script1.groovy"`` or ``"iflows/script1.groovy:functionName"``.

The step is an async callable the :class:`~cpimock.handlers.Pipeline` runs like a Python step:
it sends the message to the warm JVM (:mod:`.runner`), waits for the answer without blocking the
event loop, and puts what the script did back onto the message. A script's exception becomes a
:class:`~cpimock.steps.groovy.bridge.ScriptException` (the pipeline makes it the step's error);
the pipeline's timeout cancels the call, which stops the script in the JVM.

The script's class path holds the flow's jars, as on CPI: ``*.jar`` in a ``lib`` folder inside
the script's folder or beside it (an unpacked export keeps scripts in ``script/`` and jars in
``lib/``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

from cpimock.errors import HandlerLoadError
from cpimock.message import Message
from cpimock.steps.groovy import bridge, runner
from cpimock.steps.groovy.reference import DEFAULT_FUNCTION, parse_reference
from cpimock.steps.groovy.settings import WorkspaceSettings
from cpimock.steps.groovy.toolchain import GroovyUnavailable, Toolchain, find_toolchain
from cpimock.steps.groovy.wire import Encoder, JavaObject, WireError

__all__ = ["DEFAULT_FUNCTION", "GroovyStep", "parse_reference"]

log = logging.getLogger(__name__)

_PYTHON_IDS = itertools.count(1)
_SETTINGS: dict[Path, WorkspaceSettings] = {}
_WARNED: set[tuple[str, str]] = set()


class GroovyStep:
    """One script step; calling it runs the script on the message."""

    def __init__(self, ref: str, target: str, function: str, base_dir: Path, *, display: str | None = None) -> None:
        self.ref = ref
        self.display = display or target  # an export's script: its step, not the file it was unpacked to
        self.path = (base_dir / target).resolve()
        self.function = function
        self.base_dir = base_dir.resolve()
        self._tool: Toolchain | None = None

    def __repr__(self) -> str:
        return f"<GroovyStep {self.ref}>"

    def check(self) -> None:
        """What can be known without a JVM: the file is there, and Java and Groovy are installed (else a warning)."""
        if not self.path.is_file():
            raise HandlerLoadError(
                f"{self.display}: Groovy script not found (looked for {self.path}); fix the steps entry in cpimock.toml"
            )
        try:
            self._toolchain()
        except GroovyUnavailable as exc:
            if (str(exc), self.ref) not in _WARNED:
                _WARNED.add((str(exc), self.ref))
                log.warning("%s (needed by the Groovy step %s); the other steps work without it", exc, self.ref)

    def _toolchain(self) -> Toolchain:
        if self._tool is None:
            self._tool = find_toolchain()
        return self._tool

    def classpath(self) -> list[Path]:
        folder = self.path.parent
        jars: list[Path] = []
        for lib in (folder / "lib", folder.parent / "lib"):
            if lib.is_dir():
                jars += sorted(lib.glob("*.jar"))
        return jars

    async def __call__(self, message: Message) -> Message:
        worker = runner.worker_for(self._toolchain())
        if not worker.running:
            await asyncio.to_thread(worker.start)
        settings, key = _workspace_settings(self.base_dir).current()
        classpath, classpath_key = runner.classpath_of(self.classpath())
        objects: dict[int, Any] = {}
        generation_seen: list[int] = []

        def build(call_id: int, generation: int) -> bytes:
            generation_seen.append(generation)
            prefix = b""
            if key not in worker.settings_sent:
                encoder = Encoder(generation, {}, lambda: next(_PYTHON_IDS))
                encoder.value({"key": key, **settings.wire()})
                prefix = bridge.frame(bridge.SETTINGS, 0, encoder.out)
                worker.settings_sent.add(key)
            encoder = Encoder(generation, objects, lambda: next(_PYTHON_IDS))
            bridge.encode_call(
                message,
                encoder,
                script=str(self.path),
                function=self.function,
                classpath=classpath,
                classpath_key=classpath_key,
                settings_key=key,
                release=worker.take_released(),
            )
            return prefix + bridge.frame(bridge.CALL, call_id, encoder.out)

        call_id, future = worker.submit(build)
        try:
            kind, payload = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            worker.cancel(call_id)
            raise
        generation = generation_seen[0]

        def java_object(handle: int, java_class: str, text: str) -> JavaObject:
            made = JavaObject(handle, java_class, text, generation)
            runner.track(made, worker, generation, handle)
            return made

        value = bridge.decode(payload, objects, java_object)
        if kind == bridge.ANSWER:
            bridge.apply_answer(message, value, self.display)
            return message
        if kind == bridge.ERROR:
            calls = value.get("log")
            if isinstance(calls, list):
                bridge.replay_log(message.log, calls)
            trace = value.get("trace")
            if trace and value.get("kind") in ("script", "bridge"):
                log.debug("%s: %s", self.display, trace)
            raise bridge.failure(value, self.display)
        raise WireError(f"the JVM answered a call with a frame of kind {kind!r}")


def _workspace_settings(root: Path) -> WorkspaceSettings:
    settings = _SETTINGS.get(root)
    if settings is None:
        settings = _SETTINGS[root] = WorkspaceSettings(root)
    return settings
