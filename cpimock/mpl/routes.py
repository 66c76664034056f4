"""The web side of the message processing log: CPI's OData API under ``/api/v1`` and ``/monitor``.

:func:`add_mpl_routes` registers the routes on the server's app. Who may read the log is the
server's decision (its *authorize* callback; by default only loopback callers); a caller it
refuses gets 403. Reads run in a thread, so a large query never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import html
import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from cpimock.mpl.journal import Journal, Where
from cpimock.mpl.record import STATUSES
from cpimock.net import is_loopback

if TYPE_CHECKING:
    from cpimock.mpl.odata import ODataReply

Authorize = Callable[[web.Request], Awaitable[bool]]

_LIST_LIMIT = 200
# the API's answers do nothing in a browser: an attachment holds a sender's bytes, and this origin
# is the one whose scripts may read the whole log
_API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
}
# media types a browser shows without running anything in them; other attachments are downloads
_PASSIVE = frozenset(
    {"text/plain", "text/csv", "application/json", "image/png", "image/jpeg", "image/gif", "image/webp"}
)
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")
_CHARSET = re.compile(r"\s*charset\s*=\s*\"?([a-z0-9._:-]{1,40})\"?\s*")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _media_type(declared: str) -> tuple[str, str | None]:
    """The media type (lower case) and charset of a Content-Type a step declared, read strictly:
    anything else than ``type/subtype`` and a charset becomes ``application/octet-stream``."""
    if not declared.isprintable():
        return "application/octet-stream", None
    media, *params = declared.lower().split(";")
    media = media.strip()
    if not _MEDIA_TYPE.fullmatch(media):
        return "application/octet-stream", None
    charsets = [m.group(1) for m in map(_CHARSET.fullmatch, params) if m]
    return media, charsets[0] if charsets else None


@functools.cache
def _monitor_page() -> tuple[str, str]:
    """The monitor's HTML and its Content-Security-Policy, which allows its own inline script and
    style by their SHA-256 and nothing else inline."""
    page = resources.files("cpimock.mpl").joinpath("monitor.html").read_text(encoding="utf-8")
    digests: dict[str, list[str]] = {"script": [], "style": []}
    for kind, text in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        digests[kind].append(f"'sha256-{digest}'")

    def allowed(kind: str) -> str:
        return " ".join(digests[kind]) or "'none'"

    policy = (
        f"default-src 'none'; script-src {allowed('script')}; style-src {allowed('style')}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'"
    )
    return page, policy


def _since(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def add_mpl_routes(
    app: web.Application, journal: Journal, authorize: Authorize | None, *, tenant: str = "mytenant"
) -> None:
    """Register ``/api/v1/...`` (OData) and ``/monitor`` (+ ``/monitor/api/...``) on *app*.

    *authorize* decides who may read (None: loopback callers only); *tenant* names the
    ``LocalComponentName`` (``CPI_<tenant>``) as on a real tenant.
    """

    async def allowed(request: web.Request) -> bool:
        if authorize is None:
            return is_loopback(request.remote or "")
        return await authorize(request)

    async def odata(request: web.Request) -> web.Response:
        # the API's modules (its query parsers, Atom with lxml) are imported at its first request,
        # not at every server's start: a third of a server's own import time is theirs
        from cpimock.mpl import odata as api

        if not await allowed(request):
            forbidden = api.ODataError("Forbidden: this caller may not read message processing logs", 403)
            return _reply(api.error_answer(forbidden, list(request.query.items()), request.headers.get("Accept")))
        base = f"{request.scheme}://{request.host}/api/v1"
        params = list(request.query.items())
        tail, accept = request.match_info["tail"], request.headers.get("Accept")
        result = await asyncio.to_thread(api.answer, journal, tail, params, base, f"CPI_{tenant}", accept=accept)
        return _reply(result)

    async def monitor(request: web.Request) -> web.Response:
        if not await allowed(request):
            return web.Response(status=403, text="403 Forbidden: this caller may not read the message monitor\n")
        iflows = await asyncio.to_thread(journal.iflows)
        page, policy = _monitor_page()
        options = "".join(f'<option value="{html.escape(f)}">{html.escape(f)}</option>' for f in iflows)
        statuses = "".join(f'<option value="{s}">{s}</option>' for s in (*STATUSES, "REFUSED"))
        page = page.replace("<!--IFLOWS-->", options).replace("<!--STATUSES-->", statuses)
        headers = {
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
        return web.Response(text=page, content_type="text/html", headers=headers)

    async def api_list(request: web.Request) -> web.Response:
        if not await allowed(request):
            raise web.HTTPForbidden(text="403 Forbidden")
        q = request.query
        after = q.get("after", "")
        where = Where.of(
            status=q.get("status") or None,
            iflow=q.get("iflow") or None,
            text=q.get("q") or None,
            since=_since(q["since"]) if q.get("since") else None,
            after_seq=int(after) if after.isdigit() else None,
        )

        def read() -> dict[str, object]:
            records = journal.query(where, [("seq", True)], _LIST_LIMIT)
            return {
                "messages": [r.summary() for r in records],
                "last_seq": journal.last_seq(),
                "total": journal.count(where),
            }

        return web.json_response(await asyncio.to_thread(read), headers={**_API_HEADERS, "Cache-Control": "no-store"})

    async def api_detail(request: web.Request) -> web.Response:
        if not await allowed(request):
            raise web.HTTPForbidden(text="403 Forbidden")
        rec = await asyncio.to_thread(journal.get, request.match_info["guid"])
        if rec is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such message"}), content_type="application/json")
        return web.json_response(rec.details(), headers={**_API_HEADERS, "Cache-Control": "no-store"})

    async def api_attachment(request: web.Request) -> web.Response:
        if not await allowed(request):
            raise web.HTTPForbidden(text="403 Forbidden")
        key = request.match_info["id"]
        found = await asyncio.to_thread(journal.attachment, int(key)) if key.isdigit() else None
        if found is None:
            raise web.HTTPNotFound(text="no such attachment")
        _, att = found
        disposition = f"attachment; filename*=UTF-8''{quote(att.name, safe='')}"
        headers = {**_API_HEADERS, "Content-Disposition": disposition}
        return web.Response(body=att.data, content_type="application/octet-stream", headers=headers)

    app.router.add_get("/api/v1/{tail:.*}", odata)
    app.router.add_get("/monitor", monitor)
    app.router.add_get("/monitor/api/messages", api_list)
    app.router.add_get("/monitor/api/messages/{guid}", api_detail)
    app.router.add_get("/monitor/api/attachments/{id}", api_attachment)


def _reply(result: ODataReply) -> web.Response:
    headers = dict(_API_HEADERS)
    if result.attachment is None:
        # the API's own documents: the type as written (Atom's ;type=feed), with its charset
        media, charset = _media_type(result.content_type)
        if charset is None and media.endswith(("json", "xml")):
            headers["Content-Type"] = f"{result.content_type};charset=utf-8"
        else:
            headers["Content-Type"] = result.content_type
        return web.Response(status=result.status, body=result.body, headers=headers)
    media, charset = _media_type(result.content_type)
    if media not in _PASSIVE:
        # HTML, XHTML, SVG, XML (which may carry XHTML), scripts, PDF, unknown types: a file to save
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(result.attachment, safe='')}"
    return web.Response(status=result.status, body=result.body, content_type=media, charset=charset, headers=headers)
