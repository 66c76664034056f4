"""ITApiFactory's services from the workspace's files: secure store, value mappings, partner directory, keystore."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock.message import Message
from cpimock.steps.groovy.settings import (
    SettingsError,
    WorkspaceSettings,
    parse_partner_directory,
    parse_secure_store,
    parse_value_mappings,
    read_value_mapping_export,
)
from cpimock.steps.pipeline import StepError

from .groovy_support import requires_groovy, run, write

VALUE_MAPPING_XML = """<?xml version="1.0" encoding="UTF-8"?>
<vm version="2.0">
  <group id="g1">
    <entry><agency>S4</agency><schema>Plant</schema><value>1000</value></entry>
    <entry><agency>WMS</agency><schema>Site</schema><value>HAMBURG</value></entry>
  </group>
  <group id="g2">
    <entry><agency>S4</agency><schema>Plant</schema><value>2000</value></entry>
    <entry isDefault="true"><agency>WMS</agency><schema>Site</schema><value>CENTRAL</value></entry>
  </group>
</vm>
"""


def workspace_files(root: Path) -> None:
    write(
        root,
        "secure-store.toml",
        """
        [ERP_USER]
        user = "s4user"
        password = "s3cret"

        [API_KEY]
        password = "k-123"
    """,
    )
    write(
        root,
        "value-mappings.toml",
        """
        [[mappings]]
        source = { agency = "S4", identifier = "Country" }
        target = { agency = "SF", identifier = "Country" }
        values = { DE = "Germany", FR = "France" }
        default = "Unknown"
    """,
    )
    root.joinpath("value-mappings").mkdir(exist_ok=True)
    with zipfile.ZipFile(root / "value-mappings" / "Plants.zip", "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("value_mapping.xml", VALUE_MAPPING_XML)
    write(root, "pd/acme.xsl", "<xsl:stylesheet/>")
    write(
        root,
        "partner-directory.toml",
        """
        [ACME]
        parameters = { ReceiverURL = "https://acme.example/orders" }
        binary = { Mapping = { file = "pd/acme.xsl", content_type = "xsl" } }
        alternative_ids = [{ agency = "SAP", scheme = "GLN", id = "4000001000002" }]
        users = ["acme-sender"]
    """,
    )


@requires_groovy
async def test_scripts_read_the_secure_store_value_mappings_and_partner_directory(workspace: Path) -> None:
    workspace_files(workspace)
    write(
        workspace,
        "iflows/services.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.Message
        import com.sap.it.api.ITApiFactory
        import com.sap.it.api.securestore.SecureStoreService
        import com.sap.it.api.securestore.exception.SecureStoreException
        import com.sap.it.api.mapping.ValueMappingApi
        import com.sap.it.api.pd.PartnerDirectoryService
        import com.sap.it.api.pd.BinaryData
        import com.sap.it.api.keystore.KeystoreService

        def Message processData(Message message) {
            def store = ITApiFactory.getService(SecureStoreService.class, null)
            def credential = store.getUserCredential("ERP_USER")
            def pair = "${credential.getUsername()}:${new String(credential.getPassword())}"
            message.setHeader("Authorization", "Basic " + pair.bytes.encodeBase64())
            message.setProperty("apiKey", new String(store.getUserCredential("API_KEY").getPassword()))
            try {
                store.getUserCredential("MISSING")
            } catch (SecureStoreException e) {
                message.setProperty("missing", e.getMessage())
            }
            def vm = ITApiFactory.getApi(ValueMappingApi.class, null)
            message.setProperty("country", vm.getMappedValue("S4", "Country", "DE", "SF", "Country"))
            message.setProperty("back", vm.getMappedValue("SF", "Country", "France", "S4", "Country"))
            message.setProperty("fallback", vm.getMappedValue("S4", "Country", "XX", "SF", "Country"))
            message.setProperty("plant", vm.getMappedValue("S4", "Plant", "1000", "WMS", "Site"))
            message.setProperty("unknownPlant", vm.getMappedValue("S4", "Plant", "9999", "WMS", "Site"))
            def pd = ITApiFactory.getApi(PartnerDirectoryService.class, null)
            def pid = pd.getPartnerId("SAP", "GLN", "4000001000002")
            message.setProperty("pid", pid)
            message.setProperty("url", pd.getParameter("ReceiverURL", pid, String.class))
            def xsl = pd.getParameter("Mapping", pid, BinaryData.class)
            message.setProperty("xsl", new String(xsl.getData()) + " " + xsl.getContentType())
            message.setProperty("partnerOfUser", pd.getPartnerIdOfAuthorizedUser("acme-sender"))
            def ks = ITApiFactory.getService(KeystoreService.class, null)
            message.setProperty("serverCert", ks.getCertificate("server").getSubjectX500Principal().getName())
            message.setProperty("serverKey", ks.getKey("server").getAlgorithm())
            return message
        }
    """,
    )
    result = await run(workspace, "iflows/services.groovy", Message(b""))
    assert result.headers["Authorization"] == "Basic czR1c2VyOnMzY3JldA=="
    p = result.properties
    assert p["apiKey"] == "k-123"
    assert "No credential is deployed under the alias 'MISSING'" in p["missing"]
    assert (p["country"], p["back"], p["fallback"]) == ("Germany", "FR", "Unknown")
    assert (p["plant"], p["unknownPlant"]) == ("HAMBURG", "CENTRAL")
    assert (p["pid"], p["url"], p["partnerOfUser"]) == ("ACME", "https://acme.example/orders", "ACME")
    assert p["xsl"] == "<xsl:stylesheet/> xsl"
    assert "CN=" in p["serverCert"]
    assert p["serverKey"] == "RSA"


@requires_groovy
async def test_a_changed_secure_store_is_seen_by_the_next_call(workspace: Path) -> None:
    write(
        workspace,
        "iflows/key.groovy",
        """
        import com.sap.it.api.ITApiFactory
        import com.sap.it.api.securestore.SecureStoreService
        def processData(message) {
            def store = ITApiFactory.getService(SecureStoreService.class, null)
            message.setBody(new String(store.getUserCredential("API_KEY").getPassword()))
            message
        }
    """,
    )
    with pytest.raises(StepError, match="No credential is deployed under the alias 'API_KEY'"):
        await run(workspace, "iflows/key.groovy")
    write(workspace, "secure-store.toml", '[API_KEY]\npassword = "first"\n')
    assert (await run(workspace, "iflows/key.groovy")).body == b"first"
    write(workspace, "secure-store.toml", '[API_KEY]\npassword = "second, longer"\n')
    assert (await run(workspace, "iflows/key.groovy")).body == b"second, longer"


def test_the_settings_parse_and_keep_secrets_out_of_repr(tmp_path: Path) -> None:
    workspace_files(tmp_path)
    settings, key = WorkspaceSettings(tmp_path).current()
    assert settings.secure_store["ERP_USER"] == {"user": "s4user", "password": "s3cret", "properties": {}}
    assert "s3cret" not in repr(settings)
    assert ("S4", "Plant", "2000", False) in settings.value_mappings[-1]
    assert settings.partners["ACME"]["binary"]["Mapping"] == [b"<xsl:stylesheet/>", "xsl"]
    assert WorkspaceSettings(tmp_path).current()[1] == key


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"A": "x"}, r"A: must be a table"),
        ({"A": {"pasword": "x"}}, r"A\.pasword: unknown key"),
        ({"A": {"password": 5}}, r"A\.password: must be a string"),
        ({"A": {}}, r"A: give it a password"),
    ],
)
def test_a_broken_secure_store_names_the_alias_and_the_fix(data: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError, match=rf"^secure-store\.toml: {problem}"):
        parse_secure_store(data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"mapping": []}, r"mapping: unknown key"),
        ({"mappings": [{"source": {"agency": "A"}}]}, r"mappings\[0\]\.source: must be"),
        (
            {
                "mappings": [
                    {
                        "source": {"agency": "A", "identifier": "B"},
                        "target": {"agency": "C", "identifier": "D"},
                        "values": {"x": 5},
                    }
                ]
            },
            r"mappings\[0\]\.values\.x: must be a string",
        ),
    ],
)
def test_a_broken_value_mapping_names_the_key(data: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError, match=rf"^value-mappings\.toml: {problem}"):
        parse_value_mappings(data)


def test_a_broken_partner_directory_names_the_partner(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"ACME\.binary\.X: cannot read nope\.xsl"):
        parse_partner_directory({"ACME": {"binary": {"X": {"file": "nope.xsl", "content_type": "xsl"}}}}, tmp_path)
    with pytest.raises(SettingsError, match=r"ACME\.users: must be a list of strings"):
        parse_partner_directory({"ACME": {"users": "one"}}, tmp_path)


def test_a_value_mapping_export_with_a_dtd_or_without_its_xml_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<!DOCTYPE vm [<!ENTITY x "y">]><vm><group id="1"/></vm>')
    with pytest.raises(SettingsError, match="document type declaration"):
        read_value_mapping_export(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other.xml", "<a/>")
    with pytest.raises(SettingsError, match=r"no value_mapping\.xml inside"):
        read_value_mapping_export(empty)
    good = tmp_path / "value_mapping.xml"
    good.write_text(VALUE_MAPPING_XML)
    assert len(read_value_mapping_export(good)) == 2


toml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)
toml_tables = st.dictionaries(st.text(max_size=8), toml_values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(toml_tables)
def test_any_table_parses_or_is_refused_with_a_settings_error(data: dict[str, object]) -> None:
    for parse in (parse_secure_store, parse_value_mappings):
        try:
            parse(data)  # type: ignore[operator]
        except SettingsError:
            pass
    try:
        parse_partner_directory(data, Path("/nonexistent"))
    except SettingsError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_value_mapping_file_parses_or_is_refused_with_a_settings_error(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "value_mapping.xml"
        path.write_bytes(b"<vm><group id='1'><entry>" + data + b"</entry></group></vm>")
        try:
            read_value_mapping_export(path)
        except SettingsError:
            pass
