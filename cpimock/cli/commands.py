"""The subcommands of ``cpimock``, one module per command or command group.

Each module named in ``NAMES`` is named for its command and exposes ``command``, a click command
or group. A module is imported when its command is asked for, so that ``cpimock serve`` does not
load the code of every other command before it starts.
"""

from __future__ import annotations

import importlib

import click

NAMES: tuple[str, ...] = ("init", "serve", "iflow", "servicekey", "certs", "messages", "call", "postman")


def load(name: str) -> click.Command:
    """The command *name* (one of :data:`NAMES`), from its module."""
    command = importlib.import_module(f"cpimock.cli.{name}").command
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(f"cpimock.cli.{name}.command is not the click command {name!r}")
    return command
