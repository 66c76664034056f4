"""The ``[[iflows]]`` tables of ``cpimock.toml``: CPI's address and role rules, unique ids and
addresses (per prefix: ``/http/`` for HTTPS, ``/cxf/`` for the SOAP-based adapters), no HTTPS
address under another's ``/*``. :mod:`cpimock.config.channels` reads the adapter's own keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cpimock.config.channels import adapter_of, idoc_channel, soap_channel
from cpimock.config.exports import export_table
from cpimock.config.model import (
    AUTH_METHODS,
    DEFAULT_MAX_ATTACHMENT_MB,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_ROLE,
    Adapter,
    ExportConfig,
    IFlowConfig,
    iflow_log_level,
)
from cpimock.config.reader import Reader

# CPI address rules: leading "/", then alphanumerics, "_", "/", "~", "-", ".", "$", "*";
# "$" only right after the leading "/"; not starting with ".", "-", "~"; "*" only as a final "/*".
_ADDRESS_RE = re.compile(r"^/\$?(?![.\-~])[A-Za-z0-9_/~\-.]*(/\*)?$")


_ROLE_RE = re.compile(r"^[A-Za-z0-9_.]+$")


_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _iflows(
    r: Reader, data: Any, root: Path, *, cxf_case_sensitive: bool = True
) -> tuple[tuple[IFlowConfig, ...], tuple[ExportConfig, ...]]:
    """The hand-written iFlows, and the tables that serve an export (``export = "..."``)."""
    if not isinstance(data, list):
        raise r.fail("iflows", "must be an array of tables ([[iflows]])")
    iflows: list[IFlowConfig] = []
    exports: list[ExportConfig] = []
    seen_ids: dict[str, int] = {}
    seen_addresses: dict[tuple[str, str], int] = {}
    for i, table in enumerate(data):
        p = f"iflows[{i}]."
        if not isinstance(table, dict):
            raise r.fail(f"iflows[{i}]", "must be a table")
        if "export" in table:
            exports.append(export_table(r, table, i, root))
            continue
        adapter = adapter_of(r, table, p)
        if "id" not in table or "address" not in table:
            raise r.fail(f"iflows[{i}]", 'needs id = "..." and address = "/..." (or export = "iflows/Flow.zip")')
        iflow_id = r.text(table, "id", p, "")
        if not _ID_RE.match(iflow_id):
            raise r.fail(p + "id", "may use letters, digits, '_', '-' and '.'")
        if iflow_id in seen_ids:
            raise r.fail(p + "id", f"{iflow_id!r} is already used by iflows[{seen_ids[iflow_id]}]")
        seen_ids[iflow_id] = i
        address = _address(r, r.text(table, "address", p, ""), p + "address", adapter)
        https = adapter == "https"
        sensitive = not https and cxf_case_sensitive
        key = ("/http" if https else "/cxf", address if sensitive else address.lower())
        if key in seen_addresses:
            rule = "case-sensitive under /cxf/" if sensitive else "case-insensitive"
            raise r.fail(
                p + "address",
                f"{address!r} is already used by iflows[{seen_addresses[key]}] under {key[0]}/; addresses are "
                f"unique there and {rule}",
            )
        seen_addresses[key] = i
        authorization = r.choice(table, "authorization", p, "user-role", ("user-role", "client-certificate"))
        role = r.text(table, "role", p, DEFAULT_ROLE)
        if not _ROLE_RE.match(role):
            raise r.fail(p + "role", "may only use a-z A-Z 0-9 _ . (as in CPI)")
        pairs = r.pairs(table, "client_certificates", p)
        if authorization == "client-certificate" and not pairs:
            raise r.fail(
                p + "client_certificates",
                'authorization = "client-certificate" needs at least one {subject = "...", issuer = "..."}',
            )
        methods = r.strings(table, "auth_methods", p) or AUTH_METHODS
        for method in methods:
            if method not in AUTH_METHODS:
                raise r.fail(p + "auth_methods", f"{method!r} is not one of {', '.join(AUTH_METHODS)}")
        level_text = r.text(table, "log_level", p, "INFO")
        log_level = iflow_log_level(level_text)
        if log_level is None:
            raise r.fail(
                p + "log_level",
                f"{level_text!r} is not a log level; use INFO, NONE, DEBUG, ERROR or TRACE "
                '(or CPI\'s "All events", "Error events", "No logging")',
            )
        iflows.append(
            IFlowConfig(
                id=iflow_id,
                address=address,
                steps=r.strings(table, "steps", p),
                adapter=adapter,
                authorization=authorization,  # type: ignore[arg-type]
                role=role,
                client_certificates=pairs,
                allowed_headers=r.strings(table, "allowed_headers", p),
                max_body_mb=r.number(table, "max_body_mb", p, DEFAULT_MAX_BODY_MB, 1, 4096),
                max_attachment_mb=0.0
                if https
                else r.number(table, "max_attachment_mb", p, DEFAULT_MAX_ATTACHMENT_MB, 1, 4096),
                csrf=https and r.flag(table, "csrf", p, True),
                return_exception_to_sender=r.flag(table, "return_exception_to_sender", p, False),
                state=r.choice(table, "state", p, "started", ("started", "stopped")),  # type: ignore[arg-type]
                timeout_s=r.number(table, "timeout_s", p, 60.0, 0.01, 86400),
                auth_methods=frozenset(methods),
                log_level=log_level,
                soap=soap_channel(r, table, p, adapter, root) if adapter in ("soap", "soap-rm") else None,
                idoc=idoc_channel(r, table, p) if adapter == "idoc" else None,
            )
        )
    _check_wildcard_overlap(r, iflows)
    return tuple(iflows), tuple(exports)


def _address(r: Reader, address: str, where: str, adapter: Adapter) -> str:
    problem = address_problem(address, adapter)
    if problem is not None:
        raise r.fail(where, problem)
    return normal_address(address)


def address_problem(address: str, adapter: Adapter) -> str | None:
    """What breaks CPI's address rules in *address* (for a channel of *adapter*), or None."""
    if adapter != "https" and "*" in address:
        return (
            f"{address!r}: a {adapter} address answers its sub-paths already (/path also answers /path/...); "
            "drop the '*'"
        )
    if not _ADDRESS_RE.match(address) or "//" in address or address.count("*") > 1:
        return (
            f"{address!r} is not a CPI address: start with '/', use letters, digits and _ / ~ - . $, "
            "'$' only right after the leading '/', and '*' only as a final '/*'"
        )
    return None


def normal_address(address: str) -> str:
    """*address* without a trailing slash (CPI serves ``/orders/`` as ``/orders``)."""
    if address != "/" and address.endswith("/") and not address.endswith("/*"):
        return address.rstrip("/")
    return address


def role_problem(role: str) -> str | None:
    """What breaks CPI's rule for role names in *role*, or None."""
    return None if _ROLE_RE.match(role) else f"role {role!r} may only use a-z A-Z 0-9 _ . (as in CPI)"


def _check_wildcard_overlap(r: Reader, iflows: list[IFlowConfig]) -> None:
    # while /path/* is deployed, no other iFlow with /path/... can be deployed (CPI rule)
    for i, wild in enumerate(iflows):
        if not wild.wildcard:
            continue
        prefix = wild.address[:-1].lower()
        for j, other in enumerate(iflows):
            if i != j and other.adapter == "https" and other.address.lower().startswith(prefix):
                raise r.fail(
                    f"iflows[{j}].address",
                    f"{other.address!r} lies under {wild.address!r} of iflows[{i}]; CPI refuses to "
                    "deploy both: change one address",
                )
