"""``Message``: what every iFlow step receives, in place of CPI's Groovy ``Message``.

Pythonic names come first (``message.body``, ``message.text``, ``message.json()``,
``message.headers[...]``, ``message.properties[...]``, ``message.log``); the Groovy method
names (``getBody(str)``, ``setHeader``, ``getProperty``, ...) are thin aliases so a script can
be ported line by line. ``docs/handlers.md`` has the side-by-side table.

The body is always bytes. Text access decodes it with the charset of the current
``Content-Type`` header, else the charset the request declared, else UTF-8. A body that is
not valid in that charset raises :class:`BodyDecodeError` (a ``ValueError``) naming the
charset and the offending byte: nothing is silently replaced.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cpimock.errors import CpimockError

__all__ = [
    "Attachment",
    "BodyDecodeError",
    "Headers",
    "LogAttachment",
    "Message",
    "MessageLog",
    "SoapFault",
    "SoapHeader",
    "messageLogFactory",
]

DEFAULT_CHARSET = "utf-8"


class BodyDecodeError(CpimockError, ValueError):
    """The body cannot be read as text in its charset, or as JSON."""


@dataclass(eq=False)
class SoapFault(Exception):
    """Raise from a step to answer a SOAP, SOAP (SAP RM) or IDoc sender with this fault (CPI's ``SoapFaultFactory``).

    ``raise SoapFault("Order 4711 is locked", faultcode="client")`` answers with a SOAP fault
    whose code is ``soap:Client`` (SOAP 1.1) or ``soap:Sender`` (SOAP 1.2), and whose string is
    the text given. *faultcode* is ``"server"`` (the default), ``"client"``, or a qualified name
    such as ``"app:Locked"`` whose prefix *namespaces* maps to a URI (SOAP 1.2 allows only its
    own codes: ``Sender``, ``Receiver``, ``MustUnderstand``, ``VersionMismatch``). *detail* is
    XML text put into the fault's detail as it is, such as ``"<app:Owner>ADA</app:Owner>"``,
    with its prefixes declared in *namespaces*. *soap_version* ``"1.1"`` or ``"1.2"`` forces a
    version; ``None`` answers in the version the sender used.
    """

    faultstring: str
    faultcode: str = "server"
    detail: str | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)
    soap_version: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.faultstring)
        for name in ("faultstring", "faultcode"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"SoapFault {name} must be a str, got {type(getattr(self, name)).__name__}")
        if self.detail is not None and not isinstance(self.detail, str):
            raise TypeError(f"SoapFault detail must be XML text (str) or None, got {type(self.detail).__name__}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(self.namespaces).items()):
            raise TypeError("SoapFault namespaces maps prefixes (str) to namespace URIs (str)")
        if self.soap_version not in (None, "1.1", "1.2"):
            raise ValueError(f"SoapFault soap_version is '1.1', '1.2' or None, got {self.soap_version!r}")
        self.namespaces = dict(self.namespaces)

    def __reduce__(self) -> tuple[type[SoapFault], tuple[str, str, str | None, dict[str, str], str | None]]:
        return (type(self), (self.faultstring, self.faultcode, self.detail, dict(self.namespaces), self.soap_version))


@dataclass(slots=True)
class SoapHeader:
    """A SOAP header block, as ``message.soap_headers`` holds them (CPI's ``SoapHeader`` class).

    The SOAP-based senders give the steps the request's header blocks this way; a step sets the
    reply's by putting ``SoapHeader`` values (or the XML of one namespace-qualified element,
    as str or bytes) into ``message.soap_headers``. *xml* is the block's XML as sent; *actor*
    the ``actor`` (SOAP 1.1) or ``role`` (SOAP 1.2) it is for, ``None`` for the iFlow itself.
    """

    namespace: str
    local: str
    xml: str
    must_understand: bool = False
    actor: str | None = None
    relay: bool = False

    @property
    def name(self) -> str:
        """The header's qualified name in Clark notation, ``{namespace}local``."""
        return f"{{{self.namespace}}}{self.local}" if self.namespace else self.local


class Headers(MutableMapping[str, Any]):
    """Message headers: names compare case-insensitively and keep the case they were last set with.

    Values are any object, as in Camel (``message.headers["CamelHttpResponseCode"] = 202``).
    """

    __slots__ = ("_items", "receivers")

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        self._items: dict[str, tuple[str, Any]] = {}
        # every value SAP_Receiver was given, in order: CPI's MPL accumulates them
        self.receivers: list[str] = []
        if type(data) is dict:  # what a request brings: set directly (the generic update is slow)
            try:
                items = {str.lower(name): (name, value) for name, value in data.items()}
            except TypeError:  # a name that is not a string
                items = None
            if items is not None and len(items) == len(data):
                self._items = items
                receiver = items.get("sap_receiver")
                if receiver is not None and receiver[1] is not None:
                    self.receivers.append(str(receiver[1]))
                return
            for name, value in data.items():  # names that differ only in case, or not strings
                self[name] = value
        elif data is not None:
            self.update(data)

    @classmethod
    def _adopt(cls, items: dict[str, tuple[str, Any]], receivers: list[str]) -> Headers:
        """Headers that take *items* (lower-case name -> (name, value)) and *receivers* as they are:
        for the Message of a request, whose headers were put into this shape as they were read."""
        headers = cls.__new__(cls)
        headers._items = items
        headers.receivers = receivers
        return headers

    def _lacks(self, lower_names: frozenset[str]) -> bool:
        """True if none of *lower_names* (lower case) is a header here (for the MPL, without lookups)."""
        return lower_names.isdisjoint(self._items)

    def __getitem__(self, name: str) -> Any:
        return self._items[name.lower()][1]

    def get(self, name: str, default: Any = None) -> Any:
        item = self._items.get(name.lower()) if isinstance(name, str) else None
        return default if item is None else item[1]

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"header names are strings, got {type(name).__name__}")
        key = name.lower()
        if key == "sap_receiver" and value is not None:
            self.receivers.append(str(value))
        self._items[key] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def pairs(self) -> list[tuple[str, Any]]:
        """``(name, value)`` of every header, names as last set: ``items()`` without the lookups."""
        return list(self._items.values())

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"

    def copy(self) -> Headers:
        return Headers(self.items())


@dataclass(slots=True)
class Attachment:
    """A message attachment (Groovy: ``AttachmentWrapper`` / ``DataHandler``)."""

    name: str
    content: bytes
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return _decode(self.content, _charset_of(self.content_type) or DEFAULT_CHARSET, f"attachment {self.name!r}")

    # Groovy DataHandler / AttachmentWrapper names
    def getName(self) -> str:
        return self.name

    def getContentType(self) -> str:
        return self.content_type

    def getContent(self) -> bytes:
        return self.content


@dataclass(frozen=True, slots=True)
class LogAttachment:
    """A text attached to the message processing log entry."""

    name: str
    text: str
    media_type: str = "text/plain"


LogValue = str | int | float | bool | date | datetime


class MessageLog:
    """What a step adds to the message processing log (MPL) entry of its message.

    ``add_custom_header`` adds a searchable custom header property (names may repeat);
    ``set_property`` a typed log property; ``add_attachment`` a text attachment.
    """

    __slots__ = ("attachments", "custom_headers", "properties")

    def __init__(self) -> None:
        self.custom_headers: list[tuple[str, str]] = []
        self.properties: dict[str, LogValue] = {}
        self.attachments: list[LogAttachment] = []

    def add_custom_header(self, name: str, value: object) -> None:
        self.custom_headers.append((str(name), "" if value is None else str(value)))

    def set_property(self, name: str, value: object) -> None:
        if not isinstance(value, str | int | float | bool | date):
            got = type(value).__name__
            raise TypeError(f"log property {name!r}: expected str, int, float, bool or date, got {got}")
        self.properties[str(name)] = value

    def add_attachment(self, name: str, text: str | bytes, media_type: str | None = "text/plain") -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        # CPI turns a missing (or the string "null") media type into text/plain
        if not media_type or media_type == "null":
            media_type = "text/plain"
        self.attachments.append(LogAttachment(str(name), str(text), media_type))

    # Groovy: com.sap.it.api.msglog.MessageLog
    def addCustomHeaderProperty(self, name: str, value: object) -> None:
        self.add_custom_header(name, value)

    def addAttachmentAsString(self, name: str, text: str, media_type: str | None = None) -> None:
        self.add_attachment(name, text, media_type)

    def setStringProperty(self, name: str, value: str) -> None:
        self.set_property(name, _typed(name, value, str, "setStringProperty"))

    def setIntegerProperty(self, name: str, value: int) -> None:
        self.set_property(name, _integer(name, value, 32, "setIntegerProperty"))

    def setLongProperty(self, name: str, value: int) -> None:
        self.set_property(name, _integer(name, value, 64, "setLongProperty"))

    def setBooleanProperty(self, name: str, value: bool) -> None:
        self.set_property(name, _typed(name, value, bool, "setBooleanProperty"))

    def setFloatProperty(self, name: str, value: float) -> None:
        self.set_property(name, float(_typed(name, value, (int, float), "setFloatProperty")))

    def setDoubleProperty(self, name: str, value: float) -> None:
        self.set_property(name, float(_typed(name, value, (int, float), "setDoubleProperty")))

    def setDateProperty(self, name: str, value: date) -> None:
        self.set_property(name, _typed(name, value, date, "setDateProperty"))


class _MessageLogFactory:
    """Groovy's ``messageLogFactory`` binding: ``messageLogFactory.getMessageLog(message)``."""

    def getMessageLog(self, message: Message) -> MessageLog:
        return message.log


messageLogFactory = _MessageLogFactory()


class Message:
    """The message an iFlow step reads and changes: body, headers, exchange properties, attachments, log."""

    __slots__ = ("_body", "_charset", "_log", "attachments", "headers", "properties", "soap_headers")

    def __init__(
        self,
        body: bytes = b"",
        headers: Mapping[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        charset: str | None = None,
    ) -> None:
        self._body = bytes(body)
        self._charset = charset
        self.headers = Headers(headers)
        self.properties: dict[str, Any] = dict(properties) if properties else {}
        self.attachments: dict[str, Attachment] = {}
        self._log: MessageLog | None = None
        # SoapHeader values from a SOAP-based sender (the HTTPS sender brings none); for the
        # reply, a step may also put the XML of a header element here
        self.soap_headers: list[Any] = []

    @classmethod
    def _adopt(cls, body: bytes, headers: Headers, properties: dict[str, Any], charset: str | None) -> Message:
        """A Message that takes *headers* and *properties* as they are, without copying them (for
        the Message of a request, whose headers and properties were built for it alone)."""
        message = cls.__new__(cls)
        message._body = body
        message._charset = charset
        message.headers = headers
        message.properties = properties
        message.attachments = {}
        message._log = None
        message.soap_headers = []
        return message

    def __repr__(self) -> str:
        return f"<Message {len(self._body)} bytes, {self.content_type or 'no content type'}>"

    @property
    def log(self) -> MessageLog:
        """What the steps add to the message processing log entry (made when first asked for)."""
        log = self._log
        if log is None:
            log = self._log = MessageLog()
        return log

    def _log_if_used(self) -> MessageLog | None:
        """The message log, if a step has asked for it (for the MPL, without making one)."""
        return self._log

    # -- body ------------------------------------------------------------------------------------

    @property
    def body(self) -> bytes:
        """The body as bytes. Assign bytes or str (str is encoded in :attr:`charset`)."""
        return self._body

    @body.setter
    def body(self, value: bytes | bytearray | memoryview | str | None) -> None:
        if value is None:
            self._body = b""
        elif isinstance(value, str):
            self.text = value
        elif isinstance(value, bytes | bytearray | memoryview):
            self._body = bytes(value)
        else:
            raise TypeError(
                f"the body must be bytes or str, got {type(value).__name__}; for JSON use message.set_json(value)"
            )

    @property
    def charset(self) -> str:
        """The body's charset: from the current Content-Type, else the request's, else UTF-8."""
        return _charset_of(self.content_type_header) or self._charset or DEFAULT_CHARSET

    @property
    def content_type_header(self) -> str | None:
        value = self.headers.get("Content-Type")
        return None if value is None else str(value)

    @property
    def content_type(self) -> str | None:
        """The media type of the Content-Type header without parameters (``application/json``)."""
        header = self.content_type_header
        return header.split(";", 1)[0].strip().lower() or None if header else None

    @property
    def text(self) -> str:
        """The body decoded in :attr:`charset`; raises :class:`BodyDecodeError` if it is not valid there."""
        return _decode(self._body, self.charset, "the body")

    @text.setter
    def text(self, value: str) -> None:
        charset = self.charset
        try:
            self._body = value.encode(_codec(charset, "the body"))
        except UnicodeEncodeError as exc:
            raise BodyDecodeError(
                f"the body text cannot be encoded in {charset} ({exc.reason} at position {exc.start}); "
                "set a Content-Type with charset=utf-8 first"
            ) from None

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`BodyDecodeError` if it is not JSON."""
        text = self.text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BodyDecodeError(f"the body is not valid JSON: {exc}") from None

    def set_json(self, value: Any, content_type: str = "application/json") -> None:
        """Set the body to ``value`` as JSON in UTF-8 and the Content-Type to ``content_type``."""
        self.headers["Content-Type"] = content_type
        self._charset = DEFAULT_CHARSET
        self.text = json.dumps(value, ensure_ascii=False)

    @property
    def body_size(self) -> int:
        return len(self._body)

    # -- Groovy aliases ----------------------------------------------------------------------------

    def getBody(self, as_type: type | None = None) -> Any:
        """``getBody()`` / ``getBody(bytes)``: bytes; ``getBody(str)``: text; ``getBody(io.BytesIO)``: a stream;
        ``getBody(dict)`` / ``getBody(list)``: parsed JSON."""
        if as_type is None or as_type is bytes:
            return self._body
        if as_type is str:
            return self.text
        if as_type is bytearray:
            return bytearray(self._body)
        if as_type in (io.BytesIO, io.BufferedIOBase, io.IOBase):
            return io.BytesIO(self._body)
        if as_type in (dict, list, object):
            return self.json()
        raise TypeError(f"getBody({as_type.__name__}) is not supported; use str, bytes, io.BytesIO, dict or list")

    def setBody(self, body: bytes | bytearray | str | None) -> None:
        self.body = body

    def getBodySize(self) -> int:
        return len(self._body)

    def getHeaders(self) -> Headers:
        return self.headers

    def getHeader(self, name: str, as_type: type | None = None) -> Any:
        """The header's value, converted to ``as_type`` (``str``, ``int``, ``float``, ``bytes``) when given."""
        return _convert(self.headers.get(name), as_type, f"header {name!r}")

    def setHeader(self, name: str, value: Any) -> None:
        self.headers[name] = value

    def setHeaders(self, headers: Mapping[str, Any]) -> None:
        """Replace all headers (as Camel's ``setHeaders`` does)."""
        receivers = self.headers.receivers
        self.headers = Headers(headers)
        self.headers.receivers[:0] = receivers

    def getProperties(self) -> dict[str, Any]:
        return self.properties

    def getProperty(self, name: str, as_type: type | None = None) -> Any:
        return _convert(self.properties.get(name), as_type, f"property {name!r}")

    def setProperty(self, name: str, value: Any) -> None:
        self.properties[name] = value

    def setProperties(self, properties: Mapping[str, Any]) -> None:
        """Replace all exchange properties."""
        self.properties = dict(properties)

    def getAttachments(self) -> dict[str, Attachment]:
        return self.attachments

    def setAttachments(self, attachments: Mapping[str, Attachment]) -> None:
        self.attachments = dict(attachments)

    def addAttachmentObject(self, name: str, attachment: Attachment) -> None:
        self.attachments[name] = attachment

    def getAttachmentsSize(self) -> int:
        return len(self.attachments)

    # Camel's Attachment and SAP's AttachmentWrapper are both Attachment here
    getAttachmentObjects = getAttachmentWrapperObjects = getAttachments
    setAttachmentObjects = setAttachmentWrapperObjects = setAttachments

    def addAttachmentHeader(self, name: str, value: str, attachment: Attachment) -> None:
        attachment.headers[name] = value

    def setAttachmentHeader(self, name: str, value: str, attachment: Attachment) -> None:
        attachment.headers[name] = value

    def getAttachmentHeader(self, name: str, attachment: Attachment) -> str | None:
        return attachment.headers.get(name)

    def removeAttachmentHeader(self, name: str, attachment: Attachment) -> None:
        attachment.headers.pop(name, None)

    def getSoapHeaders(self) -> list[Any]:
        return self.soap_headers

    def setSoapHeaders(self, headers: Iterable[Any]) -> None:
        self.soap_headers = list(headers)

    def clearSoapHeaders(self) -> None:
        self.soap_headers = []

    def getMessageLog(self) -> MessageLog:
        return self.log


def _charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def _codec(charset: str, what: str) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        raise BodyDecodeError(f"{what} declares the unknown charset {charset!r}; use e.g. charset=utf-8") from None


def _decode(data: bytes, charset: str, what: str) -> str:
    codec = _codec(charset, what)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise BodyDecodeError(
            f"{what} is not valid {charset} (byte 0x{bad} at offset {exc.start}); "
            "read it as bytes (message.body) or declare the right charset in Content-Type"
        ) from None


def _convert(value: Any, type_: type | None, what: str) -> Any:
    if value is None or type_ is None or isinstance(value, type_):
        return value
    try:
        if type_ is str:
            return value.decode(DEFAULT_CHARSET) if isinstance(value, bytes) else str(value)
        if type_ is bytes:
            return value.encode(DEFAULT_CHARSET) if isinstance(value, str) else bytes(value)
        if type_ is bool and isinstance(value, str):
            return value.strip().lower() == "true"
        return type_(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} ({value!r}) cannot be converted to {type_.__name__}: {exc}") from None


def _typed(name: str, value: Any, types: type | tuple[type, ...], method: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise TypeError(f"{method}({name!r}, ...): got {type(value).__name__}")
    return value


def _integer(name: str, value: int, bits: int, method: str) -> int:
    _typed(name, value, int, method)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError(f"{method}({name!r}, {value}): out of the {bits}-bit range")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)
