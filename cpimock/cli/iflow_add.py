"""``cpimock iflow add``: serve an export from CPI in the workspace, as its ``[[iflows]]`` table."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import click

from cpimock.cli.iflow_common import base_url, export_name, parameter_options, parse_parameters, read_view, surroundings
from cpimock.cli.options import shown, workspace_option
from cpimock.config import CONFIG_NAME, load_config, parse_config
from cpimock.errors import CpimockError
from cpimock.iflows.inspect import call_line
from cpimock.pki.keys import write_file
from cpimock.workspace.create import ensure_workspace
from cpimock.workspace.export_tables import with_export_table


@click.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@parameter_options
@click.option("--strict", is_flag=True, help="Refuse to serve a flow whose steps cpimock skips (strict = true).")
@workspace_option("The workspace to serve it in; created (as by `cpimock init`) when it has no cpimock.toml.")
def add(path: Path, parameters: tuple[str, ...], flows: tuple[str, ...], strict: bool, workspace: Path) -> None:
    """Serve the export PATH (a flow zip, a package zip or a folder) in the workspace.

    The export is copied into the workspace's iflows/ folder (unless it lies in the workspace
    already; a file of the same name there is replaced, as a newer export of the flow) and
    cpimock.toml gets its [[iflows]] table, with the -p values as [iflows.parameters]. Nothing is
    written when the export cannot be served: the error says why and what to do.
    """
    given = parse_parameters(parameters)
    root = workspace.resolve()
    if not (root / CONFIG_NAME).exists():
        click.echo(f"No {CONFIG_NAME} in {root}: creating a workspace there (as `cpimock init` would).")
        _, created = ensure_workspace(root)
        for made in created:
            click.echo(f"  created {shown(made)}")
    config = load_config(root / CONFIG_NAME)
    source = path.resolve()
    if not source.exists():
        raise CpimockError(
            f"{path}: no such file or folder; give the iFlow export (a .zip or the folder it was unpacked to)"
        )
    target = source if source.is_relative_to(config.root) else config.root / "iflows" / source.name
    view = read_view(source, config, given, flows, strict=strict or None, served_as=target)
    for served in view.flows:
        errors = served.errors
        if errors:
            error = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise CpimockError(
                f"{shown(path)}: iFlow {served.flow.id} cannot be served: {error.where}: {error.text}{more}; "
                f"nothing was added (`cpimock iflow inspect {shown(path)}` lists everything)"
            )
    if view.conflicts:
        raise CpimockError(f"{view.conflicts[0]}; nothing was added")
    name = export_name(config, target)
    text, index, new = with_export_table(
        config.path.read_text(encoding="utf-8"), name, given, flows=flows, strict=True if strict else None
    )
    parse_config(tomllib.loads(text), config.root, source=f"{CONFIG_NAME} with {name}")
    if target != source:
        replaced = target.exists()
        _copy(source, target)
        click.echo(f"{'Replaced' if replaced else 'Copied'} {shown(target)} from {shown(path)}")
    write_file(config.path, text.encode())
    verb = "Added to" if new else "Updated in"
    click.echo(f"{verb} {CONFIG_NAME} as iflows[{index}]:")
    around = surroundings(config, set(given), view)
    url = base_url(config)
    for served in view.flows:
        assert served.iflow is not None
        click.echo(f"  iFlow {served.flow.id} ({served.flow.name})")
        for channel in served.iflow.channels:
            click.echo(f"    {url}{channel.url_path}")
        for skipped in served.skipped:
            click.secho(f"    served without: {skipped}", fg="yellow")
    click.echo("A running `cpimock serve` serves it within a second; otherwise start one with `cpimock serve`.")
    first = next((s.iflow.channels[0] for s in view.flows if s.iflow is not None and s.iflow.channels), None)
    if first is not None and around.key_file:
        click.echo(f"Call it:\n  {call_line(around, first)}")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target)
