"""Real clients against a running tenant's MPL OData API: SAP's own OData V2 client (pyodata) and curl.

pyodata reads ``$metadata`` strictly (every navigation property needs its association) and asks
for JSON; curl asks for nothing and so gets CPI's default, Atom.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner
from lxml import etree

from cpimock.cli import main
from cpimock.message import Message
from cpimock.testing import TenantKey, ThreadedTenant

pyodata = pytest.importorskip("pyodata", reason="the PyPI package pyodata is not installed")


def order(message: Message) -> Message:
    message.log.add_custom_header("po_number", message.body.decode())
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


def test_saps_pyodata_client_reads_metadata_entities_and_custom_header_properties(tenant: ThreadedTenant) -> None:
    """pyodata, SAP's Python OData V2 client, builds its model from ``$metadata`` and reads the
    entities, ``filterCustomHeaderProperties`` (SAP Help "Query Options"), the
    MessageProcessingLogCustomHeaderProperties set and its ``Log`` navigation, and ``$expand``."""
    tenant.iflow("/orders", steps=[order])
    key = tenant.service_key("s4")
    wanted = send(tenant, key, b"12345")
    send(tenant, key, b"99999")
    refused = requests.post(f"{tenant.url}/http/orders", data=b"x", verify=str(tenant.ca_path), timeout=30)
    assert refused.status_code == 401
    assert len(tenant.messages()) == 3  # written; the 401 is cpimock's record, not CPI's MPL
    session = requests.Session()
    session.cert, session.verify = key.cert, str(tenant.ca_path)
    client = pyodata.Client(f"{tenant.url}/api/v1/", session)

    logs = client.entity_sets.MessageProcessingLogs
    found = logs.get_entities().custom("filterCustomHeaderProperties", "'po_number' eq '12345'").execute()
    assert [entry.MessageGuid for entry in found] == [wanted]
    [entry] = found
    assert (entry.Status, entry.IntegrationArtifact["Id"], entry.LogLevel) == ("COMPLETED", "orders", "INFO")
    assert [(p.Name, p.Value) for p in entry.nav("CustomHeaderProperties").get_entities().execute()] == [
        ("po_number", "12345")
    ]
    props = client.entity_sets.MessageProcessingLogCustomHeaderProperties
    [prop] = props.get_entities().filter("Name eq 'po_number' and Value eq '99999'").execute()
    assert prop.nav("Log").execute().MessageGuid != wanted
    expanded = logs.get_entities().expand("CustomHeaderProperties,AdapterAttributes,Runs").execute()
    assert sorted(p.Value for e in expanded for p in e.CustomHeaderProperties) == ["12345", "99999"]
    assert [list(e.AdapterAttributes) + list(e.Runs) for e in expanded] == [[], []]
    assert logs.get_entities().count().execute() == 2


def test_pyodata_refuses_a_metadata_document_without_associations(tenant: ThreadedTenant) -> None:
    """The twin: the $metadata cpimock served before (navigation properties naming associations
    it did not declare) is refused by the same client, so the test above proves the fix."""
    broken = (
        '<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" '
        'xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" m:DataServiceVersion="2.0">'
        '<Schema Namespace="com.sap.hci.api" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
        '<EntityType Name="MessageProcessingLog"><Key><PropertyRef Name="MessageGuid"/></Key>'
        '<Property Name="MessageGuid" Type="Edm.String" Nullable="true"/>'
        '<NavigationProperty Name="ErrorInformation" Relationship="com.sap.hci.api.MPL_ErrorInformation" '
        'FromRole="MPL" ToRole="ErrorInformation"/></EntityType>'
        '<EntityContainer Name="EntityContainer" m:IsDefaultEntityContainer="true">'
        '<EntitySet Name="MessageProcessingLogs" EntityType="com.sap.hci.api.MessageProcessingLog"/>'
        "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
    with pytest.raises(Exception, match="MPL_ErrorInformation"):
        pyodata.v2.model.MetadataBuilder(broken.encode()).build()
    served = requests.get(f"{tenant.url}/api/v1/$metadata", verify=str(tenant.ca_path), timeout=30)
    assert pyodata.v2.model.MetadataBuilder(served.content).build().entity_sets


@pytest.mark.clients
def test_curl_gets_atom_unless_it_asks_for_json(tenant: ThreadedTenant) -> None:
    """A client that asks for no format gets CPI's default, Atom XML; ``Accept: application/json``
    gets JSON (SAP API Business Hub: JSON with ``$format=json`` or that header)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    tenant.iflow("/orders", steps=[order])
    key = tenant.service_key("s4")
    guid = send(tenant, key, b"4711")
    tenant.messages()
    base = [curl, "-sS", "--cert", str(key.cert_path), "--key", str(key.key_path), "--cacert", str(tenant.ca_path)]
    url = f"{tenant.url}/api/v1/MessageProcessingLogs"
    atom = subprocess.run([*base, "-D", "-", url], capture_output=True, check=True).stdout
    head, _, body = atom.partition(b"\r\n\r\n")
    assert b"content-type: application/atom+xml;type=feed;charset=utf-8" in head.lower()
    feed = etree.fromstring(body)
    assert feed.findtext(".//{http://schemas.microsoft.com/ado/2007/08/dataservices}MessageGuid") == guid
    as_json = subprocess.run([*base, "-H", "Accept: application/json", url], capture_output=True, check=True)
    assert as_json.stdout.startswith(b'{"d": {"results": [{"__metadata"')


def test_a_refused_call_is_in_cpimocks_record_but_not_in_cpis_entity_set(tenant: ThreadedTenant) -> None:
    """A call refused before an iFlow runs leaves no MPL on a real tenant (its load balancer and
    security layer answer it), so the OData API leaves it out by default; `cpimock messages`, the
    monitor and ``cpimockRefusals=include`` still show it."""
    tenant.iflow("/orders", steps=[order])
    key = tenant.service_key("s4")
    send(tenant, key, b"1")
    refused = requests.post(f"{tenant.url}/http/orders", data=b"x", verify=str(tenant.ca_path), timeout=30)
    assert refused.status_code == 401
    guid = refused.headers["Cpimock-Message-Id"]
    tenant.messages()

    def api(path: str, **params: str) -> requests.Response:
        return requests.get(f"{tenant.url}{path}", params=params, cert=key.cert, verify=str(tenant.ca_path), timeout=30)

    assert api("/api/v1/MessageProcessingLogs/$count").text == "1"
    assert api(f"/api/v1/MessageProcessingLogs('{guid}')").status_code == 404
    shown = api(f"/api/v1/MessageProcessingLogs('{guid}')", cpimockRefusals="include", **{"$format": "json"})
    assert (shown.json()["d"]["Status"], shown.json()["d"]["CustomStatus"]) == ("FAILED", "REFUSED")
    assert api("/api/v1/MessageProcessingLogs/$count", cpimockRefusals="include").text == "2"
    assert guid in {m["guid"] for m in api("/monitor/api/messages").json()["messages"]}
    listed = CliRunner().invoke(main, ["messages", "--json", "--workspace", str(tenant.root)])
    assert listed.exit_code == 0, listed.output
    assert guid in {m["guid"] for m in json.loads(listed.output)["messages"]}
