"""What a sender adapter is: the part of a call that differs between CPI's inbound channels.

Every request takes the same way through :mod:`cpimock.adapters.endpoint`: who is calling →
which channel → may they → size limit → run the steps → record. A :class:`SenderAdapter` adds
what its channel kind does differently: checks before the body is read (CSRF for HTTPS), how
the request becomes a :class:`~cpimock.message.Message`, and how a result, a failure or a
refusal becomes the answer the sender sees. The endpoint never asks which adapter it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from cpimock.adapters.answers import Answer
from cpimock.identity.callers import Peer
from cpimock.identity.model import Identity
from cpimock.iflows.model import Route
from cpimock.message import Message
from cpimock.mpl.record import MplRecord
from cpimock.steps.pipeline import StepError
from cpimock.tenant.snapshot import Snapshot
from cpimock.wire import LOG_ID_HEADER

__all__ = ["Call", "Refused", "Reply", "SenderAdapter"]


@dataclass(frozen=True, slots=True)
class Reply:
    """What goes back to the sender: status, header lines and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """A routed and authorized request, as an adapter's hooks see it. The snapshot is the one the
    request was read with when it arrived, kept to its end."""

    request: web.Request
    snapshot: Snapshot
    peer: Peer
    record: MplRecord
    route: Route
    identity: Identity


class Refused(Exception):
    """Raised by an adapter's hook: the call is refused at *stage* with *answer* (logged and recorded)."""

    def __init__(self, stage: str, answer: Answer) -> None:
        super().__init__(answer.reason)
        self.stage = stage
        self.answer = answer


class SenderAdapter:
    """One kind of sender channel. Subclasses set :attr:`kind` and implement the three conversions."""

    kind: ClassVar[str]

    def admit(self, call: Call) -> Reply | None:
        """After the caller is authorized, before the body is read. A :class:`Reply` ends the call
        with that answer, unrecorded (a CSRF token fetch, a WSDL download); raise :class:`Refused`
        to refuse it (recorded). None: go on."""
        return None

    def message(self, call: Call, body: bytes) -> Message:
        """The Message the iFlow's steps receive. Raise :class:`Refused` for a request the adapter
        cannot read (a malformed envelope)."""
        raise NotImplementedError

    def reply(self, call: Call, result: Message) -> Reply:
        """The answer to a call whose steps ran. Any exception here is answered as a failure."""
        raise NotImplementedError

    def failure(self, call: Call, error: StepError) -> Reply:
        """The answer to a call whose steps failed, or whose result cannot be answered."""
        raise NotImplementedError

    def refusal(self, record: MplRecord, answer: Answer) -> Reply:
        """The answer to a request refused before its steps ran (perhaps before it was routed), in
        the adapter's shape. The default is CPI's plain answer: the status line's words and the reason."""
        headers = [*answer.headers.items(), (LOG_ID_HEADER, record.message_guid)]
        return Reply(answer.status, headers, answer.body.encode())
