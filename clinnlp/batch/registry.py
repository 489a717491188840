"""From a command line's ``INPUT``/``--input-format`` and ``--out`` to a source and a sink.

Each entry is a lazily imported ``"module:Class"`` string, so selecting JSONL never imports
pyarrow or SQLAlchemy, and an output whose extra is not installed fails with one clear
line. Sinks are built as ``Cls(out)``, sources as ``Cls(input, options)``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from clinnlp.batch.protocols import RecordSink, Source, SourceOptions
from clinnlp.errors import ConfigError

#: ``--input-format`` values, each the class that reads it.
SOURCES: dict[str, str] = {
    "folder": "clinnlp.batch.sources:FolderSource",
    "jsonl": "clinnlp.batch.sources:JsonlSource",
    "csv": "clinnlp.batch.sources:CsvSource",
    "pubtator": "clinnlp.batch.sources:PubtatorSource",
    "omop-note": "clinnlp.export.omop_source:OmopNoteSource",
}

#: Input suffixes recognised without ``--input-format``.
SOURCE_SUFFIXES: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".pubtator": "pubtator",
    ".pubtator.txt": "pubtator",
}

#: Output file suffixes, each the sink class that writes it (longest suffix wins).
SINK_SUFFIXES: dict[str, str] = {
    ".jsonl": "clinnlp.batch.sinks:JsonlSink",
    ".parquet": "clinnlp.batch.sinks:ParquetSink",
    ".ndjson": "clinnlp.export.fhir_sink:FhirNdjsonSink",
    ".fhir.json": "clinnlp.export.fhir_sink:FhirNdjsonSink",
}
DATABASE_SINK = "clinnlp.export.database_sink:DatabaseSink"
_DATABASE_URL = re.compile(r"^(sqlite|postgresql)(\+\w+)?:", re.IGNORECASE)

#: What the optional classes need, for the error when their import fails.
_EXTRAS = {
    "clinnlp.export": "the FHIR/OMOP/database exporters (clinnlp.export) and their extra, e.g. pip install 'clinnlp[db]'",
    "pyarrow": "pyarrow (pip install pyarrow)",
}


def _load(target: str, what: str) -> Any:
    """Import ``module:Class``; a missing module or class is a :class:`ConfigError`."""
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        need = next((v for k, v in _EXTRAS.items() if module_name.startswith(k)), module_name)
        raise ConfigError(f"{what} needs {need}, which cannot be imported here ({exc})") from None


def is_database_url(out: str) -> bool:
    return bool(_DATABASE_URL.match(out))


def detect_format(input: str) -> str:
    """The input format implied by the path: ``-`` is JSONL on stdin, a folder is ``folder``."""
    if input == "-":
        return "jsonl"
    if Path(input).is_dir():
        return "folder"
    lower = input.lower()
    for suffix in sorted(SOURCE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return SOURCE_SUFFIXES[suffix]
    if is_database_url(input):
        return "omop-note"
    allowed = ", ".join(SOURCE_SUFFIXES)
    raise ConfigError(
        f"{input}: cannot tell the input format from the name; use a folder, '-', a file ending in "
        f"{allowed}, or set --input-format ({', '.join(SOURCES)})"
    )


def open_source(input: str, input_format: str | None, options: SourceOptions) -> Source:
    """The source for one ``INPUT``; ``input_format`` None means detect it from the path."""
    fmt = input_format or detect_format(input)
    if fmt not in SOURCES:
        raise ConfigError(f"unknown input format {fmt!r}; allowed: {', '.join(SOURCES)}")
    cls = _load(SOURCES[fmt], f"input format {fmt!r}")
    source: Source = cls(input, options)
    return source


def sink_target(out: str) -> str:
    """The ``module:Class`` of the sink for ``out`` (a file path or a database URL)."""
    if is_database_url(out):
        return DATABASE_SINK
    lower = out.lower()
    for suffix in sorted(SINK_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return SINK_SUFFIXES[suffix]
    allowed = ", ".join(SINK_SUFFIXES)
    raise ConfigError(
        f"{out}: unknown output type; give a file ending in {allowed}, or a database URL "
        "(sqlite:///path.db, postgresql://...)"
    )


def open_sink(out: str) -> RecordSink:
    """The sink for ``--out``, chosen by suffix or URL scheme."""
    cls = _load(sink_target(out), f"output {out!r}")
    sink: RecordSink = cls(out)
    return sink


def side_paths(out: str) -> tuple[Path, Path]:
    """Where the errors and summary files go: ``OUTPUT.errors.jsonl``/``OUTPUT.summary.json``.

    For a database URL: beside a SQLite file (``x.db.errors.jsonl``), else in the current
    folder as ``clinnlp-batch-<database>.errors.jsonl`` (no credentials in the name).
    """
    if is_database_url(out):
        scheme, _, rest = out.partition(":")
        if scheme.lower().startswith("sqlite"):
            path = rest[3:] if rest.startswith("///") else rest.lstrip("/")
            if path and path != ":memory:":
                base = Path(path)
                return base.with_name(base.name + ".errors.jsonl"), base.with_name(base.name + ".summary.json")
        database = re.sub(r"[^A-Za-z0-9_.-]+", "_", rest.rsplit("/", 1)[-1].split("?", 1)[0]) or "database"
        base = Path.cwd() / f"clinnlp-batch-{database}"
        return base.with_name(base.name + ".errors.jsonl"), base.with_name(base.name + ".summary.json")
    base = Path(out)
    return base.with_name(base.name + ".errors.jsonl"), base.with_name(base.name + ".summary.json")
