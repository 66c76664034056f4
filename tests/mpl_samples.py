"""MPL records shaped the way the server fills them for each kind of call (shared by the MPL tests)."""

from __future__ import annotations

import datetime as dt

from cpimock.mpl.journal import MplRecord, refusal
from cpimock.mpl.record import StoredAttachment

SUBJECT = "CN=demo-sender,OU=cpimock Clients,O=cpimock,L=local,C=DE"
ISSUER = "CN=cpimock Client CA,OU=cpimock Clients,O=cpimock,L=local,C=DE"
CALLER = {
    "auth_method": "certificate",
    "service_key": "demo-sender",
    "instance": "default",
    "cert_subject": SUBJECT,
    "cert_issuer": ISSUER,
    "cert_serial": "0x5d2f",
    "cert_fingerprint": "3A:4F:00:11",
    "peer": "127.0.0.1:53124",
}


def scripted_mix(start: dt.datetime | None = None) -> dict[str, MplRecord]:
    """One record per outcome: accepted, refused at the handshake, 401, 403, 404, 500."""
    t = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def at(seconds: int) -> dict[str, dt.datetime]:
        begin = t + dt.timedelta(seconds=seconds)
        return {"log_start": begin, "log_end": begin + dt.timedelta(milliseconds=12)}

    post = {"request_method": "POST", "request_headers": [("Content-Type", "application/json")]}
    return {
        "accepted": MplRecord(
            integration_flow_name="clientCertAuth",
            request_path="/http/clientCertAuth",
            request_body=b'{"order": 4711}',
            response_status=200,
            response_headers=[("Content-Type", "text/plain")],
            response_body=b"Hello demo-sender",
            application_message_id="PO-4711",
            sender="S4H",
            receiver="SHOP",
            custom_header_properties=[("po_number", "4711")],
            attachments=[StoredAttachment("payload", "application/json", b'{"order": 4711}')],
            **CALLER,
            **post,
            **at(0),
        ),
        "handshake": refusal(
            "tls", "the client sent no certificate (ESBMessaging.send needs one)", peer="127.0.0.1:53125", **at(10)
        ),
        "unauthorized": refusal(
            "auth",
            "the certificate is not mapped to any service key",
            response_status=401,
            request_path="/http/clientCertAuth",
            cert_subject="CN=stranger",
            cert_issuer=ISSUER,
            peer="127.0.0.1:53126",
            **post,
            **at(20),
        ),
        "forbidden": refusal(
            "authorization",
            "service instance 'reader' lacks the role ESBMessaging.send",
            integration_flow_name="clientCertAuth",
            response_status=403,
            request_path="/http/clientCertAuth",
            **{**CALLER, "instance": "reader"},
            **post,
            **at(30),
        ),
        "not_found": refusal(
            "routing",
            "no iFlow is deployed at /http/nope",
            response_status=404,
            request_path="/http/nope",
            **CALLER,
            **post,
            **at(40),
        ),
        "failed": MplRecord(
            integration_flow_name="clientCertAuth",
            status="FAILED",
            request_path="/http/clientCertAuth",
            response_status=500,
            error="ValueError: order 4711 has no lines",
            error_step="iflows/demo.py:process",
            response_body=b"An internal server error occured: The MPL ID for the failed message is : X\n"
            b"For more details please check tail log.",
            **CALLER,
            **post,
            **at(50),
        ),
    }
