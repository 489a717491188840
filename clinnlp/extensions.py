"""All custom spaCy attributes clinnlp sets, installed in one place.

Extensions are installed idempotently when a clinnlp component is built (never at
import time), so importing clinnlp has no side effects on spaCy's global state.

Mentions live in ``doc.ents`` with one of the labels in :data:`MENTION_LABELS`.
"""

from __future__ import annotations

from typing import Any

from spacy.tokens import Doc, Span

#: The entity labels clinnlp components put in ``doc.ents``.
DIAGNOSIS = "DIAGNOSIS"
MEDICATION = "MEDICATION"
FINDING = "FINDING"
MENTION_LABELS = (DIAGNOSIS, MEDICATION, FINDING)

_DOC_EXTENSIONS: dict[str, Any] = {
    # list[clinnlp.schema.Section], in document order, set by clinnlp_sections
    "clinnlp_sections": None,
    # clinnlp.schema.Record, set by clinnlp_record
    "clinnlp_record": None,
    # doc id carried into the record (set by clinnlp.extract before the pipeline runs)
    "clinnlp_doc_id": None,
}

_SPAN_EXTENSIONS: dict[str, Any] = {
    # name of the component that found the mention, e.g. "clinnlp_lexicon_ner"
    "clinnlp_source": None,
    # confidence in [0, 1]
    "clinnlp_confidence": None,
    # list of dicts with keys system, code, display, score
    "clinnlp_codes": None,
    # for FINDING mentions: symptom, sign, lab, vital or other
    "clinnlp_finding_kind": None,
    # dict with the boolean assertion attributes (negated, uncertain, ...); None = all False
    "clinnlp_assertion": None,
    # MEDICATION mentions: dict with any of the schema's Medication attribute fields
    # (dose, strength, duration as {"text", "value", "unit"}; frequency as
    # {"text", "per_day", "as_needed"}; route, form, status as str)
    "clinnlp_medication": None,
    # FINDING mentions: dict with "value" ({"text", "value", "unit"}) and/or "interpretation"
    "clinnlp_finding_value": None,
    # "head:Type" of a transformer mention (the training corpus's own type), for evaluation
    "clinnlp_native_label": None,
}


def install_extensions() -> None:
    """Register clinnlp's Doc and Span extensions; safe to call any number of times."""
    for name, default in _DOC_EXTENSIONS.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=default)
    for name, default in _SPAN_EXTENSIONS.items():
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
