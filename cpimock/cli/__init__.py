"""The ``cpimock`` command: a click group whose subcommands live in the modules of this package.

Every :class:`~cpimock.errors.CpimockError` becomes one line on stderr and exit status 1;
nothing a user can cause prints a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cpimock import __version__
from cpimock.cli import commands
from cpimock.errors import CpimockError


class _Group(click.Group):
    """The commands of :mod:`cpimock.cli.commands`, each imported when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *commands.NAMES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in commands.NAMES:
            self.add_command(commands.load(cmd_name))
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CpimockError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CPIMOCK"})
@click.version_option(__version__, prog_name="cpimock")
def main() -> None:
    """A local SAP Cloud Integration inbound endpoint with client-certificate (mTLS) authentication.

    Start with `cpimock serve` in an empty folder.
    """


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
