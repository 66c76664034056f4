"""Helpers for the Groovy step tests: skip without Java and Groovy, run a script on a message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cpimock.message import Message
from cpimock.steps.groovy.toolchain import GroovyUnavailable, find_toolchain
from cpimock.steps.pipeline import load_pipeline


def _missing() -> str | None:
    try:
        find_toolchain()
    except GroovyUnavailable as exc:
        return str(exc)
    return None


MISSING = _missing()
requires_groovy = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING} (CI installs them)")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


async def run(root: Path, refs: list[str] | str, message: Message | None = None, timeout_s: float = 30) -> Message:
    """Run the steps named by ``refs`` (relative to ``root``) on ``message``."""
    pipeline = load_pipeline([refs] if isinstance(refs, str) else refs, root)
    return await pipeline.run(message if message is not None else Message(b""), timeout_s)
