"""pytest-httpserver as a standalone mTLS echo server for the benchmark.

The server context has ``verify_mode = CERT_REQUIRED`` (the way the project's docs enable
HTTPS, through an ``ssl.SSLContext``) and ``threaded=True`` (a thread per connection; without
it Werkzeug serves one connection at a time and closes it after every answer).

    python bench/httpserver_peer.py --port 9443 --cert server.pem --key server.key --ca root-ca.pem
"""

from __future__ import annotations

import argparse
import signal
import ssl
import threading

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def echo(request: Request) -> Response:
    return Response(request.get_data(), status=200, content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(args.ca)
    context.load_cert_chain(args.cert, args.key)
    server = HTTPServer(host=args.host, port=args.port, ssl_context=context, threaded=True)
    server.expect_request("/http/bench/echo", method="POST").respond_with_handler(echo)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
