"""The adapter of an ``[[iflows]]`` table and the keys only that adapter has.

``adapter = "https"`` (the default), ``"soap"`` (SOAP 1.x), ``"soap-rm"`` (SOAP (SAP RM)) or
``"idoc"``. A key that belongs to another adapter is refused with one line naming the adapter
it belongs to, so that a copied table does not carry a setting that silently does nothing
(``csrf`` on a SOAP channel, ``processing`` on a Request-Reply one). The WSDL a channel names is
read here, from the workspace, so that its content and the rest of the file are one state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from cpimock.config.model import ADAPTERS, Adapter, IdocChannel, SoapChannel
from cpimock.config.reader import Reader

# keys every adapter has
COMMON_KEYS = frozenset(
    {
        "id",
        "address",
        "adapter",
        "steps",
        "authorization",
        "role",
        "client_certificates",
        "allowed_headers",
        "max_body_mb",
        "return_exception_to_sender",
        "state",
        "timeout_s",
        "auth_methods",
        "log_level",
    }
)
# keys of one adapter (or a few), with the adapters that have them
ADAPTER_KEYS: dict[str, tuple[Adapter, ...]] = {
    "csrf": ("https",),
    "max_attachment_mb": ("soap", "soap-rm", "idoc"),
    "message_exchange_pattern": ("soap",),
    "processing": ("soap",),
    "wsdl": ("soap", "soap-rm"),
    "service": ("soap", "soap-rm"),
    "port": ("soap", "soap-rm"),
    "ws_addressing": ("soap",),
    "one_way_status": ("soap", "soap-rm"),
    "duplicates": ("soap-rm",),
    "invalid_xml_characters": ("idoc",),
    "idoc_answer": ("idoc",),
}
# a WSDL is configuration; anything this large is not one a sender was built from
_MAX_WSDL_BYTES = 16 * 1024 * 1024


def adapter_of(r: Reader, table: dict[str, Any], p: str) -> Adapter:
    """The table's adapter, after refusing keys it has not got (and unknown keys)."""
    adapter = cast(Adapter, r.choice(table, "adapter", p, "https", ADAPTERS))
    for key in table:
        if key in COMMON_KEYS:
            continue
        owners = ADAPTER_KEYS.get(key)
        if owners is None:
            known = ", ".join(sorted(COMMON_KEYS | set(ADAPTER_KEYS)))
            raise r.fail(p + key, f"unknown key; expected one of: {known}")
        if adapter not in owners:
            names = " and ".join(f'"{owner}"' for owner in owners)
            raise r.fail(
                p + key,
                f"is a setting of adapter {names}, and this iFlow's adapter is {adapter!r}; remove it "
                "or change adapter",
            )
    return adapter


def soap_channel(r: Reader, table: dict[str, Any], p: str, adapter: Adapter, root: Path) -> SoapChannel:
    """The SOAP 1.x or SOAP (SAP RM) settings of the table."""
    wsdl, wsdl_file = _wsdl(r, table, p, root)
    for key in ("service", "port"):
        if key in table and wsdl is None:
            raise r.fail(p + key, 'names a part of a WSDL: set wsdl = "iflows/<file>.wsdl" too, or remove it')
    if adapter == "soap-rm":
        pattern: Literal["request-reply", "one-way"] = "one-way"
        # SAP's current SOAP (SAP RM) adapter processes every message as Robust does
        processing: Literal["ws-standard", "robust"] = "robust"
    else:
        if wsdl is not None and "message_exchange_pattern" in table:
            raise r.fail(
                p + "message_exchange_pattern",
                "comes from the WSDL when the channel has one (an operation without output is one-way); remove it",
            )
        pattern = cast(
            Literal["request-reply", "one-way"],
            r.choice(table, "message_exchange_pattern", p, "request-reply", ("request-reply", "one-way")),
        )
        if "processing" in table and wsdl is None and pattern == "request-reply":
            raise r.fail(p + "processing", 'applies to one-way channels only (message_exchange_pattern = "one-way")')
        processing = cast(
            Literal["ws-standard", "robust"], r.choice(table, "processing", p, "ws-standard", ("ws-standard", "robust"))
        )
    status = r.whole(table, "one_way_status", p, 202, 200, 202)
    if status not in (200, 202):
        raise r.fail(p + "one_way_status", "must be 202 (no body) or 200 (an empty SOAP envelope)")
    return SoapChannel(
        pattern=pattern,
        processing=processing,
        wsdl=wsdl,
        wsdl_file=wsdl_file,
        service=_qualified(r, table, "service", p),
        port=_qualified(r, table, "port", p),
        ws_addressing=r.flag(table, "ws_addressing", p, False),
        one_way_status=cast(Literal[200, 202], status),
        duplicates=cast(
            Literal["acknowledge", "process"],
            r.choice(table, "duplicates", p, "acknowledge", ("acknowledge", "process")),
        ),
    )


def idoc_channel(r: Reader, table: dict[str, Any], p: str) -> IdocChannel:
    """The IDoc settings of the table."""
    handling = r.choice(table, "invalid_xml_characters", p, "throw", ("throw", "remove", "substitute"))
    answer = r.choice(table, "idoc_answer", p, "empty", ("empty", "idoc-assign"))
    return IdocChannel(
        invalid_characters=cast(Literal["throw", "remove", "substitute"], handling),
        answer=cast(Literal["empty", "idoc-assign"], answer),
    )


def _qualified(r: Reader, table: dict[str, Any], key: str, p: str) -> str | None:
    if key not in table:
        return None
    value = r.text(table, key, p, "")
    local = value.rpartition(":")[2]
    if not local or any(c.isspace() for c in value):
        raise r.fail(p + key, f"{value!r} is not a WSDL name; write it as in CPI, e.g. p1:OrderService")
    return value


def _wsdl(r: Reader, table: dict[str, Any], p: str, root: Path) -> tuple[bytes | None, Path | None]:
    if "wsdl" not in table:
        return None, None
    name = r.text(table, "wsdl", p, "")
    path = (root / name).resolve()
    if path.exists() and not path.is_file():  # a folder, a device, a pipe: nothing to read a WSDL from
        raise r.fail(p + "wsdl", f"{path} is not a file; give the path of the WSDL file in the workspace")
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_WSDL_BYTES + 1)
    except OSError as exc:
        raise r.fail(
            p + "wsdl", f"cannot read {path} ({exc.strerror}); give the WSDL's path in the workspace"
        ) from None
    if len(data) > _MAX_WSDL_BYTES:
        raise r.fail(p + "wsdl", f"{path} is larger than {_MAX_WSDL_BYTES // (1024 * 1024)} MB; that is not a WSDL")
    return data, path
