"""CPI's SOAP (SAP RM) sender adapter: the one-way, exactly-once SOAP that ABAP proxies send.

Everything of the SOAP 1.x adapter holds, one-way and *Robust* (SAP's current adapter version
processes every message so: the acknowledgement comes after the steps, a failure is a fault,
and the sender sends the message again). On top, the sender's message id (the SAP
``messageId`` header, the ``MessageId`` query parameter, or a WS-Addressing ``MessageID``) and
quality of service become the headers ``SapMessageIdEx``, ``SapMessageId``, ``SapPlainSoapQoS``
and ``SapPlainSoapQueueId`` (:mod:`cpimock.adapters.soap.rm`), the id becomes the MPL's
application message id, and a copy of a message whose steps completed is acknowledged without
running them again (``duplicates = "acknowledge"``, the default).

On CPI the adapter only passes the id on, and an iFlow finds copies with an *Idempotent Process
Call* on ``SapMessageIdEx``; Python steps have none, so cpimock does it in the adapter, and
``duplicates = "process"`` leaves it to the steps as CPI would.
"""

from __future__ import annotations

from cpimock.adapters.cxf import unreadable
from cpimock.adapters.seam import SYNCHRONOUS, Call, Delivery, Reply
from cpimock.adapters.soap.protocol import QName, SoapError
from cpimock.adapters.soap.rm import SAP_MESSAGE_ID, RmRequest, check_one_way, read_rm
from cpimock.adapters.soap.wsdl import WsdlError
from cpimock.adapters.soap_sender import ADDRESSING, STATE, SoapAdapter, SoapCall
from cpimock.config import SoapChannel
from cpimock.iflows.model import Channel
from cpimock.message import Message

__all__ = ["SapRmAdapter"]

_RM = "sap-rm.request"


class SapRmAdapter(SoapAdapter):
    kind = "soap-rm"

    def check(self, channel: Channel) -> str | None:
        problem = super().check(channel)
        soap = channel.soap
        if problem is not None or soap is None or soap.wsdl is None:
            return problem
        try:
            check_one_way(self.operations(soap))
        except WsdlError as exc:
            return f"the WSDL {soap.wsdl_file or ''} cannot be served: {exc}"
        return None

    def understood(self, soap: SoapChannel) -> frozenset[QName]:
        return ADDRESSING | {SAP_MESSAGE_ID}

    def reads_addressing(self, soap: SoapChannel) -> bool:
        return True  # a WS-Addressing MessageID is the id of last resort

    def message(self, call: Call, body: bytes) -> Message:
        message = super().message(call, body)
        state: SoapCall = call.state[STATE]
        try:
            rm = read_rm(state.envelope, dict(call.request.query))
        except SoapError as exc:
            raise unreadable(exc, call) from None
        call.state[_RM] = rm
        for name, value in rm.adapter_headers().items():
            message.headers[name] = value
        if rm.message_id is not None:
            call.record.application_message_id = rm.message_id.normal
        return message

    def delivery(self, call: Call, message: Message) -> Delivery:
        rm: RmRequest = call.state[_RM]
        soap = call.route.channel.soap
        assert soap is not None
        if rm.message_id is None or soap.duplicates != "acknowledge":
            return SYNCHRONOUS
        return Delivery(once=rm.message_id.normal)

    def duplicate(self, call: Call, message: Message, original: str) -> Reply:
        return self.acknowledgement(call)
