"""The workspace's CPI exports, read for serving: every ``[[iflows]]`` table with ``export = "..."``.

Each table's file is read (:func:`cpimock.iflows.export.load_export`, with the table's parameter
values), the flows it picks are mapped onto the served model (:func:`serve_flow`), and the
result is checked against the rest of the tenant: a flow id or an address that another iFlow
has already is refused, as CPI refuses to deploy it. A flow that cannot be served stops the
load with one line naming the file, the flow, its first error and the command that lists the
rest; the reloader then keeps the state it had and watches the export's files.

The export reader (:mod:`cpimock.iflows.export`, :mod:`cpimock.iflows.exported`) is imported by
the two functions that read an export's files, so that a workspace without export tables does
not load it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cpimock.config import Config, ExportConfig
from cpimock.errors import ConfigError, MissingFileError
from cpimock.iflows.model import IFlow
from cpimock.steps.groovy.toolchain import cache_root

if TYPE_CHECKING:
    from cpimock.iflows.exported import ServedFlow

__all__ = ["LoadedExports", "check_unique", "export_files", "load_exports", "scripts_folder"]


@dataclass(frozen=True, slots=True)
class LoadedExports:
    """What the workspace's export tables serve, and the files to watch for changes."""

    flows: tuple[ServedFlow, ...] = ()
    watched: tuple[Path, ...] = ()

    @property
    def iflows(self) -> list[IFlow]:
        return [flow.iflow for flow in self.flows if flow.iflow is not None]


def scripts_folder() -> Path:
    """Where the scripts and jars of exports are unpacked for the JVM (a cache shared by workspaces)."""
    return cache_root() / "exports"


def load_exports(config: Config, others: Sequence[IFlow], *, scripts: Path | None = None) -> LoadedExports:
    """Read and map every export table of *config*; raise :class:`ConfigError` naming what keeps one from
    serving, or an id or address that one of *others* (the iFlows of ``cpimock.toml``) has already."""
    flows: list[ServedFlow] = []
    watched: list[Path] = []
    for table in config.exports:
        files = export_files(table.path)
        watched += files
        flows += read_table(table, scripts=scripts or scripts_folder(), watched=files)
    check_unique([*others, *flows], config)
    return LoadedExports(tuple(flows), tuple(watched))


def read_table(table: ExportConfig, *, scripts: Path | None, watched: Sequence[Path] = ()) -> list[ServedFlow]:
    """The flows *table* picks from its export, mapped; the first error of one stops the load."""
    from cpimock.iflows.export import ExportError, load_export
    from cpimock.iflows.exported import serve_flow

    where = f"cpimock.toml: {table.where}.export"
    if not table.path.exists():
        raise MissingFileError(
            f"{where}: {table.path} does not exist; give the path of the iFlow export (a .zip or a folder), "
            "relative to the workspace",
            table.path,
        )
    per_flow = {flow_id: dict(settings.parameters) for flow_id, settings in table.per_flow}
    try:
        exported = load_export(table.path, dict(table.parameters), flow_overrides=per_flow, scripts=scripts)
    except ExportError as exc:
        raise MissingFileError(f"{where}: {exc}", table.path, tuple(watched)) from None
    held = [flow.id for flow in exported]
    for flow_id in (*table.flows, *(name for name, _ in table.per_flow)):
        if flow_id not in held:
            raise ConfigError(
                f"cpimock.toml: {table.where}: the export {table.export} holds no flow {flow_id!r}; "
                f"it holds {', '.join(held)}"
            )
    picked = [flow for flow in exported if not table.flows or flow.id in table.flows]
    served = [serve_flow(flow, table) for flow in picked]
    for flow in served:
        errors = flow.errors
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            others = (
                f", or serve the package's other flows with flows = [...] in {table.where}" if len(served) > 1 else ""
            )
            raise ConfigError(
                f"{table.export}: iFlow {flow.flow.id} cannot be served: {first.where}: {first.text}{more}; "
                f"`cpimock iflow inspect {table.export}` lists everything{others}"
            )
    return served


def export_files(path: Path) -> list[Path]:
    """The files whose change reloads an export: the zip, or every file of a folder (bounded)."""
    if not path.is_dir():
        return [path]
    from cpimock.iflows.export import Limits

    found = [path]
    limit = Limits().max_entries
    for folder, _dirs, names in os.walk(path):
        for name in names:
            found.append(Path(folder) / name)
            if len(found) > limit:
                return found
    return found


def check_unique(iflows: Iterable[IFlow | ServedFlow], config: Config) -> None:
    """Refuse two iFlows with one id, and two channels at one address (CPI's rules, per prefix)."""
    ids: dict[str, str] = {}
    addresses: dict[tuple[str, str], str] = {}
    wildcards: list[tuple[tuple[str, str], str]] = []
    for item in iflows:
        iflow, origin = _origin(item)
        if iflow is None:
            continue
        if iflow.id in ids:
            raise ConfigError(
                f"{origin}: iFlow id {iflow.id!r} is taken by {ids[iflow.id]}; an id is unique on a tenant: "
                "remove one of them"
            )
        ids[iflow.id] = origin
        for channel in iflow.channels:
            sensitive = channel.prefix == "/cxf" and config.server.cxf_case_sensitive
            key = (channel.prefix, channel.address if sensitive else channel.address.lower())
            if key in addresses:
                raise ConfigError(
                    f"{origin}: {channel.url_path} is already served by {addresses[key]}; an address is unique "
                    "on a tenant: change one (an export's address through [iflows.parameters] where it is "
                    "externalized)"
                )
            addresses[key] = f"{origin} (iFlow {iflow.id})"
            if channel.prefix == "/http" and channel.address.endswith("/*"):
                wildcards.append((key, addresses[key]))
    for wild, owner in wildcards:
        prefix = wild[1][:-1]
        for key, other in addresses.items():
            if key[0] == "/http" and key != wild and key[1].startswith(prefix):
                raise ConfigError(
                    f"{owner}: /http{wild[1]} takes in /http{key[1]} of {other}; CPI refuses to deploy both: "
                    "change one address"
                )


def _origin(item: IFlow | ServedFlow) -> tuple[IFlow | None, str]:
    if isinstance(item, IFlow):
        return item, "cpimock.toml"
    return item.iflow, item.settings.export
