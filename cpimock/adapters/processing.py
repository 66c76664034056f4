"""Running the steps of one routed call, answering it, and recording it in the MPL.

The answer waits for the steps (HTTPS, request-reply SOAP, IDoc), or goes out at once when the
adapter's :class:`~cpimock.adapters.seam.Delivery` says so (one-way SOAP, *WS Standard*): the
steps then run on a task of their own, and the message is recorded when they end, with the
answer that was sent. Such tasks are kept so that a stopping server lets them finish (and
records the ones it must cut short), and so that tests can wait for them.

A message the adapter delivers exactly once (SOAP (SAP RM): ``Delivery.once``) first claims its
sender's id in :class:`~cpimock.mpl.delivered.DeliveredIds`. A copy of a delivered message is
answered by the adapter's ``duplicate()`` and recorded as ``DUPLICATE`` without running the
steps; a copy that arrives while the first one's steps run waits for them (within the iFlow's
timeout, else ``503``) and is then a duplicate, or runs the steps itself when the first failed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from cpimock.adapters import answers
from cpimock.adapters.exchange import NO_MPL_FIELDS, mpl_fields
from cpimock.adapters.seam import Call, Delivery, Refused, Reply, SenderAdapter
from cpimock.errors import CpimockError
from cpimock.message import LogAttachment, Message
from cpimock.mpl.delivered import DeliveredIds
from cpimock.mpl.record import PROPERTY_LOG_LEVELS, MplRecord, StoredAttachment, utcnow
from cpimock.steps.pipeline import StepError

log = logging.getLogger(__name__)

__all__ = ["DUPLICATE", "Processor", "response"]

# the CustomStatus of a copy of a message that was delivered already
DUPLICATE = "DUPLICATE"
T = TypeVar("T")
# how often a copy looks whether another worker process has finished the first one's steps
_POLL_S = 0.05


class _Unanswerable(StepError):
    """The steps left something the adapter cannot turn into an answer."""


class Processor:
    """Runs calls' steps for one endpoint, and keeps the ones answered before their steps ended."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        record: Callable[[MplRecord], None],
        arecord: Callable[[MplRecord], Awaitable[None]],
    ) -> None:
        self._loop = loop
        self._record = record
        self._arecord = arecord
        self._background: set[asyncio.Task[web.Response]] = set()
        self._delivered: DeliveredIds | None = None
        self._opening = asyncio.Lock()
        # the messages of this process whose steps run under a claimed id: copies wait on these
        self._running: dict[tuple[str, str], asyncio.Event] = {}

    @property
    def busy(self) -> bool:
        """Whether steps of a call that was answered already are still running."""
        return bool(self._background)

    async def deliver(self, call: Call, adapter: SenderAdapter, message: Message, delivery: Delivery) -> web.Response:
        """Run the steps and answer as the adapter's *delivery* for *message* says: after them, before
        them, or exactly once by the sender's message id."""
        if delivery.once is not None:
            return await self._once(call, adapter, message, delivery.once)
        if delivery.early is None:
            return await self.run(call, adapter, message)
        task = self._loop.create_task(self.run(call, adapter, message, answered=delivery.early))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return response(delivery.early)

    async def run(
        self, call: Call, adapter: SenderAdapter, message: Message, *, answered: Reply | None = None
    ) -> web.Response:
        """Run the steps of *call* and record it; the answer, or *answered*'s when that was sent already."""
        route, rec = call.route, call.record
        iflow = route.iflow
        result = message
        try:
            pipeline = call.snapshot.pipelines[iflow.id]
            result = await pipeline.run(message, iflow.timeout_s, self._loop)
            try:
                reply = adapter.reply(call, result)
                answer = response(reply)
            except StepError:
                raise
            except Exception as exc:  # a header whose str() raises, a body that is not XML, ...
                raise _Unanswerable("response", f"the answer the steps left cannot be sent: {exc}") from exc
            rec.status = "COMPLETED"
        except StepError as exc:
            rec.status, rec.error, rec.error_step = "FAILED", str(exc), exc.step
            log.error(
                "integration flow %s failed (message %s): %s",
                iflow.id,
                rec.message_guid,
                exc,
                exc_info=exc.__cause__ if exc.__cause__ is not None else None,
            )
            reply = adapter.failure(call, exc)
            answer = response(reply)
        except asyncio.CancelledError:
            # the server stopped before steps it had answered for ended: the MPL still gets the message
            if answered is not None:
                rec.status, rec.error = "FAILED", "the server stopped before the steps ended"
                self._finish(rec, result, answered)
                self._record(rec)
            raise
        sent = answered or reply
        self._finish(rec, result, sent)
        await self._arecord(rec)
        if log.isEnabledFor(logging.DEBUG):
            label = call.identity.label
            log.debug("%s %s → %d (%s, %s)", rec.request_method, rec.request_path, sent.status, iflow.id, label)
        return answer

    async def _once(self, call: Call, adapter: SenderAdapter, message: Message, message_id: str) -> web.Response:
        """Run the steps unless *message_id* was delivered to the iFlow already (see the module)."""
        iflow, rec = call.route.iflow, call.record
        key = (iflow.id, message_id)
        store = await self._store(call)
        deadline = self._loop.time() + iflow.timeout_s
        while True:
            claim = await self._ask(store.claim, iflow.id, message_id, rec.message_guid)
            if claim.state == "new":
                break
            if claim.state == "delivered":
                reply = adapter.duplicate(call, message, claim.guid)
                rec.status, rec.custom_status = "COMPLETED", DUPLICATE
                rec.custom_header_properties = [*rec.custom_header_properties, ("DuplicateOf", claim.guid)]
                self._finish(rec, message, reply)
                await self._arecord(rec)
                log.info(
                    "integration flow %s: message %s is a copy of %s; not run again", iflow.id, message_id, claim.guid
                )
                return response(reply)
            left = deadline - self._loop.time()
            if left <= 0:
                reason = (
                    f"message id {message_id} is being processed by message {claim.guid} for longer than the "
                    f"integration flow's timeout_s; send it again later"
                )
                raise Refused("processing", answers.refused(503, reason, headers={"Retry-After": "1"}))
            first = self._running.get(key)
            if first is not None:  # in this process: wait for its steps to end
                try:
                    await asyncio.wait_for(first.wait(), left)
                except TimeoutError:
                    pass
            else:  # in another worker process: nothing tells this one when it ends
                await asyncio.sleep(min(_POLL_S, left))
        done = self._running[key] = asyncio.Event()
        completed = False
        try:
            answer = await self.run(call, adapter, message)
            completed = rec.status == "COMPLETED"
        finally:
            end = store.delivered if completed else store.release
            try:
                await self._ask(end, iflow.id, message_id, rec.message_guid)
            except Refused:
                log.error("integration flow %s: could not note message id %s as %s", iflow.id, message_id, end.__name__)
            del self._running[key]
            done.set()
        return answer

    async def _store(self, call: Call) -> DeliveredIds:
        if self._delivered is None:
            async with self._opening:
                if self._delivered is None:
                    config = call.snapshot.config
                    path = config.db_path if config.journal.enabled else None
                    retention = config.journal.retention_days
                    try:
                        self._delivered = await asyncio.to_thread(DeliveredIds.open, path, retention_days=retention)
                    except CpimockError as exc:
                        raise _unavailable(str(exc)) from None
        return self._delivered

    @staticmethod
    async def _ask(what: Callable[..., T], *args: str) -> T:
        try:
            return await asyncio.to_thread(what, *args)
        except sqlite3.Error as exc:  # a locked or full disk: the sender may send it again
            raise _unavailable(f"the delivered message ids cannot be read or written ({exc})") from None

    def forget_deliveries(self) -> None:
        """Forget every delivered message id (for test fixtures)."""
        if self._delivered is not None:
            self._delivered.clear()

    async def settle(self) -> None:
        """Wait until the steps of every call answered so far have ended (and their messages are recorded)."""
        while pending := [task for task in self._background if not task.done()]:
            await asyncio.wait(pending)

    async def drain(self, timeout: float) -> None:
        """Let running steps end within *timeout* seconds, then cut the rest short (they are recorded)."""
        pending = [task for task in self._background if not task.done()]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    def close(self) -> None:
        """Close the store of delivered ids (after :meth:`drain`)."""
        if self._delivered is not None:
            self._delivered.close()
            self._delivered = None

    @staticmethod
    def _finish(rec: MplRecord, result: Message, reply: Reply) -> None:
        _fill_from_message(rec, result)
        rec.response_status, rec.response_headers, rec.response_body = reply.status, reply.headers, reply.body
        rec.log_end = utcnow()


def _unavailable(reason: str) -> Refused:
    return Refused("processing", answers.refused(503, f"{reason}; send the message again later"))


def response(reply: Reply) -> web.Response:
    """*reply* as aiohttp's response (which refuses what cannot be sent, such as a bad header)."""
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _fill_from_message(rec: MplRecord, message: Message) -> None:
    """What the steps put into the MPL entry (``SAP_ApplicationID``, the message log, ...).

    A field the steps leave unset keeps what the adapter put there (an IDoc's number and type).
    """
    fields = mpl_fields(message)
    if fields is NO_MPL_FIELDS:
        return
    rec.application_message_id = fields.application_message_id or rec.application_message_id
    rec.application_message_type = fields.application_message_type or rec.application_message_type
    rec.sender, rec.receiver = fields.sender or rec.sender, fields.receiver or rec.receiver
    rec.custom_status = fields.custom_status
    rec.custom_header_properties = [*rec.custom_header_properties, *fields.custom_header_properties]
    if rec.log_level in PROPERTY_LOG_LEVELS:  # CPI keeps a script's log properties at Debug and Trace only
        rec.log_properties = [(name, _log_value(value)) for name, value in fields.log_properties.items()]
    rec.attachments = [_attachment(item) for item in fields.attachments]


def _log_value(value: object) -> str:
    """A message-log property as text: dates in ISO form, booleans as CPI writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _attachment(item: LogAttachment) -> StoredAttachment:
    data = item.text.encode() if isinstance(item.text, str) else bytes(item.text)
    return StoredAttachment(item.name, item.media_type, data)
