"""The ``[[iflows]]`` tables that serve a CPI export: ``export = "iflows/Flow.zip"`` and what CPI's
*Configure* dialog would set.

An export brings its own id, addresses, authorization and limits, so such a table names only
the file and what a user configures on a tenant::

    [[iflows]]
    export = "iflows/OrdersPackage.zip"          # a flow zip, a package zip, or a folder
    flows = ["Orders_Inbound", "Invoices"]       # a package: the flows to serve (default: all)
    strict = true                                # refuse a flow whose steps cpimock skips
    [iflows.parameters]                          # externalized parameters, every flow of the export
    "HTTP Address" = "/orders"
    [iflows.replace]                             # a script step run by a Python step instead
    "script1.groovy" = "iflows/script1.py:process"
    [iflows.flow.Invoices.parameters]            # one flow's own, winning over the above
    "HTTP Address" = "/invoices"

TOML allows these sub-tables after a ``[[iflows]]`` header: they belong to the last element of
the array. Only the shape is checked here; the export itself is read when the tenant loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, cast

from cpimock.config.model import AUTH_METHODS, ExportConfig, FlowSettings
from cpimock.config.reader import Reader

__all__ = ["EXPORT_KEYS", "export_table"]

EXPORT_KEYS = frozenset(
    {"export", "flows", "strict", "parameters", "replace", "flow", "state", "timeout_s", "auth_methods"}
)
_FLOW_KEYS = frozenset({"parameters", "replace", "state", "strict"})
# keys of a hand-written table that an export brings itself
_FROM_EXPORT = {
    "id": "the export's Bundle-SymbolicName",
    "address": "the sender channel's address (urlPath or address; override it with [iflows.parameters] if the "
    "export externalizes it)",
    "adapter": "the sender channel",
    "steps": "the integration process (replace a script with [iflows.replace])",
    "role": "the sender channel's user role",
    "authorization": "the sender channel",
    "client_certificates": "the sender channel",
    "csrf": "the sender channel's xsrfProtection",
    "allowed_headers": "the iFlow's allowedHeaderList",
    "max_body_mb": "the sender channel's maximumBodySize",
    "return_exception_to_sender": "the iFlow's returnExceptionToSender",
    "log_level": "the iFlow's log setting (All events, Error events, No logging)",
}
_SCRIPT_KEY = re.compile(r"^[^/\\:]+\.(?:groovy|gsh|js)(?::[A-Za-z_$][\w$]*)?$", re.IGNORECASE)


def export_table(r: Reader, table: dict[str, Any], index: int, root: Path) -> ExportConfig:
    """The ``[[iflows]]`` table *table* (which has ``export``), checked for its shape."""
    p = f"iflows[{index}]."
    for key in table:
        if key in EXPORT_KEYS:
            continue
        if key in _FROM_EXPORT:
            raise r.fail(p + key, f"comes from the export ({_FROM_EXPORT[key]}); remove it from this table")
        raise r.fail(p + key, f"unknown key for an export; expected one of: {', '.join(sorted(EXPORT_KEYS))}")
    export = r.text(table, "export", p, "")
    flows = r.strings(table, "flows", p)
    if len(set(flows)) != len(flows):
        raise r.fail(p + "flows", "names a flow twice")
    per_flow = []
    for flow_id, settings in r.table(table, "flow", p).items():
        where = f"{p}flow.{flow_id}"
        if not isinstance(settings, dict):
            raise r.fail(where, f"must be a table, such as [iflows.flow.{flow_id}.parameters]")
        if flows and flow_id not in flows:
            raise r.fail(where, f"names a flow that flows = [...] does not serve; add {flow_id!r} there or remove it")
        r.only(settings, where + ".", set(_FLOW_KEYS))
        state = settings.get("state")
        per_flow.append(
            (
                flow_id,
                FlowSettings(
                    parameters=_parameters(r, settings, where + "."),
                    replace=_replace(r, settings, where + "."),
                    state=_state(r, settings, where + ".") if state is not None else None,
                    strict=r.flag(settings, "strict", where + ".", False) if "strict" in settings else None,
                ),
            )
        )
    methods = r.strings(table, "auth_methods", p) or AUTH_METHODS
    for method in methods:
        if method not in AUTH_METHODS:
            raise r.fail(p + "auth_methods", f"{method!r} is not one of {', '.join(AUTH_METHODS)}")
    return ExportConfig(
        index=index,
        export=export,
        path=(root / export).resolve(),
        flows=flows,
        strict=r.flag(table, "strict", p, False),
        parameters=_parameters(r, table, p),
        replace=_replace(r, table, p),
        per_flow=tuple(per_flow),
        state=_state(r, table, p),
        timeout_s=r.number(table, "timeout_s", p, 60.0, 0.01, 86400),
        auth_methods=frozenset(methods),
    )


def _state(r: Reader, table: dict[str, Any], p: str) -> Literal["started", "stopped"]:
    return cast(Literal["started", "stopped"], r.choice(table, "state", p, "started", ("started", "stopped")))


def _parameters(r: Reader, table: dict[str, Any], p: str) -> tuple[tuple[str, str], ...]:
    """``[...parameters]``: names as CPI writes them (spaces allowed), values as text (TOML numbers and
    booleans as CPI's *Configure* dialog stores them)."""
    values = r.table(table, "parameters", p)
    pairs = []
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        else:
            raise r.fail(f'{p}parameters."{name}"', "must be a string, a number or true/false")
        pairs.append((name, text))
    return tuple(pairs)


def _replace(r: Reader, table: dict[str, Any], p: str) -> tuple[tuple[str, str], ...]:
    values = r.table(table, "replace", p)
    pairs = []
    for script, step in values.items():
        where = f'{p}replace."{script}"'
        if not _SCRIPT_KEY.match(script):
            raise r.fail(
                where,
                "name a script of the export as its step does (script1.groovy, or script1.groovy:function "
                "for one function only)",
            )
        if not isinstance(step, str) or not step.strip():
            raise r.fail(where, 'must be a step reference such as "iflows/script1.py:process"')
        pairs.append((script, step.strip()))
    return tuple(pairs)
