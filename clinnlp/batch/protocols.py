"""The contract between batch sources, the engine and sinks.

Sources yield :class:`SourceDoc` in input order; a document that cannot be read is still
yielded, with ``error`` set, so the engine can log it and go on (or stop, with
``--fail-fast``). Sinks persist one record per document and know which ids they already
hold, which is what makes a re-run resume instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from clinnlp.schema import Record


@dataclass(frozen=True)
class SourceDoc:
    """One input document: its id, its text (None when unreadable), metadata and any error."""

    doc_id: str
    text: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class SourceOptions:
    """Options that shape how an input is read (the ``clinnlp batch`` flags)."""

    id_field: str = "id"
    text_field: str = "text"
    #: An SQL query or table name for database inputs (``omop-note``); None = the NOTE table.
    query: str | None = None


class Source(Protocol):
    """Streams documents from one input, in a stable order, in constant memory."""

    def __iter__(self) -> Iterator[SourceDoc]: ...

    def __len__(self) -> int:
        """The number of documents when cheaply known (for the ETA); raise TypeError otherwise."""
        ...


class RecordSink(Protocol):
    """Persists records; each write is durable on return, so a ``kill -9`` loses nothing written."""

    def done_ids(self) -> set[str]:
        """Ids already written by an earlier run (the resume set)."""
        ...

    def done_hashes(self) -> dict[str, str]:
        """The ``text_sha256`` of done ids' notes, where the sink kept it: a re-run reports a
        note whose text changed since its record was written instead of skipping it silently."""
        ...

    def write(self, record: Record, doc: SourceDoc) -> None:
        """Persist one record; ``doc`` gives the note text and metadata (snippets, OMOP ids)."""
        ...

    def close(self) -> None:
        """Flush and release the output; safe to call twice."""
        ...
