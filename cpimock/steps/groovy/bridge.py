"""The Python ``Message`` to a call frame for the JVM, and the JVM's answer back onto the message.

A frame is a 4-byte big-endian length, then a kind byte, a 4-byte call id and one value (see
:mod:`cpimock.steps.groovy.wire`). Python sends calls (``C``), cancels (``X``) and the services'
settings (``S``); the JVM answers with hello (``H``), results (``A``) and failures (``E``).

A result carries the message as the script left it: the body only if the script set one, the
headers and exchange properties with their Java types, attachments, SOAP headers, and every
message-log call in order, which is replayed into the Python message's ``log`` so that it
reaches the MPL as a Python step's would. A failure carries the same log calls made before it,
as CPI keeps them too.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree

from cpimock import xmlsafe
from cpimock.message import Attachment, Headers, Message, MessageLog, SoapHeader
from cpimock.steps.groovy.wire import Decoder, Encoder, JavaObject, WireError

__all__ = ["ScriptCompileError", "ScriptException", "ScriptLoadError", "SoapHeader"]

log = logging.getLogger(__name__)

HEADER = struct.Struct(">iBi")  # length, kind, call id
CALL, CANCEL, SETTINGS, HELLO, ANSWER, ERROR = b"C", b"X", b"S", b"H", b"A", b"E"


class ScriptException(Exception):
    """A Groovy script failed: ``str()`` is the Java exception and where the script raised it."""


class ScriptCompileError(ScriptException):
    """The script does not compile; the text names the file, line and column."""


class ScriptLoadError(ScriptException):
    """The script file is not there, or lacks the function the step names."""


def frame(kind: bytes, call_id: int, payload: bytes | bytearray = b"") -> bytes:
    return HEADER.pack(len(payload) + 5, kind[0], call_id) + bytes(payload)


def encode_call(
    message: Message,
    encoder: Encoder,
    *,
    script: str,
    function: str,
    classpath: list[str],
    classpath_key: str,
    settings_key: str | None,
    release: list[int],
) -> None:
    """Write the call's value (the message and where to find the script) into ``encoder``."""
    encoder.value(
        {
            "script": script,
            "function": function,
            "classpath": classpath,
            "classpath_key": classpath_key,
            "settings": settings_key,
            "release": release,
            "charset": message.charset,
            "body": message.body,
            "headers": [[name, value] for name, value in message.headers.pairs()],
            "properties": [[str(name), value] for name, value in message.properties.items()],
            "attachments": [
                {
                    "name": str(name),
                    "type": attachment.content_type,
                    "content": attachment.content,
                    "headers": [[str(k), str(v)] for k, v in attachment.headers.items()],
                }
                for name, attachment in message.attachments.items()
            ],
            "soap_headers": [_soap_out(header) for header in message.soap_headers],
        }
    )


def _soap_out(header: Any) -> dict[str, Any]:
    if isinstance(header, SoapHeader):
        return {
            "namespace": header.namespace,
            "local": header.local,
            "xml": header.xml,
            "must_understand": header.must_understand,
            "actor": header.actor,
            "relay": header.relay,
        }
    if isinstance(header, etree._Element):
        element = header
    elif isinstance(header, str | bytes):
        element = xmlsafe.parse(header.encode() if isinstance(header, str) else header, what="a SOAP header")
    else:
        raise TypeError(f"a SOAP header is a SoapHeader, an XML string or an lxml element, not {type(header).__name__}")
    name = etree.QName(element)
    return {
        "namespace": name.namespace or "",
        "local": name.localname,
        "xml": etree.tostring(element, encoding="unicode"),
        "must_understand": False,
        "actor": None,
        "relay": False,
    }


def decode(
    payload: memoryview, objects: dict[int, Any], java_object: Callable[[int, str, str], JavaObject]
) -> dict[str, Any]:
    """The value of an answer or failure frame, which is always a map with string keys."""
    decoder = Decoder(payload, objects, java_object)
    value = decoder.value()
    decoder.done()
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise WireError("an answer from the JVM is not a map of named parts")
    return value


def apply_answer(message: Message, answer: dict[str, Any], display: str) -> None:
    """Put what the script left onto ``message`` (in place), and its log calls into ``message.log``."""
    try:
        headers = Headers()
        for name, value in _pairs(answer, "headers"):
            headers[str(name)] = value
        receivers = [str(v) for v in _list(answer, "receivers")]
        headers.receivers[:] = [*message.headers.receivers, *receivers]
        properties = {str(name): value for name, value in _pairs(answer, "properties")}
        attachments = {}
        for item in _list(answer, "attachments"):
            name, content_type, content = str(item["name"]), str(item["type"]), item["content"]
            if not isinstance(content, bytes):
                raise WireError(f"attachment {name!r} came back without bytes")
            attachments[name] = Attachment(name, content, content_type, {str(k): str(v) for k, v in item["headers"]})
        soap = [
            SoapHeader(
                str(h["namespace"] or ""),
                str(h["local"]),
                str(h["xml"]),
                bool(h["must_understand"]),
                None if h["actor"] is None else str(h["actor"]),
                bool(h["relay"]),
            )
            for h in _list(answer, "soap_headers")
        ]
        body_set = answer.get("body_set") is True
        body = answer.get("body")
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"an answer from the JVM is malformed: {exc}") from None
    message.headers = headers
    message.properties = properties
    message.attachments = attachments
    message.soap_headers = soap
    if body_set:
        if isinstance(body, str):
            message.text = body  # in the charset of the Content-Type the script left
        elif isinstance(body, bytes):
            message.body = body
        else:
            raise WireError("the body came back as neither text nor bytes")
    replay_log(message.log, _list(answer, "log"))
    for warning in _list(answer, "warnings"):
        log.warning("%s: %s", display, warning)


def replay_log(target: MessageLog, calls: list[Any]) -> None:
    """The script's message-log calls, in order, into the Python message's log."""
    for call in calls:
        if not isinstance(call, list) or len(call) != 4:
            raise WireError("a message-log call from the JVM is malformed")
        operation, name, value, media_type = call
        name = str(name)
        if operation == "property":
            target.set_property(name, _log_value(value))
        elif operation == "attachment":
            target.add_attachment(name, str(value), None if media_type is None else str(media_type))
        elif operation == "header":
            target.add_custom_header(name, value)
        else:
            raise WireError(f"unknown message-log call {operation!r} from the JVM")


def _log_value(value: Any) -> str | int | float | bool | datetime:
    if isinstance(value, bool | datetime):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def failure(error: dict[str, Any], display: str) -> ScriptException:
    """The exception for a failure frame, worded for the MPL and the sender."""
    kind = error.get("kind")
    text = str(error.get("message") or "")
    line = error.get("line")
    where = f" @ line {line} in {display}" if isinstance(line, int) and line > 0 else f" in {display}"
    if kind == "compile":
        column = error.get("column")
        place = f"line {line}, column {column}" if isinstance(line, int) and line > 0 else "compiling failed"
        return ScriptCompileError(f"{display}: {place}: {text}")
    if kind in ("load", "function"):
        return ScriptLoadError(f"{display}: {text}")
    if kind == "unsupported":
        return ScriptException(f"java.lang.UnsupportedOperationException: {text}{where}")
    if kind == "bridge":
        return ScriptException(f"cpimock could not pass the message to or from the script: {text}{where}")
    java_type = str(error.get("type") or "java.lang.Exception")
    return ScriptException(f"{java_type}: {text}{where}" if text else f"{java_type}{where}")


def _list(answer: dict[str, Any], key: str) -> list[Any]:
    value = answer.get(key, [])
    if not isinstance(value, list):
        raise WireError(f"the answer's {key} is not a list")
    return value


def _pairs(answer: dict[str, Any], key: str) -> list[tuple[Any, Any]]:
    pairs = []
    for item in _list(answer, key):
        if not isinstance(item, list) or len(item) != 2:
            raise WireError(f"the answer's {key} are not name/value pairs")
        pairs.append((item[0], item[1]))
    return pairs
