"""``cpimock iflow``: the iFlows exported from CPI that the workspace serves (``inspect``, ``add``, ``list``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from cpimock.cli.iflow_add import add
from cpimock.cli.iflow_common import (
    base_url,
    parameter_options,
    parse_parameters,
    read_view,
    surroundings,
    workspace_config,
)
from cpimock.cli.options import workspace_option
from cpimock.config import Config
from cpimock.errors import ConfigError, CpimockError
from cpimock.iflows.inspect import render_inspection
from cpimock.iflows.model import IFlow, from_config
from cpimock.tenant.exports import read_table, scripts_folder

_ADAPTERS = {"https": "HTTPS", "soap": "SOAP 1.x", "soap-rm": "SOAP (SAP RM)", "idoc": "IDoc"}


@click.group("iflow")
def command() -> None:
    """iFlows exported from CPI's design view: what cpimock serves of them.

    Export the iFlow (or its package) in CPI's design view, read what cpimock makes of it with
    `cpimock iflow inspect Flow.zip`, serve it with `cpimock iflow add Flow.zip`.
    """


@command.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@parameter_options
@workspace_option("The workspace whose settings (its table for the export, its port, its keys) apply.")
def inspect(path: Path, parameters: tuple[str, ...], flows: tuple[str, ...], workspace: Path) -> None:
    """Say what cpimock serves of the export PATH (a flow zip, a package zip or a folder): the URLs and
    who may call them, each step and whether it runs, each parameter's value and where it came from,
    and what keeps it from being served. Nothing is added; exit status 1 when it cannot be served."""
    config = workspace_config(workspace)
    given = parse_parameters(parameters)
    view = read_view(path, config, given, flows)
    click.echo(render_inspection(view.flows, surroundings(config, set(given), view)), nl=False)
    for conflict in view.conflicts:
        click.secho(f"\nIn this workspace: {conflict}", fg="red")
    if not view.servable:
        raise click.exceptions.Exit(1)
    if view.configured is None:
        click.echo(f"\nServe it with: cpimock iflow add {path}" + "".join(f" -p '{p}'" for p in parameters))


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@workspace_option()
def list_iflows(as_json: bool, workspace: Path) -> None:
    """List the workspace's iFlows: hand-written ones and those from exports, with their URLs."""
    config = workspace_config(workspace)
    if config is None:
        raise CpimockError(f"no cpimock.toml in {workspace.resolve()}; run `cpimock init` or give --workspace")
    rows = _rows(config)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return
    width = max((len(row.id) for row in rows), default=5)
    source_width = max((len(row.source) for row in rows), default=6)
    click.echo(f"{'IFLOW':<{width}}  {'SOURCE':<{source_width}}  {'STATE':<8} CHANNELS")
    for row in rows:
        head = f"{row.id:<{width}}  {row.source:<{source_width}}"
        if row.problem:
            click.echo(f"{head}  {'-':<8} cannot be served: {row.problem}")
            continue
        first, *rest = row.channels or ["(no channel)"]
        click.echo(f"{head}  {row.state or '':<8} {first}")
        for channel in rest:
            click.echo(f"{'':<{width}}  {'':<{source_width}}  {'':<8} {channel}")


@dataclass(frozen=True)
class _Row:
    id: str
    source: str
    state: str | None
    channels: list[str]
    problem: str | None = None


def _rows(config: Config) -> list[_Row]:
    url = base_url(config)
    rows = [_row(from_config(table), "cpimock.toml", url) for table in config.iflows]
    for table in config.exports:
        try:
            served = read_table(table, scripts=scripts_folder())
        except ConfigError as exc:
            rows.append(_Row(table.export, table.export, None, [], str(exc)))
            continue
        rows += [_row(flow.iflow, table.export, url) for flow in served if flow.iflow is not None]
    return rows


def _row(iflow: IFlow, source: str, url: str) -> _Row:
    channels = []
    for channel in iflow.channels:
        rule = channel.role if channel.authorization == "user-role" else "client certificate subject/issuer list"
        channels.append(f"{url}{channel.url_path} ({_ADAPTERS[channel.adapter]}, {rule})")
    return _Row(iflow.id, source, iflow.state, channels)


command.add_command(add)
