"""Instructions per request of cpimock's own request path, without sockets, TLS or aiohttp's parser.

``bench/instructions.py`` counts a whole server; most of what it counts is the same for every
version of cpimock (TLS records, system calls, aiohttp's HTTP parser and writer). This script
counts what cpimock itself does for one W1 request: a server is started in this process, and
the W1 request (``POST /http/bench/echo``, the 1 KB JSON body, the service key's certificate as
the connection's peer) is handed to its iFlow endpoint directly, over and over, the MPL off (the
MPL's share is ``bench/instructions.py``'s to count). It runs under ``valgrind --tool=callgrind``
twice, with 300 and with 900 requests; the difference divided by 600 is one request, start-up
taken out. Building the request object each time is counted too (about 27 k instructions,
the same for every version).

    python bench/endpoint_instructions.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import callgrind
from prepare import PATH, body_bytes, make_files

COUNTS = (300, 900)
WARMUP = 200


async def _requests(workspace: Path, body: bytes, count: int) -> None:
    from aiohttp import streams, web
    from aiohttp.http import HttpVersion11
    from aiohttp.http_parser import RawRequestMessage
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    from cpimock.http.connection import Connection
    from cpimock.http.server import Server
    from cpimock.identity.callers import Peer
    from cpimock.identity.model import PeerCertificate

    server = Server(workspace, port=0, watch=False)
    await server.start()
    gc.collect()
    gc.freeze()  # as cpimock serve does after start-up
    loop = asyncio.get_running_loop()
    snapshot = server.snapshot
    pem = (workspace / "client" / "cert.pem").read_bytes()
    cert = PeerCertificate.from_der(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    assert server.running.runner.server is not None
    protocol = Connection(server.running.runner.server, loop=loop)
    protocol.peer = Peer("127.0.0.1:50000", cert, snapshot.directory.identify_certificate(cert), snapshot.generation)

    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return default

        def is_closing(self) -> bool:
            return False

    class Reading:
        _reading_paused = False

        def resume_reading(self, **_: Any) -> None:
            pass

        def pause_reading(self, **_: Any) -> None:
            pass

    protocol.transport = Transport()  # type: ignore[assignment]
    reading = Reading()
    headers = CIMultiDictProxy(
        CIMultiDict({"Host": "localhost", "Content-Type": "application/json", "Content-Length": str(len(body))})
    )
    raw = tuple((name.encode(), value.encode()) for name, value in headers.items())
    endpoint = server.endpoint

    def request() -> web.BaseRequest:
        payload = streams.StreamReader(reading, 2**16, loop=loop)  # type: ignore[arg-type]
        payload.feed_data(body)
        payload.feed_eof()
        message = RawRequestMessage("POST", PATH, HttpVersion11, headers, raw, False, None, False, False, URL(PATH))
        return web.BaseRequest(message, payload, protocol, None, None, loop)  # type: ignore[arg-type]

    for _ in range(WARMUP + count):
        answer = await endpoint.handle(request())  # type: ignore[arg-type]
        if answer.status != 200:
            raise SystemExit(f"the endpoint answered {answer.status}: {answer.body!r}")
    await server.stop()


def _count(count: int, out: Path) -> int:
    return callgrind.count(
        __file__, ["--child", str(count), os.environ["CPIMOCK_BENCH_WORKSPACE"]], out / f"cg.{count}"
    )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        asyncio.run(_requests(Path(sys.argv[3]), body_bytes(), int(sys.argv[2])))
        return 0
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed; run apt-get install valgrind", file=sys.stderr)
        return 1
    files = make_files()
    out = Path(tempfile.mkdtemp(prefix="callgrind-"))
    try:
        workspace = str(files.workspace_nompl)
        os.environ["CPIMOCK_BENCH_WORKSPACE"] = workspace
        # a first start writes into the workspace (the token signing key): not in a counted run
        subprocess.run([sys.executable, __file__, "--child", "1", workspace], check=True, capture_output=True)
        small, large = (_count(count, out) for count in COUNTS)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(files.workspace.parent, ignore_errors=True)
    print(f"{(large - small) // (COUNTS[1] - COUNTS[0])} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
