"""The demo SOAP step: answer a SOAP 1.x Request-Reply call with a greeting around what arrived.

cpimock calls ``process`` with the payload element of the request's SOAP Body (never the
envelope), as CPI runs an iFlow behind its SOAP sender channel::

    [[iflows]]
    id = "soapEcho"
    adapter = "soap"
    address = "/demo/echo"
    steps = ["iflows/soap_demo.py:process"]

The answer is this step's body (one XML element) in an envelope of the caller's SOAP version.
Load the channel's WSDL into SoapUI or zeep from ``https://127.0.0.1:8443/cxf/demo/echo?wsdl``,
or post an envelope with ``cpimock call --soap FILE``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from cpimock.message import Message


def process(message: Message) -> Message:
    action = escape(message.headers.get("SOAPAction") or "none")
    headers = ", ".join(header.local for header in message.soap_headers) or "none"
    mpl_id = message.properties.get("SAP_MessageProcessingLogID", "")
    message.body = (
        '<demo:Greeting xmlns:demo="urn:cpimock:demo">'
        "<Text>Hello, cpimock received your SOAP request</Text>"
        f"<SOAPAction>{action}</SOAPAction><SoapHeaders>{headers}</SoapHeaders>"
        f"<MessageProcessingLogID>{mpl_id}</MessageProcessingLogID>"
        f"<Received>{message.text}</Received>"
        "</demo:Greeting>"
    )
    return message
