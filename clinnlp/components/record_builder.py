"""The last pipeline component: turns the annotated Doc into a :class:`clinnlp.schema.Record`.

Keeping record building inside the pipeline means every entry point (the Python API,
``clinnlp extract``, batch jobs) produces identical records from the same Doc.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc
from spacy.tokens import Span as SpacySpan

from clinnlp import __version__
from clinnlp.components.sections import section_at
from clinnlp.extensions import DIAGNOSIS, FINDING, MEDICATION, install_extensions
from clinnlp.linking.history_codes import with_history_codes
from clinnlp.schema import (
    Assertion,
    Code,
    Diagnosis,
    Finding,
    Medication,
    Mention,
    Provenance,
    Record,
    Section,
    Span,
)

#: Confidence given to a mention whose component did not set one.
DEFAULT_CONFIDENCE = 0.5


class RecordBuilder:
    """Collects sections and ``doc.ents`` into a validated record at ``doc._.clinnlp_record``."""

    def __init__(self, nlp: Language, name: str) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        sections: list[Section] = list(doc._.clinnlp_sections or [])
        diagnoses: list[Diagnosis] = []
        medications: list[Medication] = []
        findings: list[Finding] = []
        for ent in doc.ents:
            fields = self._mention_fields(ent, sections)
            if ent.label_ == DIAGNOSIS:
                diagnoses.append(Diagnosis(**fields))
            elif ent.label_ == MEDICATION:
                medications.append(Medication(**fields, **(ent._.clinnlp_medication or {})))
            elif ent.label_ == FINDING:
                kind = ent._.clinnlp_finding_kind or "other"
                findings.append(Finding(kind=kind, **fields, **(ent._.clinnlp_finding_value or {})))
        doc._.clinnlp_record = Record(
            doc_id=doc._.clinnlp_doc_id or "doc",
            text_sha256=hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
            sections=sections,
            diagnoses=diagnoses,
            medications=medications,
            findings=findings,
            provenance=self._provenance(),
        )
        return doc

    def _mention_fields(self, ent: SpacySpan, sections: list[Section]) -> dict[str, Any]:
        sent = ent.sent if doc_has_sentences(ent.doc) else ent.doc[:]
        confidence = ent._.clinnlp_confidence
        return {
            "text": ent.text,
            "start": ent.start_char,
            "end": ent.end_char,
            "sentence": Span(start=sent.start_char, end=sent.end_char),
            "section": section_at(sections, ent.start_char),
            "assertion": Assertion(**(ent._.clinnlp_assertion or {})),
            "confidence": DEFAULT_CONFIDENCE if confidence is None else float(confidence),
            "source": ent._.clinnlp_source or "unknown",
            "codes": [Code(**code) for code in self._codes(ent)],
        }

    @staticmethod
    def _codes(ent: SpacySpan) -> list[dict[str, Any]]:
        codes = list(ent._.clinnlp_codes or [])
        if ent.label_ == DIAGNOSIS:  # "history of MI" is I25.2, not I21.9 (clinnlp.linking.history_codes)
            codes = with_history_codes(codes, ent._.clinnlp_assertion or {})
        return codes

    def _provenance(self) -> Provenance:
        model_id: str | None = None
        weights_sha256: str | None = None
        for _, component in self.nlp.pipeline:
            model_id = getattr(component, "model_id", None) or model_id
            weights_sha256 = getattr(component, "weights_sha256", None) or weights_sha256
        return Provenance(
            clinnlp_version=__version__,
            components=list(self.nlp.pipe_names),
            model_id=model_id,
            weights_sha256=weights_sha256,
        )


def doc_has_sentences(doc: Doc) -> bool:
    """True when a component has set sentence boundaries (``doc.sents`` would raise otherwise)."""
    return doc.has_annotation("SENT_START")


@Language.factory("clinnlp_record")
def make_record_builder(nlp: Language, name: str) -> RecordBuilder:
    """spaCy factory for :class:`RecordBuilder`."""
    return RecordBuilder(nlp, name)


__all__ = ["Mention", "RecordBuilder", "make_record_builder"]
