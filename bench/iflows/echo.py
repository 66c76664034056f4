"""The benchmark's iFlow step: answer with the request body, unchanged (an echo).

It is an ``async def`` step, which runs on the event loop. A plain ``def`` step runs on a
worker thread so that a slow one cannot stall other requests; that hop costs a measurable
share of W1's throughput (see results.md), which is why an async step is what this
benchmark measures.
"""

from __future__ import annotations

from cpimock.message import Message


async def process(message: Message) -> Message:
    return message
