"""The benchmark's iFlow step: answer with the request body, unchanged (an echo)."""

from __future__ import annotations

from cpimock.message import Message


def process(message: Message) -> Message:
    return message
