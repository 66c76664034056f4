"""Accept for later: answer ``202 Accepted`` and fill the monitor's fields, as an asynchronous iFlow would.

Sets ``CamelHttpResponseCode`` (the status the sender gets), ``SAP_ApplicationID`` (the
*Application Message ID* in the message monitor, here the ``orderId`` of a JSON body or the
sender's ``X-Order-Id`` header), ``SAP_MessageType``, ``SAP_Sender``/``SAP_Receiver`` and a
custom status (``SAP_MessageProcessingLogCustomStatus``).
"""

from __future__ import annotations

import json

from cpimock.message import Message


def process(message: Message) -> None:
    order_id = message.headers.get("X-Order-Id")
    if message.content_type == "application/json":
        data = message.json()
        if isinstance(data, dict):
            order_id = data.get("orderId", order_id)

    message.headers["CamelHttpResponseCode"] = 202
    message.headers["SAP_ApplicationID"] = order_id or "unknown"
    message.headers["SAP_MessageType"] = "OrderCreate"
    message.headers["SAP_Sender"] = message.properties.get("CpimockServiceKey", "unknown")
    message.headers["SAP_Receiver"] = "ERP"
    message.properties["SAP_MessageProcessingLogCustomStatus"] = "Queued"
    message.log.add_custom_header("OrderId", order_id)

    message.headers["Content-Type"] = "application/json"  # before the body, which is encoded in its charset
    message.body = json.dumps({"status": "accepted", "orderId": order_id}) + "\n"
    # returning None: the message was changed in place
