"""Plain Python functions as steps of a test tenant, kept where a step reference can reach them.

A registered function is wrapped so that what it raises is reported to its tenant before the
server sees it; the tenant re-raises it in the test (:meth:`~cpimock.testing.Tenant.check`).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import types
from collections.abc import Callable, Iterable
from typing import Any

from cpimock.message import Message

__all__ = ["forget", "is_registered", "register"]

# registered functions live here, as "cpimock.testing.steps:STEPS.<name>"
STEPS = types.SimpleNamespace()
_NUMBERS = itertools.count(1)
_PREFIX = f"{__name__}:STEPS."


def register(func: Callable[[Message], Any], owner: str, sink: Callable[[BaseException], None]) -> tuple[str, str]:
    """Keep *func* as a step; its name and the reference that reaches it. *owner* prefixes the name."""
    name = f"{owner}_{next(_NUMBERS)}_{getattr(func, '__name__', 'step')}"
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    setattr(STEPS, name, _capturing(func, sink))
    return name, _PREFIX + name


def forget(names: Iterable[str]) -> None:
    for name in names:
        if hasattr(STEPS, name):
            delattr(STEPS, name)


def is_registered(ref: str) -> bool:
    """Whether *ref* names a function registered here (whose errors reach the test directly)."""
    return ref.startswith(_PREFIX)


def _capturing(func: Callable[[Message], Any], sink: Callable[[BaseException], None]) -> Callable[[Message], Any]:
    """*func*, reporting what it raises to *sink* before the server sees it (sync stays sync)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_step(message: Message) -> Any:
            try:
                return await func(message)
            except (Exception, SystemExit) as exc:
                sink(exc)
                raise

        return async_step

    @functools.wraps(func)
    def step(message: Message) -> Any:
        try:
            return func(message)
        except (Exception, SystemExit) as exc:
            sink(exc)
            raise

    return step
