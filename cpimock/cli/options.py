"""Options and small helpers that several commands share."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cpimock.workspace.expiry import WARN_DAYS

F = TypeVar("F", bound=Callable[..., Any])


def workspace_option(
    help: str = "Workspace folder (also CPIMOCK_WORKSPACE).", default: str | None = "."
) -> Callable[[F], F]:
    """``--workspace DIR`` (``-w``), by default the current folder, also read from CPIMOCK_WORKSPACE.

    ``default=None`` lets a subcommand fall back to its group's ``--workspace``.
    """
    return click.option(
        "--workspace",
        "-w",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        envvar="CPIMOCK_WORKSPACE",
        show_default=default is not None,
        help=help,
    )


def shown(path: Path) -> str:
    """*path* relative to the current folder when it lies below it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def warn_days_option() -> Callable[[F], F]:
    """``--warn-days N``: how many days ahead a key counts as expiring (also CPIMOCK_WARN_DAYS)."""
    return click.option(
        "--warn-days",
        type=click.IntRange(0, 365),
        default=WARN_DAYS,
        envvar="CPIMOCK_WARN_DAYS",
        show_default=True,
        metavar="DAYS",
        help="Warn about keys that expire within this many days (also CPIMOCK_WARN_DAYS).",
    )
