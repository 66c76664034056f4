"""The log level a sender asks for with ``SAP_MessageProcessingLogLevel``, and the script log
properties that CPI keeps only at Debug or Trace; over mTLS with a real client."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from cpimock.message import Message
from cpimock.testing import TenantKey, ThreadedTenant


def order(message: Message) -> Message:
    message.log.set_property("lines", 2)
    return message


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedTenant]:
    # requests prefers these to a session's verify
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with ThreadedTenant() as running:
        yield running


def send(tenant: ThreadedTenant, key: TenantKey, body: bytes, **headers: str) -> str:
    flow_url = f"{tenant.url}/http/orders"
    answer = requests.post(flow_url, data=body, headers=headers, cert=key.cert, verify=str(tenant.ca_path), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["SAP_MessageProcessingLogID"]


@pytest.mark.parametrize(
    ("header", "level", "properties"),
    [
        (None, "INFO", []),
        ("DEBUG", "DEBUG", [("lines", "2")]),
        ("debug", "DEBUG", [("lines", "2")]),
        ("NONE", "NONE", []),
        ("Error", "ERROR", []),
    ],
)
def test_the_log_level_a_sender_asks_for_and_the_log_properties_it_keeps(
    tenant: ThreadedTenant, header: str | None, level: str, properties: list[tuple[str, str]]
) -> None:
    """SAP Help, headers and exchange properties: ``SAP_MessageProcessingLogLevel`` sets the log
    level of the exchange, "Allowed values are INFO, NONE, DEBUG, ERROR (case-insensitive)"; SAP
    Help "Add Information to the Message Processing Log": "Properties added by the Script step are
    only visible in the MPL if the log level has been set to Debug or Trace"."""
    tenant.iflow("/orders", steps=[order])
    key = tenant.service_key("s4")
    guid = send(tenant, key, b"1", **({"SAP_MessageProcessingLogLevel": header} if header else {}))
    tenant.messages()
    rec = tenant.message(guid)
    assert rec is not None
    assert (rec.log_level, rec.log_properties) == (level, properties)


@pytest.mark.parametrize("header", ["TRACE", "verbose", "", "DEBUG,INFO", "d\u00e9bug"])
def test_a_log_level_cpi_does_not_know_is_info_and_logged(
    tenant: ThreadedTenant, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The twin: a value outside INFO, NONE, DEBUG, ERROR is not stored as given (it was before);
    the message is logged at INFO, keeps no log properties, and the server log says why."""
    caplog.set_level(logging.WARNING, "cpimock.adapters.endpoint")
    tenant.iflow("/orders", steps=[order])
    key = tenant.service_key("s4")
    guid = send(tenant, key, b"1", SAP_MessageProcessingLogLevel=header.encode().decode("latin-1"))
    tenant.messages()
    rec = tenant.message(guid)
    assert rec is not None
    assert (rec.log_level, rec.log_properties) == ("INFO", [])
    assert "is not one of INFO, NONE, DEBUG, ERROR; logged at INFO" in caplog.text
