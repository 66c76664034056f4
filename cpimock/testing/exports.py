"""CPI exports in a test tenant: the ``[[iflows]]`` table that serves one, and what it takes up.

A sender team's test adds the iFlow export it got from CPI (``tenant.add_export("Orders.zip")``)
and calls its sender channels. The export is read here once, before the tenant's
``cpimock.toml`` is written, for the addresses and ids it takes (the template workspace's demo
iFlows give way to them); the server then reads it as it reads any workspace's export.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cpimock.iflows.export import load_export

__all__ = ["ExportSpec", "read_export"]


@dataclass(frozen=True)
class ExportSpec:
    """One ``[[iflows]]`` table with ``export``; its path is absolute (relative to the test, not the workspace)."""

    path: Path
    flows: tuple[str, ...] = ()
    strict: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    replace: tuple[tuple[str, str], ...] = ()
    flow_parameters: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # what the export's flows take: ids and lower-case addresses (for the template's demo iFlows to give way)
    taken: frozenset[str] = frozenset()

    def table(self) -> list[str]:
        lines = ["[[iflows]]", f"export = {_str(str(self.path))}"]
        if self.flows:
            lines.append("flows = [" + ", ".join(_str(flow) for flow in self.flows) + "]")
        if self.strict:
            lines.append("strict = true")
        lines += _pairs("iflows.parameters", self.parameters)
        lines += _pairs("iflows.replace", self.replace)
        for flow_id, pairs in self.flow_parameters:
            lines += _pairs(f"iflows.flow.{_str(flow_id)}.parameters", pairs)
        return lines


def read_export(
    path: Path,
    parameters: Mapping[str, str],
    flow_parameters: Mapping[str, Mapping[str, str]],
    flows: tuple[str, ...],
) -> tuple[frozenset[str], list[tuple[str, str, str]]]:
    """What the picked flows of the export take (ids, lower-case addresses), and each served channel's
    flow id, address and path on the tenant (``/http/orders``)."""
    taken: set[str] = set()
    channels: list[tuple[str, str, str]] = []
    for flow in load_export(path, parameters, flow_overrides=flow_parameters):
        if flows and flow.id not in flows:
            continue
        taken.add(flow.id)
        for channel in flow.channels:
            if channel.endpoint is not None and channel.address is not None:
                taken.add(channel.address.lower())
                channels.append((flow.id, channel.address, channel.endpoint))
    return frozenset(taken), channels


def _pairs(table: str, pairs: tuple[tuple[str, str], ...]) -> list[str]:
    if not pairs:
        return []
    return [f"[{table}]", *(f"{_str(name)} = {_str(value)}" for name, value in pairs)]


def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)
