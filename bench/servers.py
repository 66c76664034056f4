"""The servers under test: how each is configured, started, probed, measured and stopped.

Every server listens on 127.0.0.1 only, requires a client certificate that chains to the
workspace root CA, and answers ``POST /http/bench/echo`` with the same 1,024 bytes of JSON:
an echo of the body where the server can echo with its ordinary features, otherwise a
static copy of the body (byte-identical, so every answer costs the same to send).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prepare import BENCH, NODE_MODULES, PATH, STORE_PASSWORD, BenchError, Files, ensure_java, wiremock_jar

SERVER_CPU = "0"  # the server's process tree is pinned here, the load generator to the other core
CLIENT_CPU = "1"
START_TIMEOUT_S = 90.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    name: str
    answer: str  # how the server produces the answer, for the report
    build: Callable[[Files, int], list[str]]  # writes its config, returns the command line
    note: str = ""  # what the reader must know to read its figures
    # empties what the server recorded (its request journal) between runs, never during one
    reset: Callable[[Files, int], None] | None = None


def pinned(cmd: list[str], cpu: str) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *cmd]
    return cmd


# ---------------------------------------------------------------- the targets


def _cpimock(workspace: Callable[[Files], Path]) -> Callable[[Files, int], list[str]]:
    def build(files: Files, port: int) -> list[str]:
        ws = workspace(files)
        for db in ws.glob("cpimock.db*"):
            db.unlink()
        return [
            sys.executable,
            "-m",
            "cpimock",
            "serve",
            "--workspace",
            str(ws),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]

    return build


def _nginx(files: Files, port: int) -> list[str]:
    from prepare import ensure_nginx

    binary = ensure_nginx()
    folder = files.folder / f"nginx-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    body = files.body.read_text()
    echo = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
    load = f"load_module {echo};" if echo.exists() else ""
    answer = "echo_read_request_body; echo_request_body;" if echo.exists() else f"return 200 '{body}';"
    temp = "\n".join(f"    {name}_temp_path {folder}/{name};" for name in ("client_body", "proxy", "fastcgi"))
    (folder / "nginx.conf").write_text(
        f"""{load}
worker_processes 1;
worker_rlimit_nofile 8192;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port} ssl backlog=1024;
        ssl_certificate {files.server_cert};
        ssl_certificate_key {files.server_key};
        ssl_client_certificate {files.root_ca};
        ssl_verify_client on;
        ssl_verify_depth 3;
        ssl_session_cache off;
        ssl_session_tickets off;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
        location = {PATH} {{
            default_type application/json;
            client_body_buffer_size 16k;
            {answer}
        }}
    }}
}}
"""
    )
    return [binary, "-p", str(folder), "-c", str(folder / "nginx.conf")]


def _floor(files: Files, port: int) -> list[str]:
    return [
        sys.executable,
        str(BENCH / "floor.py"),
        "--port",
        str(port),
        "--cert",
        str(files.server_cert),
        "--key",
        str(files.server_key),
        "--ca",
        str(files.root_ca),
    ]


def _wiremock(journal: bool) -> Callable[[Files, int], list[str]]:
    def build(files: Files, port: int) -> list[str]:
        return _wiremock_command(files, port, journal)

    return build


def _wiremock_command(files: Files, port: int, journal: bool) -> list[str]:
    java = ensure_java()
    if not files.truststore.exists():
        raise BenchError(
            "WireMock needs keytool (from the JDK) to write its truststore; install openjdk-17-jre-headless"
        )
    root = files.folder / f"wiremock-{port}"
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "__files").mkdir(exist_ok=True)
    stub = {
        "request": {"method": "POST", "url": PATH},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": "{{{request.body}}}",
            "transformers": ["response-template"],
        },
    }
    (root / "mappings" / "echo.json").write_text(json.dumps(stub, indent=2))
    return [
        java,
        "-jar",
        str(wiremock_jar()),
        "--bind-address",
        "127.0.0.1",
        "--disable-http",
        "--https-port",
        str(port),
        "--https-keystore",
        str(files.keystore),
        "--keystore-type",
        "PKCS12",
        "--keystore-password",
        STORE_PASSWORD,
        "--key-manager-password",
        STORE_PASSWORD,
        "--https-require-client-cert",
        "--https-truststore",
        str(files.truststore),
        "--truststore-type",
        "PKCS12",
        "--truststore-password",
        STORE_PASSWORD,
        "--root-dir",
        str(root),
        *([] if journal else ["--no-request-journal"]),
        "--disable-request-logging",
        "--disable-banner",
    ]


def _wiremock_reset(files: Files, port: int) -> None:
    """Empty WireMock's request journal (``DELETE /__admin/requests``, on its only, mTLS, port)."""
    _admin_call(client_context(files), port, "DELETE", "/__admin/requests")


_MOUNTEBANK_ADMIN: dict[int, int] = {}  # imposter port -> mountebank's admin port


def _mountebank(record: bool) -> Callable[[Files, int], list[str]]:
    def build(files: Files, port: int) -> list[str]:
        return _mountebank_command(files, port, record)

    return build


def _mountebank_reset(files: Files, port: int) -> None:
    """Drop the imposter's recorded requests (``DELETE /imposters/<port>/savedRequests``)."""
    _admin_call(None, _MOUNTEBANK_ADMIN[port], "DELETE", f"/imposters/{port}/savedRequests")


def _admin_call(context: ssl.SSLContext | None, port: int, method: str, path: str) -> None:
    if context is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        data = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"{method} {path} on port {port} failed: {exc}") from None
    finally:
        conn.close()
    if not 200 <= answer.status < 300:
        raise BenchError(f"{method} {path} on port {port} answered {answer.status}: {data[:200]!r}")


def _mountebank_command(files: Files, port: int, record: bool) -> list[str]:
    folder = files.folder / f"mountebank-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    imposter = {
        "protocol": "https",
        "port": port,
        "host": "127.0.0.1",
        "key": files.server_key.read_text(),
        "cert": files.server_cert.read_text(),
        "ca": files.root_ca.read_text(),
        "mutualAuth": True,
        "rejectUnauthorized": True,
        "recordRequests": record,
        "defaultResponse": {"statusCode": 200, "headers": {"Connection": "keep-alive"}},
        "stubs": [
            {
                "predicates": [{"equals": {"method": "POST", "path": PATH}}],
                "responses": [
                    {
                        "is": {
                            "statusCode": 200,
                            "headers": {"Content-Type": "application/json", "Connection": "keep-alive"},
                            "body": files.body.read_text(),
                        }
                    }
                ],
            }
        ],
    }
    config = folder / "imposters.json"
    config.write_text(json.dumps({"imposters": [imposter]}))
    admin = free_port()
    _MOUNTEBANK_ADMIN[port] = admin
    return [
        "node",
        str(NODE_MODULES / "mountebank" / "bin" / "mb"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(admin),
        "--configfile",
        str(config),
        "--noParse",
        "--nologfile",
        "--loglevel",
        "warn",
        "--pidfile",
        str(folder / "mb.pid"),
    ]


def _httpserver(files: Files, port: int) -> list[str]:
    return [
        sys.executable,
        str(BENCH / "httpserver_peer.py"),
        "--port",
        str(port),
        "--cert",
        str(files.server_cert),
        "--key",
        str(files.server_key),
        "--ca",
        str(files.root_ca),
    ]


TARGETS = {
    t.name: t
    for t in (
        Target("cpimock", "echo by the iFlow step bench/iflows/echo.py; MPL on", _cpimock(lambda f: f.workspace)),
        Target("cpimock-nompl", "as cpimock, with [journal] enabled = false", _cpimock(lambda f: f.workspace_nompl)),
        Target(
            "cpimock-groovy",
            "as cpimock; W7 also calls /http/bench/groovy, the same echo as the Groovy step bench/iflows/echo.groovy",
            _cpimock(lambda f: f.workspace_groovy),
            "used by W7 only; its JVM is a child of the server, on the server's core",
        ),
        Target("nginx", "echo (echo module: echo_read_request_body; echo_request_body)", _nginx),
        Target("aiohttp-floor", "echo: bare aiohttp low-level Server on uvloop (bench/floor.py)", _floor),
        Target(
            "wiremock",
            "echo by response template {{{request.body}}}; request journal on (its default), like cpimock's MPL",
            _wiremock(journal=True),
            "one JVM confined to one core (JIT and GC included); the journal, which keeps every request in "
            "memory, is emptied between runs (DELETE /__admin/requests), never during one",
            _wiremock_reset,
        ),
        Target(
            "wiremock-nojournal",
            "as wiremock, with --no-request-journal (records nothing)",
            _wiremock(journal=False),
            "one JVM confined to one core (JIT and GC included)",
        ),
        Target(
            "mountebank",
            "static copy of the body (an `is` response; echo needs --allowInjection); recordRequests false "
            "(its default: records nothing)",
            _mountebank(record=False),
            "Node closes keep-alive connections idle for 5 s (server.keepAliveTimeout), which W3 may show",
        ),
        Target(
            "mountebank-record",
            "as mountebank, with recordRequests true, like cpimock's MPL",
            _mountebank(record=True),
            "the recorded requests, kept in memory, are dropped between runs "
            "(DELETE /imposters/<port>/savedRequests), never during one; Node's 5 s keep-alive timeout as above",
            _mountebank_reset,
        ),
        Target(
            "pytest-httpserver",
            "echo by respond_with_handler; threaded=True (bench/httpserver_peer.py)",
            _httpserver,
            "Werkzeug sends `Connection: close` on every answer, so its W1 is a new handshake per request "
            "and it cannot hold idle keep-alive connections (W3)",
        ),
    )
}


# ---------------------------------------------------------------- running one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_context(files: Files) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.root_ca))
    context.load_cert_chain(str(files.client_chain), str(files.client_key))
    return context


def probe(files: Files, port: int, context: ssl.SSLContext, timeout: float = 5.0, path: str = PATH) -> None:
    """One mTLS POST; raises unless the answer is 2xx with the body sent (all targets answer it)."""
    body = files.body.read_bytes()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if not 200 <= answer.status < 300:
        raise BenchError(f"answered {answer.status} {answer.reason}: {data[:200]!r}")
    if data != body:
        raise BenchError(f"answered 2xx but not the 1 KB body ({len(data)} bytes: {data[:80]!r})")


class Running:
    """A started server: its process group, port and log."""

    def __init__(self, target: Target, files: Files, port: int | None = None) -> None:
        self.target = target
        self.files = files
        self.port = port or free_port()
        self.log_path = files.folder / "logs" / f"{target.name}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = pinned(target.build(files, self.port), SERVER_CPU)
        self.command = cmd
        self._log = self.log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(files.folder),
        )
        self.ready_s: float | None = None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> float:
        """Poll with mTLS requests until one is answered; seconds from start to that answer (W4)."""
        context = client_context(self.files)
        deadline = self.started + timeout
        last = "no answer"
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.target.name} exited with {self.proc.returncode} at start: {self.log_tail()}")
            try:
                probe(self.files, self.port, context, timeout=10)
            except (OSError, http.client.HTTPException, BenchError) as exc:
                last = str(exc) or type(exc).__name__
                if isinstance(exc, BenchError):
                    raise BenchError(f"{self.target.name} {last}") from None
                time.sleep(0.002)
                continue
            self.ready_s = time.perf_counter() - self.started
            return self.ready_s
        raise BenchError(f"{self.target.name} did not answer within {timeout:.0f} s ({last}): {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:]) or f"(see {self.log_path})"

    def pids(self) -> list[int]:
        """The server's process tree (the taskset wrapper execs, so the root is the server)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except (OSError, ValueError):
                continue
        return total

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue
        return ticks / _TICKS

    def established(self) -> int:
        """Server-side TCP connections in ESTABLISHED state on our port (from /proc/net/tcp)."""
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == self.port and parts[3] == "01":
                    count += 1
        return count

    def reset(self) -> None:
        """Empty what the server recorded so far, where it keeps it in memory (see Target.reset)."""
        if self.target.reset is not None:
            self.target.reset(self.files, self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self._log.close()
