"""The ``cpimock`` command: a click group whose subcommands live in the modules of this package.

Every :class:`~cpimock.errors.CpimockError` becomes one line on stderr and exit status 1;
nothing a user can cause prints a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cpimock import __version__
from cpimock.cli.commands import COMMANDS
from cpimock.errors import CpimockError


class _Group(click.Group):
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


for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
