"""Serialise records as JSON, JSON Lines, FHIR Bundles or OMOP NOTE_NLP rows (``clinnlp extract``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import TextIO

from clinnlp.schema import Record


class OutputFormat(str, Enum):
    """Formats ``clinnlp extract`` can write."""

    json = "json"
    jsonl = "jsonl"
    table = "table"
    fhir = "fhir"
    omop = "omop"


def record_dict(record: Record) -> dict[str, object]:
    """The JSON-ready dict of a record (the exact shape the JSON Schema describes)."""
    return record.model_dump(mode="json")


def write_json(records: Sequence[Record], stream: TextIO, *, as_array: bool) -> None:
    """One pretty JSON object, or a JSON array when several inputs were given."""
    payload: object = [record_dict(r) for r in records] if as_array else record_dict(records[0])
    json.dump(payload, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def write_jsonl(records: Sequence[Record], stream: TextIO) -> None:
    """One compact JSON record per line, for streaming consumers."""
    for record in records:
        stream.write(json.dumps(record_dict(record), ensure_ascii=False, separators=(",", ":")))
        stream.write("\n")


def write_fhir(records: Sequence[Record], texts: Sequence[str], stream: TextIO, *, as_array: bool) -> None:
    """One FHIR R4 Bundle per note (pretty JSON), a JSON array of Bundles when several inputs were given."""
    from clinnlp.export.fhir import record_to_bundle

    bundles = [record_to_bundle(r, text=t) for r, t in zip(records, texts)]
    json.dump(bundles if as_array else bundles[0], stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def _json_default(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_omop(records: Sequence[Record], texts: Sequence[str], stream: TextIO) -> None:
    """OMOP CDM v5.4 NOTE_NLP rows as JSON Lines, numbered from 1 (``note_nlp_id``) in output order."""
    from clinnlp.export.omop import note_id_for, note_nlp_rows
    from clinnlp.inputs import identity_key

    next_id = 1
    for record, text in zip(records, texts):
        for row in note_nlp_rows(record, note_id=note_id_for(identity_key(record.doc_id, record.text_sha256)), text=text):
            row = {"note_nlp_id": next_id, **row}
            next_id += 1
            stream.write(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default))
            stream.write("\n")
