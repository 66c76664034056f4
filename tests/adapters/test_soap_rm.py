"""SOAP (SAP RM): the message id S/4 puts on the wire, its normal form, and the QoS parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpimock.adapters.soap.envelope import Envelope, read_envelope
from cpimock.adapters.soap.protocol import SoapError
from cpimock.adapters.soap.rm import check_one_way, normalize_message_id, read_rm
from cpimock.adapters.soap.wsdl import WsdlError, generic_wsdl
from cpimock.adapters.soap.wsdl_operations import operations_of

SAP_NS = "http://www.sap.com/webas/640/soap/features/messageId/"
GUID = "00163ec1-abf4-1eeb-acbf-25ab61ffa285"
PAYLOAD = (
    '<n0:OutboundDeliveryExecutionRequest xmlns:n0="http://sap.com/xi/SAPGlobal20/Global">'
    "<MessageHeader><ID>00163EC0BE851EDBB6C27C235FB1C04C</ID></MessageHeader></n0:OutboundDeliveryExecutionRequest>"
)


def proxy_call(header: str = f"uuid:{GUID}", extra: str = "") -> Envelope:
    """A one-way call as an S/4 ABAP proxy sends it through a SOAMANAGER logical port with SAP RM."""
    sap = f'<msgID:messageId xmlns:msgID="{SAP_NS}">{header}</msgID:messageId>' if header else ""
    data = (
        '<?xml version="1.0" encoding="UTF-8"?><soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap-env:Header>{sap}{extra}</soap-env:Header><soap-env:Body>{PAYLOAD}</soap-env:Body></soap-env:Envelope>"
    )
    return read_envelope(
        data.encode(), "text/xml; charset=utf-8", '"http://sap.com/xi/WebService/soap1.1"', addressing=True
    )


def test_the_sap_message_id_header_is_the_message_id() -> None:
    request = read_rm(proxy_call())
    assert request.message_id is not None
    assert (request.message_id.sent, request.message_id.normal) == (f"uuid:{GUID}", GUID)
    assert request.message_id.source == "sap-header"
    assert request.quality_of_service == "ExactlyOnce"
    assert request.adapter_headers() == {
        "SapMessageIdEx": GUID,
        "SapMessageId": GUID,
        "SapPlainSoapQoS": "ExactlyOnce",
    }


@pytest.mark.parametrize(
    "sent",
    [
        f"uuid:{GUID}",
        f"urn:uuid:{GUID}",
        f"UUID:{GUID.upper()}",
        GUID.replace("-", "").upper(),
        f"{{{GUID}}}",
        f"  uuid:{GUID}\n",
    ],
)
def test_the_spellings_of_one_guid_have_one_normal_form(sent: str) -> None:
    assert normalize_message_id(sent) == GUID


def test_ids_that_are_not_guids_are_kept_as_sent() -> None:
    assert normalize_message_id("uuid:ORDER-4711") == "ORDER-4711"
    assert normalize_message_id("Order-4711") == "Order-4711"


@pytest.mark.parametrize("sent", ["", "uuid:", "a b", "x" * 256, "uuid:\x01", "tab\there"])
def test_things_that_are_not_ids_are_refused(sent: str) -> None:
    with pytest.raises(ValueError, match="not a message id"):
        normalize_message_id(sent)


def test_the_query_carries_id_and_qos_for_exactly_once_in_order() -> None:
    query = {"MessageId": GUID.replace("-", ""), "QualityOfService": "ExactlyOnceInOrder", "QueueId": "DELIVERY_0815"}
    request = read_rm(proxy_call(header=""), query)
    assert request.message_id is not None
    assert (request.message_id.normal, request.message_id.source) == (GUID, "query")
    assert request.adapter_headers() == {
        "SapMessageIdEx": GUID,
        "SapMessageId": GUID,
        "SapPlainSoapQoS": "ExactlyOnceInOrder",
        "SapPlainSoapQueueId": "DELIVERY_0815",
    }
    same = read_rm(proxy_call(), query)
    assert same.message_id is not None
    assert same.message_id.source == "sap-header"


def test_ws_addressing_message_id_is_the_fallback() -> None:
    wsa = f'<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:uuid:{GUID}</wsa:MessageID>'
    request = read_rm(proxy_call(header="", extra=wsa))
    assert request.message_id is not None
    assert (request.message_id.normal, request.message_id.source) == (GUID, "ws-addressing")


def test_a_request_without_an_id_is_refused_unless_allowed() -> None:
    with pytest.raises(SoapError, match="has no message id") as caught:
        read_rm(proxy_call(header=""))
    assert caught.value.code == "client"
    request = read_rm(proxy_call(header=""), require_message_id=False)
    assert (request.message_id, request.adapter_headers()) == (None, {})


@pytest.mark.parametrize(
    ("header", "extra", "query", "match"),
    [
        ("uuid: not an id", "", {}, "not a message id"),
        (f"uuid:{GUID}", f'<m:messageId xmlns:m="{SAP_NS}">uuid:{GUID}</m:messageId>', {}, "two SAP messageId"),
        ("<x>1</x>", "", {}, "holds elements"),
        (f"uuid:{GUID}", "", {"MessageId": "00000000-0000-0000-0000-000000000000"}, "differ"),
        (f"uuid:{GUID}", "", {"QualityOfService": "BestEffort"}, "use ExactlyOnce or ExactlyOnceInOrder"),
        (f"uuid:{GUID}", "", {"QualityOfService": "ExactlyOnceInOrder"}, "needs a QueueId"),
        (f"uuid:{GUID}", "", {"QualityOfService": "ExactlyOnceInOrder", "QueueId": "a queue"}, "not a queue name"),
    ],
    ids=["bad-id", "two-headers", "element-content", "header-query-differ", "qos", "eoio-without-queue", "bad-queue"],
)
def test_ids_and_qos_that_cannot_be_read_are_refused(
    header: str, extra: str, query: dict[str, str], match: str
) -> None:
    with pytest.raises(SoapError, match=match) as caught:
        read_rm(proxy_call(header=header, extra=extra), query)
    assert caught.value.code == "client"


def test_a_queue_id_without_in_order_delivery_is_ignored() -> None:
    request = read_rm(proxy_call(), {"QueueId": "Q1"})
    assert (request.quality_of_service, request.queue_id) == ("ExactlyOnce", None)


def test_only_one_way_wsdls_serve_a_sap_rm_channel() -> None:
    check_one_way(operations_of(generic_wsdl("Deliveries", "https://h/cxf/d", one_way=True)))
    with pytest.raises(WsdlError, match="one-way WSDLs only"):
        check_one_way(operations_of(generic_wsdl("Deliveries", "https://h/cxf/d")))


@given(st.text(max_size=300) | st.sampled_from(["uuid:uuid:x", "urn:uuid:uuid:" + GUID, "{" + GUID]))
def test_any_text_normalizes_or_is_refused_with_value_error(text: str) -> None:
    try:
        normal = normalize_message_id(text)
    except ValueError:
        return
    assert normal == normalize_message_id(normal)
