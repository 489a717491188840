"""Gold documents as a Hugging Face ``datasets.Dataset`` (for fine-tuning the NER).

``datasets`` (and pyarrow) load only inside :func:`to_hf_dataset`, so the readers stay
usable without them. The schema is fixed rather than inferred, because inference fails
on a batch in which no document has a span, or no span has an attribute; for the same
reason a span's ``attributes`` travel as a JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from clinnlp.readers.types import GoldDocument

if TYPE_CHECKING:
    from datasets import Dataset


def to_hf_records(docs: Iterable[GoldDocument]) -> list[dict[str, Any]]:
    """One plain dict per document: ``doc_id``, ``text`` and ``spans`` (a list of dicts)."""
    return [
        {
            "doc_id": doc.doc_id,
            "text": doc.text,
            "spans": [
                {
                    "start": span.start,
                    "end": span.end,
                    "label": span.label,
                    "text": span.text,
                    "concept_ids": list(span.concept_ids),
                    "fragments": [list(piece) for piece in span.fragments],
                    "id": span.id,
                    "attributes": json.dumps(span.attributes, sort_keys=True),
                }
                for span in doc.spans
            ],
        }
        for doc in docs
    ]


def to_hf_dataset(docs: Iterable[GoldDocument]) -> Dataset:
    """A ``datasets.Dataset`` with columns ``doc_id``, ``text`` and ``spans``."""
    from datasets import Dataset, Features, Sequence, Value

    span = {
        "start": Value("int32"),
        "end": Value("int32"),
        "label": Value("string"),
        "text": Value("string"),
        "concept_ids": Sequence(Value("string")),
        "fragments": Sequence(Sequence(Value("int32"))),
        "id": Value("string"),
        "attributes": Value("string"),
    }
    features = Features({"doc_id": Value("string"), "text": Value("string"), "spans": [span]})
    return Dataset.from_list(to_hf_records(docs), features=features)
