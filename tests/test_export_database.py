"""OMOP NOTE_NLP into SQLite and PostgreSQL: idempotent re-runs, the NOTE round trip, concept ids.

Each database test runs on SQLite (always) and PostgreSQL (when ``make test`` started a server
with .ci/with-postgres; otherwise it skips and says why). The loops below are what
``clinnlp batch`` does with these sources and sinks: source -> extract -> sink.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from clinnlp.batch.protocols import SourceDoc, SourceOptions
from clinnlp.errors import InputError
from clinnlp.export.database_sink import DatabaseSink
from clinnlp.export.omop import (
    done_table,
    note_id_for,
    note_nlp_rows,
    note_nlp_table,
    note_table,
)
from clinnlp.export.omop_source import OmopNoteSource
from clinnlp.pipeline import extract
from clinnlp.schema import Record

NOTES = {
    3: "No evidence of pneumonia. History of myocardial infarction.\nMEDICATIONS:\n1. Metformin 500 mg PO bid.",
    1: "Mother had breast cancer. Hb 9.2 g/dL (L).",
    2: "Seen today. Doing well.",  # no mention: still counts as done
    5: "Hypertension, on lisinopril 10 mg daily.",
}


def _items(notes: dict[int, str]) -> list[tuple[Record, SourceDoc]]:
    return [(extract(t, doc_id=str(i), ner="lexicon"), SourceDoc(doc_id=str(i), text=t, metadata={"note_id": i})) for i, t in notes.items()]


def _mentions(record: Record) -> int:
    return len(record.diagnoses) + len(record.medications) + len(record.findings)


def _run(url: str, items: list[tuple[Record, SourceDoc]]) -> None:
    sink = DatabaseSink(url)
    try:
        for record, doc in items:
            sink.write(record, doc)
    finally:
        sink.close()
        sink.close()  # safe twice


def _rows(url: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(note_nlp_table).order_by(note_nlp_table.c.note_nlp_id))]
    finally:
        engine.dispose()


def test_rerun_leaves_exactly_one_row_per_mention(database_url: str) -> None:
    items = _items(NOTES)
    _run(database_url, items)
    first = _rows(database_url)
    _run(database_url, items)  # the same notes again
    rows = _rows(database_url)
    expected = sum(_mentions(r) for r, _ in items)
    assert expected > 5
    assert len(first) == len(rows) == expected
    keys = [(r["note_id"], r["offset"], r["lexical_variant"], str(r["term_modifiers"]).split(";")[0]) for r in rows]
    assert len(set(keys)) == len(keys)  # no duplicate mention
    assert len({r["note_nlp_id"] for r in rows}) == len(rows)
    for record, _ in items:
        assert sum(r["note_id"] == int(record.doc_id) for r in rows) == _mentions(record)
    sink = DatabaseSink(database_url)
    assert sink.done_ids() == {str(i) for i in NOTES}  # the zero-mention note too
    assert sink.done_hashes() == {record.doc_id: record.text_sha256 for record, _ in items}  # for stale-note checks
    sink.close()


def test_rows_carry_offsets_assertion_and_source_codes(database_url: str) -> None:
    items = _items({3: NOTES[3]})
    _run(database_url, items)
    rows = {r["lexical_variant"]: r for r in _rows(database_url)}
    text = NOTES[3]
    for word, row in rows.items():
        start = int(str(row["offset"]))
        assert text[start : start + len(word)] == word
        assert word in str(row["snippet"])
        assert row["nlp_date"] == date.today()
        assert str(row["nlp_system"]).startswith("clinnlp ")
    pneumonia = rows["pneumonia"]
    assert pneumonia["term_exists"] == "N" and "negated=true" in str(pneumonia["term_modifiers"])
    mi = rows["myocardial infarction"]
    assert mi["term_exists"] == "Y" and mi["term_temporal"] == "past"
    assert mi["note_nlp_concept_id"] == 0 and mi["note_nlp_source_concept_id"] == 0
    assert "code=ICD-10-CM:I25.2" in str(mi["term_modifiers"])  # history of MI: old MI
    metformin = rows["Metformin"]
    assert "dose=500 mg" in str(metformin["term_modifiers"]) and "route=oral" in str(metformin["term_modifiers"])


def test_rewrite_replaces_a_notes_rows_and_keeps_other_systems(database_url: str) -> None:
    _run(database_url, _items({3: NOTES[3]}))
    engine = create_engine(database_url)
    with engine.begin() as conn:  # a row from another NLP system on the same note
        conn.execute(note_nlp_table.insert(), [{
            "note_nlp_id": 10_000, "note_id": 3, "lexical_variant": "x", "nlp_system": "other 1.0", "nlp_date": date.today(),
        }])
    _run(database_url, _items({3: "No evidence of pneumonia."}))  # the note changed: fewer mentions
    rows = _rows(database_url)
    assert sorted(str(r["lexical_variant"]) for r in rows) == ["pneumonia", "x"]
    with engine.connect() as conn:
        assert conn.execute(select(done_table.c.mentions)).scalar_one() == 1
    engine.dispose()


def _make_note_table(url: str, notes: dict[int, str | None]) -> None:
    engine = create_engine(url)
    note_table.create(engine)
    with engine.begin() as conn:
        conn.execute(note_table.insert(), [
            {
                "note_id": i, "person_id": 100 + i, "note_date": date(2024, 1, i), "note_type_concept_id": 32817,
                "note_class_concept_id": 0, "note_title": f"note {i}", "note_text": t or "", "encoding_concept_id": 0,
                "language_concept_id": 4180186,
            }
            for i, t in notes.items()
        ])
    engine.dispose()


def test_omop_note_round_trip_into_note_nlp(database_url: str) -> None:
    _make_note_table(database_url, {**NOTES, 4: None})
    source = OmopNoteSource(database_url, SourceOptions())
    assert len(source) == 5
    docs = list(source)
    assert [d.doc_id for d in docs] == ["1", "2", "3", "4", "5"]  # note_id order
    assert docs[3].text is None and docs[3].error == "note 4 has no text"
    assert docs[0].metadata["person_id"] == 101 and docs[0].metadata["note_date"] == "2024-01-01"
    json.dumps(dict(docs[0].metadata))  # metadata is JSON-ready
    sink = DatabaseSink(database_url)  # the same database: NOTE in, NOTE_NLP out
    for doc in docs:
        if doc.text is not None and doc.doc_id not in sink.done_ids():
            sink.write(extract(doc.text, doc_id=doc.doc_id, ner="lexicon"), doc)
    sink.close()
    rows = _rows(database_url)
    assert {r["note_id"] for r in rows} == {1, 3, 5}
    engine = create_engine(database_url)
    with engine.connect() as conn:
        joined = conn.execute(text(
            'SELECT n.note_text, x."offset", x.lexical_variant FROM note_nlp x JOIN note n ON n.note_id = x.note_id'
        )).all()
        assert conn.execute(select(func.count()).select_from(done_table)).scalar_one() == 4
    engine.dispose()
    assert len(joined) == len(rows)
    for note_text, offset, word in joined:
        assert note_text[int(offset) : int(offset) + len(word)] == word


def test_omop_source_query_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cdm.db'}"
    _make_note_table(url, {1: "Asthma.", 2: "COPD.", 3: "Sepsis."})
    assert [d.doc_id for d in OmopNoteSource(url, SourceOptions(query="note"))] == ["1", "2", "3"]
    query = "SELECT note_id, note_text, person_id FROM note WHERE note_id >= 2"
    docs = list(OmopNoteSource(url, SourceOptions(query=query)))
    assert [d.doc_id for d in docs] == ["2", "3"] and set(docs[0].metadata) == {"note_id", "person_id"}
    with pytest.raises(InputError, match="table name"):
        OmopNoteSource(url, SourceOptions(query="note; DROP TABLE note"))
    with pytest.raises(InputError, match="must have note_id and note_text"):
        list(OmopNoteSource(url, SourceOptions(query="SELECT note_id FROM note")))
    with pytest.raises(InputError, match="no such table: no_such_table"):
        list(OmopNoteSource(url, SourceOptions(query="no_such_table")))


def test_bad_database_urls_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        OmopNoteSource(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(InputError, match="allowed: sqlite, postgresql"):
        DatabaseSink("mysql://u@h/db")
    with pytest.raises(InputError, match="not a database URL"):
        DatabaseSink("not a url")
    with pytest.raises(InputError, match="in-memory"):
        DatabaseSink("sqlite://")


def _vocabulary_db(tmp_path: Path, relationship_columns: str, statements: list[str]) -> str:
    """A SQLite CDM with a concept table, a concept_relationship table of the given columns,
    and the given INSERTs."""
    url = f"sqlite:///{tmp_path / 'cdm.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE concept (concept_id INTEGER, vocabulary_id TEXT, concept_code TEXT)"))
        conn.execute(text(f"CREATE TABLE concept_relationship ({relationship_columns})"))
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    return url


def test_concept_ids_from_the_databases_own_vocabulary(tmp_path: Path) -> None:
    url = _vocabulary_db(tmp_path, "concept_id_1 INTEGER, concept_id_2 INTEGER, relationship_id TEXT", [
        "INSERT INTO concept VALUES (45591453, 'ICD10CM', 'I10'), (320128, 'SNOMED', '38341003')",
        "INSERT INTO concept_relationship VALUES (45591453, 320128, 'Maps to')",
    ])
    _run(url, _items({5: NOTES[5]}))
    row = next(r for r in _rows(url) if r["lexical_variant"] == "Hypertension")
    assert (row["note_nlp_source_concept_id"], row["note_nlp_concept_id"]) == (45591453, 320128)
    assert "code=ICD-10-CM:I10" in str(row["term_modifiers"])


def test_deprecated_maps_to_rows_are_not_used(tmp_path: Path) -> None:
    url = _vocabulary_db(tmp_path, "concept_id_1 INTEGER, concept_id_2 INTEGER, relationship_id TEXT, invalid_reason TEXT", [
        "INSERT INTO concept VALUES (45591453, 'ICD10CM', 'I10')",
        "INSERT INTO concept_relationship VALUES (45591453, 2002, 'Maps to', 'D'), (45591453, 2001, 'Maps to', NULL)",
    ])
    _run(url, _items({5: NOTES[5]}))
    row = next(r for r in _rows(url) if r["lexical_variant"] == "Hypertension")
    assert row["note_nlp_concept_id"] == 2001


def test_note_ids_for_non_omop_documents() -> None:
    assert note_id_for("123") == 123
    assert note_id_for("007") != 7 and note_id_for("007") != note_id_for("7")  # different documents
    assert note_id_for("abc", 77) == 77
    hashed = note_id_for("notes/a.txt")
    assert hashed == note_id_for("notes/a.txt") and 0 < hashed < 2**63 and hashed != note_id_for("notes/b.txt")


def test_snippets_fit_the_column() -> None:
    text = "Hypertension " + "and more words " * 40 + "with diabetes mellitus at the end of a long sentence."
    rows = note_nlp_rows(extract(text, doc_id="1", ner="lexicon"), note_id=1, text=text)
    assert rows and all(len(r["snippet"]) <= 250 and r["lexical_variant"] in r["snippet"] for r in rows)


def test_an_existing_cdm_note_nlp_table_is_used_as_it_is(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:  # the OHDSI CommonDataModel v5.4 DDL (PostgreSQL flavour)
        conn.execute(text(
            'CREATE TABLE note_nlp (note_nlp_id integer NOT NULL, note_id integer NOT NULL, section_concept_id integer NULL, '
            'snippet varchar(250) NULL, "offset" varchar(50) NULL, lexical_variant varchar(250) NOT NULL, '
            'note_nlp_concept_id integer NULL, note_nlp_source_concept_id integer NULL, nlp_system varchar(250) NULL, '
            'nlp_date date NOT NULL, nlp_datetime TIMESTAMP NULL, term_exists varchar(1) NULL, term_temporal varchar(50) NULL, '
            'term_modifiers varchar(2000) NULL)'
        ))
    engine.dispose()
    items = _items(NOTES)
    _run(database_url, items)
    _run(database_url, items)
    rows = _rows(database_url)
    assert len(rows) == sum(_mentions(r) for r, _ in items)
    assert sorted(int(str(r["note_nlp_id"])) for r in rows)[0] >= 1 and len({r["note_nlp_id"] for r in rows}) == len(rows)


def test_term_exists_follows_the_ohdsi_convention() -> None:
    """Y when the patient has or had it: a resolved condition did exist (past); a rule-out, an
    unlikely diagnosis, a PRN reason and a drug the patient is allergic to do not."""
    from clinnlp.export.omop import note_nlp_rows
    from clinnlp.pipeline import extract

    text = "Pneumonia resolved. Rule out sepsis. Diabetes mellitus is unlikely. Tylenol prn fever.\nALLERGIES:\nPenicillin (rash).\n"
    rows = {r["lexical_variant"]: r for r in note_nlp_rows(extract(text, doc_id="1", ner="lexicon"), note_id=1, text=text)}
    assert (rows["Pneumonia"]["term_exists"], rows["Pneumonia"]["term_temporal"]) == ("Y", "past")
    assert [rows[w]["term_exists"] for w in ("sepsis", "Diabetes mellitus", "fever", "Penicillin")] == ["N"] * 4
    assert rows["Tylenol"]["term_exists"] == "Y"
