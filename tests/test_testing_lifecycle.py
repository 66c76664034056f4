"""The testing API over a key's life: expired and not-yet-valid keys, revoke, renew, rotate, and
the tenant clock, each with a real mTLS call (requests) and its rejecting twin."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cpimock.message import Message
from cpimock.pki.keys import now
from cpimock.testing import IFlow, TenantKey, ThreadedTenant


def echo(message: Message) -> Message:
    return message


@pytest.fixture(scope="module")
def tenant() -> Iterator[ThreadedTenant]:
    with ThreadedTenant() as tenant:
        yield tenant


@pytest.fixture
def flow(tenant: ThreadedTenant) -> IFlow:
    tenant.clear()
    tenant.now = now()
    return tenant.iflow("/orders", steps=[echo])


def status(tenant: ThreadedTenant, flow: IFlow, cert: tuple[str, str]) -> int | str:
    try:
        return requests.post(flow.url, data=b"x", cert=cert, verify=str(tenant.ca_path), timeout=30).status_code
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        return "refused"  # in the TLS handshake: an alert, or (TLS 1.3) the connection closed after it


def copy_files(key: TenantKey, folder: Path) -> tuple[str, str]:
    folder.mkdir()
    return str(shutil.copy(key.cert_path, folder)), str(shutil.copy(key.key_path, folder))


def test_an_expired_key_is_refused_and_a_current_one_served(tenant: ThreadedTenant, flow: IFlow) -> None:
    expired = tenant.service_key("lapsed", expired=True)
    assert expired.not_after < now() - dt.timedelta(hours=23)
    assert status(tenant, flow, expired.cert) == "refused"
    assert status(tenant, flow, tenant.service_key("current").cert) == 200


def test_a_key_not_yet_valid_is_served_once_the_tenant_clock_reaches_it(tenant: ThreadedTenant, flow: IFlow) -> None:
    later = tenant.service_key("later", not_before=now() + dt.timedelta(days=2))
    assert status(tenant, flow, later.cert) == "refused"
    tenant.now = now() + dt.timedelta(days=3)
    assert status(tenant, flow, later.cert) == 200


def test_validity_in_minutes(tenant: ThreadedTenant, flow: IFlow) -> None:
    short = tenant.service_key("short", days=dt.timedelta(minutes=30))
    assert abs(short.not_after - (now() + dt.timedelta(minutes=30))) < dt.timedelta(minutes=1)
    assert status(tenant, flow, short.cert) == 200
    tenant.now = now() + dt.timedelta(minutes=31)
    assert status(tenant, flow, short.cert) == "refused"


def test_a_revoked_key_is_refused_while_others_are_served(tenant: ThreadedTenant, flow: IFlow) -> None:
    doomed, other = tenant.service_key("doomed"), tenant.service_key("other")
    assert status(tenant, flow, doomed.cert) == 200
    doomed.revoke()
    assert status(tenant, flow, doomed.cert) == "refused"
    assert status(tenant, flow, other.cert) == 200


def test_a_renewed_key_keeps_its_name_and_the_old_certificate_is_refused(
    tenant: ThreadedTenant, flow: IFlow, tmp_path: Path
) -> None:
    key = tenant.service_key("renewing", days=10)
    before = copy_files(key, tmp_path / "before")
    serial = key.certificate.serial_number
    assert key.renew(days=300) is key
    assert key.certificate.serial_number != serial
    assert key.not_after > now() + dt.timedelta(days=299)
    assert status(tenant, flow, key.cert) == 200
    assert status(tenant, flow, before) == "refused"
    assert [r.service_key for r in tenant.messages(status="COMPLETED")] == ["renewing"]


def test_a_rotation_serves_both_keys_until_the_old_one_retires(tenant: ThreadedTenant, flow: IFlow) -> None:
    old = tenant.service_key("s4")
    new = old.rotate(old_until=now() + dt.timedelta(days=7))
    assert (new.name, new.instance, new.roles) == ("s4-2", old.instance, old.roles)
    assert status(tenant, flow, old.cert) == 200
    assert status(tenant, flow, new.cert) == 200
    assert [r.service_key for r in tenant.messages()] == ["s4", "s4-2"]
    tenant.now = now() + dt.timedelta(days=8)
    assert status(tenant, flow, old.cert) == 401
    assert status(tenant, flow, new.cert) == 200
    [refused] = tenant.messages(status="FAILED")
    assert "retired after its rotation to 's4-2'" in (refused.refusal_reason or "")
