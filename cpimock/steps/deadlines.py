"""The iFlow timeout (``timeout_s``): cancel a request's steps once they run past their deadline.

``asyncio.timeout`` arms a timer per request; at thousands of requests a second that is a
measurable share of the request path. Here one timer per event loop looks at the running
requests every :data:`TICK_S` seconds instead, so entering and leaving costs two dict
operations, and a step that overruns is cancelled at most one tick late.
"""

from __future__ import annotations

import asyncio

__all__ = ["TICK_S", "Deadlines", "deadlines"]

# how often the running requests are checked against their deadlines (seconds)
TICK_S = 0.02


class Deadlines:
    """The deadlines of the tasks running steps on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._running: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def enter(self, task: asyncio.Task[object], timeout_s: float) -> None:
        """Cancel *task* if it has not called :meth:`leave` within *timeout_s* seconds."""
        self._running[task] = self._loop.time() + timeout_s
        if self._timer is None:
            self._timer = self._loop.call_later(TICK_S, self._tick)

    def leave(self, task: asyncio.Task[object]) -> bool:
        """Stop watching *task*; True if it ran past its deadline (and was cancelled for that).

        The cancellation is taken back (``Task.uncancel``), so a caller that turns it into a
        timeout error leaves the task as if it had not been cancelled.
        """
        if self._running.pop(task, None) is not None:
            return False
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _tick(self) -> None:
        now = self._loop.time()
        late = [task for task, deadline in self._running.items() if deadline <= now]
        for task in late:
            del self._running[task]
            self._expired.add(task)
            task.cancel()
        self._timer = self._loop.call_later(TICK_S, self._tick) if self._running else None


_BY_LOOP: dict[asyncio.AbstractEventLoop, Deadlines] = {}


def deadlines(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The :class:`Deadlines` of *loop* (one per event loop, dropped once the loop is closed)."""
    watch = _BY_LOOP.get(loop)
    if watch is None:
        for old in [old for old in _BY_LOOP if old.is_closed()]:
            del _BY_LOOP[old]
        watch = _BY_LOOP[loop] = Deadlines(loop)
    return watch
