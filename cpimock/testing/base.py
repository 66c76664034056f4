"""What both test tenants share: the workspace, iFlows, keys, the MPL and step errors (all synchronous)."""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import datetime as dt
import itertools
import json
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cpimock.config import DEFAULT_ROLE, Adapter, ClientAuthSetting, load_config
from cpimock.errors import CpimockError
from cpimock.http.server import Server, bind
from cpimock.identity.tokens import load_signing_key
from cpimock.iflows.model import PREFIXES
from cpimock.message import Message
from cpimock.mpl.journal import Journal
from cpimock.mpl.record import MplRecord
from cpimock.mpl.sql import Where
from cpimock.pki.clock import REAL_CLOCK, Clock, validity_start
from cpimock.pki.keys import KeyBatch
from cpimock.steps.groovy.step import parse_reference as parse_groovy_reference
from cpimock.testing.config import IFlowSpec, render_config
from cpimock.testing.exports import ExportSpec, read_export
from cpimock.testing.keypool import POOL
from cpimock.testing.keys import TenantKey, existing_key, issue_key, pooled_pki
from cpimock.testing.steps import forget, is_registered, register
from cpimock.testing.untrusted import UntrustedKey
from cpimock.workspace.create import DEMO_KEY, ensure_workspace
from cpimock.workspace.keys import key_path, point_keys, revoke_record, rotate_key
from cpimock.workspace.registry import Registry

Step = Callable[[Message], Any] | str


_TENANT_NUMBERS = itertools.count(1)


RUNNING: set[TenantBase] = set()


_TEMPLATE_LOCK = threading.Lock()


_TEMPLATE: list[Path] = []


class StepFailed(Exception):
    """A step given by reference (``"module:function"``, ``"file.py:function"``) failed during the test."""


@dataclass(frozen=True)
class IFlow:
    """An iFlow registered with :meth:`Tenant.iflow`."""

    id: str
    address: str
    url: str


# a new workspace's RSA keys: root CA, client CA, server, demo service key, token signing key
_WORKSPACE_KEYS = 5


def _new_workspace(root: Path) -> None:
    """A default workspace with its own PKI, its RSA keys generated at once, on threads."""
    keys = KeyBatch(_WORKSPACE_KEYS)
    ensure_workspace(root, key_source=keys)
    # the token signing key too: made at the server's start otherwise, after the others
    load_signing_key(root / "certs", keys)


def _template() -> Path:
    """A default workspace made once per process (the RSA keys of its PKI take a while)."""
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            folder = Path(tempfile.mkdtemp(prefix="cpimock-template-"))
            atexit.register(shutil.rmtree, folder, True)
            _new_workspace(folder / "ws")
            _TEMPLATE.append(folder / "ws")
        return _TEMPLATE[0]


class TenantBase:
    """What both tenants share: the workspace, iFlows, keys, the MPL and step errors (all synchronous)."""

    def __init__(
        self,
        *,
        client_auth: ClientAuthSetting = "auto",
        fresh_pki: bool = False,
        now: dt.datetime | None = None,
        host: str | None = None,
    ) -> None:
        self._number = next(_TENANT_NUMBERS)
        self._host = host  # [tenant] host: keys carry it, other Host values get the router's 404
        self._clock = Clock.at(now) if now is not None else REAL_CLOCK
        self._client_auth: ClientAuthSetting = client_auth
        self._fresh_pki = fresh_pki
        self._tmp: Path | None = None
        self._sock: socket.socket | None = None
        self._server: Server | None = None
        self._iflows: dict[tuple[str, str], IFlowSpec] = {}  # by prefix and lower-case address
        self._exports: dict[Path, ExportSpec] = {}  # by the export's path
        self._step_names: list[str] = []
        self._keys: dict[str, TenantKey] = {}
        self._instances: dict[str, frozenset[str]] = {}
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._seen_seq = 0
        self._base_config: Any = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<cpimock {type(self).__name__} {where}>"

    # --- where it is ------------------------------------------------------------------

    @property
    def server(self) -> Server:
        if self._server is None:
            raise CpimockError(f"{type(self).__name__} is not started; use it in a with block or call start() first")
        return self._server

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``; iFlows are under ``/http``."""
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def root(self) -> Path:
        """The workspace folder (removed when the tenant stops)."""
        return self.server.root

    @property
    def ca_path(self) -> Path:
        """The root CA that signed the server's certificate (and the client CA): trust this."""
        return self.root / "certs" / "root-ca.pem"

    @property
    def ca_pem(self) -> str:
        return self.ca_path.read_text(encoding="ascii")

    @property
    def journal(self) -> Journal:
        journal = self.server.journal
        if journal is None:
            raise CpimockError("the message processing log is off in this tenant")
        return journal

    @property
    def now(self) -> dt.datetime:
        """The tenant clock: the time (UTC) at which the tenant judges certificates."""
        return self._clock.now()

    @now.setter
    def now(self, when: dt.datetime) -> None:
        """Set the tenant clock to *when* (it runs on from there), e.g. to the day a key expires;
        a time without a zone is UTC."""
        self._clock = Clock.at(when)
        if self._server is not None:
            self.server.reloader.rebuild(clock=self._clock)

    def ssl_context(self, key: TenantKey | None = None) -> ssl.SSLContext:
        """A client context that trusts the tenant, presenting *key*'s certificate when given."""
        if key is not None:
            return key.ssl_context()
        return ssl.create_default_context(cafile=str(self.ca_path))

    # --- iFlows -----------------------------------------------------------------------

    def iflow(
        self,
        address: str,
        steps: Sequence[Step] = (),
        *,
        iflow_id: str | None = None,
        role: str = DEFAULT_ROLE,
        csrf: bool = False,
        authorization: Literal["user-role", "client-certificate"] = "user-role",
        client_certificates: Sequence[tuple[str, str]] = (),
        auth_methods: Sequence[str] = (),
        allowed_headers: Sequence[str] = (),
        return_exception_to_sender: bool = False,
        state: Literal["started", "stopped"] = "started",
        timeout_s: float | None = None,
        max_body_mb: float | None = None,
        adapter: Adapter = "https",
        **channel: str | int | float | bool | Path | None,
    ) -> IFlow:
        """Deploy an iFlow at ``/http<address>`` whose steps are plain functions or references.

        A step takes a :class:`~cpimock.message.Message` and returns it (or None), sync or async,
        as in ``cpimock.toml``. Registering an address again replaces its iFlow. Raises
        :class:`~cpimock.errors.CpimockError` for what ``cpimock.toml`` would refuse.

        *adapter* ``"soap"``, ``"soap-rm"`` or ``"idoc"`` deploys a SOAP 1.x, SOAP (SAP RM) or
        IDoc sender channel at ``/cxf<address>`` instead; *channel* takes that adapter's keys of
        ``cpimock.toml`` (``message_exchange_pattern="one-way"``, ``processing="robust"``,
        ``wsdl=path``, ``service``, ``port``, ``ws_addressing``, ``one_way_status``,
        ``duplicates``, ``invalid_xml_characters``, ``idoc_answer``). A ``wsdl`` path is relative
        to the caller's folder. ``log_level="DEBUG"`` (any key of an ``[[iflows]]`` table) sets the
        iFlow's log level for every adapter.
        """
        refs = [self._step_ref(step) for step in steps]
        flow_id = iflow_id or _id_of(address)
        options: dict[str, str | int | float | bool | None] = {}
        for key, value in channel.items():
            if isinstance(value, Path) or (key == "wsdl" and isinstance(value, str)):
                value = str(Path(value).resolve())  # relative to the caller, not the temporary workspace
            options[key] = value
        spec = IFlowSpec(
            flow_id,
            address,
            tuple(refs),
            role=role,
            csrf=csrf,
            authorization=authorization,
            client_certificates=tuple(client_certificates),
            auth_methods=tuple(auth_methods),
            allowed_headers=tuple(allowed_headers),
            return_exception_to_sender=return_exception_to_sender,
            state=state,
            timeout_s=timeout_s,
            max_body_mb=max_body_mb,
            adapter=adapter,
            channel=tuple(options.items()),
        )
        before = dict(self._iflows)
        prefix = PREFIXES.get(adapter, "/http")
        self._iflows[(prefix, address.lower())] = spec
        try:
            self._apply()
        except BaseException:
            self._iflows = before
            self._apply()
            raise
        path = address if address.startswith("/") else "/" + address
        return IFlow(flow_id, address, f"{self.url}{prefix}{path}" if self._server else f"{prefix}{path}")

    def add_export(
        self,
        path: str | Path,
        *,
        parameters: Mapping[str, str] | None = None,
        flows: Sequence[str] = (),
        replace: Mapping[str, Step] | None = None,
        strict: bool = False,
        flow_parameters: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[IFlow]:
        """Serve a CPI iFlow export (a flow zip, a package zip or a folder): one :class:`IFlow` per
        sender channel cpimock serves, in the export's order.

        *parameters* set its externalized parameters as CPI's *Configure* dialog does (of a
        package, every flow's; *flow_parameters* one flow's, by its id); *flows* picks flows of a
        package; *replace* runs a step (a plain function, as in :meth:`iflow`, or a reference)
        instead of a script: ``{"script1.groovy": convert}``. *strict* refuses a flow whose steps
        cpimock skips. Adding the same file again replaces it. Raises
        :class:`~cpimock.errors.CpimockError` naming what keeps the export from being served.
        """
        source = Path(path).resolve()  # relative to the caller, not the temporary workspace
        values = {name: str(value) for name, value in (parameters or {}).items()}
        own = {flow: {n: str(v) for n, v in pairs.items()} for flow, pairs in (flow_parameters or {}).items()}
        taken, channels = read_export(source, values, own, tuple(flows))
        spec = ExportSpec(
            source,
            tuple(flows),
            strict,
            tuple(values.items()),
            tuple((script, self._step_ref(step)) for script, step in (replace or {}).items()),
            tuple((flow, tuple(pairs.items())) for flow, pairs in own.items()),
            taken,
        )
        before = dict(self._exports)
        self._exports[source] = spec
        try:
            self._apply()
        except BaseException:
            self._exports = before
            self._apply()
            raise
        base = self.url if self._server else ""
        return [IFlow(flow_id, address, base + url_path) for flow_id, address, url_path in channels]

    def _step_ref(self, step: Step) -> str:
        if isinstance(step, str):
            groovy = parse_groovy_reference(step)
            if groovy is not None:  # a script file: relative to the caller too
                return f"{Path(groovy[0]).resolve()}:{groovy[1]}"
            target, _, attr = step.rpartition(":")
            if target.endswith(".py") or "/" in target:
                return f"{Path(target).resolve()}:{attr}"  # relative to the caller, not the temporary workspace
            return step
        if not callable(step):
            raise CpimockError(f"step {step!r}: give a function taking a Message, or 'module:function'")
        name, ref = register(step, f"t{self._number}", self._capture)
        self._step_names.append(name)
        return ref

    def _capture(self, exc: BaseException) -> None:
        with self._errors_lock:
            self._errors.append(exc)

    # --- keys -------------------------------------------------------------------------

    def service_key(
        self,
        name: str | None = None,
        *,
        roles: Sequence[str] = (DEFAULT_ROLE,),
        key_type: Literal["certificate", "clientid-secret"] = "certificate",
        days: int | dt.timedelta = 365,
        not_before: dt.datetime | None = None,
        expired: bool = False,
    ) -> TenantKey:
        """A service key of an instance with *roles*; asking again for the same name and kind gives the same key.

        *days* is the certificate's validity (days, or a ``timedelta`` from a minute: a key that
        expires during the test); *not_before* starts it later (a key not valid yet), and
        *expired* makes one that expired a day before the tenant clock's now, for rejecting twins.
        """
        name = name or f"key{len(self._keys) + 1}"
        wanted = frozenset(roles)
        length = dt.timedelta(days=days) if isinstance(days, int) else days
        start = validity_start(length, now=self.now, not_before=not_before, expired=expired)
        known = self._keys.get(name)
        if known is not None and (known.roles, known.key_type, known.days) == (wanted, key_type, days) and not start:
            return known
        instance = next((n for n, r in self._instances.items() if r == wanted), None)
        if instance is None:
            instance = next(f"instance{n}" for n in itertools.count(1) if f"instance{n}" not in self._instances)
            self._instances[instance] = wanted
            self._apply()
        key = issue_key(
            self.server.snapshot, name, instance, wanted, key_type, days, replace=known is not None, not_before=start
        )
        return self._keep(key)

    def _keep(self, key: TenantKey) -> TenantKey:
        key.owner = self
        self._keys[key.name] = key
        self._reload()
        return key

    # what a TenantKey asks of its tenant (revoke, renew, rotate)

    def revoke_key(self, key: TenantKey) -> None:
        config = load_config(self.server.snapshot.config.path)
        registry = Registry.load(config.certs_dir)
        revoke_record(pooled_pki(self.server.snapshot), registry, registry.get(key.name))
        self._reload()

    def renew_key(self, key: TenantKey, days: int | dt.timedelta) -> TenantKey:
        renewed = issue_key(self.server.snapshot, key.name, key.instance, key.roles, key.key_type, days, replace=True)
        return self._keep(renewed)

    def rotate_key(
        self, key: TenantKey, name: str | None, old_until: dt.datetime | None, days: int | dt.timedelta
    ) -> TenantKey:
        snapshot = self.server.snapshot
        config = load_config(snapshot.config.path)
        registry = Registry.load(config.certs_dir)
        _, record = rotate_key(
            config, pooled_pki(snapshot), registry, key.name, new_name=name, old_until=old_until, days=days, at=self.now
        )
        data = json.loads(key_path(config, record).read_text(encoding="utf-8"))
        successor = TenantKey(
            record.name, key.instance, key.roles, "certificate", days, key_path(config, record), data, key.ca_root_path
        )
        return self._keep(successor)

    def untrusted_key(self, name: str = "untrusted") -> UntrustedKey:
        """A client certificate from a throw-away CA the tenant does not trust: for the rejecting twin
        of a test (the tenant refuses it in the TLS handshake, or with 401 when client
        certificates are optional)."""
        return UntrustedKey(name, self.root / "untrusted" / name, self.ca_path)

    @property
    def demo_key(self) -> TenantKey:
        """The workspace's ``demo-sender`` key (Certificate, ``ESBMessaging.send``)."""
        if DEMO_KEY not in self._keys:
            self._keys[DEMO_KEY] = existing_key(self.server.snapshot, DEMO_KEY)
            self._keys[DEMO_KEY].owner = self
        return self._keys[DEMO_KEY]

    # --- the MPL and step errors --------------------------------------------------------

    def messages(self, iflow: str | None = None, status: str | None = None) -> list[MplRecord]:
        """Every message logged since the last :meth:`clear`, oldest first, with bodies."""
        self._settled()
        journal = self.journal
        journal.flush()
        return journal.query(
            Where.of(iflow=iflow, status=status), order=(("seq", False),), limit=1_000_000, bodies=True
        )

    def message(self, guid: str) -> MplRecord | None:
        """One message with its custom header properties and attachments."""
        self._settled()
        self.journal.flush()
        return self.journal.get(guid)

    def take_errors(self) -> list[BaseException]:
        """The step failures since the last call (and forget them): for tests that make steps fail."""
        if self._server is not None:
            self._settled()
        with self._errors_lock:
            errors, self._errors = self._errors, []
        if self._server is None or self._server.journal is None:
            return errors
        journal = self._server.journal
        journal.flush()
        records = journal.query(Where("seq > ?", (self._seen_seq,)), order=(("seq", False),), limit=1_000_000)
        self._seen_seq = max([self._seen_seq, *(r.seq or 0 for r in records)])
        for rec in records:
            if rec.error_step and not is_registered(rec.error_step):
                errors.append(
                    StepFailed(
                        f"integration flow {rec.integration_flow_name}: {rec.error} (message {rec.message_guid})"
                    )
                )
        return errors

    def check(self) -> None:
        """Re-raise the first exception a step raised since the last check or :meth:`clear`."""
        errors = self.take_errors()
        if errors:
            raise errors[0]

    def clear(self) -> None:
        """Forget the iFlows registered from Python and the exports added, the MPL and the step errors (keys stay)."""
        self.take_errors()
        if self._iflows or self._exports:
            self._iflows.clear()
            self._exports.clear()
            self._apply()
        self._forget_steps()
        if self._server is not None:
            self._server.endpoint.forget_deliveries()  # SOAP (SAP RM) ids: a test may send the same again
            if self._server.journal is not None:
                self._server.journal.clear()

    def _settled(self) -> None:
        """Before the MPL is read: the steps of one-way calls answered before they ran have ended."""

    def _forget_steps(self) -> None:
        forget(self._step_names)
        self._step_names.clear()

    # --- the workspace ------------------------------------------------------------------

    def _prepare(self) -> tuple[Path, socket.socket]:
        """Make the workspace and bind the port: the config and keys carry the real port."""
        self._tmp = Path(tempfile.mkdtemp(prefix="cpimock-tenant-"))
        root = self._tmp / "ws"
        if self._fresh_pki:
            _new_workspace(root)
        else:
            shutil.copytree(_template(), root)
        sock = bind("127.0.0.1", 0)
        self._sock = sock
        base = load_config(root / "cpimock.toml")
        if self._host is not None:
            base = dataclasses.replace(base, tenant=dataclasses.replace(base.tenant, host=self._host.lower()))
        self._base_config = base
        self._instances = {n: i.roles for n, i in base.instances.items()}
        port = sock.getsockname()[1]
        self._write(root, port)
        point_keys(load_config(root / "cpimock.toml"), Registry.load(base.certs_dir), port)  # the demo key
        return root, sock

    def _write(self, root: Path, port: int) -> None:
        text = render_config(
            self._base_config, port, self._client_auth, self._instances, self._iflows.values(), self._exports.values()
        )
        (root / "cpimock.toml").write_text(text, encoding="utf-8")

    def _apply(self) -> None:
        if self._server is None or self._sock is None:
            return
        self._write(self._server.root, self._server.port)
        self._reload()

    def _reload(self) -> None:
        """Rebuild the server's snapshot now, strictly: a step or a WSDL that does not load raises here."""
        snapshot = self.server.reloader.rebuild()
        self.server.endpoint.check(snapshot)

    def _cleanup(self) -> None:
        self._forget_steps()
        RUNNING.discard(self)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _abandon(self) -> None:
        """At interpreter exit, for a tenant nobody stopped: release the port, the log and the files."""
        if self._server is not None and self._server.journal is not None:
            self._server.journal.close(timeout=5.0)
        self._server = None
        self._cleanup()

    async def _astart(self) -> None:
        if self._server is not None:
            raise CpimockError(f"{self!r} is already running")
        POOL.fill()
        root, sock = await asyncio.to_thread(self._prepare)
        server = Server(
            root, host="127.0.0.1", sock=sock, client_auth=self._client_auth, watch=False, clock=self._clock
        )
        try:
            await server.start()
        except BaseException:
            await server.stop()
            self._cleanup()
            raise
        self._server = server
        RUNNING.add(self)

    async def _astop(self) -> None:
        server, self._server = self._server, None
        try:
            if server is not None:
                await server.stop()
        finally:
            self._cleanup()


def _id_of(address: str) -> str:
    text = "".join(c if c.isalnum() or c in "_-." else "_" for c in address.strip("/").removesuffix("/*"))
    return text or "root"
