"""``cpimock call URL --key KEY.json``: send one message as a sender system would, and say why it failed."""

from __future__ import annotations

from pathlib import Path

import click

from cpimock.client.diagnosis import explain_status
from cpimock.client.model import DEFAULT_TIMEOUT_S, AuthKind, Reply, Request
from cpimock.client.sender import Sender
from cpimock.client.soap import Prepared, prepare_idoc, prepare_soap
from cpimock.errors import CpimockError
from cpimock.wire import LOG_ID_HEADER, MPL_ID_HEADER

# the answer headers worth showing without -v
_INTERESTING = (
    MPL_ID_HEADER,
    LOG_ID_HEADER,
    "Content-Type",
    "X-CSRF-Token",
    "WWW-Authenticate",
    "Retry-After",
    "Location",
    "SAP_ApplicationID",
    "SAP_MessageType",
    "SAP_Sender",
    "SAP_Receiver",
)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise CpimockError(f"-H {text!r}: write a header as 'Name: value'")
    return name.strip(), value.strip()


def _data(text: str | None) -> bytes | None:
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CpimockError(f"-d @{path}: cannot read it ({exc.strerror}); give the path of the body file") from None
    return text.encode()


@click.command("call")
@click.argument("url")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The service key JSON (cpimock's or one from the BTP cockpit).",
)
@click.option(
    "--auth",
    type=click.Choice(["cert", "basic", "oauth"]),
    help="cert: the key's client certificate; basic: clientid:clientsecret; oauth: a token from the "
    "key's tokenurl [default: cert for Certificate keys, else basic].",
)
@click.option("-X", "--request", "method", default=None, help="HTTP method [default: POST, GET without -d].")
@click.option("-H", "--header", "headers", multiple=True, help="A request header 'Name: value' (repeatable).")
@click.option("-d", "--data", help="The body, or @FILE to send a file's bytes.")
@click.option(
    "--soap",
    "soap_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Post this file as a SOAP request (/cxf/ channels): an envelope as it is, any other element wrapped in one.",
)
@click.option("--soap-version", type=click.Choice(["1.1", "1.2"]), help="The SOAP version to wrap --soap in [1.1].")
@click.option("--soap-action", help="The SOAP action of --soap (SOAPAction header, or SOAP 1.2's action).")
@click.option(
    "--idoc",
    "idoc_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Post this IDoc-XML file (SOAP-wrapped or plain) as an S/4 XML-HTTP port does.",
)
@click.option("--csrf", is_flag=True, help="Fetch an X-CSRF-Token first and send it with its cookies.")
@click.option(
    "--cacert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Trust this CA bundle for the server (for cpimock: certs/root-ca.pem).",
)
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate.")
@click.option("--token-url", help="The OAuth token endpoint [default: the key's tokenurl].")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 3600),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the connection and the answer.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show request headers, TLS version and all answer headers.")
def command(
    url: str,
    key_path: Path,
    auth: AuthKind | None,
    method: str | None,
    headers: tuple[str, ...],
    data: str | None,
    soap_file: Path | None,
    soap_version: str | None,
    soap_action: str | None,
    idoc_file: Path | None,
    csrf: bool,
    cacert: Path | None,
    insecure: bool,
    token_url: str | None,
    timeout: float,
    verbose: bool,
) -> None:
    """Call an iFlow at URL (https://HOST/http/ADDRESS, or /cxf/ADDRESS with --soap or --idoc) with a
    service key, as a sender system would.

    Prints the status, the interesting headers (SAP_MessageProcessingLogID, ...) and the body.
    When TLS or authentication fails it says why in plain words and what to change. Exits 0
    on a 2xx/3xx answer, 1 otherwise.
    """
    body = _data(data)
    given = tuple(_header(h) for h in headers)
    prepared = _prepared(body, soap_file, soap_version, soap_action, idoc_file)
    if prepared is not None:
        body = prepared.body
        mine = {name.lower() for name, _ in given}
        given = tuple(h for h in prepared.headers if h[0].lower() not in mine) + given
    request = Request(
        url=url,
        key_path=key_path,
        auth=auth,
        method=(method or ("POST" if body is not None else "GET")).upper(),
        headers=given,
        body=body,
        csrf=csrf,
        cacert=cacert,
        insecure=insecure,
        token_url=token_url,
        timeout_s=timeout,
    )
    sender = Sender(request, note=lambda text: click.echo(text, err=True))
    try:
        if verbose:
            click.echo(f"> {request.method} {url}  (auth: {sender.auth}, key: {key_path})", err=True)
        reply = sender.send()
    finally:
        sender.close()
    _show(reply, verbose)
    problem = explain_status(reply, sender.target, sender.auth, chainless=sender.facts.chainless)
    if problem is not None:
        click.secho(f"error: {problem}", fg="red", err=True)
        raise SystemExit(1)


def _prepared(
    body: bytes | None,
    soap_file: Path | None,
    soap_version: str | None,
    soap_action: str | None,
    idoc_file: Path | None,
) -> Prepared | None:
    """The body and headers of --soap or --idoc; None for a plain call."""
    if soap_file is not None and idoc_file is not None:
        raise CpimockError("--soap and --idoc: give one of them")
    if (soap_file or idoc_file) and body is not None:
        raise CpimockError("-d and --soap/--idoc: give the body one way")
    if soap_file is None and (soap_version or soap_action):
        raise CpimockError("--soap-version and --soap-action go with --soap FILE")
    file = soap_file or idoc_file
    if file is None:
        return None
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CpimockError(f"{file}: cannot read it ({exc.strerror}); give the path of the message file") from None
    if soap_file is not None:
        return prepare_soap(data, version=soap_version, action=soap_action, what=str(file))
    return prepare_idoc(data, what=str(file))


def _show(reply: Reply, verbose: bool) -> None:
    if verbose:
        for name, value in reply.sent_headers:
            shown = value.split(" ", 1)[0] + " ..." if name.lower() == "authorization" else value
            click.echo(f"> {name}: {shown}", err=True)
        if reply.tls:
            click.echo(f"* TLS: {reply.tls}", err=True)
    click.echo(f"HTTP {reply.status} {reply.reason}")
    wanted = {h.lower() for h in _INTERESTING}
    for name, value in reply.headers:
        if verbose or name.lower() in wanted:
            click.echo(f"{name}: {value}")
    click.echo("")
    text = reply.body.decode("utf-8", "replace")
    if text:
        click.echo(text if text.endswith("\n") else text + "\n", nl=False)
