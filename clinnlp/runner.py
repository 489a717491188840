"""Process several note inputs, keeping going past bad ones (what ``clinnlp extract`` wraps)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from clinnlp.errors import InputError
from clinnlp.inputs import STDIN_NAME, Note, read_note, read_stream
from clinnlp.pipeline import extract
from clinnlp.schema import Record


@dataclass(frozen=True)
class Outcome:
    """The result for one input: a record and its note, or the error that stopped it."""

    name: str
    note: Note | None = None
    record: Record | None = None
    error: InputError | None = None


def extract_inputs(inputs: Sequence[str], *, ner: str = "hybrid", model: str | None = None) -> Iterator[Outcome]:
    """Yield one outcome per input path (``-`` reads standard input), in the order given."""
    for name in inputs:
        try:
            note = read_stream(sys.stdin.buffer) if name == STDIN_NAME else read_note(name)
            record = extract(note.text, doc_id=note.doc_id, ner=ner, model=model)
        except InputError as exc:
            yield Outcome(name=name, error=exc)
            continue
        yield Outcome(name=name, note=note, record=record)
