"""Why a call to an iFlow failed, in plain words and with the fix: TLS alerts, refused connections, 401/403/404.

With TLS 1.3 a server that refuses the client certificate says so after the client already
thinks the handshake is done, so the refusal surfaces at the first read as an alert such as
``tlsv13 alert certificate required``; those alerts are mapped here to what the sender must
change. What the service key itself shows (expiry, a missing intermediate) sharpens the text.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
from collections.abc import Callable
from typing import Protocol

from cryptography import x509

from cpimock.client.model import CallError, KeyFacts, Reply, Request, Target
from cpimock.client.soap import fault_of
from cpimock.wire import MPL_ID_HEADER


class SenderView(Protocol):
    """What the diagnosis needs of the sender that made the call (``client.sender.Sender`` fits)."""

    @property
    def facts(self) -> KeyFacts: ...
    @property
    def auth(self) -> str: ...
    @property
    def request(self) -> Request: ...
    def context(self, *, with_cert: bool) -> ssl.SSLContext: ...


DIGICERT_ROOT = "DigiCert Global Root G2 (https://cacerts.digicert.com/DigiCertGlobalRootG2.crt.pem)"


def _expired(facts: KeyFacts) -> str | None:
    if facts.valid_until is not None and facts.valid_until < dt.datetime.now(dt.UTC):
        return f"{facts.valid_until:%Y-%m-%d %H:%M} UTC"
    return None


def _cert_refused(alert: str, facts: KeyFacts, presented: bool) -> str:
    """The plain words for a TLS alert that refuses the client certificate."""
    renew = "create a new service key (`cpimock servicekey renew NAME`, or a new key in the BTP cockpit)"
    expired = _expired(facts)
    if not presented or "certificate required" in alert:
        if not presented:
            return (
                "the server demands a client certificate and none was sent; call with a Certificate "
                "service key (--auth cert)"
            )
        return (
            "the server asked for a client certificate and did not accept the one sent; check that "
            "the key's certificate and private key belong together"
        )
    if expired or "expired" in alert:
        when = f" on {expired}" if expired else ""
        return f"the server refused the client certificate: it expired{when} (certificatedetails.validuntil); {renew}"
    if "unknown ca" in alert or "bad certificate" in alert or "unsupported certificate" in alert:
        if facts.chainless:
            return (
                f"the server refused the client certificate: the chain is incomplete, the key's certificate "
                f"comes without its intermediate CA ({facts.issuer}); put the CA certificates after the "
                "certificate in the key's certificate field, as BTP issues them"
            )
        return (
            f"the server refused the client certificate: its issuer ({facts.issuer}) is an unknown CA "
            "there; use a service key of this tenant, or have the CA's root added to the tenant's "
            "trusted certificates"
        )
    if "revoked" in alert:
        return f"the server refused the client certificate: it has been revoked; {renew}"
    return f"the server refused the client certificate ({alert})"


def diagnose_exception(exc: BaseException, sender: SenderView, target: Target) -> CallError:
    """The CallError for an exception raised while connecting, sending or reading."""
    where = target.authority
    facts = sender.facts
    presented = sender.auth == "cert"
    if isinstance(exc, socket.gaierror):
        return CallError(f"cannot resolve the host {target.host} ({exc.strerror}); check the URL's host name")
    if isinstance(exc, ConnectionRefusedError):
        return CallError(
            f"nothing listens at {where} (connection refused); is the server running and the port "
            "right? (cpimock serve prints its URL)"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return CallError(
            f"{where} did not answer within {sender.request.timeout_s:g} s; check the host and port, "
            "and any proxy or firewall on the way"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CallError(_untrusted_server(exc, sender, target))
    closed = (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected, ssl.SSLEOFError)
    if isinstance(exc, closed):
        if presented:
            # no alert, just a closed connection: judge by what the key shows
            guess = _cert_refused("unknown ca", facts, presented)
            return CallError(
                f"{where} closed the connection during TLS without an answer, most likely refusing the "
                f"client certificate: {guess.removeprefix('the server refused the client certificate: ')}"
            )
        return CallError(
            f"{where} closed the connection without an answer; it may require a client certificate (--auth cert)"
        )
    if isinstance(exc, ssl.SSLError):
        alert = (exc.reason or str(exc)).lower().replace("_", " ")
        if "alert" in alert:
            return CallError(_cert_refused(alert, facts, presented) + f" [TLS alert: {alert}]")
        if "wrong version number" in alert or "record layer failure" in alert:
            return CallError(f"{where} does not speak TLS (is it an http:// port?); use the HTTPS port")
        return CallError(f"the TLS connection to {where} failed ({exc}); try -v, and --cacert for the server's root")
    return CallError(f"the call to {where} failed: {exc}")


def _untrusted_server(exc: ssl.SSLCertVerificationError, sender: SenderView, target: Target) -> str:
    code = exc.verify_code
    leaf = probe_server_certificate(target, sender.context)
    if code == 62:  # hostname mismatch
        return (
            f"the server's certificate is not valid for {target.host} ({exc.verify_message}); call it by a "
            "name the certificate lists (for cpimock: localhost or 127.0.0.1, or the tenant host)"
        )
    if code == 10:
        return f"the server's certificate has expired ({exc.verify_message}); the server must renew it"
    issuer = leaf.issuer.rfc4514_string() if leaf is not None else "an unknown CA"
    if "cpimock" in issuer:
        root = sender.facts.workspace_root
        shown = str(root) if root is not None else "certs/root-ca.pem of the cpimock workspace"
        fix = f"add --cacert {shown} (the workspace's root CA)"
    elif "digicert" in issuer.lower():
        fix = f"add {DIGICERT_ROOT} to the trust store, or pass it with --cacert"
    else:
        fix = "pass the root CA that issued it with --cacert FILE (or --insecure to skip the check)"
    return f"the server's certificate is not trusted here (issued by {issuer}); {fix}"


def probe_server_certificate(
    target: Target, context: Callable[..., ssl.SSLContext], timeout_s: float = 5.0
) -> x509.Certificate | None:
    """The server's certificate, read without verifying it (to say which root is missing)."""
    ctx = context(with_cert=False)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((target.host, target.port), timeout=timeout_s) as raw,
            ctx.wrap_socket(raw, server_hostname=target.host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


def explain_status(reply: Reply, target: Target, auth: str, *, chainless: bool = False) -> str | None:
    """What a non-2xx answer means for the sender, or None for a success.

    *chainless*: the key's certificate was sent without its issuing CA.
    """
    status = reply.status
    if status < 400:
        return None
    if status == 404 and (reply.header("X-Cf-Routererror") or "").lower() == "unknown_route":
        return (
            f"404 Not Found: no tenant answers at host {target.host} (the router says so, before any iFlow); use the "
            "host of the service key's url (for cpimock: localhost, or the [tenant] host it serves)"
        )
    if status == 401 and auth == "cert" and chainless:
        return (
            "401 Unauthorized: the key's certificate went without its intermediate CA, and SAP's load balancer does "
            "not pass on a certificate whose chain it cannot build, so the call counted as one without a "
            "certificate; put the CA certificates after the leaf (cert.pem of `cpimock servicekey extract`)"
        )
    if status == 401:
        said = reply.body[:2000].decode("utf-8", "replace").lower()
        if "revoked" in said or "retired after its rotation" in said:
            # the tenant said exactly what is wrong (the body above): no guess after it
            ended = "revoked" if "revoked" in said else "retired after a rotation"
            fix = "use the successor key" if ended != "revoked" else "use a current service key"
            return f"401 Unauthorized: the service key has been {ended} (see the answer above); {fix}"
        how = {
            "cert": "the client certificate passed TLS but belongs to no service key of this tenant (deleted "
            "or revoked key, or a certificate the tenant does not map)",
            "basic": "the clientid/clientsecret are wrong or the key was deleted",
            "oauth": "the token was not accepted (expired, or from another tenant)",
        }[auth]
        return f"401 Unauthorized: the tenant does not know who is calling: {how}. (A missing role would be 403.)"
    if status == 403:
        if (reply.header("X-CSRF-Token") or "").lower() == "required":
            return "403 Forbidden: the iFlow wants a CSRF token; add --csrf (fetches one first, then sends it)"
        return (
            "403 Forbidden: the tenant knows the caller but refuses: the service key's instance lacks the role "
            "the iFlow's sender channel asks for (ESBMessaging.send unless it names another); add the role to "
            "the instance and create a new key, or check the channel's allowed certificate subjects"
        )
    if status == 404:
        path = target.path.split("?", 1)[0]
        if not path.startswith(("/http/", "/cxf/")):
            fixed = "/http" + (path if path.startswith("/") else "/" + path)
            return (
                f"404 Not Found: iFlow endpoints are under /http/ (HTTPS) and /cxf/ (SOAP, IDoc); try "
                f"https://{target.authority}{fixed}"
            )
        return (
            "404 Not Found: no iFlow is deployed at this address; compare the URL with the address of the "
            "iFlow's sender channel (HTTPS under /http/, SOAP and IDoc under /cxf/) and check that the iFlow is "
            "deployed and started"
        )
    if status == 503:
        return "503 Service Unavailable: the iFlow is not started (or still deploying); deploy or start it"
    if status == 413:
        return "413 Payload Too Large: the body exceeds the sender channel's maximum body size"
    if status == 429:
        return f"429 Too Many Requests: retry after {reply.header('Retry-After') or 'a while'} s"
    if status == 500:
        mpl = reply.header(MPL_ID_HEADER)
        ref = f" (message processing log {mpl})" if mpl else ""
        fault = fault_of(reply.body)
        if fault is not None:
            code, text = fault
            whose = "the request" if code.endswith(("Client", "Sender", "MustUnderstand")) else "the iFlow"
            return f"500: SOAP fault {code}{ref}: {whose} failed: {text}"
        return f"500: the iFlow ran and failed{ref}; its error is in the monitor"
    return f"{status} {reply.reason}"
