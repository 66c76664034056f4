"""The demo iFlow step: greet the caller and echo back what arrived.

This file is an iFlow step, the Python counterpart of a Groovy script step::

    def Message processData(Message message) { ...; return message }

cpimock calls ``process`` with the incoming :class:`~cpimock.message.Message` for every
request to the iFlow whose ``steps`` in ``cpimock.toml`` name it::

    [[iflows]]
    id = "clientCertAuth"
    address = "/clientCertAuth"
    steps = ["iflows/demo.py:process"]

Try it (``cpimock serve`` prints the full ``curl`` line with the certificate options)::

    curl ... -H 'Content-Type: application/json' -d '{"name": "Ada"}' \\
        https://127.0.0.1:8443/http/clientCertAuth

    Hello Ada, cpimock received your message of 15 bytes (application/json).
    Caller: service key demo-sender, instance default, roles ESBMessaging.send
    Certificate: CN=demo-sender,... (serial 0x..., issued by CN=...)
    Message processing log ID: ...

Edit this file while the server runs: the next request uses the new code.
"""

from __future__ import annotations

import json

from cpimock.message import Message


def process(message: Message) -> Message:
    size = len(message.body)
    content_type = message.content_type or "no content type"
    name = _name(message)
    props = message.properties

    lines = [f"Hello {name}, cpimock received your message of {size} bytes ({content_type})."]
    if props.get("CpimockServiceKey"):
        roles = ", ".join(props.get("CpimockRoles") or []) or "none"
        lines.append(
            f"Caller: service key {props['CpimockServiceKey']}, "
            f"instance {props.get('CpimockServiceInstance')}, roles {roles}"
        )
    if props.get("CpimockCertificateSubject"):
        lines.append(
            f"Certificate: {props['CpimockCertificateSubject']} "
            f"(serial {props.get('CpimockCertificateSerial')}, issued by {props.get('CpimockCertificateIssuer')})"
        )
    if props.get("SAP_MessageProcessingLogID"):
        lines.append(f"Message processing log ID: {props['SAP_MessageProcessingLogID']}")

    # what the monitor shows: a custom header property to search by, and the message type
    message.log.add_custom_header("greeted", name)
    message.headers["SAP_MessageType"] = "Greeting"

    # the Content-Type first: a str body is encoded in the charset the message has when it is set
    message.headers["Content-Type"] = "text/plain; charset=utf-8"
    message.body = "\n".join(lines) + "\n"
    return message


def _name(message: Message) -> str:
    """The ``name`` of a JSON object body, else the first line of a text body, else "there"."""
    try:
        text = message.text.strip()
    except ValueError:  # not text in its declared charset: binary
        return "there"
    if not text:
        return "there"
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            value = data.get("name") or data.get("Name")
            return str(value)[:80] if value else "there"
    return text.splitlines()[0][:80]
