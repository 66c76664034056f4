"""``cpimock serve``: run the tenant's HTTPS endpoint until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from cpimock import __version__
from cpimock.cli.options import shown, warn_days_option, workspace_option
from cpimock.config import CONFIG_NAME, ClientAuthSetting, load_config
from cpimock.config.hosts import TenantHosts
from cpimock.errors import CpimockError
from cpimock.http.server import Server, bind
from cpimock.net import is_loopback
from cpimock.pki.clock import REAL_CLOCK, Clock, parse_instant
from cpimock.pki.exports import export_files, write_files
from cpimock.pki.servicekey import read_service_key
from cpimock.tenant.snapshot import Snapshot, build_snapshot
from cpimock.workspace.create import DEMO_IDOC, DEMO_KEY, ensure_workspace
from cpimock.workspace.expiry import log_warnings, warn_daily
from cpimock.workspace.keys import keys_dir, point_keys
from cpimock.workspace.registry import Registry
from cpimock.workspace.tenant_host import set_tenant_host

log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.0005
# the adapters as CPI's channel dialog names them
_ADAPTER_NAMES = {"https": "HTTPS", "soap": "SOAP 1.x", "soap-rm": "SOAP (SAP RM)", "idoc": "IDoc"}


@click.command("serve")
@workspace_option("Workspace folder; created with a demo iFlow and service key if it has no cpimock.toml.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path of cpimock.toml (its folder is the workspace).",
)
@click.option("--host", help="Address to listen on [default: server.host of cpimock.toml, 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: server.port, 8443]; 0 = any free port.")
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes sharing the port [default: 1].")
@click.option(
    "--client-auth",
    type=click.Choice(["required", "optional", "auto"]),
    help="required: no certificate, no handshake; optional: let callers without one get a 401 "
    "or use Basic/OAuth; auto: required unless an iFlow accepts Basic/OAuth [default: auto].",
)
@click.option(
    "--tenant-host",
    metavar="HOST",
    help="Serve as the tenant at this runtime host (written to [tenant] host of cpimock.toml): keys and the "
    "server certificate carry it, other hosts get the router's 404.",
)
@click.option("--expose", is_flag=True, help="Allow a non-loopback --host with the workspace's own CA.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info", show_default=True)
@warn_days_option()
@click.option(
    "--now",
    "now_text",
    metavar="WHEN",
    help="Run the tenant clock from this time (2027-11-20, 2027-11-20T10:30, +30d): certificates are judged "
    "then, to rehearse the day a certificate expires.",
)
def command(
    workspace: Path,
    config_file: Path | None,
    host: str | None,
    port: int | None,
    tenant_host: str | None,
    workers: int | None,
    client_auth: ClientAuthSetting | None,
    expose: bool,
    log_level: str,
    warn_days: int,
    now_text: str | None,
) -> None:
    """Serve the workspace's integration flows at https://HOST:PORT/http/<address>.

    Every sender must present a client certificate of a service key (or, where an iFlow accepts
    them, Basic credentials or an OAuth token). Ctrl-C stops accepting, lets requests in flight
    finish, and exits.
    """
    _setup_logging(log_level)
    clock = Clock.at(parse_instant(now_text, "--now")) if now_text else REAL_CLOCK
    root = (config_file.parent if config_file else workspace).resolve()
    if config_file and config_file.name != CONFIG_NAME:
        raise CpimockError(f"--config {config_file}: the file must be named {CONFIG_NAME}; rename it")
    fresh = not (root / CONFIG_NAME).exists()
    if fresh:
        click.echo(f"No {CONFIG_NAME} in {root}: creating a workspace there (as `cpimock init` would).")
        _, created = ensure_workspace(root, tenant_host)
        for path in created:
            click.echo(f"  created {shown(path)}")
    elif tenant_host is not None:
        before = load_config(root / CONFIG_NAME)
        if set_tenant_host(before, tenant_host).tenant.host != before.tenant.host:
            click.echo(f"Set [tenant] host = {tenant_host.lower()!r} in {shown(root / CONFIG_NAME)}")
    snapshot = build_snapshot(root, client_auth, clock=clock)
    config = snapshot.config
    host = host or config.server.host
    _check_exposure(host, expose or config.server.expose)
    workers = workers or config.server.workers
    sock = bind(host, config.server.port if port is None else port, reuse_port=workers > 1)
    served = sock.getsockname()[1]
    moved = point_keys(config, Registry.load(config.certs_dir), served)
    if moved and not fresh:  # a workspace made just now: its keys simply carry the served port
        hosts = TenantHosts.of(config)
        click.echo(f"Service keys now carry {hosts.base_url(served)} (url and tokenurl): {', '.join(sorted(moved))}")
    demo = _demo_files(snapshot)
    _banner(snapshot, host, served, workers, demo)
    options = _Options(host, sock, client_auth, warn_days, clock)
    if workers == 1:
        sys.exit(_run(root, options, (1, 1)))
    sys.exit(_supervise(workers, lambda number: _run(root, options, (number, workers))))


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # aiohttp reports malformed requests from clients at ERROR with a traceback; a client's
    # bytes are not the server's error, so only their one-line summary is kept
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)


def _check_exposure(host: str, expose: bool) -> None:
    if not is_loopback(host) and not expose:
        raise CpimockError(
            f"--host {host} would expose the tenant beyond this machine while its CA keys lie unencrypted "
            "in certs/; add --expose if that is what you want (a test network, a container)"
        )


def _demo_files(snapshot: Snapshot) -> dict[str, Path] | None:
    """cert.pem, key.key and ca.pem of the demo key next to it, written once, for the printed curl line."""
    config = snapshot.config
    record = snapshot.registry.records.get(DEMO_KEY)
    key_file = keys_dir(config) / f"{DEMO_KEY}.json"
    if record is None or record.revoked or not key_file.exists():
        return None
    folder = keys_dir(config) / DEMO_KEY
    names = {"cert.pem": folder / "cert.pem", "key.key": folder / "key.key", "ca.pem": folder / "ca.pem"}
    if not all(p.exists() for p in names.values()):
        try:
            files, _ = export_files(read_service_key(key_file), pfx_password=None, alias=DEMO_KEY)
            write_files(folder, files)
        except CpimockError as exc:
            log.warning("cannot write the demo key's PEM files: %s", exc)
            return None
    return names


def _banner(snapshot: Snapshot, host: str, port: int, workers: int, demo: dict[str, Path] | None) -> None:
    config = snapshot.config
    shown_host = f"[{host}]" if ":" in host else host
    url = f"https://{shown_host}:{port}"
    hosts = TenantHosts.of(config)
    resolve = ""
    if hosts.runtime is not None:  # the URLs senders use; curl reaches them without /etc/hosts
        url = hosts.base_url(port)
        resolve = f" --resolve {hosts.runtime}:{port}:{host if is_loopback(host) else '127.0.0.1'}"
    echo = click.echo
    echo(f"cpimock {__version__}: tenant {config.tenant.name}, workspace {config.root}")
    if hosts.runtime is not None:
        names = " ".join(hosts.certificate_names())
        echo(f"Tenant host: {hosts.runtime}; other hosts get the router's 404. Map it in /etc/hosts:")
        echo(f"  127.0.0.1 {names}")
    echo(f"Client certificates: {snapshot.client_auth} ({snapshot.client_auth_reason})")
    if snapshot.clock.shifted:
        echo(f"Tenant clock: {snapshot.clock.now():%Y-%m-%d %H:%M} UTC (--now): certificates are judged at this time")
    if workers > 1:
        echo(f"Workers: {workers} processes on one port")
    echo("Integration flows:")
    channels = [(iflow, channel) for iflow in snapshot.iflows.values() for channel in iflow.channels]
    width = max((len(c.url_path) for _, c in channels), default=0) + len(url) + 1
    sources = {served.flow.id: served.settings.export for served in snapshot.exports}
    for iflow, channel in channels:
        rule = channel.role if channel.authorization == "user-role" else "client certificate subject/issuer list"
        state = "" if iflow.state == "started" else f" [{iflow.state}]"
        kind = "" if channel.adapter == "https" else f"{_ADAPTER_NAMES[channel.adapter]}, "
        source = f" from {sources[iflow.id]}" if iflow.id in sources else ""
        echo(f"  {url + channel.url_path:<{width}}  {iflow.id} ({kind}{rule}){state}{source}")
    if not channels:
        echo("  none yet: add [[iflows]] to cpimock.toml, or an export with `cpimock iflow add Flow.zip`")
    _export_warnings(snapshot)
    if config.journal.enabled:
        echo(f"Message monitor: {url}/monitor   (or `cpimock messages`)")
    demo_flow = next((f for f in config.iflows if f.address.lower() == "/clientcertauth"), None)
    if demo and demo_flow:
        certificate = (
            f"--cert {shown(demo['cert.pem'])} --key {shown(demo['key.key'])} --cacert {shown(demo['ca.pem'])}"
        )
        echo("Call the demo iFlow with its service key's certificate:")
        json_body = "-H 'Content-Type: application/json' -d '{\"name\": \"Ada\"}'"
        echo(f"  curl {certificate}{resolve} {json_body} {url}/http{demo_flow.address}")
        idoc = next((f for f in config.iflows if f.adapter == "idoc" and f.address == "/idoc/orders"), None)
        if idoc is not None and (config.root / DEMO_IDOC).is_file():
            echo("Send the demo IDoc as an S/4 XML-HTTP port would (docs/s4hana.md sets S/4 up):")
            echo(
                f"  curl {certificate}{resolve} -H 'Content-Type: text/xml' --data-binary @{DEMO_IDOC} "
                f"{url}/cxf{idoc.address}"
            )
    echo("Press Ctrl-C to stop.")


def _export_warnings(snapshot: Snapshot) -> None:
    """What the served exports leave out (steps, channels, handlers), so that nobody takes it for CPI's behaviour."""
    for served in snapshot.exports:
        warnings = served.warnings
        if not warnings:
            continue
        click.secho(f"Warnings of iFlow {served.flow.id} ({served.settings.export}):", fg="yellow")
        for line in warnings:
            click.secho(f"  {line.where}: {line.text}", fg="yellow")
        strict = "strict = true would refuse to serve it; " if served.skipped else ""
        click.echo(f"  ({strict}`cpimock iflow inspect {served.settings.export}` says more)")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@dataclass(frozen=True)
class _Options:
    """What every worker serves with."""

    host: str
    sock: socket.socket
    client_auth: ClientAuthSetting | None
    warn_days: int
    clock: Clock


def _run(root: Path, options: _Options, worker: tuple[int, int]) -> int:
    _raise_open_files_limit()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(root, options, worker))


async def _serve(root: Path, options: _Options, worker: tuple[int, int]) -> int:
    loop = asyncio.get_running_loop()
    # the MPL writer thread needs the GIL back after each SQLite statement; with the default
    # 5 ms switch interval a busy event loop starves it and the log falls behind the requests
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server = Server(root, host=options.host, sock=options.sock, client_auth=options.client_auth, clock=options.clock)
    try:
        await server.start()
    except CpimockError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return 1
    # what start-up loaded (modules, the workspace and its certificates) lives as long as the
    # process: out of the collector's sight, a full collection under load no longer walks it
    # (20-40 ms during which no request is answered). Only the cycles of the first snapshot,
    # once a reload has replaced it, stay behind.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reloading: set[asyncio.Task[bool]] = set()

    def hup() -> None:
        # a storm of SIGHUPs costs one reload at a time; the file watcher catches later changes
        if not reloading:
            task = loop.create_task(server.reloader.reload("SIGHUP"))
            reloading.add(task)
            task.add_done_callback(reloading.discard)

    loop.add_signal_handler(signal.SIGHUP, hup)
    number, workers = worker
    warner = None
    if number == 1:  # one worker warns for all of them
        clock = options.clock.now
        log_warnings(server.snapshot.registry.records.values(), clock(), options.warn_days)
        warner = loop.create_task(
            warn_daily(lambda: server.snapshot.registry.records.values(), clock, options.warn_days)
        )
    which = f" (worker {number} of {workers}, pid {os.getpid()})" if workers > 1 else ""
    log.info("listening on %s%s", server.url, which)
    await stop.wait()
    if warner is not None:
        warner.cancel()
    log.info("stopping: no new connections; waiting for requests in flight")
    await server.stop()
    log.info("stopped")
    return 0


def _raise_open_files_limit() -> None:
    """Up to the hard limit: every connection, half-open ones included, holds a file descriptor, and
    the usual soft limit (1,024) runs out long before memory or CPU under many idle senders."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, 1 << 16) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.debug("cannot raise the open files limit: %s", exc)


def _supervise(workers: int, child: Callable[[int], int]) -> int:
    """Fork *workers* processes that share the listening socket; forward signals; wait for them."""
    pids: list[int] = []
    for number in range(1, workers + 1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = child(number)
            finally:
                os._exit(code)
        pids.append(pid)

    def forward(signum: int, _frame: Any) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    worst = 0
    for pid in pids:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries, old kernels aside
                continue
        worst = max(worst, os.waitstatus_to_exitcode(status))
    return worst
