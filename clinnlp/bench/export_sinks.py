"""Throughput of the export sinks alone (no extraction): notes written per second.

    python -m clinnlp.bench.export_sinks --notes 2000 [--postgres postgresql://user@host/db]

The sample notes (corpora/notes) are extracted once with the lexicon NER; their records are
then written ``--notes`` times under new doc ids to each sink in a temporary folder: FHIR
NDJSON, FHIR .fhir.json, SQLite NOTE_NLP, and PostgreSQL NOTE_NLP when a URL is given (its
``note_nlp`` and ``clinnlp_note`` tables are used, so give a scratch database). Every write is
durable (fsync / one committed transaction), which is what dominates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clinnlp.batch.protocols import SourceDoc
from clinnlp.schema import Record

NOTES_DIR = Path(__file__).resolve().parents[2] / "corpora" / "notes"


def _samples() -> list[tuple[Record, str]]:
    from clinnlp.pipeline import extract

    paths = sorted(NOTES_DIR.glob("*.txt"))
    if not paths:
        raise SystemExit(f"no sample notes in {NOTES_DIR}")
    return [(extract(p.read_text(encoding="utf-8"), doc_id=p.name, ner="lexicon"), p.read_text(encoding="utf-8")) for p in paths]


def _time(sink: object, samples: list[tuple[Record, str]], notes: int) -> tuple[float, int]:
    mentions = 0
    start = time.perf_counter()
    for i in range(notes):
        record, text = samples[i % len(samples)]
        record = record.model_copy(update={"doc_id": str(1_000_000 + i)})
        mentions += len(record.diagnoses) + len(record.medications) + len(record.findings)
        sink.write(record, SourceDoc(doc_id=record.doc_id, text=text))  # type: ignore[attr-defined]
    sink.close()  # type: ignore[attr-defined]
    return time.perf_counter() - start, mentions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=2000, help="notes written to each sink")
    parser.add_argument("--postgres", default=None, help="a scratch PostgreSQL database URL")
    args = parser.parse_args(argv)

    from clinnlp.export.database_sink import DatabaseSink
    from clinnlp.export.fhir_sink import FhirNdjsonSink

    samples = _samples()
    with tempfile.TemporaryDirectory() as tmp:
        sinks = {
            "fhir .ndjson": lambda: FhirNdjsonSink(str(Path(tmp) / "out.ndjson")),
            "fhir .fhir.json": lambda: FhirNdjsonSink(str(Path(tmp) / "out.fhir.json")),
            "sqlite NOTE_NLP": lambda: DatabaseSink(f"sqlite:///{Path(tmp) / 'nlp.db'}"),
        }
        if args.postgres:
            sinks["postgresql NOTE_NLP"] = lambda: DatabaseSink(args.postgres)
        print(f"{'sink':<22}{'notes':>8}{'mentions':>10}{'seconds':>10}{'notes/s':>10}")
        for name, make in sinks.items():
            seconds, mentions = _time(make(), samples, args.notes)
            print(f"{name:<22}{args.notes:>8}{mentions:>10}{seconds:>10.2f}{args.notes / seconds:>10.1f}")


if __name__ == "__main__":
    main()
