"""``clinnlp batch`` into EHR targets, end to end through the CLI: NOTE_NLP in SQLite and
PostgreSQL (re-runs leave one row per mention), the OMOP NOTE round trip, and FHIR NDJSON.

The library-level behaviour of each sink and source is in test_export_database.py and
test_export_fhir.py; these tests check the command wires them together.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from clinnlp.cli.main import app
from clinnlp.export.omop import note_table

NOTES = {
    "a.txt": "Assessment: no evidence of pneumonia. History of asthma. Plan: albuterol 2 puffs q4h prn.",
    "b.txt": "PMH: CHF, HTN. Meds: furosemide 40 mg PO daily. Denies chest pain.",
    "c.txt": "Sepsis from community-acquired pneumonia. Started ceftriaxone 1 g IV daily.",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database output puts its errors/summary files in the current folder: keep them in tmp."""
    monkeypatch.chdir(tmp_path)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, body in NOTES.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def _batch(runner: CliRunner, *args: str) -> None:
    result = runner.invoke(app, ["batch", *args, "--ner", "lexicon", "--device", "cpu"])
    assert result.exit_code == 0, result.output


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _expected_mentions(runner: CliRunner, folder: Path) -> int:
    result = runner.invoke(app, ["extract", *sorted(str(p) for p in folder.iterdir()), "--ner", "lexicon", "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return sum(len(r["diagnoses"]) + len(r["medications"]) + len(r["findings"]) for r in records)


def test_batch_into_database_twice_leaves_one_row_per_mention(runner: CliRunner, tmp_path: Path, database_url: str) -> None:
    folder = _folder(tmp_path)
    _batch(runner, str(folder), "--out", database_url)
    _batch(runner, str(folder), "--out", database_url)
    rows = _query(database_url, 'SELECT note_id, "offset", lexical_variant FROM note_nlp')
    assert len(rows) == len(set(rows)) == _expected_mentions(runner, folder) > 0
    assert len({r[0] for r in rows}) == len(NOTES)


def test_batch_reads_omop_note_and_round_trips_into_note_nlp(runner: CliRunner, tmp_path: Path, database_url: str) -> None:
    engine = create_engine(database_url)
    note_table.create(engine)
    with engine.begin() as conn:
        conn.execute(note_table.insert(), [
            {"note_id": i, "person_id": 100 + i, "note_date": date(2024, 1, i), "note_type_concept_id": 32817,
             "note_class_concept_id": 0, "note_text": body, "encoding_concept_id": 0, "language_concept_id": 4180186}
            for i, body in enumerate(NOTES.values(), start=1)
        ])
    engine.dispose()
    _batch(runner, database_url, "--input-format", "omop-note", "--out", database_url)
    joined = _query(database_url, 'SELECT n.note_text, x."offset", x.lexical_variant FROM note_nlp x JOIN note n ON n.note_id = x.note_id')
    assert joined and {int(r[1]) >= 0 for r in joined} == {True}
    for note_text, offset, word in joined:
        assert str(note_text)[int(str(offset)) : int(str(offset)) + len(str(word))] == word
    assert {r[0] for r in _query(database_url, "SELECT DISTINCT note_id FROM note_nlp")} == {1, 2, 3}


def test_batch_to_fhir_ndjson_validates_and_resumes(runner: CliRunner, tmp_path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    folder = _folder(tmp_path)
    out = tmp_path / "bundles.ndjson"
    _batch(runner, str(folder), "--out", str(out))
    _batch(runner, str(folder), "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(NOTES)
    refuted = []
    for line in lines:
        bundle = json.loads(line)
        Bundle.model_validate(bundle)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Condition":
                status = resource["verificationStatus"]["coding"][0]["code"]
                if status == "refuted":
                    refuted.append(resource["code"]["text"] if "text" in resource["code"] else resource["code"])
    assert any("pneumonia" in str(r).lower() for r in refuted)
