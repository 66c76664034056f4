"""The subcommands of ``cpimock``, one module per command or command group.

Each module named in ``_MODULES`` exposes ``command``, a click command or group.
"""

from __future__ import annotations

import importlib

import click

_MODULES: tuple[str, ...] = ("init", "serve", "iflow", "servicekey", "certs", "messages", "call", "postman")


def _load() -> list[click.Command]:
    return [importlib.import_module(f"cpimock.cli.{name}").command for name in _MODULES]


COMMANDS = _load()
