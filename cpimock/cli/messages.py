"""``cpimock messages``: what arrived, who sent it, what it got, read from the workspace's log.

It opens ``cpimock.db`` read-only, so it works while ``cpimock serve`` runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from cpimock.cli.options import workspace_option
from cpimock.errors import CpimockError
from cpimock.mpl.journal import Journal, MplRecord, Where
from cpimock.mpl.record import utcnow

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_COLUMNS = ("MESSAGE ID", "STARTED", "STATUS", "HTTP", "IFLOW", "CALLER", "DETAIL")
_WIDTHS = (28, 19, 9, 4, 24, 24, 80)


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """``10m``, ``2h``, ``1d``, ``30s`` before now, or an ISO date/time (local time if no zone)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if m:
        return (now or utcnow()) - dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (10m, 2h, 1d) nor a date (2025-01-31 or 2025-01-31T08:00)",
            param_hint="--since",
        ) from None
    return when.astimezone(dt.UTC) if when.tzinfo is None else when


def _open(workspace: Path) -> Journal:
    return Journal.open_readonly(workspace / "cpimock.db")


def _caller(rec: MplRecord) -> str:
    if rec.service_key:
        return rec.service_key
    if rec.cert_subject:
        cn = re.search(r"CN=([^,]+)", rec.cert_subject)
        return cn.group(1) if cn else rec.cert_subject
    return "-"


def _cells(rec: MplRecord) -> tuple[str, ...]:
    status = "REFUSED" if rec.refused else rec.status
    what = f"{rec.refusal_stage}: {rec.refusal_reason}" if rec.refused else (rec.error or "")
    if not what:
        what = " ".join(x for x in (rec.request_method, rec.request_path) if x)
    # what the message is, when the adapter or the steps said (an IDoc's type and number)
    application = " ".join(x for x in (rec.application_message_type, rec.application_message_id) if x)
    if application:
        what = f"{application} · {what}"
    started = rec.log_start.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    http = str(rec.response_status) if rec.response_status is not None else "-"
    return (
        rec.message_guid,
        started,
        status,
        http,
        rec.integration_flow_name or "-",
        _caller(rec),
        " ".join(what.split()),
    )


def _fit(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 0)] + "…"


def _widths(rows: Sequence[Sequence[str]]) -> tuple[int, ...]:
    """Column widths for *rows* (the header included), each at most its cap; the last column fills the terminal."""
    widths = [min(max(len(r[i]) for r in rows), cap) for i, cap in enumerate(_WIDTHS[:-1])]
    last = max(len(r[-1]) for r in rows)
    if sys.stdout.isatty():
        last = min(last, max(shutil.get_terminal_size().columns - sum(widths) - 2 * len(widths), 20))
    return (*widths, last)


def _line(cells: Sequence[str], widths: Sequence[int] = _WIDTHS) -> str:
    fitted = [_fit(c, w) for c, w in zip(cells, widths, strict=True)]
    return "  ".join(c.ljust(w) for c, w in zip(fitted[:-1], widths, strict=False)) + "  " + fitted[-1]


def _style(text: str, status: str) -> str:
    colour = {
        "COMPLETED": "green",
        "FAILED": "red",
        "REFUSED": "red",
        "RETRY": "yellow",
        "ESCALATED": "yellow",
        "PROCESSING": "blue",
    }.get(status)
    return click.style(text, fg=colour) if colour else text


def _print_row(rec: MplRecord, widths: Sequence[int] = _WIDTHS) -> None:
    cells = _cells(rec)
    click.echo(_style(_line(cells, widths), cells[2]))


def _where(status: str | None, iflow: str | None, since: str | None) -> Where:
    return Where.of(status=status, iflow=iflow, since=parse_since(since) if since else None)


@click.group("messages", invoke_without_command=True)
@click.option("--status", help="Only this status: COMPLETED, FAILED, ... or REFUSED.")
@click.option("--iflow", help="Only messages of this iFlow id.")
@click.option("--since", help="Only messages since 10m, 2h, 1d ago, or since an ISO date/time.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@workspace_option("The workspace folder (default: the current folder).", default=None)
@click.pass_context
def command(
    ctx: click.Context,
    status: str | None,
    iflow: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    workspace: Path | None,
) -> None:
    """List the calls the tenant received, newest first (the message processing log)."""
    ctx.obj = {"workspace": workspace}
    if ctx.invoked_subcommand:
        return
    where = _where(status, iflow, since)
    journal = _open(workspace or Path.cwd())
    try:
        records = journal.query(where, [("log_start", True)], limit)
        total = journal.count(where)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps({"total": total, "messages": [r.summary() for r in records]}, indent=2))
        return
    if not records:
        click.echo("no messages match" if total == 0 and (status or iflow or since) else "no messages yet")
        return
    widths = _widths([_COLUMNS, *(_cells(r) for r in records)])
    click.echo(_line(_COLUMNS, widths))
    for rec in records:
        _print_row(rec, widths)
    if total > len(records):
        click.echo(f"({len(records)} of {total}; use --limit to see more)")


def _find(journal: Journal, ident: str) -> MplRecord:
    rec = journal.get(ident)
    if rec is not None:
        return rec
    if len(ident) >= 6:
        prefix = ident.replace("\\", "").replace("%", "").replace("_", "\\_")
        matches = journal.query(Where("guid LIKE ? ESCAPE '\\'", (prefix + "%",)), limit=2)
        if len(matches) == 1:
            found = journal.get(matches[0].message_guid)
            if found is not None:
                return found
        if len(matches) > 1:
            raise CpimockError(f"{ident!r} matches more than one message; give more of the message id")
    raise CpimockError(f"no message {ident!r} in {journal.path}; list them with `cpimock messages`")


def _body(title: str, data: bytes, size: int | None) -> None:
    full = len(data) if size is None else size
    cut = f", first {len(data)} kept" if full > len(data) else ""
    click.echo(click.style(f"{title} ({full} bytes{cut})", bold=True))
    if not data:
        return
    try:
        click.echo(data.decode("utf-8"))
    except UnicodeDecodeError:
        click.echo(f"(binary, base64) {detail_b64(data)}")


def detail_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _pairs(title: str, pairs: Sequence[tuple[str, object]]) -> None:
    shown = [(k, v) for k, v in pairs if v not in (None, "")]
    click.echo(click.style(title, bold=True))
    if not shown:
        click.echo("  (none)")
    width = max((len(k) for k, _ in shown), default=0)
    for key, value in shown:
        click.echo(f"  {key.ljust(width)}  {value}")


@command.command("show")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@workspace_option("The workspace folder (default: the current folder).", default=None)
@click.pass_context
def show(ctx: click.Context, message_id: str, as_json: bool, workspace: Path | None) -> None:
    """Everything about one call: caller, refusal reason, headers, bodies, attachments."""
    journal = _open(workspace or ctx.obj.get("workspace") or Path.cwd())
    try:
        rec = _find(journal, message_id)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(rec.details(attachment_data=True), indent=2))
        return
    status = "REFUSED" if rec.refused else rec.status
    flow = rec.integration_flow_name or "(not routed)"
    if rec.integration_artifact_name and rec.integration_artifact_name != rec.integration_flow_name:
        flow = f"{flow} ({rec.integration_artifact_name})"
    click.echo(_style(f"{status}  {flow}  {rec.message_guid}", status))
    if rec.refused:
        click.echo(_style(f"refused at {rec.refusal_stage}: {rec.refusal_reason}", "FAILED"))
    elif rec.error:
        click.echo(_style(f"error{' in ' + rec.error_step if rec.error_step else ''}: {rec.error}", "FAILED"))
    end = rec.log_end or rec.log_start
    _pairs(
        "Message",
        [
            ("status", rec.status),
            ("custom status", rec.effective_custom_status),
            ("started", rec.log_start.isoformat(timespec="milliseconds")),
            ("duration", f"{round((end - rec.log_start).total_seconds() * 1000)} ms"),
            ("correlation id", rec.correlation_id),
            ("application message id", rec.application_message_id),
            ("application message type", rec.application_message_type),
            ("sender", rec.sender),
            ("receiver", rec.receiver),
            ("peer", rec.peer),
            ("transaction id", rec.transaction_id),
        ],
    )
    _pairs(
        "Caller",
        [
            ("authentication", rec.auth_method),
            ("service key", rec.service_key),
            ("instance", rec.instance),
            ("subject", rec.cert_subject),
            ("issuer", rec.cert_issuer),
            ("serial", rec.cert_serial),
            ("fingerprint", rec.cert_fingerprint),
        ],
    )
    request_line = " ".join(x for x in (rec.request_method, rec.request_path) if x)
    if rec.request_query:
        request_line += f"?{rec.request_query}"
    _pairs(f"Request {request_line}", rec.request_headers)
    _body("Request body", rec.request_body, rec.request_body_size)
    _pairs(f"Response {rec.response_status if rec.response_status is not None else '(none)'}", rec.response_headers)
    _body("Response body", rec.response_body, rec.response_body_size)
    _pairs("Custom header properties", rec.custom_header_properties)
    _pairs("Message log properties", rec.log_properties)
    _pairs("Attachments", [(a.name, f"{a.content_type}, {a.size} bytes") for a in rec.attachments])


@command.command("tail")
@click.option("--status", help="Only this status.")
@click.option("--iflow", help="Only this iFlow id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after this many messages.")
@click.option("--timeout", type=click.FloatRange(0), default=None, help="Stop after this many seconds.")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True, help="Poll every S s.")
@workspace_option("The workspace folder (default: the current folder).", default=None)
@click.pass_context
def tail(
    ctx: click.Context,
    status: str | None,
    iflow: str | None,
    as_json: bool,
    count: int | None,
    timeout: float | None,
    interval: float,
    workspace: Path | None,
) -> None:
    """Print new messages as they arrive, until Ctrl-C (or --count / --timeout)."""
    journal = _open(workspace or ctx.obj.get("workspace") or Path.cwd())
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        last = journal.last_seq()
        if not as_json:
            click.echo(_line(_COLUMNS))
        while (count is None or seen < count) and (deadline is None or time.monotonic() < deadline):
            where = Where.of(status=status, iflow=iflow, after_seq=last)
            for rec in journal.query(where, [("seq", False)], 500):
                last = max(last, rec.seq or 0)
                seen += 1
                if as_json:
                    click.echo(json.dumps(rec.summary()))
                else:
                    _print_row(rec)
                if count is not None and seen >= count:
                    break
            else:
                time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        journal.close()
