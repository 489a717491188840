"""Process several note inputs, keeping going past bad ones (what ``clinnlp extract`` wraps).

The notes go through the batch engine (:func:`clinnlp.batch.engine.annotate`), one at a
time so each is reported as soon as it is done: ``extract`` and ``batch`` share one code
path from text to record.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from clinnlp.batch.engine import EngineSettings, annotate
from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import InputError
from clinnlp.inputs import MAX_NOTE_BYTES, STDIN_NAME, Note, read_note, read_stream
from clinnlp.schema import Record


@dataclass(frozen=True)
class Outcome:
    """The result for one input: a record and its note, or the error that stopped it."""

    name: str
    note: Note | None = None
    record: Record | None = None
    error: InputError | None = None


def extract_inputs(
    inputs: Sequence[str], *, ner: str = "hybrid", model: str | None = None, domain: str | None = None
) -> Iterator[Outcome]:
    """Yield one outcome per input path (``-`` reads standard input), in the order given."""
    settings = EngineSettings(
        ner=ner, model=model, device="cpu", precision="fp32", batch_tokens=None, docs_per_batch=16, domain=domain
    )
    nlp = None
    for name in inputs:
        try:
            note = read_stream(sys.stdin.buffer) if name == STDIN_NAME else read_note(name)
        except InputError as exc:
            yield Outcome(name=name, error=exc)
            continue
        nlp = nlp or settings.load()
        result = annotate(nlp, [SourceDoc(note.doc_id, note.text)], MAX_NOTE_BYTES)[0]
        if result.record is None:
            yield Outcome(name=name, error=InputError(f"{name}: {result.error}"))
            continue
        yield Outcome(name=name, note=note, record=result.record)
