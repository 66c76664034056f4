"""What ``cpimock iflow inspect``, ``add`` and ``list`` share: ``-p NAME=VALUE``, the workspace around
an export, and an export read as the tenant would serve it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from cpimock.cli.options import shown
from cpimock.config import CONFIG_NAME, Config, ExportConfig, load_config
from cpimock.errors import ConfigError, CpimockError
from cpimock.iflows.export import load_export
from cpimock.iflows.exported import ServedFlow, serve_flow
from cpimock.iflows.inspect import Surroundings
from cpimock.iflows.model import IFlow, from_config
from cpimock.tenant.exports import check_unique, read_table, scripts_folder
from cpimock.workspace.create import DEMO_KEY
from cpimock.workspace.keys import keys_dir
from cpimock.workspace.registry import Registry

__all__ = [
    "ExportView",
    "base_url",
    "export_name",
    "parameter_options",
    "parse_parameters",
    "read_view",
    "served_elsewhere",
    "surroundings",
    "workspace_config",
]

F = TypeVar("F", bound=Callable[..., Any])


def parameter_options(func: F) -> F:
    """``-p NAME=VALUE`` (repeatable) and ``--flow ID`` (repeatable)."""
    func = click.option(
        "--flow",
        "flows",
        multiple=True,
        metavar="ID",
        help="Of a package export: only this flow (its Bundle-SymbolicName; repeatable).",
    )(func)
    return click.option(
        "-p",
        "--parameter",
        "parameters",
        multiple=True,
        metavar="NAME=VALUE",
        help="An externalized parameter's value, as CPI's Configure dialog sets it (repeatable).",
    )(func)


def parse_parameters(values: Sequence[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise CpimockError(f"-p {value!r}: write NAME=VALUE, e.g. -p 'HTTP Address=/orders'")
        pairs[name.strip()] = text
    return pairs


def workspace_config(workspace: Path) -> Config | None:
    """The workspace's configuration, or None when the folder has no ``cpimock.toml``."""
    path = workspace / CONFIG_NAME
    return load_config(path) if path.exists() else None


def export_name(config: Config, path: Path) -> str:
    """How ``cpimock.toml`` names *path*: relative to the workspace where it lies inside it."""
    resolved = path.resolve()
    if resolved.is_relative_to(config.root):
        return resolved.relative_to(config.root).as_posix()
    return str(resolved)


def base_url(config: Config | None) -> str:
    if config is None:
        return "https://127.0.0.1:8443"
    host = config.server.host
    return f"https://{f'[{host}]' if ':' in host else host}:{config.server.port}"


class ExportView:
    """An export read as the workspace would serve it: its table (the workspace's own, or one made
    from the command line), its flows, and the problems the workspace adds (an address taken)."""

    def __init__(self, table: ExportConfig, flows: list[ServedFlow], configured: ExportConfig | None) -> None:
        self.table = table
        self.flows = flows
        self.configured = configured
        self.conflicts: list[str] = []

    @property
    def servable(self) -> bool:
        return bool(self.flows) and not self.conflicts and all(flow.iflow is not None for flow in self.flows)


def read_view(
    path: Path,
    config: Config | None,
    parameters: dict[str, str],
    flows: Sequence[str],
    *,
    strict: bool | None = None,
    served_as: Path | None = None,
) -> ExportView:
    """Read *path* with the workspace's table for it (if any), *parameters* winning over the table's.

    *served_as* is where the workspace keeps the export, when that is not *path* (``add`` reads
    the file it is given, to copy it there): its table applies, and it is not counted twice.
    """
    place = (served_as or path).resolve()
    configured = None
    if config is not None:
        configured = next((table for table in config.exports if table.path == place), None)
    if configured is not None:
        table = replace(
            configured,
            parameters=tuple({**dict(configured.parameters), **parameters}.items()),
            flows=tuple(flows) or configured.flows,
            strict=configured.strict if strict is None else strict,
        )
    else:
        name = export_name(config, place) if config is not None else shown(path)
        table = ExportConfig(-1, name, place, tuple(flows), bool(strict), tuple(parameters.items()))
    per_flow = {flow_id: dict(settings.parameters) for flow_id, settings in table.per_flow}
    loaded = load_export(path, dict(table.parameters), flow_overrides=per_flow, scripts=scripts_folder())
    held = [flow.id for flow in loaded]
    for flow_id in table.flows:
        if flow_id not in held:
            raise CpimockError(f"--flow {flow_id}: {shown(path)} holds no such flow; it holds {', '.join(held)}")
    picked = [flow for flow in loaded if not table.flows or flow.id in table.flows]
    view = ExportView(table, [serve_flow(flow, table) for flow in picked], configured)
    if config is not None:
        try:
            check_unique([*served_elsewhere(config, table.path), *view.flows], config)
        except ConfigError as exc:
            view.conflicts.append(str(exc))
    return view


def served_elsewhere(config: Config, path: Path) -> list[IFlow | ServedFlow]:
    """What the workspace serves besides the export at *path*: its hand-written iFlows and other exports."""
    others: list[IFlow | ServedFlow] = [from_config(table) for table in config.iflows]
    for table in config.exports:
        if table.path != path.resolve():
            others += read_table(table, scripts=scripts_folder())
    return others


def surroundings(config: Config | None, from_command_line: set[str], view: ExportView) -> Surroundings:
    if config is None:
        return Surroundings(override_source=lambda name: "-p")
    registry = Registry.load(config.certs_dir)
    demo = keys_dir(config) / f"{DEMO_KEY}.json"

    def holders(role: str) -> str | None:
        names = [name for name, instance in config.instances.items() if role in instance.roles]
        if not names:
            return f"no instance holds it yet; make a key with: cpimock servicekey create NAME --roles {role}"
        parts = []
        for name in names:
            keys = sorted(r.name for r in registry.records.values() if r.instance == name and not r.revoked)
            parts.append(f"instance {name} ({'keys ' + ', '.join(keys) if keys else 'no keys yet'})")
        return "; ".join(parts)

    def source(name: str) -> str:
        return "-p" if name in from_command_line else f"cpimock.toml ([iflows.parameters] of {view.table.where})"

    served_by = f"cpimock.toml {view.configured.where}" if view.configured is not None else None
    ca = config.certs_dir / "root-ca.pem"
    return Surroundings(
        base_url=base_url(config),
        holders=holders,
        override_source=source,
        served_by=served_by,
        key_file=shown(demo) if demo.exists() else None,
        ca_file=shown(ca) if ca.exists() else None,
    )
