"""An async step: ``async def`` steps run on the server's event loop, so they may await I/O.

Here the "lookup" is a dictionary behind ``asyncio.sleep``, standing in for an HTTP call to a
receiver (e.g. with aiohttp's client). Never block in an async step (no ``time.sleep``, no
blocking HTTP library): that stalls every request. Plain ``def`` steps run on worker threads
and may block.
"""

from __future__ import annotations

import asyncio

from cpimock.message import Message

_CUSTOMERS = {"C001": "Ada Lovelace", "C002": "Grace Hopper"}


async def process(message: Message) -> Message:
    customer_id = message.text.strip()
    await asyncio.sleep(0)  # the awaited lookup
    name = _CUSTOMERS.get(customer_id)
    if name is None:
        message.headers["CamelHttpResponseCode"] = 404
        message.body = f"no customer {customer_id!r}\n"
    else:
        message.set_json({"id": customer_id, "name": name})
    message.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return message
