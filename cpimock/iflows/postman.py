"""A Postman collection and environment for the workspace's iFlows, and the newman command that
runs them: one request per sender channel, with a test that expects a 2xx answer.

Postman keeps client certificates in its settings, not in a collection, so the certificate is
set there (or given to newman with ``--ssl-client-cert``); the collection holds only what the
requests need. Channels with CSRF protection fetch a token first, in a pre-request script.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpimock.config import Config
from cpimock.iflows.model import Channel, IFlow

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
_SOAP_BODY = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body><ping>hello</ping></soapenv:Body></soapenv:Envelope>"
)
# a SOAP (SAP RM) channel wants the sender's message id: a new GUID for each run ({{$guid}})
_SAP_RM_BODY = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>'
    '<msgID:messageId xmlns:msgID="http://www.sap.com/webas/640/soap/features/messageId/">uuid:{{$guid}}'
    "</msgID:messageId></soapenv:Header><soapenv:Body><ping>hello</ping></soapenv:Body></soapenv:Envelope>"
)
# an IDoc channel wants IDoc-XML: one ORDERS05 with its control record, as an XML-HTTP port wraps it
_IDOC_BODY = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<ORDERS05 xmlns="urn:sap-com:document:sap:idoc:soap:messages"><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1">'
    "<TABNAM>EDI_DC40</TABNAM><DOCNUM>0000000000000001</DOCNUM><IDOCTYP>ORDERS05</IDOCTYP><MESTYP>ORDERS</MESTYP>"
    "</EDI_DC40></IDOC></ORDERS05></soapenv:Body></soapenv:Envelope>"
)
_CXF_BODIES = {"soap": _SOAP_BODY, "soap-rm": _SAP_RM_BODY, "idoc": _IDOC_BODY}
_CSRF_FETCH = [
    "// the sender channel wants a CSRF token: fetch one (and its session cookie) first",
    "var url = pm.variables.replaceIn(pm.request.url.toString());",
    "pm.sendRequest({url: url, method: 'GET', header: {'X-CSRF-Token': 'Fetch'}},",
    "    function (err, res) {",
    "        if (err) { throw err; }",
    "        pm.request.headers.upsert({key: 'X-CSRF-Token', value: res.headers.get('X-CSRF-Token')});",
    "    });",
]


def _request(iflow: IFlow, channel: Channel) -> dict[str, Any]:
    path = channel.url_path.rstrip("*").rstrip("/") or channel.prefix
    if channel.prefix == "/cxf":
        header, body = [{"key": "Content-Type", "value": "text/xml; charset=utf-8"}], _CXF_BODIES[channel.adapter]
    else:
        header, body = [{"key": "Content-Type", "value": "application/json"}], json.dumps({"name": "Ada"})
    events = [
        {
            "listen": "test",
            "script": {
                "type": "text/javascript",
                "exec": [
                    f"pm.test('{iflow.id} answers 2xx', function () {{",
                    "    pm.expect(pm.response.code).to.be.within(200, 299);",
                    "});",
                ],
            },
        }
    ]
    if channel.csrf:
        events.insert(0, {"listen": "prerequest", "script": {"type": "text/javascript", "exec": _CSRF_FETCH}})
    return {
        "name": f"{iflow.id} ({channel.url_path})",
        "event": events,
        "request": {
            "method": "POST",
            "header": header,
            "body": {"mode": "raw", "raw": body},
            "url": {
                "raw": "{{baseUrl}}" + path,
                "host": ["{{baseUrl}}"],
                "path": [part for part in path.split("/") if part],
            },
            "description": f"iFlow {iflow.id}, sender channel {channel.adapter} at {channel.url_path}",
        },
    }


def collection(config: Config, iflows: Sequence[IFlow]) -> dict[str, Any]:
    """One request per sender channel of every started iFlow."""
    items = [_request(iflow, ch) for iflow in iflows if iflow.state == "started" for ch in iflow.channels]
    return {
        "info": {
            "_postman_id": str(uuid.uuid4()),
            "name": f"cpimock {config.tenant.name}",
            "description": "The iFlows of a cpimock tenant, written by `cpimock postman`. Set the client "
            "certificate for the host in Postman's settings, or pass it to newman with --ssl-client-cert.",
            "schema": SCHEMA,
        },
        "item": items,
    }


def environment(config: Config, base_url: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": f"cpimock {config.tenant.name} (local)",
        "values": [{"key": "baseUrl", "value": base_url, "type": "default", "enabled": True}],
        "_postman_variable_scope": "environment",
    }


@dataclass(frozen=True)
class Newman:
    """The newman command line that runs a collection with a client certificate."""

    collection: Path
    environment: Path | None
    cert: Path
    key: Path
    server_ca: Path

    def argv(self) -> list[str]:
        args = ["newman", "run", str(self.collection)]
        if self.environment is not None:
            args += ["-e", str(self.environment)]
        return [
            *args,
            *("--ssl-client-cert", str(self.cert), "--ssl-client-key", str(self.key)),
            *("--ssl-extra-ca-certs", str(self.server_ca)),
        ]

    def line(self) -> str:
        return shlex.join(self.argv())
