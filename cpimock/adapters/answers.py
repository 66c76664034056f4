"""What CPI answers: status codes, SAP's error template, response headers.

Pure text and numbers, no aiohttp: the server turns an :class:`Answer` into a response. Bodies
of 401/403/404/413/503 are not documented by SAP; cpimock explains the refusal in plain words
there, so that a sender developer sees the reason without opening the server log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cpimock.wire import MPL_ID_HEADER

TEXT = "text/plain;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # why, in plain words, for the log and the MPL (refusals)


def error_template(mpl_id: str) -> str:
    """SAP's body of a failed message with *Return Exception to Sender* off (spelling as SAP's)."""
    return (
        f"An internal server error occured: The MPL ID for the failed message is : {mpl_id}\n"
        "For more details please check tail log."
    )


def exception_text(mpl_id: str, error: str) -> str:
    """The body with *Return Exception to Sender* on: the exception text, then the MPL ID."""
    return f"An internal server error occured: {error}\nThe MPL ID for the failed message is : {mpl_id}"


def failed(mpl_id: str, error: str, return_exception: bool) -> Answer:
    body = exception_text(mpl_id, error) if return_exception else error_template(mpl_id)
    return Answer(500, body, {"Content-Type": TEXT, MPL_ID_HEADER: mpl_id})


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def refused(status: int, reason: str, *, headers: dict[str, str] | None = None) -> Answer:
    """A refusal before the iFlow ran: the status line's words, then the reason."""
    title = _TITLES.get(status, "Error")
    return Answer(status, f"{status} {title}: {reason}\n", {"Content-Type": TEXT, **(headers or {})}, reason)


def unauthorized(reason: str, *, basic: bool) -> Answer:
    """401; with ``WWW-Authenticate`` when the iFlow accepts Basic, so clients know they may retry."""
    headers = {"WWW-Authenticate": 'Basic realm="SAP Cloud Integration"'} if basic else {}
    return refused(401, reason, headers=headers)


def not_found(path: str) -> Answer:
    return refused(404, f"no integration flow is deployed at {path}")


def no_route(host: str) -> Answer:
    """Cloud Foundry's router, for a ``Host`` that names no route: ``X-Cf-Routererror: unknown_route``
    and its text (gorouter's ``handleMissingRoute``), which sits in front of every CPI tenant."""
    return refused(
        404,
        f"Requested route ('{host}') does not exist.",
        headers={
            "X-Cf-Routererror": "unknown_route",
            "Cache-Control": "no-cache, no-store",
            "X-Content-Type-Options": "nosniff",  # the Host is echoed: no browser reads it as HTML
        },
    )


def empty_host() -> Answer:
    """Cloud Foundry's router, for a request whose ``Host`` is empty (an HTTP/1.0 request without
    one, or ``Host:`` with no value): ``X-Cf-Routererror: empty_host`` (gorouter's ``handleMissingHost``)."""
    return refused(
        400,
        "Request had empty Host header",
        headers={
            "X-Cf-Routererror": "empty_host",
            "Cache-Control": "public,max-age=2",
            "X-Content-Type-Options": "nosniff",
        },
    )


def stopped(iflow_id: str) -> Answer:
    return refused(503, f'integration flow {iflow_id} is not started (state = "stopped" in cpimock.toml)')


def too_large(limit_mb: float, iflow_id: str, keys: str = "max_body_mb", what: str = "the body") -> Answer:
    return refused(413, f"{what} exceeds the {limit_mb:g} MB limit of integration flow {iflow_id} ({keys})")
