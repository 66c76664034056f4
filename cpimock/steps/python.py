"""Python steps: ``"iflows/file.py:function"`` files, reloaded when they change, and
``"package.module:function"`` modules, imported once.

A step file is compiled and run here rather than imported (no ``__pycache__`` in the workspace,
no stale bytecode). A file that no longer imports keeps the old code, and the reason is logged
once per change on this module's logger. Reloading runs the file's top-level code on the
calling thread.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
import re
import sys
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpimock.errors import HandlerLoadError
from cpimock.message import Message

log = logging.getLogger(__name__)


StepFunc = Callable[[Message], "Message | Awaitable[Message | None] | None"]


EXPECTED = (
    "expected 'path/to/file.py:function' (relative to the workspace), 'package.module:function' "
    "or 'path/to/script.groovy[:function]'"
)


@dataclass(eq=False)
class StepSource:
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
                resolve(module, name_, self.display)
        except HandlerLoadError:
            restore(name, previous)
            self.failed_signature = signature
            raise
        except (Exception, SystemExit) as exc:
            restore(name, previous)
            self.failed_signature = signature
            raise HandlerLoadError(f"{self.display}: importing the file failed: {where(exc, self.path)}") from exc
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


def import_step(ref: str, attr: str) -> StepFunc:
    module_name = ref.strip().rpartition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise HandlerLoadError(
                f"step '{ref}': could not import module {module_name!r} (no module named {exc.name!r}); {EXPECTED}"
            ) from None
        # the module exists but something it imports does not: show the user's own error
        raise HandlerLoadError(f"step '{ref}': importing {module_name} failed: {where(exc, None)}") from exc
    except (Exception, SystemExit) as exc:
        raise HandlerLoadError(f"step '{ref}': importing {module_name} failed: {where(exc, None)}") from exc
    return resolve(module, attr, f"step '{ref}'")


def resolve(module: types.ModuleType, attr: str, display: str) -> StepFunc:
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


def restore(name: str, previous: types.ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def where(exc: BaseException, path: Path | None) -> str:
    """``Type: message (file:line)`` at the deepest frame in the user's file."""
    if isinstance(exc, SyntaxError):
        return f"{describe(exc)} ({exc.filename}:{exc.lineno})"
    frames = [f for f in walk(exc.__traceback__) if (f[0] == str(path) if path else not f[0].startswith("<"))]
    place = f" ({frames[-1][0]}:{frames[-1][1]})" if frames else ""
    return f"{describe(exc)}{place}"


def walk(tb: types.TracebackType | None) -> list[tuple[str, int]]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_async(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # an object whose __call__ is async
    return not inspect.isroutine(func) and inspect.iscoroutinefunction(func.__call__)
