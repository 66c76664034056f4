"""CPI's IDoc sender adapter: IDoc-XML from an S/4 XML-HTTP port at ``/cxf/<address>``.

The request is IDoc-XML in a SOAP envelope (namespace
``urn:sap-com:document:sap:idoc:soap:messages``) or posted plain (``text/xml``,
``application/x-sap.idoc``), one IDoc or a bulk of one type (:mod:`cpimock.adapters.idoc`).
The channel's *Invalid XML Character Handling* applies before it is read. The steps get the
IDoc-XML without the envelope and the adapter's headers (``SapIDocType``,
``SapIDocTransferId``, ``SapIDocDbId``, ``SapIDocContentType``, ``SapIdocSoapNamespace``,
``SapMessageId``, and ``SapPlainSoapQoS``/``SapPlainSoapQueueId`` for exactly-once-in-order).
The first IDoc's number and the IDoc type are the MPL's application message id and type.

S/4 sets the IDoc to status 03 on a 2xx answer and 02 on anything else, so the answer comes
after the steps: 200 (empty, or with an ``idocAssign`` envelope, ``idoc_answer``), or a SOAP
fault with HTTP 500 when they failed.
"""

from __future__ import annotations

import threading
import time

from cpimock.adapters.cxf import VERSION, CxfAdapter, adapter_message, check_body, unreadable
from cpimock.adapters.encoding import EncodingError
from cpimock.adapters.idoc.answer import IdocAssignment, assign_numbers, success_answer
from cpimock.adapters.idoc.characters import CharacterHandling
from cpimock.adapters.idoc.document import IdocDocument, IdocError, read_idoc
from cpimock.adapters.seam import Call, Reply
from cpimock.adapters.soap.protocol import SoapError
from cpimock.message import Message
from cpimock.wire import MPL_ID_HEADER

__all__ = ["IdocAdapter"]

_DOCUMENT = "idoc.document"
_ASSIGNED = "idoc.assigned"
# receiver-side IDoc numbers (SapIDocDbId) have 16 digits
_NUMBERS = 10**16


class IdocAdapter(CxfAdapter):
    kind = "idoc"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def numbers(self, count: int) -> int:
        """The first of *count* fresh receiver-side IDoc numbers.

        cpimock keeps no IDoc database: the numbers count up from the time (in 10 µs), so that
        they keep rising across restarts; which number CPI itself puts into ``SapIDocDbId`` is
        UNCONFIRMED.
        """
        with self._lock:
            first = max(self._last + 1, time.time_ns() // 10_000) % _NUMBERS
            if first + count > _NUMBERS:
                first = 1
            self._last = first + count - 1
            return first

    def message(self, call: Call, body: bytes) -> Message:
        channel, request, rec = call.route.channel, call.request, call.record
        settings = channel.idoc
        assert settings is not None
        check_body(call, body)
        try:
            document = read_idoc(
                body,
                request.headers.get("Content-Type"),
                request.headers.get("SOAPAction"),
                handling=CharacterHandling(settings.invalid_characters),
                max_bytes=max(channel.max_body_bytes, 1),
            )
        except (SoapError, EncodingError) as exc:
            error = exc if isinstance(exc, SoapError) else IdocError(str(exc))
            raise unreadable(error, call) from None
        assigned = assign_numbers(document, self.numbers(len(document.idocs)))
        call.state[VERSION] = document.soap_version
        call.state[_DOCUMENT], call.state[_ASSIGNED] = document, assigned
        rec.application_message_id = document.transfer_ids[0] or None
        rec.application_message_type = document.idoc_type
        content_type = f"{document.content_type}; charset={document.charset}"
        return adapter_message(call, document.body, content_type, document.adapter_headers(db_id=assigned[0].db_id))

    def reply(self, call: Call, result: Message) -> Reply:
        document: IdocDocument = call.state[_DOCUMENT]
        assigned: tuple[IdocAssignment, ...] = call.state[_ASSIGNED]
        settings = call.route.channel.idoc
        assert settings is not None
        answer = success_answer(document, style=settings.answer, assignments=assigned)
        headers = [(MPL_ID_HEADER, call.record.message_guid)]
        if answer.content_type is not None:
            headers.insert(0, ("Content-Type", answer.content_type))
        return Reply(answer.status, headers, answer.content)
