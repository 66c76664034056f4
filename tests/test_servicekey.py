"""The service-key JSON: the BTP shapes cpimock writes, the shapes it reads, the files it exports."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from cpimock.errors import PkiError, ServiceKeyError
from cpimock.pki.authority import Issued
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.keys import generate_key, key_to_pem, now
from cpimock.pki.servicekey import build_service_key, new_clientid, new_secret, normalise_pem, parse_service_key
from cpimock.pki.store import Pki

CLIENTID_RE = re.compile(r"^sb-[0-9a-f-]{36}!b\d+\|it-rt-mytenant!b\d+$")
STAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture
def issued(pki: Pki) -> Issued:
    return pki.issue_client(_name("sender"), 30)


def _key(issued: Issued, **kw: object) -> dict[str, object]:
    return build_service_key(
        key_type="certificate",
        clientid=new_clientid("mytenant"),
        url="https://localhost:8443",
        tokenurl="https://localhost:8443/oauth/token",
        issued=issued,
        **kw,  # type: ignore[arg-type]
    )


def test_certificate_key_has_the_btp_shape(issued: Issued) -> None:
    data = _key(issued)
    oauth = data["oauth"]
    assert isinstance(oauth, dict)
    assert list(oauth) == ["clientid", "certificate", "key", "url", "tokenurl", "certificatedetails"]
    assert CLIENTID_RE.match(oauth["clientid"])
    assert oauth["certificate"].count("-----BEGIN CERTIFICATE-----") == 3
    assert oauth["key"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    details = oauth["certificatedetails"]
    assert set(details) == {"issuerdn", "subjectdn", "validuntil", "serialnumber"}
    assert STAMP_RE.match(details["validuntil"])
    assert details["serialnumber"] == f"0x{issued.cert.serial_number:x}"
    assert details["issuerdn"] == "CN=cpimock Client CA,OU=cpimock Clients,O=cpimock,L=local,C=DE"
    text = json.dumps(data)
    assert "\\n-----BEGIN CERTIFICATE-----\\n" in text  # one string, line breaks escaped by JSON


def test_clientid_secret_key_has_a_secret_and_no_certificate() -> None:
    data = build_service_key(
        key_type="clientid-secret", clientid=new_clientid("mytenant"), url="u", tokenurl="t", clientsecret=new_secret()
    )
    oauth = data["oauth"]
    assert list(oauth) == ["clientid", "clientsecret", "url", "createdate", "tokenurl"]
    assert re.fullmatch(r"[0-9a-f-]{36}\$[A-Za-z0-9_-]{43}=", oauth["clientsecret"])
    assert STAMP_RE.match(oauth["createdate"])


def test_external_key_has_no_private_key_and_a_pinning_flag(issued: Issued) -> None:
    external = Issued(issued.cert, None, ())
    data = build_service_key(
        key_type="certificate_external", clientid="c", url="u", tokenurl="t", issued=external, pinning=False
    )
    oauth = data["oauth"]
    assert "key" not in oauth
    assert oauth["certificate-pinning"] is False
    assert oauth["certificate"].count("BEGIN CERTIFICATE") == 1
    key = parse_service_key(json.dumps(data), "k.json")
    assert key.key_type == "certificate_external"


def test_parse_round_trip(issued: Issued) -> None:
    key = parse_service_key(json.dumps(_key(issued)), "k.json")
    assert key.key_type == "certificate"
    assert next(c.serial_number for c in key.certificates) == issued.cert.serial_number
    assert len(key.certificates) == 3


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda o: json.dumps(o["oauth"]), id="bare object without oauth"),
        pytest.param(lambda o: json.dumps({"credentials": o}), id="CF API credentials wrapper"),
        pytest.param(lambda o: "Getting key k for service instance i as me...\n\n" + json.dumps(o), id="cf CLI"),
        pytest.param(lambda o: json.dumps(o, indent=2).replace("\\n", "\n"), id="real line breaks in strings"),
        pytest.param(lambda o: json.dumps(o).replace("\\n", " "), id="PEM flattened by a form field"),
        pytest.param(lambda o: json.dumps(o).replace("\\n", "\\\\n"), id="double-escaped newlines"),
        pytest.param(
            lambda o: json.dumps({"oauth": {k.replace("clientid", "clientId"): v for k, v in o["oauth"].items()}}),
            id="camelCase field names",
        ),
    ],
)
def test_parse_accepts_what_people_paste(issued: Issued, wrap: object) -> None:
    text = wrap(_key(issued))  # type: ignore[operator]
    key = parse_service_key(text, "k.json")
    assert key.leaf is not None
    assert key.leaf.serial_number == issued.cert.serial_number
    assert key.key is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"oauth": {"clientid": "x",', r"k\.json: not valid JSON .*download"),
        ('{"uaa": {"clientid": "x"}}', r'k\.json: no "oauth" object'),
        ('["oauth"]', r"k\.json: a service key is a JSON object"),
        ('{"oauth": {"clientid": "x"}}', r"neither certificate nor clientsecret"),
    ],
)
def test_parse_rejects_with_file_and_fix(text: str, expected: str) -> None:
    with pytest.raises(ServiceKeyError, match=expected):
        parse_service_key(text, "k.json")


def test_broken_base64_names_the_field(issued: Issued) -> None:
    data = _key(issued)
    oauth = data["oauth"]
    assert isinstance(oauth, dict)
    oauth["certificate"] = oauth["certificate"].replace("M", "*", 1)
    with pytest.raises(
        ServiceKeyError, match=r"k\.json: oauth\.certificate: the CERTIFICATE block is not valid base64"
    ):
        parse_service_key(json.dumps(data), "k.json")


def test_key_of_another_certificate_is_refused(issued: Issued) -> None:
    data = _key(issued)
    oauth = data["oauth"]
    assert isinstance(oauth, dict)
    oauth["key"] = key_to_pem(generate_key()).decode()
    with pytest.raises(ServiceKeyError, match=r"oauth\.key does not belong to the first certificate"):
        parse_service_key(json.dumps(data), "k.json")


@pytest.mark.parametrize(
    "text",
    ["-----BEGIN CERTIFICATE-----\nMIIB", "-----BEGIN CERTIFIC!TE-----\nMIIB\n-----END CERTIFIC!TE-----\n"],
)
def test_mangled_pem_is_refused(text: str) -> None:
    with pytest.raises(ServiceKeyError, match="no matching -----END"):
        normalise_pem(text, "f")


def test_export_writes_chain_key_and_cas(issued: Issued, tmp_path: Path) -> None:
    key = parse_service_key(json.dumps(_key(issued)), "k.json")
    files, warnings = export_files(key, pfx_password="pw")
    assert [f.name for f in files] == ["cert.pem", "key.key", "ca.pem", "cert.pfx"]
    assert warnings == []
    written = write_files(tmp_path / "out", files)
    assert (tmp_path / "out" / "key.key").read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert os.stat(tmp_path / "out" / "key.key").st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "out" / "cert.pfx").st_mode & 0o777 == 0o600
    assert len(written) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ca.pem", "cert.pem", "cert.pfx", "key.key"]


def test_export_refuses_an_expired_certificate(pki: Pki) -> None:
    old = pki.issue_client(_name("old"), 1, not_before=now() - dt.timedelta(days=3))
    key = parse_service_key(json.dumps(_key(old)), "k.json")
    with pytest.raises(ServiceKeyError, match=r"k\.json: the certificate expired on .*renew"):
        export_files(key)


def test_export_warns_when_the_chain_lacks_its_root(issued: Issued) -> None:
    partial = Issued(issued.cert, issued.key, issued.chain[:1])
    key = parse_service_key(json.dumps(_key(partial)), "k.json")
    files, warnings = export_files(key)
    assert any("not at a root" in w for w in warnings)
    assert [f.name for f in files] == ["cert.pem", "key.key", "ca.pem"]


def test_pfx_without_password_is_refused(issued: Issued) -> None:
    key = parse_service_key(json.dumps(_key(issued)), "k.json")
    with pytest.raises(ServiceKeyError, match="--password: keytool and STRUST cannot read"):
        export_files(key, pfx_password="")


def test_unwritable_folder_leaves_nothing(issued: Issued, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits; a file in the way of the folder fails for everyone
        blocked = tmp_path / "file"
        blocked.write_text("x")
        target = blocked / "out"
    else:
        blocked = tmp_path / "ro"
        blocked.mkdir(mode=0o500)
        target = blocked
    files, _ = export_files(parse_service_key(json.dumps(_key(issued)), "k.json"))
    with pytest.raises(ServiceKeyError, match=r"--out .*: cannot (create|write)"):
        write_files(target, files)
    assert not target.exists() or list(target.iterdir()) == []


def test_csr_with_bad_signature_is_refused(pki: Pki) -> None:
    from cryptography.hazmat.primitives import hashes, serialization

    csr = x509.CertificateSigningRequestBuilder().subject_name(_name("s4")).sign(generate_key(), hashes.SHA256())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip a bit of the signature
    with pytest.raises(PkiError, match="signature does not verify"):
        pki.sign_csr(bytes(der), 30, "s4.csr")
