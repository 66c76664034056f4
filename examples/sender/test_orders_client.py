"""Tests of the order sender against a local tenant, with cpimock's pytest fixtures.

``cpimock_tenant`` is a tenant shared by the session and emptied for each test;
``cpimock_service_key`` issues service keys on it. Run: ``pytest -p cpimock`` (the plugin is
also loaded automatically wherever cpimock is installed).
"""

from __future__ import annotations

import json

import pytest
from orders_client import OrderRejected, OrdersClient

from cpimock.message import Message


@pytest.fixture
def connect(cpimock_tenant):
    """Make OrdersClients for the tenant (trusting its CA) and close them after the test."""
    clients = []

    def make(**credentials):
        client = OrdersClient(cpimock_tenant.url, verify=str(cpimock_tenant.ca_path), **credentials)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def confirm(message: Message) -> Message:
    """The iFlow's step: what the real iFlow answers, reduced to what the sender relies on."""
    order = message.json()
    message.set_json({"orderId": order["orderId"], "status": "CONFIRMED", "lines": len(order["items"])})
    return message


def test_an_order_is_confirmed_and_logged(cpimock_tenant, cpimock_service_key, connect):
    cpimock_tenant.iflow("/orders", steps=[confirm], allowed_headers=["SAP_ApplicationID"])
    key = cpimock_service_key("s4-sender")
    client = connect(cert=key.cert)

    confirmation = client.send_order("4711", [{"sku": "A-1", "qty": 2}])

    assert confirmation.answer == {"orderId": "4711", "status": "CONFIRMED", "lines": 1}
    [record] = cpimock_tenant.messages(iflow="orders", status="COMPLETED")
    assert record.message_guid == confirmation.mpl_id
    assert record.application_message_id == "4711"
    assert record.service_key == "s4-sender"
    assert json.loads(record.request_body) == {"orderId": "4711", "items": [{"sku": "A-1", "qty": 2}]}


def test_basic_credentials_of_a_clientid_secret_key(cpimock_tenant, cpimock_service_key, connect):
    cpimock_tenant.iflow("/orders", steps=[confirm])
    key = cpimock_service_key("s4-basic", key_type="clientid-secret")
    client = connect(auth=key.basic)

    assert client.send_order("4712", []).answer["status"] == "CONFIRMED"


def test_a_key_without_the_role_is_refused(cpimock_tenant, cpimock_service_key, connect):
    cpimock_tenant.iflow("/orders", steps=[confirm])
    key = cpimock_service_key("no-role", roles=[])
    client = connect(cert=key.cert)

    with pytest.raises(OrderRejected) as refused:
        client.send_order("4713", [])

    assert refused.value.status == 403
    assert cpimock_tenant.messages(iflow="orders")[0].refusal_stage == "authorization"


def test_a_failing_iflow_reaches_the_sender_as_500(cpimock_tenant, connect):
    def broken(message: Message) -> Message:
        raise RuntimeError("mapping failed")

    cpimock_tenant.iflow("/orders", steps=[broken])
    key = cpimock_tenant.demo_key
    client = connect(cert=key.cert)

    with pytest.raises(OrderRejected) as failed:
        client.send_order("4714", [])

    assert failed.value.status == 500
    assert failed.value.mpl_id in str(failed.value)
    # the step's exception is what the fixture would re-raise after the test; here it is expected
    [error] = cpimock_tenant.take_errors()
    assert isinstance(error, RuntimeError)
