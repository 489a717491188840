"""A ``clinnlp batch`` sink that writes OMOP CDM v5.4 NOTE_NLP rows into a database.

``--out sqlite:///nlp.db`` (embedded, the default kind) or ``--out postgresql://user@host/db``
(psycopg 3), through SQLAlchemy. The NOTE_NLP table and clinnlp's small bookkeeping table
(``clinnlp_note``: doc id, note_id, text hash, mention count) are created when absent; an
existing CDM NOTE_NLP table is used as it is.

Each note is one transaction: delete the note's earlier clinnlp rows (``nlp_system`` starting
with ``clinnlp``; other systems' rows are left alone), insert the new rows, record the note as
done. A re-run therefore never duplicates rows, a crash never leaves half a note, and notes
with no mention still count as done for resume. ``note_nlp_id`` is allocated as
``max(note_nlp_id) + 1`` inside that transaction, which fits any existing CDM table whatever
its id type; it assumes one writer per database at a time.

When the database also holds the OMOP vocabulary (a ``concept`` table, and
``concept_relationship`` for "Maps to"), codes are looked up there and the concept ids filled;
otherwise they are 0 with the source code kept in ``term_modifiers``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, delete, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import InputError, ResourceError
from clinnlp.export.codes import omop_vocabulary
from clinnlp.export.omop import (
    NLP_SYSTEM_PREFIX,
    ConceptLookup,
    done_table,
    metadata,
    nlp_system,
    note_id_for,
    note_nlp_rows,
    note_nlp_table,
)
from clinnlp.schema import Record

ALLOWED_SCHEMES = ("sqlite", "postgresql")


def is_database_url(value: str) -> bool:
    """True for the database URLs ``--out`` and ``--input-format omop-note`` accept."""
    return value.split(":", 1)[0].split("+", 1)[0] in ALLOWED_SCHEMES and "://" in value


def open_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for a ``sqlite://`` or ``postgresql://`` URL, with errors that say what is allowed.

    ``must_exist`` refuses a SQLite file that is not there (SQLite would silently create it).
    The password never appears in an error message.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(f"{url!r} is not a database URL; use sqlite:///path.db or postgresql://user@host/db") from exc
    backend = parsed.get_backend_name()
    if backend not in ALLOWED_SCHEMES:
        raise InputError(f"unsupported database {backend!r} in {parsed.render_as_string()!r}; allowed: sqlite, postgresql")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 (a dependency), whatever SQLAlchemy's default
    if backend == "sqlite" and must_exist:
        from pathlib import Path

        if not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).is_file():
            raise InputError(f"SQLite database {parsed.database!r} does not exist")
    try:
        return create_engine(parsed, future=True)
    except (ArgumentError, ImportError) as exc:
        raise ResourceError(f"cannot open {parsed.render_as_string()!r}: {exc}") from exc


def db_reason(exc: SQLAlchemyError) -> str:
    """The driver's own message, without SQLAlchemy's echo of the statement and its parameters
    (which would put note text, in snippets, into an error line)."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig).split()) if orig is not None else exc.__class__.__name__


def hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<database URL>"


class DatabaseSink:
    """Writes NOTE_NLP rows, one transaction per note; idempotent on re-run (see the module doc)."""

    def __init__(self, out: str) -> None:
        self.url = hide_password(out)
        try:
            database = make_url(out).database
        except ArgumentError:
            database = "?"  # open_engine says what is wrong with the URL
        if out.lower().startswith("sqlite") and database in (None, "", ":memory:"):
            raise InputError("an in-memory SQLite database would be gone when the run ends; give a file: sqlite:///path/to/notes.db")
        self.engine = open_engine(out)
        try:
            metadata.create_all(self.engine, checkfirst=True)
            inspector = inspect(self.engine)
            tables = set(inspector.get_table_names())
            # a full CDM vocabulary marks deprecated mappings; a hand-made table may not have the column
            self._live_maps_only = "concept_relationship" in tables and "invalid_reason" in {
                c["name"] for c in inspector.get_columns("concept_relationship")
            }
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise ResourceError(f"cannot create the NOTE_NLP tables in {self.url}: {db_reason(exc)}") from exc
        self._has_concepts = "concept" in tables
        self._has_relationships = "concept_relationship" in tables
        self._concepts: dict[tuple[str, str], tuple[int, int] | None] = {}
        self._closed = False

    def done_ids(self) -> set[str]:
        """Doc ids of the notes written by earlier runs (zero-mention notes included)."""
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(select(done_table.c.doc_id))}

    def done_hashes(self) -> dict[str, str]:
        """The ``text_sha256`` each done note's row keeps."""
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(select(done_table.c.doc_id, done_table.c.text_sha256))}

    def write(self, record: Record, doc: SourceDoc) -> None:
        """Replace this note's clinnlp rows with the record's, in one transaction."""
        note_id = note_id_for(record.doc_id, doc.metadata.get("note_id"))
        now = datetime.now()
        try:
            with self.engine.begin() as conn:
                lookup = self._lookup(conn) if self._has_concepts else None
                rows = note_nlp_rows(record, note_id=note_id, text=doc.text, when=now, lookup=lookup)
                conn.execute(
                    delete(note_nlp_table).where(
                        note_nlp_table.c.note_id == note_id,
                        note_nlp_table.c.nlp_system.like(f"{NLP_SYSTEM_PREFIX} %"),
                    )
                )
                if rows:
                    first = conn.execute(select(func.coalesce(func.max(note_nlp_table.c.note_nlp_id), 0))).scalar_one()
                    for i, row in enumerate(rows, start=1):
                        row["note_nlp_id"] = int(first) + i
                    conn.execute(note_nlp_table.insert(), rows)
                conn.execute(delete(done_table).where(done_table.c.doc_id == record.doc_id))
                conn.execute(done_table.insert(), [{
                    "doc_id": record.doc_id,
                    "note_id": note_id,
                    "text_sha256": record.text_sha256,
                    "mentions": len(rows),
                    "nlp_system": nlp_system(record),
                    "written_at": now,
                }])
        except SQLAlchemyError as exc:
            raise ResourceError(f"cannot write note {record.doc_id!r} to {self.url}: {db_reason(exc)}") from exc

    def _lookup(self, conn: Connection) -> ConceptLookup:
        """Concept ids from the database's own OMOP vocabulary tables (cached for the sink's life)."""

        def lookup(system: str, code: str) -> tuple[int, int] | None:
            key = (system, code)
            if key not in self._concepts:
                self._concepts[key] = self._query_concept(conn, system, code)
            return self._concepts[key]

        return lookup

    def _query_concept(self, conn: Connection, system: str, code: str) -> tuple[int, int] | None:
        vocabulary = omop_vocabulary(system)
        if vocabulary is None:
            return None
        source = conn.execute(
            text("SELECT concept_id FROM concept WHERE vocabulary_id = :v AND concept_code = :c"),
            {"v": vocabulary, "c": code},
        ).scalar()
        if source is None:
            return None
        standard: Any = None
        if self._has_relationships:
            standard = conn.execute(
                text(
                    "SELECT concept_id_2 FROM concept_relationship WHERE concept_id_1 = :s AND relationship_id = 'Maps to'"
                    + (" AND invalid_reason IS NULL" if self._live_maps_only else "")
                ),
                {"s": source},
            ).scalar()
        return int(source), int(standard or 0)

    def close(self) -> None:
        """Release the connection pool; safe to call twice."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()
