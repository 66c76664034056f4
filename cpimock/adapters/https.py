"""CPI's HTTPS sender adapter: ``/http/<address>``, CSRF tokens, the body as it came, Camel's HTTP headers.

The request becomes a Message as CPI's HTTPS adapter prepares the exchange (the allowed headers
and query parameters, ``CamelHttp*``, the caller as exchange properties); the answer is the
steps' body with their headers and ``CamelHttpResponseCode``; a failure is SAP's 500 template.
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie

from cpimock.adapters import answers
from cpimock.adapters.exchange import response_parts
from cpimock.adapters.request import call_message
from cpimock.adapters.seam import Call, Refused, Reply, SenderAdapter
from cpimock.identity import csrf
from cpimock.identity.csrf import CsrfGuard
from cpimock.message import Message
from cpimock.steps.pipeline import StepError

log = logging.getLogger(__name__)


class HttpsAdapter(SenderAdapter):
    kind = "https"

    def __init__(self, csrf_guard: CsrfGuard) -> None:
        self._csrf = csrf_guard

    def admit(self, call: Call) -> Reply | None:
        """CSRF: a token fetch is answered here; a request that needs a token and lacks one is refused."""
        route, who = call.route, call.identity
        if not route.channel.csrf:
            return None
        request = call.request
        key = who.key_name or who.clientid or who.fingerprint or who.label
        session = request.cookies.get(csrf.SESSION_COOKIE)
        presented = request.headers.get(csrf.HEADER)
        if csrf.is_fetch(request.method, presented):
            fetched = self._csrf.fetch(key, session, route.iflow.id)
            headers = [(csrf.HEADER, fetched.token)]
            if fetched.new_session:
                headers.append(("Set-Cookie", _session_cookie(fetched.session)))
            log.debug("CSRF token fetched by %s for %s", who.label, route.iflow.id)
            return Reply(200, headers, b"")
        verdict = self._csrf.check(request.method, key, session, presented, route.iflow.id)
        if verdict.ok:
            return None
        where = "on this integration flow's address " if verdict.reason == "bound to another integration flow" else ""
        failed = f"CSRF token validation failed ({verdict.reason})"
        reason = f"{failed}; fetch one {where}with a GET and X-CSRF-Token: Fetch first"
        raise Refused("authorization", answers.refused(403, reason, headers={csrf.HEADER: csrf.REQUIRED}))

    def message(self, call: Call, body: bytes) -> Message:
        return call_message(call, body)

    def reply(self, call: Call, result: Message) -> Reply:
        # the log id is the server's to set: a step's own value (in any case) gives way to it
        status, headers, body = response_parts(result, call.record.message_guid)
        return Reply(status, headers, body)

    def failure(self, call: Call, error: StepError) -> Reply:
        # the step's own exception text, as CPI returns it; a timeout (or an exception without
        # text) is described by the StepError itself
        text = (str(error.__cause__) if error.__cause__ is not None else "") or str(error)
        answer = answers.failed(call.record.message_guid, text, call.route.iflow.return_exception_to_sender)
        return Reply.of(answer)


def _session_cookie(session: str) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[csrf.SESSION_COOKIE] = session
    morsel = cookie[csrf.SESSION_COOKIE]
    morsel["path"], morsel["secure"], morsel["httponly"] = "/", True, True
    return morsel.OutputString()
