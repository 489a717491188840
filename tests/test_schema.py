"""The record schema: JSON Schema publication and validation rules."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import ValidationError

from clinnlp.schema import Diagnosis, Record, Span, record_json_schema


def test_schema_is_valid_draft_2020_12() -> None:
    schema = record_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for key in ("doc_id", "text_sha256", "sections", "diagnoses", "medications", "findings", "provenance"):
        assert key in schema["properties"]


def test_mention_fields_and_bounds() -> None:
    with pytest.raises(ValidationError):
        Diagnosis(text="x", start=0, end=1, sentence=Span(start=0, end=1), confidence=1.5, source="t")
    with pytest.raises(ValidationError):
        Span(start=5, end=2)
    mention = Diagnosis(text="x", start=0, end=1, sentence=Span(start=0, end=1), confidence=0.5, source="t")
    assert mention.assertion.negated is False and mention.codes == []


def test_record_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Record.model_validate({"doc_id": "a", "text_sha256": "0", "provenance": {"clinnlp_version": "1", "components": []}, "extra": 1})
