"""Serialise records as JSON or JSON Lines (the machine-readable outputs of ``clinnlp extract``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from typing import TextIO

from clinnlp.schema import Record


class OutputFormat(str, Enum):
    """Formats ``clinnlp extract`` can write."""

    json = "json"
    jsonl = "jsonl"
    table = "table"


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
