"""``cpimock.toml``'s ``[[iflows]]`` table for an export, added or brought up to date by ``cpimock iflow add``.

The file is edited with tomlkit, which keeps the user's comments and layout; the caller checks
the new text (``parse_config``) before it writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

__all__ = ["with_export_table"]


def with_export_table(
    text: str,
    export: str,
    parameters: Mapping[str, str],
    *,
    flows: Sequence[str] = (),
    strict: bool | None = None,
) -> tuple[str, int, bool]:
    """*text* (``cpimock.toml``) with a table serving *export*: the existing one for that file, its
    parameters merged with *parameters*, or a new one at the end of ``[[iflows]]``. Returns the
    new text, the table's index in ``[[iflows]]`` and whether it is new."""
    document = tomlkit.parse(text)
    tables = document.get("iflows")
    if tables is None:
        tables = tomlkit.aot()
        document.append("iflows", tables)
    if not isinstance(tables, AoT | list):
        return text, -1, False  # not an array of tables: parse_config says what is wrong with it
    index = next((i for i, table in enumerate(tables) if _same(table.get("export"), export)), None)
    new = index is None
    if index is None:
        table = tomlkit.table()
        table["export"] = export
        tables.append(table)
        index = len(tables) - 1
    table = tables[index]
    if flows:
        table["flows"] = list(flows)
    if strict is not None:
        table["strict"] = strict
    if parameters:
        values = table.get("parameters")
        if not isinstance(values, Table | dict):
            values = tomlkit.table()
            table["parameters"] = values
        for name, value in parameters.items():
            values[name] = value
    out = tomlkit.dumps(document)
    if new:  # a blank line between the new table and what comes before it
        head = f"[[iflows]]\nexport = {tomlkit.string(export).as_string()}\n"
        at = out.rfind(head)
        if at > 0 and not out[:at].endswith("\n\n"):
            out = out[:at] + "\n" + out[at:]
    return out, index, new


def _same(written: Any, export: str) -> bool:
    return isinstance(written, str) and Path(written).as_posix().removeprefix("./") == export
