"""The command line: extract, schema, --version, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from clinnlp import __version__
from clinnlp.cli.main import app
from clinnlp.schema import record_json_schema

GOOD = "PAST MEDICAL HISTORY: Hypertension and type 2 diabetes mellitus.\nMEDICATIONS: Metformin 500 mg PO bid.\n"


def test_version_and_help(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout
    for command in (["--help"], ["extract", "--help"], ["schema", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0
        assert "Examples" in result.stdout


def test_extract_json_validates_and_offsets_match(
    runner: CliRunner, write_file: Callable[[str, str | bytes], Path]
) -> None:
    path = write_file("note.txt", GOOD)
    result = runner.invoke(app, ["extract", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, record_json_schema())
    assert record["doc_id"] == str(path)
    mentions = record["diagnoses"] + record["medications"] + record["findings"]
    assert record["diagnoses"] and record["medications"]
    for mention in mentions:
        assert GOOD[mention["start"] : mention["end"]] == mention["text"]


def test_bad_input_reports_one_line_and_keeps_good(
    runner: CliRunner, write_file: Callable[[str, str | bytes], Path]
) -> None:
    bad = write_file("bad.txt", b"\xff\xfe\x00")
    good = write_file("good.txt", GOOD)
    result = runner.invoke(app, ["extract", str(bad), str(good)])
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "bad.txt" in errors[0]
    assert "Traceback" not in result.output
    records = json.loads(result.stdout)
    assert [r["doc_id"] for r in records] == [str(good)]


def test_each_kind_of_bad_path(runner: CliRunner, tmp_path: Path, write_file: Callable[[str, str | bytes], Path]) -> None:
    empty = write_file("empty.txt", "")
    latin1 = write_file("latin1.txt", b"caf\xe9")
    result = runner.invoke(app, ["extract", str(tmp_path / "missing.txt"), str(tmp_path), str(empty), str(latin1)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 4
    for needle in ("no such file", "is a directory", "empty", "not UTF-8"):
        assert any(needle in line for line in lines), (needle, lines)
    assert result.stdout == ""


def test_unknown_option_value_is_one_line(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    path = write_file("note.txt", GOOD)
    for args in (["--format", "xml"], ["--ner", "magic"]):
        result = runner.invoke(app, ["extract", str(path), *args])
        assert result.exit_code == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output


def test_jsonl_stdin_and_out_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    result = runner.invoke(app, ["extract", "-", "--format", "jsonl", "--out", str(out)], input=GOOD)
    assert result.exit_code == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["doc_id"] == "-"


def test_table_view(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    path = write_file("note.txt", GOOD)
    result = runner.invoke(app, ["extract", str(path), "--format", "table"])
    assert result.exit_code == 0, result.stderr
    assert "diagnosis" in result.stdout and "Metformin" in result.stdout


def test_table_view_shows_doses_frequencies_status_and_lab_values(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    path = write_file("note.txt", "Lisinopril 10 mg PO daily - held for hypotension. Hb 9.2 g/dL (L).")
    result = runner.invoke(app, ["extract", str(path), "--ner", "lexicon", "--format", "table"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "10 mg · oral · 1/day · held" in result.stdout and "lab · 9.2 g/dL · (low)" in result.stdout


def test_out_must_not_be_an_input_or_unwritable(runner: CliRunner, write_file: Callable[[str, str | bytes], Path], tmp_path: Path) -> None:
    path = write_file("note.txt", GOOD)
    result = runner.invoke(app, ["extract", str(path), "--ner", "lexicon", "--out", str(path)])
    assert result.exit_code == 2 and "also an input note" in result.stderr
    assert path.read_text(encoding="utf-8") == GOOD
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = runner.invoke(app, ["extract", str(path), "--ner", "lexicon", "--out", str(locked / "r.json")])
    if os.geteuid() != 0:  # root may write anywhere
        assert result.exit_code == 2 and "not writable" in result.stderr


def test_written_files_follow_the_umask(runner: CliRunner, write_file: Callable[[str, str | bytes], Path], tmp_path: Path) -> None:
    path = write_file("note.txt", GOOD)
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["extract", str(path), "--ner", "lexicon", "--out", str(tmp_path / "r.json")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_huge_numbers_never_become_infinity(runner: CliRunner) -> None:
    nines = "9" * 400
    result = runner.invoke(app, ["extract", "-", "--ner", "lexicon"], input=f"Hb {nines} g/dL. Metoprolol {nines} mg PO daily.")
    assert result.exit_code == 0, result.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    json.loads(result.stdout, parse_constant=refuse)


def test_a_model_with_the_lexicon_back_end_and_an_empty_lookup_are_errors(runner: CliRunner) -> None:
    result = runner.invoke(app, ["extract", "-", "--ner", "lexicon", "--model", "nosuch"], input=GOOD)
    assert result.exit_code == 1 and "uses none" in result.stderr
    result = runner.invoke(app, ["lookup", "  "])
    assert result.exit_code == 2 and "the term is empty" in result.stderr


def test_no_arguments_prints_help_without_an_error(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 0 and "Usage" in result.stdout and "error" not in result.stderr


def test_schema_command(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(record_json_schema()))


def test_corpus_stats_on_a_tiny_pubtator_file(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    path = write_file(
        "tiny.pubtator",
        "1|t|Aspirin and ulcers\n1|a|No more.\n1\t0\t7\tAspirin\tChemical\tD001241\n1\t12\t18\tulcers\tDisease\tD014456\n\n",
    )
    result = runner.invoke(app, ["corpus", "stats", f"pubtator:{path}", "--json"])
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["docs"] == 1 and stats["spans_by_type"] == {"Chemical": 1, "Disease": 1}
    bad = runner.invoke(app, ["corpus", "stats", "nope"])
    assert bad.exit_code != 0 and "known:" in bad.stderr


def test_extract_fhir_one_bundle_per_note(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    a, b = write_file("a.txt", GOOD), write_file("b.txt", "No evidence of pneumonia.\n")
    result = runner.invoke(app, ["extract", str(a), "--format", "fhir", "--ner", "lexicon"])
    assert result.exit_code == 0, result.stderr
    bundle = json.loads(result.stdout)
    Bundle.model_validate(bundle)
    assert bundle["identifier"]["value"] == str(a)
    result = runner.invoke(app, ["extract", str(a), str(b), "--format", "fhir", "--ner", "lexicon"])
    assert result.exit_code == 0, result.stderr
    bundles = json.loads(result.stdout)
    assert [x["identifier"]["value"] for x in bundles] == [str(a), str(b)]
    refuted = [e["resource"] for e in bundles[1]["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert refuted[0]["verificationStatus"]["coding"][0]["code"] == "refuted"


def test_extract_omop_note_nlp_rows(runner: CliRunner, write_file: Callable[[str, str | bytes], Path]) -> None:
    path = write_file("123.txt", GOOD)
    result = runner.invoke(app, ["extract", str(path), "--format", "omop", "--ner", "lexicon"])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and [r["note_nlp_id"] for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        start = int(row["offset"])
        assert GOOD[start : start + len(row["lexical_variant"])] == row["lexical_variant"]
        assert row["term_exists"] in ("Y", "N") and isinstance(row["note_id"], int)
