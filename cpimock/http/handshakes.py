"""The TLS handshakes in progress: how many there may be, which one gives way, and floods.

Every accepted connection is a handshake task until its TLS handshake ends. A client that sends
a ClientHello and goes silent holds one for ``handshake_timeout_s``, and with it some 80 KiB of
the server's memory (OpenSSL's handshake state, the TLS protocol's buffer and objects);
thousands of them at once are a flood. ``[server] max_handshakes`` bounds how many are in
progress. At the bound, a new connection is taken only by dropping the handshake that has waited
longest, and only once that one has waited :data:`EVICT_AFTER_S`: a real sender finishes its
handshake in milliseconds, so a handshake that old is very likely a silent client's, while one
that has just begun (a sender that connected as the flood began) is left to finish. Until then
new connections wait in the kernel's listen backlog.

A flood is logged when its first handshake is dropped and when half the places are free again,
and recorded in the MPL once, not per connection. Once it has subsided, the free memory it left
in the heap is handed back to the kernel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cpimock.http import memory

log = logging.getLogger(__name__)

# at the limit, a handshake in progress for this long is dropped for a new connection
EVICT_AFTER_S = 2.0
# a flood, for handing memory back: this many handshakes at once, then no more than QUIET_AT; the
# memory is handed back RELEASE_AFTER_S later, when the flood's last connections are gone too
FLOOD_AT = 256
QUIET_AT = 16
RELEASE_AFTER_S = 2.0


@dataclass
class Burst:
    """A flood: from the first handshake dropped for a newer connection until half the limit is free."""

    started: float  # time.monotonic()
    peak: int
    dropped: int = 0  # handshakes cancelled to make room for newer connections


class Handshakes:
    """The handshake tasks in progress, longest-waiting first, at most *limit* of them."""

    def __init__(
        self,
        limit: int,
        *,
        on_room: Callable[[], None] = lambda: None,
        on_burst_end: Callable[[Burst], None] = lambda burst: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._tasks: dict[asyncio.Task[None], float] = {}  # task -> when it began, in that order
        self._on_room = on_room
        self._on_burst_end = on_burst_end
        self._clock = clock
        self.burst: Burst | None = None
        self._peak_since_release = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[None]]:
        return iter(list(self._tasks))

    def room(self) -> float | None:
        """None when a new connection may begin its handshake now (at the limit: once the
        longest-waiting handshake may give way); else the seconds until it may."""
        if len(self._tasks) < self.limit:
            return None
        wait = self._tasks[next(iter(self._tasks))] + EVICT_AFTER_S - self._clock()
        return wait if wait > 0 else None

    def add(self, task: asyncio.Task[None]) -> None:
        """Track *task* until it is done; beyond the limit, drop the longest-waiting handshake."""
        self._tasks[task] = self._clock()
        task.add_done_callback(self.discard)
        while len(self._tasks) > self.limit:
            oldest = next(iter(self._tasks))
            del self._tasks[oldest]
            oldest.cancel()  # the handshake task closes its socket and records nothing
            self._in_burst().dropped += 1
        count = len(self._tasks)
        self._peak_since_release = max(self._peak_since_release, count)
        if self.burst is not None:
            self.burst.peak = max(self.burst.peak, count)

    def discard(self, task: asyncio.Task[None]) -> None:
        """A handshake ended (or a task that was never added): free its place."""
        if task not in self._tasks:  # dropped for a newer one, or never added
            return
        del self._tasks[task]
        count = len(self._tasks)
        if count == self.limit - 1:
            self._on_room()
        if self.burst is not None and count <= self.limit // 2:
            self._end_burst()
        if count <= QUIET_AT and self._peak_since_release >= FLOOD_AT:
            self._peak_since_release = count
            task.get_loop().call_later(RELEASE_AFTER_S, self._release_memory)

    def _in_burst(self) -> Burst:
        if self.burst is None:
            self.burst = Burst(self._clock(), len(self._tasks))
            log.warning(
                "%d TLS handshakes in progress, the limit (server.max_handshakes): new connections wait, and "
                "handshakes older than %.0f s are dropped for them (clients that send a ClientHello and go silent?)",
                self.limit,
                EVICT_AFTER_S,
            )
        return self.burst

    def _end_burst(self) -> None:
        burst, self.burst = self.burst, None
        assert burst is not None
        log.info(
            "handshake flood over after %.1f s: %d dropped before finishing their handshake, at most %d at once",
            self._clock() - burst.started,
            burst.dropped,
            burst.peak,
        )
        self._on_burst_end(burst)

    def _release_memory(self) -> None:
        started = time.perf_counter()
        if memory.release_free_memory():
            log.info(
                "handed the heap's free memory back to the system after a flood of handshakes (%.1f ms)",
                (time.perf_counter() - started) * 1e3,
            )
