"""What every answer of the server carries, or lacks, whoever made it: no ``Server`` header, and
an ``X-CorrelationID``.

A real tenant's answers name no server software (aiohttp's ``Server: Python/3.x aiohttp/x`` gave
the mock away), and carry ``x-correlationid``: SAP's request correlation id, the sender's own
when it sent one, else a new one. This holds for every answer: the iFlow endpoint's (which
bypasses aiohttp's application), the token endpoint's, the OData API's and the monitor's, and
the answers aiohttp makes itself (a request it cannot parse, a handler that failed). All of them
are made for a request of :class:`TenantRequest`, whose hook runs just before the headers go out.
"""

from __future__ import annotations

import functools
import re

from aiohttp import hdrs, web
from aiohttp.http import SERVER_SOFTWARE

from cpimock.ids import random_uuid

__all__ = ["CORRELATION_HEADER", "TenantRequest", "correlation_id", "install"]

CORRELATION_HEADER = "X-CorrelationID"
# what a sender's correlation id may be to be echoed: a UUID, a ticket number, an MPL id; anything
# else (a header injection, a megabyte) gives way to a new id
_SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def correlation_id(sent: str | None) -> str:
    """The answer's correlation id: *sent* (the request's ``X-CorrelationID``) if it is a plain
    id, else a new UUID."""
    if sent is not None and _SENDER_ID.fullmatch(sent):
        return sent
    return random_uuid()


class TenantRequest(web.Request):
    """aiohttp's request, whose answers get the tenant's headers before they are sent."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        headers = response.headers
        # aiohttp's own; a Server header a step set goes out, as every exchange header does on CPI
        if headers.get(hdrs.SERVER) == SERVER_SOFTWARE:
            del headers[hdrs.SERVER]
        if CORRELATION_HEADER not in headers:
            headers[CORRELATION_HEADER] = correlation_id(self.headers.get(CORRELATION_HEADER))
        await super()._prepare_hook(response)


def install(server: web.Server, app: web.Application) -> None:
    """Make *server* (the runner's, for *app*) create :class:`TenantRequest` for every request,
    including those aiohttp answers itself."""
    # aiohttp's application makes its requests with a class it lets callers name
    server.request_factory = functools.partial(app._make_request, _cls=TenantRequest)
