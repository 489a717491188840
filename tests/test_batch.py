"""clinnlp batch: sources, sinks, resume after kill -9, bad documents, the shared engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinnlp.batch.engine import EngineSettings, annotate
from clinnlp.batch.protocols import SourceDoc, SourceOptions
from clinnlp.batch.registry import open_sink, open_source, side_paths, sink_target
from clinnlp.batch.run import BatchJob, run_batch
from clinnlp.batch.sinks import AppendLog
from clinnlp.cli.main import app
from clinnlp.errors import ConfigError, InputError

LEXICON = EngineSettings(ner="lexicon", device="cpu")
NOTE = "Patient has type 2 diabetes mellitus and hypertension. Started metformin 500 mg twice daily."


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["doc_id"] for line in path.read_text(encoding="utf-8").splitlines()]


def _errors(out: Path) -> list[dict[str, str]]:
    errors, _ = side_paths(str(out))
    if not errors.exists():
        return []
    return [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]


def _folder(root: Path, count: int) -> Path:
    notes = root / "notes"
    for i in range(count):
        sub = notes / f"site{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"note{i:04d}.txt").write_text(f"Note {i}. {NOTE}\n", encoding="utf-8")
    return notes


def test_folder_source_ids_are_relative_paths_in_sorted_order(tmp_path: Path) -> None:
    notes = _folder(tmp_path, 4)
    (notes / "skip.csv").write_text("not a note", encoding="utf-8")
    source = open_source(str(notes), None, SourceOptions())
    docs = list(source)
    assert [d.doc_id for d in docs] == ["site0/note0000.txt", "site0/note0003.txt", "site1/note0001.txt", "site2/note0002.txt"]
    assert len(source) == 4
    assert all(d.error is None and d.text and d.text.startswith("Note") for d in docs)


def test_jsonl_source_fields_metadata_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"nid": 7, "body": NOTE, "ward": "A"}),
        "{not json",
        json.dumps({"nid": 8, "body": "   "}),
        json.dumps({"body": NOTE}),
        json.dumps({"nid": 9, "body": 12}),
    ]
    path.write_text("\n\n".join(lines) + "\n\n", encoding="utf-8")  # blank lines are skipped
    source = open_source(str(path), None, SourceOptions(id_field="nid", text_field="body"))
    assert len(source) == 5  # the progress bar's total: blank lines are no documents
    docs = list(source)
    assert docs[0] == SourceDoc("7", NOTE, {"ward": "A"})
    assert docs[1].doc_id.endswith(":3") and "not a JSON object" in (docs[1].error or "")
    assert docs[2].doc_id == "8" and "empty" in (docs[2].error or "")
    assert "no 'nid' field" in (docs[3].error or "")
    assert "expected a string" in (docs[4].error or "")


def test_pubtator_source_joins_title_and_abstract(tmp_path: Path) -> None:
    path = tmp_path / "a.pubtator"
    path.write_text("1|t|Title one.\n1|a|Abstract one.\n1\t0\t5\tTitle\tDisease\tD1\n\n2|t|Title two.\n2|a|Abs two.\n", encoding="utf-8")
    docs = list(open_source(str(path), None, SourceOptions()))
    assert [(d.doc_id, d.text) for d in docs] == [("1", "Title one. Abstract one."), ("2", "Title two. Abs two.")]


def test_pubtator_inputs_default_to_the_literature_domain(tmp_path: Path) -> None:
    from clinnlp.batch.run import with_input_domain

    abstracts = tmp_path / "a.pubtator"
    abstracts.write_text("1|t|Cisplatin nephrotoxicity.\n1|a|Renal failure.\n", encoding="utf-8")
    notes = tmp_path / "n.jsonl"
    out = str(tmp_path / "r.jsonl")
    assert with_input_domain(BatchJob(inputs=[str(abstracts)], out=out)).settings.domain == "literature"
    for job in (
        BatchJob(inputs=[str(abstracts), str(notes)], out=out),  # notes too: the default stays
        BatchJob(inputs=[str(abstracts)], out=out, settings=EngineSettings(domain="clinical")),  # asked for
        BatchJob(inputs=["notes.unknown"], out=out),  # opening the input reports it
    ):
        assert with_input_domain(job) is job
    summary = run_batch(BatchJob(inputs=[str(abstracts)], out=out, settings=LEXICON))
    assert summary.settings["domain"] == "literature"


def test_registry_dispatch_and_clear_errors(tmp_path: Path) -> None:
    assert sink_target("x.jsonl").endswith("JsonlSink")
    assert sink_target("x.parquet").endswith("ParquetSink")
    assert sink_target("x.fhir.json") == "clinnlp.export.fhir_sink:FhirNdjsonSink"
    assert sink_target("out.ndjson") == "clinnlp.export.fhir_sink:FhirNdjsonSink"
    assert sink_target("sqlite:///x.db") == sink_target("postgresql+psycopg://h/db") == "clinnlp.export.database_sink:DatabaseSink"
    with pytest.raises(ConfigError, match=r"\.jsonl, \.parquet"):
        sink_target("x.txt")
    with pytest.raises(ConfigError, match="--input-format"):
        open_source(str(tmp_path / "x.unknown"), None, SourceOptions())
    with pytest.raises(ConfigError, match="allowed"):
        open_source("x.jsonl", "yaml", SourceOptions())
    assert side_paths("sqlite:///runs/x.db")[0] == Path("runs/x.db.errors.jsonl")
    assert side_paths("postgresql://u:p@host/notes")[0] == Path.cwd() / "clinnlp-batch-notes.errors.jsonl"


def test_optional_sink_import_failure_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import clinnlp.batch.registry as registry

    monkeypatch.setitem(registry.SINK_SUFFIXES, ".fhir.json", "clinnlp.no_such_module:Sink")
    with pytest.raises(ConfigError, match="cannot be imported"):
        open_sink("x.fhir.json")


def test_append_log_truncates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"doc_id":"a","x":1}\n{"doc_id":"b","x":2}\n{"doc_id":"c","x', encoding="utf-8")
    log = AppendLog(path)
    assert log.ids() == {"a", "b"}
    log.append('{"doc_id":"c","x":3}')
    log.close()
    assert _ids(path) == ["a", "b", "c"]


def test_engine_matches_extract_and_keeps_input_order() -> None:
    from clinnlp.pipeline import extract

    nlp = LEXICON.load()
    texts = [NOTE, "Short note: asthma.", NOTE + " " + NOTE]
    results = annotate(nlp, [SourceDoc(f"d{i}", t) for i, t in enumerate(texts)])
    assert [r.doc.doc_id for r in results] == ["d0", "d1", "d2"]
    for i, (result, text) in enumerate(zip(results, texts)):
        assert result.record == extract(text, doc_id=f"d{i}", ner="lexicon")


def test_resume_skips_done_ids_and_never_duplicates(tmp_path: Path) -> None:
    notes = _folder(tmp_path, 12)
    out = tmp_path / "r.jsonl"
    job = BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON, window_docs=4)
    first = run_batch(job)
    assert first.documents == 12
    # simulate a killed run: keep 5 complete lines and half of the sixth
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][:30], encoding="utf-8")
    second = run_batch(job)
    assert (second.documents, second.skipped_done) == (7, 5)
    expected = sorted(p.relative_to(notes).as_posix() for p in notes.rglob("*.txt"))
    assert _ids(out) == expected  # input order, no duplicates
    summary = json.loads(side_paths(str(out))[1].read_text(encoding="utf-8"))
    assert summary["documents"] == 7 and summary["peak_rss_mb"] > 0


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".ndjson"])
def test_a_done_note_edited_since_is_an_error_not_a_silent_skip(tmp_path: Path, suffix: str) -> None:
    """Its record is stale: the re-run says so in the errors file and keeps one record per id."""
    notes = _folder(tmp_path, 3)
    out = tmp_path / f"r{suffix}"
    job = BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON)
    run_batch(job)
    edited = sorted(notes.rglob("*.txt"))[1]
    edited.write_text(NOTE + " Also gout.", encoding="utf-8")
    again = run_batch(job)
    name = edited.relative_to(notes).as_posix()
    assert (again.documents, again.skipped_done, again.errors) == (0, 2, 1)
    [error] = _errors(out)
    assert error["doc_id"] == name and "changed since its record was written" in error["reason"]
    edited.write_text(edited.read_text(encoding="utf-8"), encoding="utf-8")  # unchanged text: skipped as before
    assert run_batch(job).errors == 1


def test_bad_documents_go_to_the_errors_file_and_the_run_goes_on(tmp_path: Path) -> None:
    notes = _folder(tmp_path, 3)
    (notes / "empty.txt").write_bytes(b"  \n")
    (notes / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (notes / "latin1.txt").write_bytes("fi\xe8vre".encode("latin-1"))
    (notes / "huge.txt").write_bytes(b"a" * 5_000_000)
    out = tmp_path / "r.jsonl"
    summary = run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON))
    assert summary.documents == 3 and summary.errors == 4
    reasons = {e["doc_id"]: e["reason"] for e in _errors(out)}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt", "huge.txt"}
    assert "binary" in reasons["binary.txt"] and "UTF-8" in reasons["latin1.txt"] and "limit" in reasons["huge.txt"]
    # a re-run tries the failed documents again and lists them once, not twice
    again = run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON))
    assert (again.documents, again.errors, again.skipped_done) == (0, 4, 3)
    assert sorted(e["doc_id"] for e in _errors(out)) == sorted(reasons)
    # once fixed (or the limit raised), they go through
    (notes / "empty.txt").write_text(NOTE, encoding="utf-8")
    fixed = run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=EngineSettings(ner="lexicon", device="cpu", max_doc_bytes=6_000_000)))
    assert (fixed.documents, fixed.errors) == (2, 2)
    assert {e["doc_id"] for e in _errors(out)} == {"binary.txt", "latin1.txt"}
    assert sorted(_ids(out)) == sorted(["empty.txt", "huge.txt", *(p.relative_to(notes).as_posix() for p in notes.rglob("note*.txt"))])


def test_resume_refuses_other_ner_settings_and_foreign_outputs(tmp_path: Path) -> None:
    notes = _folder(tmp_path, 2)
    out = tmp_path / "r.jsonl"
    run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON))
    with pytest.raises(ConfigError, match="--ner lexicon"):
        run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=EngineSettings(ner="hybrid", device="cpu")))
    # --out naming an input, or a file clinnlp did not write, is refused and left as it was
    jsonl = tmp_path / "notes.jsonl"
    content = json.dumps({"id": "a", "text": NOTE}) + "\n" + json.dumps({"id": "b", "text": NOTE})
    jsonl.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="also an INPUT"):
        run_batch(BatchJob(inputs=[str(jsonl)], out=str(jsonl), settings=LEXICON))
    with pytest.raises(InputError, match="not written by clinnlp batch"):
        run_batch(BatchJob(inputs=[str(notes)], out=str(jsonl), settings=LEXICON))
    assert jsonl.read_text(encoding="utf-8") == content
    with pytest.raises(InputError, match="no such file or folder"):
        run_batch(BatchJob(inputs=[str(tmp_path / "missing.jsonl")], out=str(tmp_path / "x.jsonl"), settings=LEXICON))


def test_undecodable_ids_and_metadata_are_replaced_not_fatal(tmp_path: Path) -> None:
    csv_path = tmp_path / "meta.csv"
    csv_path.write_bytes(b'ROW_ID,CATEGORY,TEXT\n1,Caf\xe9,"' + NOTE.encode() + b'"\n2,Rad,"' + NOTE.encode() + b'"\n')
    jsonl = tmp_path / "n.jsonl"
    jsonl.write_text('{"id": "s\\ud800", "text": "fever"}\n{"id": "t", "text": "bad \\udc80 text"}\n', encoding="utf-8")
    out = tmp_path / "r.jsonl"
    summary = run_batch(BatchJob(inputs=[str(csv_path), str(jsonl)], out=str(out), settings=LEXICON))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["doc_id"] for r in records] == ["1", "2", "s\ufffd"]
    assert records[0]["metadata"]["CATEGORY"] == "Caf\ufffd"
    assert summary.errors == 1 and _errors(out)[0]["doc_id"] == "t"


def test_csv_errors_never_show_note_text(tmp_path: Path) -> None:
    shifted = tmp_path / "textfirst.csv"
    shifted.write_text('TEXT,ID\n"fever",1\nPatient John Smith has HIV, and depression,2\n', encoding="utf-8")
    out = tmp_path / "r.jsonl"
    run_batch(BatchJob(inputs=[str(shifted)], out=str(out), settings=LEXICON, options=SourceOptions(id_field="ID")))
    assert [e["doc_id"] for e in _errors(out)] == ["textfirst.csv:row 2"]
    headerless = tmp_path / "headerless.csv"
    headerless.write_text('1,"Admission Date: 2101-01-01. Discharge Diagnosis: pneumonia."\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(open_source(str(headerless), None, SourceOptions()))
    assert "pneumonia" not in str(info.value) and "does not look like a header" in str(info.value)
    # a column the user named must exist: no silent fallback to ROW_ID
    mimic = tmp_path / "m.csv"
    mimic.write_text("ROW_ID,HADM_ID,TEXT\n1,9,fever\n", encoding="utf-8")
    with pytest.raises(InputError, match="'HADMID'"):
        list(open_source(str(mimic), None, SourceOptions(id_field="HADMID")))
    assert [d.doc_id for d in open_source(str(mimic), None, SourceOptions())] == ["1"]


def test_fail_fast_stops_at_the_first_bad_document(tmp_path: Path) -> None:
    from clinnlp.batch.run import BatchAborted

    notes = _folder(tmp_path, 3)
    (notes / "site0" / "note0001a.txt").write_bytes(b"")
    out = tmp_path / "r.jsonl"
    with pytest.raises(BatchAborted, match="note0001a.txt"):
        run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON, fail_fast=True))
    assert _ids(out) == ["site0/note0000.txt"]
    # the command: one line and exit 2 (a document failed), as without --fail-fast
    result = CliRunner().invoke(app, ["batch", str(notes), "--out", str(tmp_path / "c.jsonl"), "--ner", "lexicon", "--fail-fast"])
    assert result.exit_code == 2 and "note0001a.txt" in result.stderr and "Traceback" not in result.stderr


MIMIC_HEADER = "ROW_ID,SUBJECT_ID,HADM_ID,CHARTDATE,CHARTTIME,STORETIME,CATEGORY,DESCRIPTION,CGID,ISERROR,TEXT"


def test_mimic_noteevents_csv_bad_rows_become_one_error_line_each(tmp_path: Path) -> None:
    rows = [
        f'1,10,100,2101-01-01,,,Discharge summary,Report,,,"{NOTE}\nFollow up in 2 weeks."',
        '2,11,101,2101-01-02,,,Nursing,Note,,,""',  # empty note
        "3,12,102,2101-01-03,,,Radiology,Report,,,only,too,many,fields",
        f'4,13,103,2101-01-04,,,Physician,Note,,,"{NOTE}"',
    ]
    data = (MIMIC_HEADER + "\n" + "\n".join(rows) + "\n").encode("utf-8")
    data += b'5,14,104,2101-01-05,,,ECG,Report,,,"bad byte \xff here"\n'
    data += f'6,15,105,2101-01-06,,,Echo,Report,,,"{NOTE}"\n'.encode("utf-8")
    csv_path = tmp_path / "NOTEEVENTS.csv"
    csv_path.write_bytes(data)
    out = tmp_path / "notes.jsonl"
    summary = run_batch(BatchJob(inputs=[str(csv_path)], out=str(out), settings=LEXICON))
    assert _ids(out) == ["1", "4", "6"]
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["metadata"]["CATEGORY"] == "Discharge summary" and "TEXT" not in first["metadata"]
    assert first["diagnoses"]
    assert sorted(e["doc_id"] for e in _errors(out)) == ["2", "3", "5"]
    assert summary.errors == 3


def test_csv_row_with_an_unclosed_quote_is_one_error_and_the_rows_after_it_survive(tmp_path: Path) -> None:
    # strict quotes: before, row 2 silently swallowed row 3 into its text
    data = (
        MIMIC_HEADER + "\n"
        f'1,10,100,2101-01-01,,,Nursing,Note,,,"{NOTE}"\n'
        '2,11,101,2101-01-02,,,Nursing,Note,,,"open text\nsecond line of 2, with a comma\n'
        f'3,12,102,2101-01-03,,,Nursing,Note,,,"{NOTE}"\n'
        "4,13,103,2101-01-04,,,Nursing,Note,,,unquoted fever\n"
        '5,14,104,2101-01-05,,,Nursing,Note,,,"runs to the end\n'
    )
    csv_path = tmp_path / "NOTEEVENTS.csv"
    csv_path.write_text(data, encoding="utf-8")
    out = tmp_path / "notes.jsonl"
    summary = run_batch(BatchJob(inputs=[str(csv_path)], out=str(out), settings=LEXICON))
    assert _ids(out) == ["1", "3", "4"]
    errors = _errors(out)
    assert [e["doc_id"] for e in errors] == ["2", "5"] and summary.errors == 2
    assert "unclosed quote" in errors[0]["reason"] and "1 more line(s)" in errors[0]["reason"]
    assert "comma" not in errors[0]["reason"]  # no note text in the errors file
    # the first row bad: one error, for it (the header is not replayed as a row)
    first_bad = tmp_path / "first.csv"
    first_bad.write_text('ROW_ID,TEXT\n1,"open text\n2,"fine note."\n', encoding="utf-8")
    docs = list(open_source(str(first_bad), None, SourceOptions()))
    assert [(d.doc_id, d.error is None) for d in docs] == [("1", False), ("2", True)]


def test_parquet_sink_resumes_from_parts_and_merges(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    notes = _folder(tmp_path, 9)
    out = tmp_path / "r.parquet"
    sink = open_sink(str(out))
    nlp = LEXICON.load()
    docs = list(open_source(str(notes), None, SourceOptions()))
    sink.ROWS_PER_PART = 2  # type: ignore[attr-defined]
    for result in annotate(nlp, docs[:5]):
        assert result.record is not None
        sink.write(result.record, result.doc)
    # "killed" here: two complete parts on disk, one row lost in the buffer, no merged file
    assert not out.exists() and len(list((tmp_path / "r.parquet.parts").glob("part-*"))) == 2
    summary = run_batch(BatchJob(inputs=[str(notes)], out=str(out), settings=LEXICON))
    assert (summary.skipped_done, summary.documents) == (4, 5)
    table = pq.read_table(out)
    assert table.column("doc_id").to_pylist() == [d.doc_id for d in docs]
    assert json.loads(table.column("record")[0].as_py())["doc_id"] == docs[0].doc_id
    assert not (tmp_path / "r.parquet.parts").exists()


def test_cli_batch_from_stdin_and_help(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    stdin = "\n".join(json.dumps({"id": f"n{i}", "text": NOTE}) for i in range(3)) + "\n"
    result = runner.invoke(app, ["batch", "-", "--out", str(out), "--ner", "lexicon", "--device", "cpu"], input=stdin)
    assert result.exit_code == 0, result.output
    assert _ids(out) == ["n0", "n1", "n2"]
    help_text = runner.invoke(app, ["batch", "--help"]).output
    assert "errors.jsonl" in help_text and "NOTEEVENTS" in help_text
    bad = runner.invoke(app, ["batch", "-", "--out", str(tmp_path / "r.txt")], input=stdin)
    assert bad.exit_code == 1 and "unknown output type" in bad.output


def _batch_cmd(notes: Path, out: Path) -> list[str]:
    code = "from clinnlp.cli.main import run; run()"
    return [sys.executable, "-c", code, "batch", str(notes), "--out", str(out), "--ner", "lexicon", "--device", "cpu",
            "--no-progress", "--window-docs", "4"]  # fmt: skip


def test_kill_minus_9_half_way_then_rerun_gives_every_record_once(tmp_path: Path) -> None:
    """The must-show, small: 60 notes, SIGKILL once some records are written, run again."""
    from clinnlp.bench.batch_resume import check_output, make_notes

    notes = make_notes(tmp_path / "notes", 60, long=True)
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(_batch_cmd(notes, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the first run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = out.read_bytes().count(b"\n")
    assert 20 <= at_kill < 60
    subprocess.run(_batch_cmd(notes, out), env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = check_output(notes, out)
    assert report["records"] == report["unique_ids"] == 60 and report["ids_match_inputs"], report


@pytest.mark.slow
def test_worker_processes_give_the_same_output_in_input_order(tmp_path: Path) -> None:
    notes = _folder(tmp_path, 30)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run_batch(BatchJob(inputs=[str(notes)], out=str(one), settings=LEXICON, window_docs=4))
    run_batch(BatchJob(inputs=[str(notes)], out=str(two), settings=LEXICON, window_docs=4, workers=2))
    assert two.read_text(encoding="utf-8") == one.read_text(encoding="utf-8")


def test_a_document_that_breaks_the_pipeline_is_isolated() -> None:
    from clinnlp.errors import ResourceError

    nlp = LEXICON.load()

    class Flaky:
        """Fails on the note mentioning 'BOOM'; a config/resource error must stop everything."""

        def __init__(self, error: type[Exception]) -> None:
            self.error = error

        def __getattr__(self, name: str) -> object:
            return getattr(nlp, name)

        def pipe(self, docs: object, batch_size: int = 64) -> object:
            for doc in docs:  # type: ignore[attr-defined]
                yield self(doc)

        def __call__(self, doc: object) -> object:
            if "BOOM" in doc.text:  # type: ignore[attr-defined]
                raise self.error("boom")
            return nlp(doc)

    docs = [SourceDoc("a", NOTE), SourceDoc("b", "BOOM " + NOTE), SourceDoc("c", NOTE)]
    results = annotate(Flaky(RuntimeError), docs)
    assert [r.error is None for r in results] == [True, False, True]
    assert "RuntimeError: boom" in (results[1].error or "")
    with pytest.raises(ResourceError):
        annotate(Flaky(ResourceError), docs)


def test_batch_tokens_zero_is_chosen_by_device() -> None:
    from clinnlp.batch.engine import CPU_BATCH_TOKENS, EngineSettings, check_settings

    assert EngineSettings(device="cpu").resolved_batch_tokens() == CPU_BATCH_TOKENS
    assert EngineSettings(device="cpu", batch_tokens=4096).resolved_batch_tokens() == 4096
    assert EngineSettings(device="cpu", batch_tokens=None).resolved_batch_tokens() is None
    with pytest.raises(ConfigError, match="at least 64"):
        check_settings(EngineSettings(device="cpu", batch_tokens=32))
