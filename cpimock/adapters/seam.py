"""What a sender adapter is: the part of a call that differs between CPI's inbound channels.

Every request takes the same way through :mod:`cpimock.adapters.endpoint`: who is calling →
which channel → may they → size limit → run the steps → record. A :class:`SenderAdapter` adds
what its channel kind does differently: checks before the body is read (CSRF for HTTPS), how
the request becomes a :class:`~cpimock.message.Message`, and how a result, a failure or a
refusal becomes the answer the sender sees. The endpoint never asks which adapter it talks to.

By default the answer waits for the steps, as HTTPS does. :meth:`SenderAdapter.delivery` lets
an adapter say otherwise for one message (:class:`Delivery`): answer at once and let the steps
run afterwards (one-way SOAP, *WS Standard*), or deliver it exactly once by the sender's
message id (SOAP (SAP RM)), a copy of a delivered message then being answered by
:meth:`SenderAdapter.duplicate` without running the steps again. HTTPS does not notice either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from cpimock.adapters.answers import Answer
from cpimock.identity.callers import Peer
from cpimock.identity.model import Identity, PeerCertificate
from cpimock.iflows.model import Channel, Route
from cpimock.message import Message
from cpimock.mpl.record import MplRecord
from cpimock.steps.pipeline import StepError
from cpimock.tenant.snapshot import Snapshot
from cpimock.wire import LOG_ID_HEADER

__all__ = ["SYNCHRONOUS", "Call", "Delivery", "Refused", "Reply", "SenderAdapter"]


@dataclass(frozen=True, slots=True)
class Reply:
    """What goes back to the sender: status, header lines and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def of(cls, answer: Answer, *extra: tuple[str, str]) -> Reply:
        """*answer* as it goes out, with *extra* header lines after its own."""
        return cls(answer.status, [*answer.headers.items(), *extra], answer.body.encode())


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
    # what an adapter keeps from one hook to the next for this call (the request's SOAP version)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def client_certificate(self) -> PeerCertificate | None:
        """The certificate the caller authenticated with; None for Basic and OAuth callers, even
        on a connection that presented one."""
        return self.peer.certificate if self.identity.method == "certificate" else None


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the endpoint delivers one message to the steps, when not as HTTPS does.

    *early*: answer with this reply at once; the steps run afterwards, and the message
    processing log records the message when they end. *once*: the sender's id of the message,
    for exactly-once delivery per iFlow; a copy of a message whose steps completed is answered
    by :meth:`SenderAdapter.duplicate` without running them again (a copy arriving while they
    run waits for them).
    """

    early: Reply | None = None
    once: str | None = None


# the answer waits for the steps, every message runs them: HTTPS, and most calls of the others
SYNCHRONOUS = Delivery()


class Refused(Exception):
    """Raised by an adapter's hook: the call is refused at *stage* with *answer* (logged and recorded).

    *reply* is the answer to send when the adapter has made it already (a SOAP fault in the
    request's version); otherwise :meth:`SenderAdapter.refusal` makes it from *answer*.
    """

    def __init__(self, stage: str, answer: Answer, reply: Reply | None = None) -> None:
        super().__init__(answer.reason)
        self.stage = stage
        self.answer = answer
        self.reply = reply


class SenderAdapter:
    """One kind of sender channel. Subclasses set :attr:`kind` and implement the three conversions."""

    kind: ClassVar[str]

    def check(self, channel: Channel) -> str | None:
        """Why the adapter cannot serve *channel* (a WSDL it cannot read), in words; ``None`` if it can."""
        return None

    def admit(self, call: Call) -> Reply | None:
        """After the caller is authorized, before the body is read. A :class:`Reply` ends the call
        with that answer, unrecorded (a CSRF token fetch, a WSDL download); raise :class:`Refused`
        to refuse it (recorded). None: go on."""
        return None

    def message(self, call: Call, body: bytes) -> Message:
        """The Message the iFlow's steps receive. Raise :class:`Refused` for a request the adapter
        cannot read (a malformed envelope)."""
        raise NotImplementedError

    def delivery(self, call: Call, message: Message) -> Delivery:
        """How *message* goes to the steps; :data:`SYNCHRONOUS` by default (the answer waits for them)."""
        return SYNCHRONOUS

    def duplicate(self, call: Call, message: Message, original: str) -> Reply:
        """The answer to a copy of a message already delivered (by the message *original*, an MPL
        id), for adapters whose :meth:`delivery` names a message id."""
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
        return Reply.of(answer, (LOG_ID_HEADER, record.message_guid))
