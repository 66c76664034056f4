"""The HTTPS server of a tenant: the accept loop, TLS handshakes, start and graceful stop.

The listening socket accepts plain TCP; each connection's TLS handshake is driven here (with
``loop.connect_accepted_socket``) so that a refused handshake is seen, with its reason and the
peer address, and recorded (asyncio's own TLS server swallows those errors). After the
handshake the presented certificate's facts are worked out once (:mod:`cpimock.http.connection`)
and the connection is handed to aiohttp's HTTP protocol, whose requests the dispatcher of
:mod:`cpimock.http.app` sends to the iFlow endpoint or the application. After a reload, the
next request on each open connection works its identity out again against the new snapshot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from cpimock.adapters.endpoint import Endpoint, EndpointContext
from cpimock.adapters.senders import make_endpoint
from cpimock.config import ClientAuthSetting, ServerConfig
from cpimock.config.hosts import TenantHosts
from cpimock.errors import CpimockError
from cpimock.http import response_headers
from cpimock.http.app import AppParts, Dispatcher, make_app
from cpimock.http.connection import Connection, address_of, establish, peer_of
from cpimock.http.handshakes import Burst, Handshakes
from cpimock.identity.basic import FailureLimiter
from cpimock.identity.csrf import CsrfGuard
from cpimock.identity.tokens import TokenAuthority, load_signing_key
from cpimock.mpl.journal import Journal
from cpimock.mpl.record import MplRecord, new_message_guid, refusal, utcnow
from cpimock.pki.clock import Clock
from cpimock.steps.groovy import servers as groovy_servers
from cpimock.tenant.reloader import Reloader
from cpimock.tenant.snapshot import Snapshot, build_snapshot
from cpimock.tenant.tls import HANDSHAKE_SOCKET, classify_handshake_error

log = logging.getLogger(__name__)

# in-flight requests get this long to finish on Ctrl-C / SIGTERM
SHUTDOWN_GRACE_S = 10.0
# after accept() fails for lack of file descriptors, wait this long before accepting again
ACCEPT_BACKOFF_S = 0.1
# connections taken per wake-up of the listening socket: a storm of them cannot hold the event
# loop away from the connections already open
ACCEPT_BATCH = 64
# connections the kernel completes before they are accepted, while the server waits for room
# among its handshakes (see cpimock.http.handshakes). A burst beyond the backlog is not refused
# but left half-open in the kernel, where a sender can hang for a minute; so ask for as many as
# the kernel grants (it caps the number at net.core.somaxconn, 4096 on current Linux)
LISTEN_BACKLOG = 65535


@dataclass(slots=True)
class _Running:
    """Everything a started server holds; the server has one from start() until stop()."""

    loop: asyncio.AbstractEventLoop
    reloader: Reloader
    journal: Journal | None
    authority: TokenAuthority
    endpoint: Endpoint
    runner: web.AppRunner
    listening: socket.socket
    handler_kwargs: dict[str, Any]
    record: Callable[[MplRecord], None]


class Server:
    """One tenant served from a workspace folder: ``async with Server(root) as server: ...``."""

    def __init__(
        self,
        root: Path,
        *,
        host: str | None = None,
        port: int | None = None,
        client_auth: ClientAuthSetting | None = None,
        sock: socket.socket | None = None,
        watch: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self._clock = clock
        self._client_auth = client_auth
        self._host = host
        self._port = port
        self._sock = sock
        self._watch = watch
        self.limiter = FailureLimiter()
        self.host = host or "127.0.0.1"
        self.port = 0
        self._running: _Running | None = None
        self._retry_accept: asyncio.TimerHandle | None = None
        self._handshakes = Handshakes(
            ServerConfig().max_handshakes, on_room=self._room_again, on_burst_end=self._record_flood
        )
        self._waiting_for_room = False
        # the MPL's record function, from start until the journal is closed (a flood may end in stop)
        self._record: Callable[[MplRecord], None] | None = None

    def __repr__(self) -> str:
        return f"<cpimock Server {self.url} workspace={self.root}>"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def running(self) -> _Running:
        if self._running is None:
            raise CpimockError(f"{self!r} is not started; use it in an async with block or call start() first")
        return self._running

    @property
    def reloader(self) -> Reloader:
        return self.running.reloader

    @property
    def snapshot(self) -> Snapshot:
        return self.running.reloader.current

    @property
    def journal(self) -> Journal | None:
        return self._running.journal if self._running is not None else None

    @property
    def authority(self) -> TokenAuthority:
        return self.running.authority

    @property
    def endpoint(self) -> Endpoint:
        """The iFlow endpoint: its :meth:`~Endpoint.settle` waits for steps still running after their answer."""
        return self.running.endpoint

    # --- start and stop ----------------------------------------------------------------

    async def start(self) -> None:
        """Load the workspace (raising CpimockError when it does not load), bind, and serve."""
        if self._running is not None:
            raise CpimockError(f"{self!r} is already started")
        loop = asyncio.get_running_loop()
        snapshot = await asyncio.to_thread(build_snapshot, self.root, self._client_auth, clock=self._clock)
        config = snapshot.config
        reloader = Reloader(snapshot, self._client_auth)
        journal = None
        if config.journal.enabled:
            journal = await asyncio.to_thread(Journal.open, config.db_path, config.journal)
        try:
            key = await asyncio.to_thread(load_signing_key, config.certs_dir)
            self.host = self._host or config.server.host
            port = config.server.port if self._port is None else self._port
            sock = self._sock or bind(self.host, port)
        except BaseException:
            if journal is not None:
                await journal.aclose()
            raise
        self.port = sock.getsockname()[1]
        authority = TokenAuthority(
            key,
            config.tenant.name,
            TenantHosts.of(config).token_urls(self.port),
            lifetime_s=config.oauth.token_lifetime_s,
        )
        # one secret per workspace, so that every worker process accepts the others' tokens
        csrf = CsrfGuard(hashlib.sha256(b"cpimock csrf\0" + key.private_numbers().d.to_bytes(256, "big")).digest())

        # the journal's own methods, so that recording a request takes no call of its own
        # through a wrapper; without a journal, nothing is recorded
        record: Callable[[MplRecord], None] = journal.record if journal is not None else _unrecorded
        arecord: Callable[[MplRecord], Awaitable[None]] = journal.arecord if journal is not None else _aunrecorded

        def current() -> Snapshot:
            return reloader.current

        logged = journal.holds if journal is not None else (lambda guid: False)
        context = EndpointContext(current, peer_of, authority, self.limiter, record, arecord, loop, logged)
        endpoint = make_endpoint(context, csrf)
        try:
            endpoint.check(snapshot)
        except BaseException:
            if journal is not None:
                await journal.aclose()
            if self._sock is None:
                sock.close()
            raise
        app = make_app(AppParts(current, endpoint, authority, self.limiter, journal, lambda: self.url))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        assert runner.server is not None
        runner.server.request_handler = Dispatcher(
            endpoint, runner.server.request_handler, lambda: reloader.current.host_routes, self.host
        )
        response_headers.install(runner.server, app)
        handler_kwargs = {
            "keepalive_timeout": config.server.keepalive_timeout_s,
            "max_line_size": config.server.max_header_size,
            "max_field_size": config.server.max_header_size,
            "max_headers": config.server.max_headers,
            "access_log": None,
        }
        sock.setblocking(False)
        self._running = _Running(loop, reloader, journal, authority, endpoint, runner, sock, handler_kwargs, record)
        self._record = record
        groovy_servers.server_started()
        self._start_accepting()
        if self._watch:
            reloader.start()

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close everything."""
        running, self._running = self._running, None
        if running is None:
            return
        self._stop_accepting(running)
        if self._sock is None:  # bound here, so closed here; a socket handed in stays its owner's
            running.listening.close()
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        runner = running.runner
        await runner.shutdown()
        transports = []
        if runner.server is not None:
            # idle keep-alive connections close now; only requests in flight get the grace period
            for conn in runner.server.connections:
                conn.close()
                transports.append(conn.transport)
            await runner.server.shutdown(SHUTDOWN_GRACE_S)
        await runner.cleanup()
        # steps still running after their call was answered (one-way SOAP) end, or are cut short and recorded
        await running.endpoint.drain(SHUTDOWN_GRACE_S)
        # a client that never answers the TLS close_notify would keep its socket open for the
        # TLS shutdown timeout, past the end of an event loop that stops after this
        for transport in transports:
            if transport is not None:
                transport.abort()
        await running.reloader.stop()
        self._record = None
        if running.journal is not None:
            await running.journal.aclose()
        # the last server of the process takes the Groovy steps' JVM with it
        await groovy_servers.server_stopped()

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

    # --- connections --------------------------------------------------------------------

    def _start_accepting(self) -> None:
        running = self.running
        self._retry_accept = None
        self._waiting_for_room = False
        running.loop.add_reader(running.listening.fileno(), self._accept)

    def _stop_accepting(self, running: _Running) -> None:
        self._waiting_for_room = False
        if self._retry_accept is not None:
            self._retry_accept.cancel()
            self._retry_accept = None
        if running.listening.fileno() != -1:
            running.loop.remove_reader(running.listening.fileno())

    def _accept(self) -> None:
        """Take the connections waiting on the listening socket, each into its own handshake task.

        The socket stays registered with the event loop for as long as the server accepts, so a
        connection costs no registration and deregistration of it (awaiting ``sock_accept`` for
        each one did that, and re-read the peer's address besides).
        """
        running = self._running
        if running is None:
            return
        loop, listening = running.loop, running.listening
        handshakes = self._handshakes
        handshakes.limit = running.reloader.current.config.server.max_handshakes
        for _ in range(ACCEPT_BATCH):
            wait = handshakes.room()
            if wait is not None:  # the rest wait in the listen backlog until a handshake ends or may give way
                loop.remove_reader(listening.fileno())
                self._waiting_for_room = True
                self._retry_accept = loop.call_later(wait, self._start_accepting)
                return
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
            task = loop.create_task(self._handshake(sock, address_of(peername), running))
            handshakes.add(task)  # at the limit, the handshake that has waited longest gives way

    def _room_again(self) -> None:
        """A handshake ended while new connections waited for room: take them now."""
        if self._waiting_for_room and self._running is not None:
            if self._retry_accept is not None:
                self._retry_accept.cancel()
            self._start_accepting()

    def _record_flood(self, burst: Burst) -> None:
        """One MPL record per flood of handshakes, not one per connection it dropped."""
        if self._record is None:
            return
        reason = (
            f"{burst.dropped} connection(s) dropped before finishing their TLS handshake, longest-waiting first: "
            f"server.max_handshakes = {self._handshakes.limit} handshakes were in progress at once (clients that "
            "send a ClientHello and go silent?)"
        )
        self._record(refusal("tls", reason, peer="(many)", message_guid=new_message_guid()))

    async def _handshake(self, sock: socket.socket, address: str, running: _Running) -> None:
        """TLS on an accepted socket; a refusal is classified, logged and recorded here."""
        loop, snapshot = running.loop, running.reloader.current
        started = utcnow()
        manager, kwargs = running.runner.server, running.handler_kwargs
        assert manager is not None

        def connection() -> Connection:
            conn = Connection(manager, loop=loop, **kwargs)
            conn.generation = snapshot.generation
            conn.unreadable = running.endpoint.unreadable
            return conn

        token = HANDSHAKE_SOCKET.set(sock)
        try:
            transport, _ = await loop.connect_accepted_socket(
                connection,
                sock,
                ssl=snapshot.ssl_context,
                ssl_handshake_timeout=snapshot.config.server.handshake_timeout_s,
            )
        except asyncio.CancelledError:
            sock.close()
            raise
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, EOFError) as exc:
            sock.close()  # a no-op when the transport closed it already
            self._handshake_failed(running, address, exc, started)
            return
        finally:
            HANDSHAKE_SOCKET.reset(token)
        # uvloop hands back its TLS protocol here, asyncio the HTTP one: ask the transport
        conn = transport.get_protocol()
        if isinstance(conn, Connection) and conn.peer is None:
            conn.peer = establish(address, transport, snapshot, snapshot.generation)

    def _handshake_failed(self, running: _Running, address: str, exc: BaseException, started: Any) -> None:
        failure = classify_handshake_error(exc)
        if failure.code == "closed":
            # a port probe or a client that gave up before saying anything: not worth a record
            log.debug("connection from %s closed during the TLS handshake (%s)", address, failure.detail)
            return
        log.info("TLS handshake from %s refused: %s (%s)", address, failure.reason, failure.code)
        rec = refusal("tls", failure.reason, peer=address, log_start=started)
        rec.error = failure.detail
        rec.message_guid = new_message_guid()
        running.record(rec)


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
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _unrecorded(rec: MplRecord) -> None:
    """What records a call when the message processing log is off: nothing."""


async def _aunrecorded(rec: MplRecord) -> None:
    """What records a call when the message processing log is off: nothing."""


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind the listening socket, raising CpimockError with the fix when the port is taken."""
    try:
        return _bind(host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise CpimockError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host"
        ) from None
