"""The floor of cpimock's own stack: a bare aiohttp low-level server on uvloop that demands a
client certificate and echoes the request body.

It does what cpimock cannot avoid doing (TLS with client-certificate verification, HTTP
parsing, reading the body, writing the answer) and nothing else, so the gap between this
server and cpimock is cpimock's own work.

    python bench/floor.py --port 9443 --cert server.pem --key server.key --ca root-ca.pem
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl

import uvloop
from aiohttp import web, web_request
from aiohttp.web_server import Server


async def echo(request: web_request.BaseRequest) -> web.StreamResponse:
    body = await request.read()
    return web.Response(body=body, content_type="application/json")


async def serve(args: argparse.Namespace) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(args.ca)
    context.load_cert_chain(args.cert, args.key)
    # no session tickets, as cpimock and the benchmark's nginx (ssl_session_tickets off): W2's
    # handshakes then cost every one of them the same TLS work
    context.num_tickets = 0
    context.options |= ssl.OP_NO_TICKET
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Server(echo), args.host, args.port, ssl=context, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    uvloop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
