"""The clinnlp vs medspaCy context benchmark, without medspaCy: gold export, POLARITY mapping, scoring."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

import clinnlp.components.sections  # noqa: F401  registers clinnlp_sections
import clinnlp.components.sentences  # noqa: F401  registers clinnlp_sentences
from clinnlp.bench import context_vs_medspacy as bench
from clinnlp.readers import load_corpus
from clinnlp.readers.types import GoldDocument

TEXT = (
    "No fever was noted. Cough was possibly present. Headache resolved. "
    "Rash maybe absent. Nausea was seen. Fatigue improved. Chest pain in the ER."
)


def _t(tid: str, label: str, phrase: str) -> str:
    """A BRAT T line for the first occurrence of ``phrase`` in TEXT."""
    start = TEXT.index(phrase)
    return f"{tid}\t{label} {start} {start + len(phrase)}\t{phrase}\n"


# Each POLARITY value once, on the T itself or on an event whose trigger it is (E1 -> T2).
ANN = (
    _t("T1", "Sign_symptom", "fever")
    + _t("T2", "Sign_symptom", "Cough")
    + "E1\tSign_symptom:T2\n"
    + _t("T3", "Sign_symptom", "Headache")
    + _t("T4", "Sign_symptom", "Rash")
    + _t("T5", "Sign_symptom", "Nausea")
    + _t("T6", "Disease_disorder", "Fatigue")
    + _t("T7", "Biological_structure", "Chest")
    + _t("T8", "Sign_symptom", "Chest pain")
    + "A1\tPOLARITY T1 NEG\nA2\tPOLARITY E1 UNCERTAIN\nA3\tPOLARITY T3 MAYBE_POS\n"
    + "A4\tPOLARITY T4 MAYBE_NEG\nA5\tPOLARITY T5 POS\n"
)
NONE = {"negated": False, "uncertain": False}


@pytest.fixture()
def docs(tmp_path: Path) -> list[GoldDocument]:
    """A one-document BRAT corpus written to tmp_path."""
    (tmp_path / "case1.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "case1.ann").write_text(ANN, encoding="utf-8")
    return load_corpus(f"brat:{tmp_path}")


def test_polarity_maps_to_negated_and_uncertain(docs: list[GoldDocument]) -> None:
    mentions = bench.gold_mentions(docs, bench.DEFAULT_TYPES)
    got = {m.text: (m.polarity, m.gold) for m in mentions}
    assert got == {
        "fever": ("NEG", {"negated": True, "uncertain": False}),
        "Cough": ("UNCERTAIN", {"negated": False, "uncertain": True}),
        "Headache": ("MAYBE_POS", {"negated": False, "uncertain": True}),
        # MAYBE_NEG is hedged, not absent: uncertain only (as clinnlp.assertion_eval decides)
        "Rash": ("MAYBE_NEG", {"negated": False, "uncertain": True}),
        "Nausea": ("POS", NONE),
        "Fatigue": ("", NONE),
        "Chest pain": ("", NONE),
    }
    assert [m.id for m in mentions] == ["T1", "T2", "T3", "T4", "T5", "T6", "T8"]


def test_types_filter_and_all(docs: list[GoldDocument]) -> None:
    assert [m.id for m in bench.gold_mentions(docs, ["Disease_disorder"])] == ["T6"]
    assert len(bench.gold_mentions(docs, None)) == 8  # the Biological_structure too


def test_export_writes_texts_and_char_spans(docs: list[GoldDocument], tmp_path: Path) -> None:
    mentions = bench.gold_mentions(docs, bench.DEFAULT_TYPES)
    path = tmp_path / "mentions.jsonl"
    assert bench.export_mentions(docs, mentions, path) == 1
    (record,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert record["doc_id"] == "case1" and record["text"] == TEXT
    assert len(record["mentions"]) == 7
    for row in record["mentions"]:
        assert set(row) == {"id", "start", "end", "label", "polarity", "gold"}
        assert TEXT[row["start"] : row["end"]] == next(m.text for m in mentions if m.id == row["id"])
    assert record["mentions"][0] == {
        "id": "T1", "start": 3, "end": 8, "label": "Sign_symptom", "polarity": "NEG", "gold": {"negated": True, "uncertain": False},
    }


def test_export_skips_documents_without_mentions(docs: list[GoldDocument], tmp_path: Path) -> None:
    path = tmp_path / "mentions.jsonl"
    assert bench.export_mentions(docs, [], path) == 0
    assert path.read_text(encoding="utf-8") == ""


def test_runner_output_is_read_and_scored_on_common_mentions(docs: list[GoldDocument], tmp_path: Path) -> None:
    mentions = bench.gold_mentions(docs, bench.DEFAULT_TYPES)
    path = tmp_path / "medspacy.jsonl"
    rows = [
        {"doc_id": "case1", "id": m.id, "judged": m.id != "T8", "is_negated": m.id in ("T1", "T5"), "is_uncertain": False,
         "is_historical": m.id == "T3", "is_hypothetical": False, "is_family": False}
        for m in mentions
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    medspacy = bench.read_predictions(path)
    assert ("case1", "T8") not in medspacy
    assert medspacy[("case1", "T1")] == {"negated": True, "uncertain": False, "historical": False, "hypothetical": False, "family": False}
    perfect = {m.key: dict(m.gold) for m in mentions}
    report = bench.compare(mentions, {"clinnlp": perfect, "medspacy": medspacy})
    assert report["mentions"] == 6 and report["gold_mentions"] == 7
    assert report["unjudged"] == {"clinnlp": 0, "medspacy": 1}
    assert report["gold_positives"] == {"negated": 1, "uncertain": 3}
    neg = report["systems"]["medspacy"]["metrics"]["negated"]
    assert (neg["tp"], neg["fp"], neg["fn"], neg["precision"], neg["recall"]) == (1, 1, 0, 0.5, 1.0)
    assert report["systems"]["clinnlp"]["metrics"]["uncertain"]["f1"] == 1.0
    assert report["systems"]["medspacy"]["flagged"]["historical"] == 1
    table = bench.format_table(report)
    assert "negated    medspacy    0.500  1.000  0.667        1" in table
    assert "1 unjudged by medspacy" in table


@pytest.fixture(scope="module")
def layout_nlp() -> Language:
    """A blank pipeline with the layout components clinnlp's context reads."""
    nlp = spacy.blank("en")
    nlp.add_pipe("clinnlp_sections")
    nlp.add_pipe("clinnlp_sentences")
    return nlp


def test_clinnlp_side_judges_every_mention(docs: list[GoldDocument], layout_nlp: Language) -> None:
    mentions = bench.gold_mentions(docs, bench.DEFAULT_TYPES)
    predictions = bench.clinnlp_predictions(docs, mentions, layout_nlp)
    assert set(predictions) == {m.key for m in mentions}
    assert predictions[("case1", "T1")]["negated"] is True
    assert predictions[("case1", "T5")]["negated"] is False


def test_runner_imports_no_clinnlp() -> None:
    """The runner runs in medspaCy's venv, where clinnlp (and its spaCy) is not installed."""
    tree = ast.parse(bench.RUNNER.read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    third_party = roots - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= {"medspacy", "spacy", "loguru"}
