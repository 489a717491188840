"""The one-call API and the pipeline over the sample notes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import clinnlp
from clinnlp.errors import ConfigError, InputError
from clinnlp.schema import record_json_schema


def test_import_is_light() -> None:
    code = "import sys, clinnlp; print(sorted(m for m in ('torch', 'transformers', 'spacy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_pipeline_components_and_factories() -> None:
    nlp = clinnlp.load()
    assert nlp.pipe_names == [
        "clinnlp_sections",
        "clinnlp_sentences",
        "clinnlp_abbreviations",
        "clinnlp_transformer_ner",
        "clinnlp_lexicon_ner",
        "clinnlp_linker",
        "clinnlp_context",
        "clinnlp_medication_attributes",
        "clinnlp_finding_values",
        "clinnlp_record",
    ]
    assert clinnlp.load() is nlp  # cached
    assert clinnlp.load(ner="lexicon").pipe_names[3] == "clinnlp_lexicon_ner"


def test_entry_points_declare_factories() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="spacy_factories")}
    assert {
        "clinnlp_sections",
        "clinnlp_sentences",
        "clinnlp_lexicon_ner",
        "clinnlp_transformer_ner",
        "clinnlp_linker",
        "clinnlp_context",
        "clinnlp_medication_attributes",
        "clinnlp_finding_values",
        "clinnlp_record",
    } <= names


def test_sample_notes_give_valid_records(sample_notes: list[Path]) -> None:
    schema = record_json_schema()
    with_sections = 0
    for path in sample_notes:
        text = path.read_text(encoding="utf-8")
        record = clinnlp.extract(text, doc_id=path.name)
        jsonschema.validate(record.model_dump(mode="json"), schema)
        assert record.diagnoses, f"{path.name}: no diagnoses"
        assert record.medications, f"{path.name}: no medications"
        for mention in [*record.diagnoses, *record.medications, *record.findings]:
            assert text[mention.start : mention.end] == mention.text
            assert mention.sentence.start <= mention.start < mention.end <= mention.sentence.end
        with_sections += bool(record.sections)
    assert with_sections >= len(sample_notes) - 1  # the clinic letter is prose without headings


def test_bad_calls() -> None:
    with pytest.raises(InputError):
        clinnlp.extract("   ")
    with pytest.raises(ConfigError, match="allowed: hybrid, transformer, lexicon"):
        clinnlp.load(ner="magic")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: clinnlp.load("lexicon", model="some/model"), "uses none"),
        (lambda: clinnlp.load("lexicon", domain="bogus"), "unknown domain"),
        (lambda: clinnlp.load("transformer", batch_size=0), "batch_size"),
        (lambda: clinnlp.load("lexicon", precision="fp8"), "unknown precision"),
        (lambda: clinnlp.extract("CHF", ner=["lexicon"]), "unknown NER back-end"),
    ],
)
def test_bad_options_are_config_errors_before_anything_loads(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_doc_id_must_be_a_string_and_heads_may_be_a_list() -> None:
    for doc_id in (3, None, ""):
        with pytest.raises(InputError, match="doc_id"):
            clinnlp.extract("CHF", doc_id=doc_id, ner="lexicon")  # type: ignore[arg-type]
    assert clinnlp.load("lexicon", heads=["bc5cdr"]) is clinnlp.load("lexicon", heads=("bc5cdr",))
