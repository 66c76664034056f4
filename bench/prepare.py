"""Everything the benchmark needs before a server starts: tools, the workspace, the certificates.

Tools are installed on first use from the registries the project reaches (Debian, npm, PyPI);
everything generated lives in ``bench/.work/`` (git-ignored). All servers get the same PKI:
the one of a fresh cpimock workspace (root CA -> server certificate; root CA -> client CA ->
client certificate of the service key ``demo-sender``, RSA 2048), converted to what each
server reads (PEM for nginx, aiohttp, mountebank, pytest-httpserver; PKCS#12 for WireMock).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
NODE_MODULES = WORK / "node_modules"
LOADGEN = WORK / "loadgen"
PATH = "/http/bench/echo"  # the same path on every server; cpimock's iFlow address is /bench/echo
IDOC_PATH = "/cxf/bench/idoc"  # W6: cpimock's IDoc channel (adapter = "idoc", address /bench/idoc)
IDOC_CONTENT_TYPE = "text/xml; charset=utf-8"
GROOVY_PATH = "/http/bench/groovy"  # W7: the echo as a Groovy step (bench/iflows/echo.groovy)
STORE_PASSWORD = "benchpass"


class BenchError(Exception):
    """A setup or run failure that the user can act on; run.py prints it as one line."""


def run(cmd: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{what} failed ({' '.join(cmd[:4])} ...): {' | '.join(tail)}")
    return proc


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- tools


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError(f"install {' '.join(packages)} (Debian packages); this user cannot run apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"installing {' '.join(packages)} with apt-get")
    first = subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, text=True, env=env)
    if first.returncode != 0:
        run(["apt-get", "update", "-q"], "apt-get update", env=env)
        run(["apt-get", "install", "-y", "-q", *packages], f"apt-get install {' '.join(packages)}", env=env)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def ensure_nginx() -> str:
    if nginx_binary() is None or not Path("/usr/lib/nginx/modules/ngx_http_echo_module.so").exists():
        _apt_install(["nginx-light", "libnginx-mod-http-echo"])
    binary = nginx_binary()
    if binary is None:
        raise BenchError("nginx is not installed and apt-get did not install it; run apt-get install nginx-light")
    return binary


def ensure_loadgen() -> Path:
    """Compile bench/loadgen.c (gcc and OpenSSL headers, installed if missing)."""
    source = BENCH / "loadgen.c"
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= source.stat().st_mtime:
        return LOADGEN
    if not shutil.which("gcc") or not Path("/usr/include/openssl/ssl.h").exists():
        _apt_install(["gcc", "libc6-dev", "libssl-dev"])
    WORK.mkdir(parents=True, exist_ok=True)
    partial = LOADGEN.with_name(f"loadgen.{os.getpid()}")
    run(["gcc", "-O2", "-Wall", "-o", str(partial), str(source), "-lssl", "-lcrypto"], "compiling bench/loadgen.c")
    partial.replace(LOADGEN)  # atomic: a concurrent run never sees half a binary
    return LOADGEN


def ensure_npm_peers() -> None:
    if (NODE_MODULES / "wiremock").is_dir() and (NODE_MODULES / "mountebank").is_dir():
        return
    if not shutil.which("npm"):
        _apt_install(["nodejs", "npm"])
    log("installing wiremock and mountebank with npm into bench/.work")
    run(
        ["npm", "install", "--prefix", str(WORK), "--no-audit", "--no-fund", "wiremock@3", "mountebank@2"],
        "npm install wiremock mountebank",
    )


def ensure_java() -> str:
    java = shutil.which("java")
    if java is None:
        _apt_install(["openjdk-17-jre-headless"])
        java = shutil.which("java")
    if java is None:
        raise BenchError("java is not installed; run apt-get install openjdk-17-jre-headless")
    return java


def ensure_pytest_httpserver() -> None:
    probe = subprocess.run([sys.executable, "-c", "import pytest_httpserver"], capture_output=True)
    if probe.returncode != 0:
        log("installing pytest-httpserver with pip")
        run([sys.executable, "-m", "pip", "install", "-q", "pytest-httpserver"], "pip install pytest-httpserver")


def groovy_missing(install: bool) -> str | None:
    """Why Groovy steps cannot run here (None when they can); with *install*, try apt-get first.

    The check is cpimock's own (the one ``cpimock serve`` makes before it starts a JVM).
    """
    from cpimock.steps.groovy.toolchain import GroovyUnavailable, find_toolchain

    try:
        find_toolchain()
        return None
    except GroovyUnavailable as exc:
        if not install:
            return str(exc)
        try:
            _apt_install(["groovy", "default-jdk-headless"])  # Debian's Groovy 2.4, CPI's script runtime
        except BenchError as why:
            return f"{exc} ({why})"
    try:
        find_toolchain()
    except GroovyUnavailable as exc:
        return str(exc)
    return None


def wiremock_jar() -> Path:
    jars = sorted((NODE_MODULES / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    if not jars:
        raise BenchError("the npm package wiremock holds no standalone jar; delete bench/.work and run again")
    return jars[-1]


def cpimock_serve_available() -> tuple[bool, str]:
    """Whether this checkout has ``cpimock serve``; the reason when not."""
    proc = subprocess.run(
        [sys.executable, "-m", "cpimock", "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    if proc.returncode == 0:
        return True, ""
    last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return False, f"`cpimock serve --help` exited {proc.returncode}: {last[0]}"


# ---------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python ssl": ssl.OPENSSL_VERSION,
    }
    for name, cmd in (
        ("openssl (loadgen)", ["openssl", "version"]),
        ("nginx", [nginx_binary() or "nginx", "-v"]),
        ("java", ["java", "-version"]),
        ("node", ["node", "--version"]),
    ):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            versions[name] = (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            versions[name] = "not installed"
    for pkg in ("aiohttp", "uvloop", "cpimock", "pytest-httpserver", "werkzeug"):
        versions[pkg] = _dist_version(pkg)
    for pkg in ("wiremock", "mountebank"):
        try:
            versions[pkg] = json.loads((NODE_MODULES / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            versions[pkg] = "not installed"
    return versions


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- workspace and certificates


@dataclass(frozen=True)
class Files:
    """The certificates and bodies every server and the load generator use."""

    folder: Path  # this run's own folder under bench/.work/runs (concurrent runs do not share one)
    workspace: Path  # cpimock workspace, MPL on
    workspace_nompl: Path  # a copy with [journal] enabled = false
    workspace_groovy: Path  # a copy with the echo also as a Groovy step (W7)
    root_ca: Path
    server_cert: Path
    server_key: Path
    client_chain: Path  # leaf + client CA, what the client sends
    client_key: Path
    body: Path  # the 1 KB JSON POST body
    idoc: Path  # W6: a 5 KB ORDERS05 IDoc-XML in its SOAP envelope, as an S/4 XML-HTTP port posts it
    keystore: Path  # PKCS#12: server key + certificate (WireMock)
    truststore: Path  # PKCS#12: the root CA as trusted entry (WireMock)


ECHO_IFLOW = """
[[iflows]]
id = "benchEcho"
address = "/bench/echo"
steps = ["{step}:process"]
csrf = false

[[iflows]]
id = "benchIdoc"
adapter = "idoc"
address = "/bench/idoc"
steps = ["{step}:process"]
{extra}
[journal]
enabled = {mpl}
"""

GROOVY_IFLOW = """
[[iflows]]
id = "benchGroovy"
address = "/bench/groovy"
steps = ["{script}"]
csrf = false
"""


def body_bytes() -> bytes:
    doc: dict[str, object] = {
        "messageId": "bench-0001",
        "sender": "S4HANA",
        "type": "Order",
        "items": [{"pos": i, "sku": f"SKU-{i:05d}", "qty": 1} for i in range(20)],
        "note": "",
    }
    size = len(json.dumps(doc, separators=(",", ":")))
    doc["note"] = "x" * (1024 - size)
    data = json.dumps(doc, separators=(",", ":")).encode()
    assert len(data) == 1024
    return data


def idoc_bytes(target: int = 5 * 1024) -> bytes:
    """An ORDERS05 IDoc in the SOAP envelope of an XML-HTTP port, items added up to *target* bytes."""
    head = """<?xml version="1.0" encoding="utf-8"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">
<soap-env:Header/>
<soap-env:Body>
<ORDERS05 xmlns="urn:sap-com:document:sap:idoc:soap:messages">
<IDOC BEGIN="1">
<EDI_DC40 SEGMENT="1"><TABNAM>EDI_DC40</TABNAM><MANDT>100</MANDT><DOCNUM>0000000000471101</DOCNUM>\
<DOCREL>758</DOCREL><STATUS>30</STATUS><DIRECT>1</DIRECT><OUTMOD>2</OUTMOD><IDOCTYP>ORDERS05</IDOCTYP>\
<MESTYP>ORDERS</MESTYP><SNDPOR>SAPS4H</SNDPOR><SNDPRT>LS</SNDPRT><SNDPRN>S4HCLNT100</SNDPRN>\
<RCVPOR>CPI_XMLHTTP</RCVPOR><RCVPRT>LS</RCVPRT><RCVPRN>CPI</RCVPRN><CREDAT>20261127</CREDAT>\
<CRETIM>151924</CRETIM><SERIAL>20261127151924</SERIAL></EDI_DC40>
<E1EDK01 SEGMENT="1"><CURCY>EUR</CURCY><BSART>NB</BSART><BELNR>4500017431</BELNR></E1EDK01>
<E1EDKA1 SEGMENT="1"><PARVW>AG</PARVW><PARTN>0000100042</PARTN><NAME1>Müller &amp; Söhne GmbH</NAME1></E1EDKA1>
"""
    tail = "</IDOC>\n</ORDERS05>\n</soap-env:Body>\n</soap-env:Envelope>\n"
    items: list[str] = []

    def item(pos: int) -> str:
        return (
            f'<E1EDP01 SEGMENT="1"><POSEX>{pos * 10:06d}</POSEX><MENGE>12.000</MENGE><MENEE>PCE</MENEE>'
            f'<E1EDP19 SEGMENT="1"><QUALF>002</QUALF><IDTNR>MAT-{4700 + pos}</IDTNR>'
            f"<KTEXT>Schraube M8×{40 + pos}</KTEXT></E1EDP19></E1EDP01>\n"
        )

    while len((head + "".join([*items, item(len(items) + 1)]) + tail).encode()) <= target:
        items.append(item(len(items) + 1))
    return (head + "".join(items) + tail).encode()


def compile_cpimock() -> None:
    """Write cpimock's bytecode (``__pycache__``) now, as an installation has it.

    The peers come compiled (pip compiles what it installs; Java and Node bring their own), and so
    does cpimock installed from a wheel. An editable install writes its bytecode at the first
    import, unless ``PYTHONDONTWRITEBYTECODE`` is set (as in CI), when every start would compile
    cpimock's modules again: about 0.1 s of W4 and of W5's first tenant that no user pays.
    """
    spec = importlib.util.find_spec("cpimock")
    if spec is None or spec.origin is None:
        raise BenchError("cpimock is not installed in this Python: pip install -e .")
    run([sys.executable, "-m", "compileall", "-q", str(Path(spec.origin).parent)], "compiling cpimock")


def make_files() -> Files:
    """A fresh cpimock workspace in this run's own folder and everything derived from it."""
    runs = WORK / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for old in runs.iterdir():  # folders of earlier runs whose process is gone
        if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
            shutil.rmtree(old, ignore_errors=True)
    folder = runs / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    compile_cpimock()
    ws = folder / "ws"
    nompl = folder / "ws-nompl"
    run([sys.executable, "-m", "cpimock", "init", str(ws)], "cpimock init")
    client = ws / "client"
    run(
        [
            sys.executable,
            "-m",
            "cpimock",
            "servicekey",
            "extract",
            str(ws / "certs/keys/demo-sender.json"),
            "--out",
            str(client),
            "--workspace",
            str(ws),
        ],
        "cpimock servicekey extract",
    )
    shutil.copytree(ws, nompl)
    groovy = folder / "ws-groovy"
    shutil.copytree(ws, groovy)
    step = BENCH / "iflows" / "echo.py"
    script = GROOVY_IFLOW.format(script=BENCH / "iflows" / "echo.groovy")
    for workspace, mpl, extra in ((ws, "true", ""), (nompl, "false", ""), (groovy, "true", script)):
        toml = workspace / "cpimock.toml"
        text = toml.read_text(encoding="utf-8")
        if "\n[server]\n" not in text:
            raise BenchError(f"{toml}: no [server] table to set client_auth in; cpimock init changed its template")
        # a client certificate is required at the handshake, as by every other server here
        text = text.replace("\n[server]\n", '\n[server]\nclient_auth = "required"\n', 1)
        toml.write_text(text + ECHO_IFLOW.format(step=step, mpl=mpl, extra=extra), encoding="utf-8")
    certs = ws / "certs"
    body = folder / "body.json"
    body.write_bytes(body_bytes())
    idoc = folder / "orders05.xml"
    idoc.write_bytes(idoc_bytes())
    files = Files(
        folder=folder,
        workspace=ws,
        workspace_nompl=nompl,
        workspace_groovy=groovy,
        root_ca=certs / "root-ca.pem",
        server_cert=certs / "server.pem",
        server_key=certs / "server.key",
        client_chain=client / "cert.pem",
        client_key=client / "key.key",
        body=body,
        idoc=idoc,
        keystore=folder / "server.p12",
        truststore=folder / "trust.p12",
    )
    _java_stores(files)
    return files


def _java_stores(files: Files) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    root = x509.load_pem_x509_certificate(files.root_ca.read_bytes())
    blob = pkcs12.serialize_key_and_certificates(
        b"server",
        key,
        cert,
        [root],  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
    )
    files.keystore.write_bytes(blob)
    # a certificate-only PKCS#12 needs Java's trusted-entry attribute: let keytool write it
    files.truststore.unlink(missing_ok=True)
    keytool = shutil.which("keytool")
    if keytool is None:
        return  # WireMock needs it; servers.py reports the missing truststore when it starts
    run(
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-storetype",
            "PKCS12",
            "-keystore",
            str(files.truststore),
            "-storepass",
            STORE_PASSWORD,
            "-alias",
            "root",
            "-file",
            str(files.root_ca),
        ],
        "keytool -importcert",
    )
