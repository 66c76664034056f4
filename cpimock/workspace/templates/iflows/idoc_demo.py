"""The demo IDoc step: what an S/4 XML-HTTP port sent, for the message monitor.

cpimock calls ``process`` for every IDoc request to the iFlow whose ``steps`` in
``cpimock.toml`` name it, as CPI runs an iFlow behind its IDoc sender channel::

    [[iflows]]
    id = "idocOrders"
    adapter = "idoc"
    address = "/idoc/orders"
    steps = ["iflows/idoc_demo.py:process"]

The body is the IDoc-XML (``<ORDERS05><IDOC BEGIN="1"><EDI_DC40>...``, one ``IDOC`` per IDoc of
a bulk); the IDoc adapter's headers say what it is. Try it (``cpimock serve`` prints the line)::

    curl ... -H 'Content-Type: text/xml' --data-binary @iflows/ORDERS05.xml \\
        https://127.0.0.1:8443/cxf/idoc/orders

S/4 takes the ``200`` as status 03; a step that raises makes it a SOAP fault with ``500``
(status 02). Edit this file while the server runs: the next IDoc uses the new code.
"""

from __future__ import annotations

from cpimock.message import Message


def process(message: Message) -> Message:
    idoc_type = message.headers.get("SapIDocType")
    number = message.headers.get("SapIDocTransferId")
    count = message.text.count("<IDOC ")

    # what the monitor shows beside the IDoc's number and type: how many came, and the IDoc itself
    message.log.add_custom_header("IDocs", str(count))
    message.log.add_attachment(f"{idoc_type} {number}", message.text, "text/xml")
    return message
