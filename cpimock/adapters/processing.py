"""Running the steps of one routed call, answering it, and recording it in the MPL.

The answer waits for the steps (HTTPS, request-reply SOAP, IDoc), or goes out at once when the
adapter's :class:`~cpimock.adapters.seam.Delivery` says so (one-way SOAP, *WS Standard*): the
steps then run on a task of their own, and the message is recorded when they end, with the
answer that was sent. Such tasks are kept so that a stopping server lets them finish (and
records the ones it must cut short), and so that tests can wait for them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from cpimock.adapters.exchange import NO_MPL_FIELDS, mpl_fields
from cpimock.adapters.seam import Call, Reply, SenderAdapter
from cpimock.message import LogAttachment, Message
from cpimock.mpl.record import MplRecord, StoredAttachment, utcnow
from cpimock.steps.pipeline import StepError

log = logging.getLogger(__name__)

__all__ = ["Processor", "response"]


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

    @property
    def busy(self) -> bool:
        """Whether steps of a call that was answered already are still running."""
        return bool(self._background)

    async def deliver(self, call: Call, adapter: SenderAdapter, message: Message) -> web.Response:
        """Run the steps and answer: after them, or before them when the adapter says so."""
        delivery = adapter.delivery(call, message)
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

    @staticmethod
    def _finish(rec: MplRecord, result: Message, reply: Reply) -> None:
        _fill_from_message(rec, result)
        rec.response_status, rec.response_headers, rec.response_body = reply.status, reply.headers, reply.body
        rec.log_end = utcnow()


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
