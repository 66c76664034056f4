"""The log level a sender asks for with ``SAP_MessageProcessingLogLevel``, and the script log
properties that CPI keeps only at Debug or Trace; over mTLS with a real client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cpimock.errors import CpimockError
from cpimock.message import Message
from cpimock.testing import TenantKey, ThreadedTenant
from tests.iflows.exports import Channel, Flow, write_zip


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


def logged(tenant: ThreadedTenant, header: str | None) -> tuple[str, list[tuple[str, str]]]:
    """One call to /orders (with *header* as SAP_MessageProcessingLogLevel): its level and log properties."""
    key = tenant.service_key("s4")
    guid = send(tenant, key, b"1", **({"SAP_MessageProcessingLogLevel": header} if header else {}))
    tenant.messages()
    rec = tenant.message(guid)
    assert rec is not None
    return rec.log_level, rec.log_properties


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
    assert logged(tenant, header) == (level, properties)


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


@pytest.mark.parametrize(
    ("setting", "header", "level", "properties"),
    [
        ("DEBUG", None, "DEBUG", [("lines", "2")]),
        ("trace", None, "TRACE", [("lines", "2")]),
        ("All events", None, "INFO", []),
        ("Error events", None, "ERROR", []),
        ("No logging", None, "NONE", []),
        ("DEBUG", "INFO", "INFO", []),
        ("No logging", "DEBUG", "DEBUG", [("lines", "2")]),
    ],
)
def test_the_iflows_log_level_is_its_messages_unless_the_sender_asks_for_another(
    tenant: ThreadedTenant, setting: str, header: str | None, level: str, properties: list[tuple[str, str]]
) -> None:
    """An iFlow logs its messages at its own level (CPI's levels, or an export's log setting: All
    events, Error events, No logging); SAP_MessageProcessingLogLevel "forces the log level for that
    exchange" (Headers and Exchange Properties Provided by the Integration Framework). The level is
    the message's LogLevel, and script log properties are kept at Debug and Trace only."""
    tenant.iflow("/orders", steps=[order], log_level=setting)
    assert logged(tenant, header) == (level, properties)


@pytest.mark.parametrize("setting", ["verbose", "Some events", "INFO,DEBUG", "d\u00e9bug"])
def test_a_log_level_setting_cpi_does_not_have_is_refused(tenant: ThreadedTenant, setting: str) -> None:
    """The twin: cpimock.toml names the key and the levels there are."""
    with pytest.raises(CpimockError, match=r"log_level.*is not a log level; use INFO, NONE, DEBUG, ERROR or TRACE"):
        tenant.iflow("/orders", steps=[order], log_level=setting)


def test_an_exports_log_setting_is_its_messages_level(tenant: ThreadedTenant, tmp_path: Path) -> None:
    """An export's flow carries its log setting (the collaboration's ``log`` property)."""
    plain = Channel(extra={"xsrfProtection": "0"})
    tenant.add_export(write_zip(tmp_path / "Errors.zip", Flow(channels=[plain], log="Error events").files()))
    key = tenant.service_key("s4")
    guid = send(tenant, key, b"1")
    tenant.messages()
    rec = tenant.message(guid)
    assert rec is not None
    assert rec.log_level == "ERROR"
