"""A three-step chain: each function is one step, run in order like the script steps of an iFlow.

    steps = ["iflows/chain.py:parse", "iflows/chain.py:enrich", "iflows/chain.py:render"]

``parse`` reads the CSV body (``sku,qty`` lines) into an exchange property, ``enrich`` adds a
total and logs it, ``render`` writes the JSON answer. Properties carry data between steps, as
they do in CPI.
"""

from __future__ import annotations

from cpimock.message import Message


def parse(message: Message) -> Message:
    lines = [line.split(",") for line in message.text.splitlines() if line.strip()]
    message.properties["lines"] = [{"sku": sku.strip(), "qty": int(qty)} for sku, qty in lines]
    return message


def enrich(message: Message) -> None:
    lines = message.properties["lines"]
    message.properties["total"] = sum(line["qty"] for line in lines)
    message.log.set_property("lineCount", len(lines))


def render(message: Message) -> Message:
    message.set_json({"lines": message.properties["lines"], "total": message.properties["total"]})
    return message
