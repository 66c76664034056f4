"""The ``cpimock.toml`` of a test tenant, written from what the test registered.

The testing API owns its temporary workspace's configuration: it renders the whole file from
the template workspace's tenant, the bound port, the instances and the iFlows, and the server
reads it the way it reads any workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cpimock.config import Config
from cpimock.testing.exports import ExportSpec


@dataclass(frozen=True)
class IFlowSpec:
    """One ``[[iflows]]`` table; None and empty values are left out (the config's defaults apply)."""

    id: str
    address: str
    steps: tuple[str, ...]
    role: str
    csrf: bool
    authorization: str
    client_certificates: tuple[tuple[str, str], ...]
    auth_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...]
    return_exception_to_sender: bool
    state: str
    timeout_s: float | None
    max_body_mb: float | None
    adapter: str = "https"
    # the adapter's own keys (message_exchange_pattern, invalid_xml_characters, ...), None left out
    channel: tuple[tuple[str, str | int | float | bool | None], ...] = ()

    def table(self) -> list[str]:
        lines = [
            "[[iflows]]",
            f"id = {_str(self.id)}",
            f"address = {_str(self.address)}",
            f"adapter = {_str(self.adapter)}",
            f"steps = {_strs(self.steps)}",
            f"authorization = {_str(self.authorization)}",
            f"role = {_str(self.role)}",
            f"return_exception_to_sender = {_bool(self.return_exception_to_sender)}",
            f"state = {_str(self.state)}",
        ]
        if self.adapter == "https":
            lines.append(f"csrf = {_bool(self.csrf)}")
        for key, value in self.channel:
            if value is not None:
                lines.append(f"{key} = {_value(value)}")
        if self.client_certificates:
            pairs = ", ".join(f"{{ subject = {_str(s)}, issuer = {_str(i)} }}" for s, i in self.client_certificates)
            lines.append(f"client_certificates = [{pairs}]")
        if self.auth_methods:
            lines.append(f"auth_methods = {_strs(self.auth_methods)}")
        if self.allowed_headers:
            lines.append(f"allowed_headers = {_strs(self.allowed_headers)}")
        if self.timeout_s is not None:
            lines.append(f"timeout_s = {float(self.timeout_s)!r}")
        if self.max_body_mb is not None:
            lines.append(f"max_body_mb = {float(self.max_body_mb)!r}")
        return lines


def render_config(
    base: Config,
    port: int,
    client_auth: str,
    instances: Mapping[str, frozenset[str]],
    iflows: Iterable[IFlowSpec],
    exports: Iterable[ExportSpec] = (),
) -> str:
    """The file: *base*'s tenant and iFlows (the demo), then the registered instances, iFlows and exports."""
    tenant = base.tenant
    lines = [
        "# a temporary workspace of cpimock.testing; rewritten whenever the test registers something",
        "",
        "[tenant]",
        f"name = {_str(tenant.name)}",
        *([f"host = {_str(tenant.host)}"] if tenant.host else []),
        f"region = {_str(tenant.region)}",
        "",
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f"client_auth = {_str(client_auth)}",
    ]
    for name, roles in instances.items():
        lines += ["", f"[instances.{_key(name)}]", f"roles = {_strs(sorted(roles))}"]
    registered = list(iflows)
    added = list(exports)
    taken = {f.address.lower() for f in registered} | {f.id for f in registered}
    taken |= {name for spec in added for name in spec.taken}
    for flow in base.iflows:  # the template's demo iFlow, unless a registered one took its place
        if flow.address.lower() in taken or flow.id in taken:
            continue
        lines += [
            "",
            "[[iflows]]",
            f"id = {_str(flow.id)}",
            f"address = {_str(flow.address)}",
            f"adapter = {_str(flow.adapter)}",
            f"steps = {_strs(flow.steps)}",
        ]
        if flow.adapter == "https":
            lines.append(f"csrf = {_bool(flow.csrf)}")
    for spec in registered:
        lines += ["", *spec.table()]
    for export in added:
        lines += ["", *export.table()]
    return "\n".join(lines) + "\n"


def _str(value: str) -> str:
    # a JSON string is a TOML basic string (TOML has the same escapes, \uXXXX included)
    return json.dumps(value, ensure_ascii=False)


def _strs(values: Iterable[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return _bool(value)
    return repr(value) if isinstance(value, int | float) else _str(value)


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else _str(name)
