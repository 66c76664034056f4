"""The HTTPS server of a tenant: TLS accept loop, the aiohttp app, start and graceful stop.

The listening socket accepts plain TCP; each connection's TLS handshake is driven with
``loop.start_tls`` so that a refused handshake is seen here, with its reason and the peer
address, and recorded (asyncio's own TLS server swallows those errors). After the handshake
the presented certificate is mapped to its identity once, and the connection is handed to
aiohttp's HTTP protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from cpimock.http.oauth import add_token_routes
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.callers import Peer
from cpimock.identity.csrf import CsrfGuard
from cpimock.identity.directory import Identity, PeerCertificate, Refusal
from cpimock.identity.tokens import TokenAuthority, load_signing_key
from cpimock.message import LogAttachment
from cpimock.mpl.journal import Journal
from cpimock.mpl.record import Attachment, MplRecord, new_message_guid, refusal, utcnow
from cpimock.mpl.routes import add_mpl_routes
from cpimock.steps.groovy import runner as groovy_runner
from cpimock.tenant.snapshot import ClientAuthSetting, Reloader, Snapshot, build_snapshot
from cpimock.tenant.tls import HANDSHAKE_SOCKET, classify_handshake_error

if TYPE_CHECKING:
    from cpimock.adapters.endpoint import Inbound

log = logging.getLogger(__name__)

# in-flight requests get this long to finish on Ctrl-C / SIGTERM
SHUTDOWN_GRACE_S = 10.0
# after accept() fails for lack of file descriptors, wait this long before accepting again
ACCEPT_BACKOFF_S = 0.1
# connections taken per wake-up of the listening socket: a storm of them cannot hold the event
# loop away from the connections already open
ACCEPT_BATCH = 64
_NO_PEER = Peer("unknown", None, None)


class _Connection(RequestHandler):
    """aiohttp's HTTP protocol, carrying what the TLS handshake established (worked out once)."""

    peer: Peer | None = None


class Server:
    """One tenant served from a workspace folder."""

    def __init__(
        self,
        root: Path,
        *,
        host: str | None = None,
        port: int | None = None,
        client_auth: ClientAuthSetting | None = None,
        sock: socket.socket | None = None,
        watch: bool = True,
    ) -> None:
        self.root = root
        self._client_auth = client_auth
        self._host = host
        self._port = port
        self._sock = sock
        self._watch = watch
        self.reloader: Reloader
        self.journal: Journal | None = None
        self.authority: TokenAuthority
        self.limiter = FailureLimiter()
        self.csrf: CsrfGuard
        self._runner: web.AppRunner | None = None
        self._inbound: Inbound
        self._app_handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
        self._retry_accept: asyncio.TimerHandle | None = None
        self._listening: socket.socket | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._handler_kwargs: dict[str, Any] = {}
        self._counted = False
        self.host = "127.0.0.1"
        self.port = 0
        # the event loop the server runs on (set by start); the request path passes it on, as
        # asyncio.get_running_loop() makes a getpid() system call on Python 3.11
        self.loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<cpimock Server {self.url} workspace={self.root}>"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def snapshot(self) -> Snapshot:
        return self.reloader.current

    # --- start and stop ----------------------------------------------------------------

    async def start(self) -> None:
        """Load the workspace (raising CpimockError when it does not load), bind, and serve."""
        self.loop = asyncio.get_running_loop()
        snapshot = await asyncio.to_thread(build_snapshot, self.root, self._client_auth)
        config = snapshot.config
        self.reloader = Reloader(snapshot, self._client_auth)
        if config.journal.enabled:
            self.journal = await asyncio.to_thread(Journal.open, config.db_path, config.journal)
        key = await asyncio.to_thread(load_signing_key, config.certs_dir)
        self.host = self._host or config.server.host
        port = config.server.port if self._port is None else self._port
        sock = self._sock or bind(self.host, port)
        self.port = sock.getsockname()[1]
        tenant = config.tenant
        self.authority = TokenAuthority(
            key,
            tenant.name,
            (
                f"https://localhost:{self.port}/oauth/token",
                f"https://{tenant.name}.authentication.{tenant.region}.hana.ondemand.com/oauth/token",
                f"https://{tenant.name}.authentication.cert.{tenant.region}.hana.ondemand.com/oauth/token",
            ),
            lifetime_s=config.oauth.token_lifetime_s,
        )
        # one secret per workspace, so that every worker process accepts the others' tokens
        self.csrf = CsrfGuard(hashlib.sha256(b"cpimock csrf\0" + key.private_numbers().d.to_bytes(256, "big")).digest())
        app = self._make_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # the iFlow endpoint is the hot path: its requests go to it directly, past aiohttp's router
        # and the application's set-up of each request (about a twentieth of what a request costs)
        assert self._runner.server is not None
        self._app_handler = self._runner.server.request_handler
        self._runner.server.request_handler = self._dispatch
        self._handler_kwargs = {
            "keepalive_timeout": config.server.keepalive_timeout_s,
            "max_line_size": config.server.max_header_size,
            "max_field_size": config.server.max_header_size,
            "max_headers": config.server.max_headers,
            "access_log": None,
        }
        sock.setblocking(False)
        self._listening = sock
        groovy_runner.server_started()
        self._counted = True
        self._start_accepting()
        if self._watch:
            self.reloader.start()

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close everything."""
        if self._listening is not None:
            self._stop_accepting()
            if self._sock is None:  # bound here, so closed here; a socket handed in stays its owner's
                self._listening.close()
            self._listening = None
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        if self._runner is not None:
            await self._runner.shutdown()
            transports = []
            if self._runner.server is not None:
                # idle keep-alive connections close now; only requests in flight get the grace period
                for conn in self._runner.server.connections:
                    conn.close()
                    transports.append(conn.transport)
                await self._runner.server.shutdown(SHUTDOWN_GRACE_S)
            await self._runner.cleanup()
            self._runner = None
            # a client that never answers the TLS close_notify would keep its socket open for the
            # TLS shutdown timeout, past the end of an event loop that stops after this
            for transport in transports:
                if transport is not None:
                    transport.abort()
        if hasattr(self, "reloader"):
            await self.reloader.stop()
        if self.journal is not None:
            await self.journal.aclose()
            self.journal = None
        if self._counted:  # the last server of the process takes the Groovy steps' JVM with it
            self._counted = False
            await groovy_runner.server_stopped()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def settle(self) -> None:
        """Wait until every handshake in progress has finished (and a refusal has been recorded)."""
        # a finished task leaves the set by a done callback that runs a loop iteration later, and
        # gather() of finished tasks may not yield at all (Python 3.13): wait for unfinished ones
        while pending := [task for task in self._handshakes if not task.done()]:
            await asyncio.wait(pending)

    # --- the app ----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        from cpimock.adapters.endpoint import Inbound

        app = web.Application(client_max_size=1 << 40)
        inbound = self._inbound = Inbound(self)
        app.router.add_route("*", "/http/{tail:.*}", inbound.handle)
        add_token_routes(
            app,
            authority=self.authority,
            records=lambda: self.snapshot.registry.records.values(),
            instance_roles=self._instance_roles,
            limiter=self.limiter,
            peer_identity=self._peer_identity,
        )
        if self.journal is not None:
            add_mpl_routes(app, self.journal, self._may_monitor, tenant=self.snapshot.config.tenant.name)
        app.router.add_get("/", self._index)
        return app

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        """``/http/...`` to the iFlow endpoint, everything else to the application. A request that
        expects a 100 Continue goes through the application too: its expect handler answers it."""
        if request.path.startswith("/http/") and "Expect" not in request.headers:
            return await self._inbound.handle(cast(web.Request, request))
        return await self._app_handler(request)

    def _instance_roles(self, name: str) -> frozenset[str] | None:
        instance = self.snapshot.config.instances.get(name)
        return instance.roles if instance else None

    def _peer_identity(self, request: web.Request) -> Identity | None:
        identity = self.peer_of(request).identity
        return identity if isinstance(identity, Identity) else None

    async def _may_monitor(self, request: web.Request) -> bool:
        peer = self.peer_of(request)
        host = peer.address.rsplit(":", 1)[0].strip("[]")
        try:
            if ipaddress.ip_address(host).is_loopback:
                return True
        except ValueError:
            pass
        identity = peer.identity
        role = self.snapshot.config.journal.monitoring_role
        return isinstance(identity, Identity) and role in self.snapshot.directory.roles_of(identity.instance)

    async def _index(self, request: web.Request) -> web.Response:
        lines = [f"cpimock tenant {self.snapshot.config.tenant.name}", "", "Integration flows:"]
        for iflow in self.snapshot.config.iflows:
            lines.append(f"  {self.url}/http{iflow.address}  ({iflow.id}, {iflow.state})")
        lines += ["", f"Message monitor: {self.url}/monitor", f"MPL OData API: {self.url}/api/v1/MessageProcessingLogs"]
        return web.Response(text="\n".join(lines) + "\n")

    # --- connections --------------------------------------------------------------------

    def _start_accepting(self) -> None:
        assert self.loop is not None
        assert self._listening is not None
        self._retry_accept = None
        self.loop.add_reader(self._listening.fileno(), self._accept)

    def _stop_accepting(self) -> None:
        if self._retry_accept is not None:
            self._retry_accept.cancel()
            self._retry_accept = None
        if self.loop is not None and self._listening is not None and self._listening.fileno() != -1:
            self.loop.remove_reader(self._listening.fileno())

    def _accept(self) -> None:
        """Take the connections waiting on the listening socket, each into its own handshake task.

        The socket stays registered with the event loop for as long as the server accepts, so a
        connection costs no registration and deregistration of it (awaiting ``sock_accept`` for
        each one did that, and re-read the peer's address besides).
        """
        loop, listening = self.loop, self._listening
        assert loop is not None
        assert listening is not None
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peername = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # out of file descriptors: let connections close, then go on
                log.warning("cannot accept connections: %s; retrying", exc.strerror or exc)
                loop.remove_reader(listening.fileno())
                self._retry_accept = loop.call_later(ACCEPT_BACKOFF_S, self._start_accepting)
                return
            task = loop.create_task(self._handshake(sock, _address(peername), loop))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket, address: str, loop: asyncio.AbstractEventLoop) -> None:
        """TLS on an accepted socket; a refusal is classified, logged and recorded here."""
        snapshot = self.reloader.current
        started = utcnow()
        runner = self._runner
        assert runner is not None
        assert runner.server is not None
        manager, kwargs = runner.server, self._handler_kwargs
        token = HANDSHAKE_SOCKET.set(sock)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: _Connection(manager, loop=loop, **kwargs),
                sock,
                ssl=snapshot.ssl_context,
                ssl_handshake_timeout=snapshot.config.server.handshake_timeout_s,
            )
        except asyncio.CancelledError:
            sock.close()
            raise
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, EOFError) as exc:
            sock.close()  # a no-op when the transport closed it already
            self._handshake_failed(address, exc, started)
            return
        finally:
            HANDSHAKE_SOCKET.reset(token)
        # uvloop hands back its TLS protocol here, asyncio the HTTP one: ask the transport
        conn = transport.get_protocol()
        if isinstance(conn, _Connection) and conn.peer is None:
            conn.peer = self._peer(address, transport, snapshot)

    def _peer(self, address: str, tls: asyncio.BaseTransport, snapshot: Snapshot) -> Peer:
        ssl_object = tls.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return Peer(address, None, None)
        try:
            cert = PeerCertificate.from_der(der)
        except ValueError as exc:  # verified by OpenSSL, yet not parseable here: refuse politely
            return Peer(address, None, Refusal(401, f"the client certificate cannot be read: {exc}"))
        return Peer(address, cert, snapshot.directory.identify_certificate(cert))

    def peer_of(self, request: web.Request) -> Peer:
        """What the handshake established for the request's connection (its first request may
        run before the handshake task resumes, so it is worked out here when still missing)."""
        protocol = request.protocol
        if not isinstance(protocol, _Connection) or request.transport is None:
            return _NO_PEER
        if protocol.peer is None:
            address = _address(request.transport.get_extra_info("peername"))
            protocol.peer = self._peer(address, request.transport, self.reloader.current)
        return protocol.peer

    def _handshake_failed(self, address: str, exc: BaseException, started: Any) -> None:
        failure = classify_handshake_error(exc)
        if failure.code == "closed":
            # a port probe or a client that gave up before saying anything: not worth a record
            log.debug("connection from %s closed during the TLS handshake (%s)", address, failure.detail)
            return
        log.info("TLS handshake from %s refused: %s (%s)", address, failure.reason, failure.code)
        rec = refusal("tls", failure.reason, peer=address, log_start=started)
        rec.error = failure.detail
        rec.message_guid = new_message_guid()
        self.record(rec)

    # --- the log ----------------------------------------------------------------------

    def record(self, rec: MplRecord) -> None:
        if self.journal is not None:
            self.journal.record(rec)

    async def arecord(self, rec: MplRecord) -> None:
        """Record *rec*, waiting without blocking while the MPL writer is behind (see Journal.arecord)."""
        if self.journal is not None:
            await self.journal.arecord(rec)

    @staticmethod
    def attachment(item: LogAttachment) -> Attachment:
        data = item.text.encode() if isinstance(item.text, str) else bytes(item.text)
        return Attachment(item.name, item.media_type, data)


def _address(peername: Any) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        host = str(peername[0])
        return f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
    return "unknown"


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on *host*:*port* (0 = any free port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind the listening socket, raising CpimockError with the fix when the port is taken."""
    from cpimock.errors import CpimockError

    try:
        return _bind(host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise CpimockError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host"
        ) from None
