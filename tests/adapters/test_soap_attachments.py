"""SOAP with attachments and MTOM: the multipart reader, and attachments reaching the steps over TLS."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cpimock.adapters.soap.attachments import TooLarge, read_related
from cpimock.adapters.soap.protocol import SoapError, parse_content_type
from tests.e2e_support import add_iflow, write_step
from tests.serving import Running, serving

ENVELOPE = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<o:Order xmlns:o="urn:acme"><Scan href="cid:scan.pdf"/></o:Order></soap:Body></soap:Envelope>'
)
BOUNDARY = "MIME_boundary_4711"


def multipart(parts: list[tuple[dict[str, str], bytes]], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for headers, data in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
        out += f"--{boundary}\r\n".encode() + head + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def swa(*attachments: tuple[str | None, bytes], envelope: bytes = ENVELOPE) -> bytes:
    parts = [({"Content-Type": "text/xml; charset=utf-8", "Content-ID": "<root>"}, envelope)]
    for cid, data in attachments:
        headers = {"Content-Type": "application/pdf", "Content-Transfer-Encoding": "binary"}
        if cid is not None:
            headers["Content-ID"] = f"<{cid}>"
        parts.append((headers, data))
    return multipart(parts)


SWA_TYPE = f'multipart/related; type="text/xml"; start="<root>"; boundary="{BOUNDARY}"'


def read(data: bytes, content_type: str = SWA_TYPE, *, envelope: int = 10_000, attachments: int = 10_000):  # type: ignore[no-untyped-def]
    parsed = parse_content_type(content_type)
    assert parsed is not None
    return read_related(data, parsed, max_envelope=envelope, max_attachments=attachments, body_mb=1, attachment_mb=2)


def test_soap_with_attachments_gives_the_envelope_and_the_attachments_by_content_id() -> None:
    related = read(swa(("scan.pdf", b"%PDF-1.7 \x00\xff"), ("note.txt", b"hello")))
    assert related.envelope == ENVELOPE
    assert related.envelope_type == "text/xml; charset=utf-8"
    assert [(name, part.data) for name, part in related.named()] == [
        ("scan.pdf", b"%PDF-1.7 \x00\xff"),
        ("note.txt", b"hello"),
    ]


def test_duplicate_content_ids_get_a_guid_and_missing_ones_become_one_as_on_cpi() -> None:
    names = [name for name, _ in read(swa(("a", b"1"), ("a", b"2"), ("b", b"3"), (None, b"4"))).named()]
    assert names[0] == "a"
    assert names[1].startswith("a_")
    assert len(names[1]) == len("a_") + 36
    assert names[2] == "b"
    assert len(names[3]) == 36


def test_mtom_names_the_envelope_type_in_its_root_part() -> None:
    root = {"Content-Type": 'application/xop+xml; charset=UTF-8; type="application/soap+xml"', "Content-ID": "<r>"}
    data = multipart([(root, ENVELOPE), ({"Content-ID": "<x>", "Content-Transfer-Encoding": "base64"}, b"aGk=")])
    content_type = f'multipart/related; type="application/xop+xml"; start="<r>"; boundary="{BOUNDARY}"'
    related = read(data, content_type)
    assert related.envelope_type == "application/soap+xml; charset=UTF-8"
    assert related.named()[0][1].data == b"hi"


def test_the_envelope_and_the_attachments_have_limits_of_their_own() -> None:
    with pytest.raises(TooLarge) as envelope:
        read(swa(), envelope=len(ENVELOPE) - 1)
    assert not envelope.value.attachments
    with pytest.raises(TooLarge) as attachments:
        read(swa(("a", b"x" * 600), ("b", b"x" * 600)), attachments=1000)
    assert attachments.value.attachments
    assert read(swa(("a", b"x" * 500), ("b", b"x" * 500)), attachments=1000).attachments


@pytest.mark.parametrize(
    ("data", "content_type", "said"),
    [
        (swa(), 'multipart/related; type="text/xml"', "no usable boundary"),
        (swa(("a", b"1"))[: -len(f"--{BOUNDARY}--\r\n")], SWA_TYPE, "ends without its closing boundary"),
        (b"no parts at all", SWA_TYPE, "has no parts between its boundaries"),
        (swa(), SWA_TYPE.replace('"<root>"', '"<other>"'), "no part with the start Content-ID <other>"),
        (multipart([({"Content-Transfer-Encoding": "x-uuencode"}, b"x")]), SWA_TYPE, "Content-Transfer-Encoding"),
    ],
)
def test_what_is_not_a_multipart_request_is_a_client_fault(data: bytes, content_type: str, said: str) -> None:
    with pytest.raises(SoapError, match=said) as caught:
        read(data, content_type)
    assert caught.value.code == "client"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.binary(max_size=80) | st.sampled_from([b"--b", b"--b--", b"\r\n", b"\r\n\r\n", b"Content-ID: <a>"])),
    st.sampled_from(["b", "", "a b", "x" * 71]),
)
def test_any_bytes_give_a_request_or_a_soap_error(pieces: list[bytes], boundary: str) -> None:
    parsed = parse_content_type(f'multipart/related; boundary="{boundary}"')
    assert parsed is not None
    try:
        read_related(b"".join(pieces), parsed, max_envelope=1000, max_attachments=1000, body_mb=1, attachment_mb=1)
    except SoapError:
        pass


def test_nested_multiparts_are_opaque_attachments_not_a_recursion() -> None:
    inner = b"".join(
        f"--n{i}\r\nContent-Type: multipart/related; boundary=n{i + 1}\r\n\r\n".encode() for i in range(3000)
    )
    related = read(swa(("nested", inner)), attachments=len(inner))
    assert related.named()[0][1].data == inner


# -- served -------------------------------------------------------------------------------------------

STEPS = """
def attachments(message):
    names = ",".join(f"{name}={len(a.content)}" for name, a in sorted(message.attachments.items()))
    message.body = f'<r:Got xmlns:r="urn:r">{names}</r:Got>'
    return message
"""


@pytest.fixture
async def running(workspace: Path) -> AsyncIterator[Running]:
    steps = write_step(workspace, "attachment_steps.py", STEPS)
    add_iflow(workspace, "scan", "/scan", [f"{steps}:attachments"], adapter="soap", max_attachment_mb=1)
    async with serving(workspace, client_auth="required") as r:
        yield r


async def post(running: Running, body: bytes, content_type: str = SWA_TYPE) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type, "SOAPAction": '""'}
    async with running.session(running.extract("demo-sender")) as session:
        async with session.post(f"{running.url}/cxf/scan", data=io.BytesIO(body), headers=headers) as answer:
            return answer.status, await answer.read()


async def test_attachments_reach_the_steps_by_their_content_id(running: Running) -> None:
    pdf = base64.b64decode("JVBERi0xLjcKJcfsj6IK")
    status, body = await post(running, swa(("scan.pdf", pdf), ("scan.pdf", b"second")))
    assert status == 200
    got = etree.fromstring(body).findtext(".//{urn:r}Got") or ""
    first, second = got.split(",")
    assert first == f"scan.pdf={len(pdf)}"
    assert second.startswith("scan.pdf_")
    assert second.endswith("=6")


async def test_attachments_over_the_channels_limit_are_refused_with_413(running: Running) -> None:
    status, body = await post(running, swa(("big", b"x" * (1024 * 1024 + 1))))
    assert status == 413
    assert "the size of the attachments exceeds the 1 MB limit of integration flow scan (max_attachment_mb)" in (
        body.decode()
    )
    [record] = await running.records()
    assert record.refusal_stage == "http"
    assert (await post(running, swa(("small", b"x" * 1024))))[0] == 200  # the twin within the limit


async def test_a_broken_multipart_request_is_a_client_fault(running: Running) -> None:
    status, body = await post(running, b"--nothing--")
    assert status == 500
    assert etree.fromstring(body).findtext(".//faultcode") == "soap:Client"
