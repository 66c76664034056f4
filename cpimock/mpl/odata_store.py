"""What the OData API reads from the message log, on a read-only connection of its own.

One connection per API call: the call's reads see one state of the store (one transaction),
never wait on the lock that the journal's writer, the monitor and the testing API share, and
cannot write. Which messages the API shows is decided here once: calls refused before an
iFlow ran leave no MPL on a real tenant, so they are left out unless asked for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

from cpimock.mpl import sql as mpl_sql
from cpimock.mpl.record import MplRecord, StoredAttachment
from cpimock.mpl.sql import Where

Refusals = Literal["exclude", "include", "only"]
_VISIBLE: dict[Refusals, Where] = {
    "exclude": Where("refusal_stage IS NULL"),
    "include": Where(),
    "only": Where("refusal_stage IS NOT NULL"),
}
PropertyRow = tuple[int, str, str, str]  # id, guid, name, value


class Store:
    def __init__(self, path: Path, refusals: Refusals, busy_timeout_s: float = 5.0) -> None:
        self.refusals = refusals
        self._visible = _VISIBLE[refusals]
        uri = path.resolve().as_uri() + "?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        # one snapshot for every read of this call
        self._conn.execute("BEGIN")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._conn.close()

    def visible(self, where: Where) -> Where:
        return self._visible & where

    def query(self, where: Where, order: Sequence[tuple[str, bool]], limit: int, offset: int) -> list[MplRecord]:
        where = self.visible(where)
        sql = f"SELECT {mpl_sql.select_list(False)} FROM mpl{where.clause()}{mpl_sql.order_sql(order)} LIMIT ? OFFSET ?"
        rows = self._conn.execute(sql, (*where.params, limit, offset)).fetchall()
        return [mpl_sql.record_of(r) for r in rows]

    def count(self, where: Where) -> int:
        where = self.visible(where)
        return int(self._conn.execute(f"SELECT count(*) FROM mpl{where.clause()}", where.params).fetchone()[0])

    def get(self, guid: str) -> MplRecord | None:
        where = self.visible(Where("guid = ?", (guid,)))
        row = self._conn.execute(f"SELECT {mpl_sql.select_list(False)} FROM mpl{where.clause()}", where.params)
        found = row.fetchone()
        return None if found is None else mpl_sql.record_of(found)

    def hidden(self, guid: str) -> bool:
        """Whether *guid* is a message this call does not show (a refusal, by default)."""
        row = self._conn.execute("SELECT 1 FROM mpl WHERE guid = ?", (guid,)).fetchone()
        return row is not None and self.get(guid) is None

    def properties(self, guid: str) -> list[tuple[int, str, str]]:
        return mpl_sql.properties(self._conn, guid)

    def property_rows(
        self, where: Where, order: Sequence[tuple[str, bool]], limit: int, offset: int
    ) -> list[PropertyRow]:
        """Custom header properties across messages; *order* names columns of ``mpl_property``."""
        where = self._of_visible(where)
        by = ", ".join(f"{column} {'DESC' if desc else 'ASC'}" for column, desc in order if column in ("name", "value"))
        sql = f"SELECT id, guid, name, value FROM mpl_property{where.clause()} ORDER BY {by + ', ' if by else ''}id"
        rows = self._conn.execute(f"{sql} LIMIT ? OFFSET ?", (*where.params, limit, offset))
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def property_count(self, where: Where) -> int:
        where = self._of_visible(where)
        return int(self._conn.execute(f"SELECT count(*) FROM mpl_property{where.clause()}", where.params).fetchone()[0])

    def property(self, prop_id: int) -> PropertyRow | None:
        rows = self.property_rows(Where("id = ?", (prop_id,)), (), 1, 0)
        return rows[0] if rows else None

    def _of_visible(self, where: Where) -> Where:
        """*where* on ``mpl_property``, limited to the properties of messages this call shows."""
        if not self._visible.sql:
            return where
        return Where(f"guid IN (SELECT guid FROM mpl WHERE {self._visible.sql})") & where

    def attachments(self, guid: str) -> list[StoredAttachment]:
        return mpl_sql.attachments(self._conn, guid)

    def attachment(self, att_id: int) -> tuple[str, StoredAttachment] | None:
        found = mpl_sql.attachment(self._conn, att_id)
        if found is None or self.get(found[0]) is None:
            return None
        return found
