"""A step that fails: the message ends FAILED and the sender gets CPI's error answer.

With the iFlow's ``return_exception_to_sender = false`` (the default) the sender sees::

    HTTP/1.1 500 Internal Server Error

    An internal server error occured: The MPL ID for the failed message is : <MPL ID>
    For more details please check tail log.

and the message monitor shows the exception text below.
"""

from __future__ import annotations

from cpimock.message import Message


class OrderRejected(Exception):
    """What a validation step raises."""


def process(message: Message) -> Message:
    message.log.add_attachment("rejected payload", message.body.decode("utf-8", errors="replace"))
    raise OrderRejected("order rejected: the payload failed validation")
