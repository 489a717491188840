"""``clinnlp batch --input-format omop-note``: notes streamed from an OMOP CDM ``NOTE`` table.

The input is a SQLAlchemy URL (``sqlite:///cdm.db``, ``postgresql://user@host/cdm``).
``SourceOptions.query`` may name another table (``cdm.note``, ``note_sample``) or give a
``SELECT`` whose rows have ``note_id`` and ``note_text``; either way rows come in ``note_id``
order, streamed with a server-side cursor (``yield_per``), so memory stays flat on millions of
notes. ``doc_id`` is ``str(note_id)``; the other columns (``person_id``, ``note_date``...)
become metadata, which the sinks use (FHIR subject, OMOP note_id). A row without text is
still yielded, with ``error`` set, so the engine reports it and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from clinnlp.batch.protocols import SourceDoc, SourceOptions
from clinnlp.errors import InputError
from clinnlp.export.database_sink import db_reason, hide_password, open_engine

DEFAULT_TABLE = "note"
STREAM_ROWS = 500
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_SELECT = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def _json_ready(value: Any) -> Any:
    """Dates as ISO strings and decimals as numbers, so metadata serialises anywhere."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class OmopNoteSource:
    """Streams OMOP NOTE rows as :class:`SourceDoc`, in ``note_id`` order."""

    def __init__(self, input: str, options: SourceOptions | None = None) -> None:
        self.url = hide_password(input)
        self.engine = open_engine(input, must_exist=True)
        self.relation = self._relation((options or SourceOptions()).query)

    @staticmethod
    def _relation(query: str | None) -> str:
        """The FROM clause: a (schema-qualified) table name, or a parenthesised SELECT."""
        if query is None or not query.strip():
            return DEFAULT_TABLE
        query = query.strip().rstrip(";")
        if _TABLE_NAME.match(query):
            return query
        if _SELECT.match(query):
            return f"({query}) AS clinnlp_notes"
        raise InputError(f"--query must be a table name (note, cdm.note) or a SELECT statement, not {query[:60]!r}")

    def __len__(self) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text(f"SELECT COUNT(*) FROM {self.relation}")).scalar_one())
        except SQLAlchemyError as exc:
            raise InputError(f"cannot count the notes in {self.relation} at {self.url}: {db_reason(exc)}") from exc

    def __iter__(self) -> Iterator[SourceDoc]:
        sql = text(f"SELECT * FROM {self.relation} ORDER BY note_id")
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(sql)
                columns = [c.lower() for c in result.keys()]
                if "note_id" not in columns or "note_text" not in columns:
                    raise InputError(
                        f"{self.relation} at {self.url} must have note_id and note_text columns; it has {', '.join(columns)}"
                    )
                for row in result:
                    yield self._doc(dict(zip(columns, row)))
        except SQLAlchemyError as exc:
            raise InputError(f"cannot read notes from {self.relation} at {self.url}: {db_reason(exc)}") from exc
        finally:
            self.engine.dispose()

    @staticmethod
    def _doc(row: Mapping[str, Any]) -> SourceDoc:
        note_id = row["note_id"]
        body = row["note_text"]
        meta = {k: _json_ready(v) for k, v in row.items() if k != "note_text"}
        doc_id = str(note_id)
        if body is None or not str(body).strip():
            return SourceDoc(doc_id=doc_id, text=None, metadata=meta, error=f"note {doc_id} has no text")
        return SourceDoc(doc_id=doc_id, text=str(body), metadata=meta)
