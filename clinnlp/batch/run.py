"""``clinnlp batch`` as a library call: sources -> engine -> sink, resumable and observed.

Resume: the ids already in the output are skipped, so running the same command again
continues where a killed run stopped, without duplicates. Documents that failed (the
errors file) are tried again, so a fixed input or a larger ``--max-doc-bytes`` takes effect;
the errors file is rewritten by each run and lists what is still failing. A done id whose
note text has changed since (its ``text_sha256`` differs) is reported there too, not
skipped silently: its record is stale. A re-run must use
the NER settings of the records already written (``--ner``, ``--model``, ``--domain``, read
from the summary file), so one output never mixes models. An id seen twice in the input is
an error for its second occurrence. The three stages (read, annotate,
write) run in their own threads joined by small bounded queues, so memory stays flat.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clinnlp.batch.engine import DEFAULT_WINDOW_DOCS, EngineSettings, Result, check_settings, run_windows, windows
from clinnlp.batch.protocols import RecordSink, SourceDoc, SourceOptions
from clinnlp.batch.registry import detect_format, open_sink, open_source, side_paths
from clinnlp.batch.sinks import AppendLog
from clinnlp.errors import ClinnlpError, ConfigError, InputError
from clinnlp.model_registry import DEFAULT_MODEL
from clinnlp.readers.registry import corpus_domain
from clinnlp.schema import Record


class BatchAborted(ClinnlpError, RuntimeError):
    """``--fail-fast`` met a bad document; everything before it was written."""


@dataclass
class BatchSummary:
    """What a run did; written as ``OUTPUT.summary.json`` and printed at the end.

    ``seconds`` (and so the rates) counts processing, after the model is loaded
    (``load_seconds``); with ``--workers`` > 1 the workers' loading is inside ``seconds``.
    """

    output: str
    documents: int = 0
    skipped_done: int = 0
    errors: int = 0
    tokens: int = 0
    mentions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    load_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    engine: str = "local"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "documents": self.documents,
            "skipped_already_done": self.skipped_done,
            "errors": self.errors,
            "tokens": self.tokens,
            "mentions": dict(sorted(self.mentions.items())),
            "seconds": round(self.seconds, 3),
            "load_seconds": round(self.load_seconds, 3),
            "documents_per_second": round(self.docs_per_second, 3),
            "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "engine": self.engine,
            "settings": self.settings,
        }


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB (Linux: KB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return max(own, children) / scale


def count_mentions(record: Record, into: Counter[str]) -> None:
    into["diagnoses"] += len(record.diagnoses)
    into["medications"] += len(record.medications)
    into["findings"] += len(record.findings)
    for finding in record.findings:
        into[f"findings.{finding.kind}"] += 1


def _threaded(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead; errors re-raise here."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("end", None))
        except BaseException as exc:  # noqa: BLE001  handed to the consumer thread
            box.put(("error", exc))

    thread = threading.Thread(target=produce, name="clinnlp-batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


class _Writer:
    """Writes results on a background thread, in the order they are handed over."""

    def __init__(self, sink: RecordSink, errors: AppendLog, summary: BatchSummary, fail_fast: bool) -> None:
        self.sink, self.errors, self.summary, self.fail_fast = sink, errors, summary, fail_fast
        self.mentions: Counter[str] = Counter()
        self.box: queue.Queue[list[Result] | None] = queue.Queue(maxsize=2)
        self.failure: BaseException | None = None
        self.aborted: str | None = None
        self.thread = threading.Thread(target=self._loop, name="clinnlp-batch-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            results = self.box.get()
            if results is None:
                return
            if self.failure is not None or self.aborted is not None:
                continue
            try:
                self._write(results)
            except BaseException as exc:  # noqa: BLE001  re-raised by the main thread
                self.failure = exc

    def _write(self, results: list[Result]) -> None:
        for result in results:
            if result.record is not None:
                self.sink.write(result.record, result.doc)
                count_mentions(result.record, self.mentions)
                self.summary.documents += 1
                self.summary.tokens += result.tokens
            else:
                line = {"doc_id": result.doc.doc_id, "reason": result.error}
                self.errors.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
                self.summary.errors += 1
                if self.fail_fast:
                    self.aborted = f"{result.doc.doc_id}: {result.error} (--fail-fast)"
                    return

    def put(self, results: list[Result]) -> None:
        if self.failure is not None:
            raise self.failure
        self.box.put(results)

    def finish(self) -> None:
        self.box.put(None)
        self.thread.join()
        if self.failure is not None:
            raise self.failure


@dataclass(frozen=True)
class BatchJob:
    """One ``clinnlp batch`` invocation."""

    inputs: Sequence[str]
    out: str
    settings: EngineSettings = EngineSettings()
    options: SourceOptions = SourceOptions()
    input_format: str | None = None
    workers: int = 1
    fail_fast: bool = False
    window_docs: int = DEFAULT_WINDOW_DOCS


def with_input_domain(job: BatchJob) -> BatchJob:
    """``job`` with the ``literature`` domain when no domain was set and every input is
    PubTator (abstracts, not notes); otherwise ``job`` itself."""
    if job.settings.domain is not None or not job.inputs:
        return job
    try:
        formats = {job.input_format or detect_format(name) for name in job.inputs}
    except ConfigError:
        return job  # opening the input reports it
    if any(corpus_domain(fmt) != "literature" for fmt in formats):
        return job
    return replace(job, settings=replace(job.settings, domain="literature"))


def _pending(
    job: BatchJob, skip: Mapping[str, str | None], summary: BatchSummary, on_total: Callable[[int | None], None]
) -> Iterator[SourceDoc]:
    """The input documents still to do, across all inputs, duplicates turned into errors.

    ``skip`` maps each done id to its note's ``text_sha256`` (None where the output did not
    keep it). A done note whose text has changed since becomes an error, not a silent skip:
    its record in the output is stale, and one output holds one record per id."""
    sources = [open_source(name, job.input_format, job.options) for name in job.inputs]
    total: int | None = 0
    for source in sources:
        try:
            total = None if total is None else total + len(source)
        except TypeError:
            total = None
    on_total(None if total is None else max(0, total - len(skip)))
    seen: set[str] = set()
    for source in sources:
        for doc in source:
            doc = valid_unicode(doc)
            if doc.doc_id in seen:
                yield SourceDoc(doc.doc_id, None, {}, "duplicate doc id: an earlier input document has the same id")
                continue
            seen.add(doc.doc_id)
            if doc.doc_id in skip:
                if _changed(doc, skip[doc.doc_id]):
                    yield SourceDoc(doc.doc_id, None, {}, CHANGED_SINCE_DONE)
                    continue
                summary.skipped_done += 1
                continue
            yield doc


CHANGED_SINCE_DONE = (
    "the note's text changed since its record was written (text_sha256 differs); the old record is kept: "
    "write to a new --out, or remove that record from the output and run again, to redo it"
)


def _changed(doc: SourceDoc, text_hash: str | None) -> bool:
    """Whether a done document's text differs from the one its record was made from."""
    if text_hash is None or doc.text is None:
        return False
    return hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest() != text_hash


def _replace_surrogates(value: Any) -> Any:
    """``value`` with lone surrogates (undecodable bytes kept by the readers) as U+FFFD."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        return value
    if isinstance(value, Mapping):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def valid_unicode(doc: SourceDoc) -> SourceDoc:
    """``doc`` with an id and metadata that UTF-8 can write (a non-UTF-8 file name or CSV
    column would otherwise stop the whole run at the writer); a text that still holds a
    lone surrogate makes the document an error."""
    doc_id = _replace_surrogates(doc.doc_id)
    metadata = _replace_surrogates(doc.metadata) if doc.metadata else doc.metadata
    bad_text = doc.text is not None and _replace_surrogates(doc.text) is not doc.text
    if doc_id is doc.doc_id and metadata == doc.metadata and not bad_text:
        return doc
    if bad_text:
        return SourceDoc(doc_id, None, metadata, "the text holds invalid Unicode (a lone surrogate); expected UTF-8 text")
    return SourceDoc(doc_id, doc.text, metadata, doc.error)


def drive(job: BatchJob, sink: RecordSink, summary: BatchSummary,
          feed: Callable[[_Writer, Mapping[str, str | None]], None]) -> BatchSummary:
    """The run around an engine: resume set, ordered writer, errors log, summary file.

    ``feed(writer, skip)`` runs the documents whose ids are not in ``skip`` (done id -> text
    hash, see :func:`_pending`) and puts their
    results to ``writer``; both engines (local and Ray) share everything else here, so a
    run's files, resume and summary are the same whichever engine produced them.
    """
    errors_path, summary_path = side_paths(job.out)
    errors = AppendLog(errors_path)
    started = time.perf_counter()
    writer: _Writer | None = None
    try:
        ids = sink.done_ids()
        hashes = sink.done_hashes()
        done = {doc_id: hashes.get(doc_id) for doc_id in ids}
        check_same_settings(summary_path, summary.settings, bool(done))
        if not summary_path.exists():
            _write_summary(summary_path, summary)  # the settings, for a re-run after a kill
        errors.restart()  # the documents that failed before are tried again in this run
        writer = _Writer(sink, errors, summary, job.fail_fast)
        try:
            feed(writer, done)
        finally:
            writer.finish()
        summary.mentions = dict(writer.mentions)
    finally:
        sink.close()
        errors.close()
        summary.seconds = time.perf_counter() - started
        summary.peak_rss_mb = peak_rss_mb()
    _write_summary(summary_path, summary)
    if writer is not None and writer.aborted:
        raise BatchAborted(writer.aborted)
    return summary


def run_batch(job: BatchJob, *, progress: Any | None = None) -> BatchSummary:
    """Run a batch job to completion (or to the first bad document with ``fail_fast``).

    ``progress`` is an object with ``start(total)`` and ``advance(docs, tokens)`` (see
    :mod:`clinnlp.batch.progress`), or None for a silent run.
    """
    job = with_input_domain(job)
    check_settings(job.settings)
    if job.workers < 1:
        raise InputError(f"--workers must be at least 1, not {job.workers}")
    if "-" in job.inputs and len(job.inputs) > 1:
        raise InputError("'-' (standard input) must be the only INPUT")
    check_paths(job)
    sink = open_sink(job.out)  # before the model loads, so a bad --out fails at once
    summary = BatchSummary(output=job.out, settings=_settings_dict(job))
    loading = time.perf_counter()
    if job.workers == 1:
        job.settings.load()  # cached: the rates below are for processing, not model loading
    summary.load_seconds = time.perf_counter() - loading

    def feed(writer: _Writer, skip: Mapping[str, str | None]) -> None:
        docs = _pending(job, skip, summary, progress.start if progress else (lambda _: None))
        for results in run_windows(job.settings, _threaded(windows(docs, job.window_docs)), job.workers):
            writer.put(results)
            if progress is not None:
                progress.advance(len(results), sum(r.tokens for r in results))
            if writer.aborted:
                break

    return drive(job, sink, summary, feed)


def check_paths(job: BatchJob) -> None:
    """Missing inputs, and an ``--out`` that is one of the inputs, fail before the model loads."""
    out = Path(job.out).resolve() if "://" not in job.out else None
    for name in job.inputs:
        if name == "-" or "://" in name:
            continue
        path = Path(name)
        if not path.exists():
            raise InputError(f"{name}: no such file or folder")
        if out is not None and path.resolve() == out:
            raise InputError(f"--out {job.out} is also an INPUT; write the records to another file")


def _settings_dict(job: BatchJob) -> dict[str, Any]:
    s = job.settings
    return {
        "ner": s.ner,
        "model": s.model or DEFAULT_MODEL,
        "device": s.device,
        "precision": s.precision,
        "domain": s.domain or _default_domain(),
        "batch_tokens": s.resolved_batch_tokens(),
        "workers": job.workers,
        "max_doc_bytes": s.max_doc_bytes,
    }


#: Settings that change what a record holds: a re-run must use the ones already written.
RESUME_KEYS = ("ner", "model", "domain")


def check_same_settings(summary_path: Path, settings: Mapping[str, Any], has_records: bool) -> None:
    """Refuse to append records made with other NER settings to an output that has some."""
    if not has_records or not summary_path.exists():
        return
    try:
        earlier = json.loads(summary_path.read_text(encoding="utf-8")).get("settings") or {}
    except (OSError, ValueError, AttributeError):
        return  # an unreadable summary: nothing to compare with
    if not isinstance(earlier, dict):
        return
    earlier = {**earlier, "model": earlier.get("model") or DEFAULT_MODEL}  # older summaries wrote null
    # the lexicon back-end uses no model and no domain: only --ner matters then
    keys = RESUME_KEYS if settings.get("ner") != "lexicon" or earlier.get("ner") != "lexicon" else ("ner",)
    differ = [k for k in keys if k in earlier and earlier[k] != settings.get(k)]
    if differ:
        was = ", ".join(f"--{k} {earlier[k]}" for k in differ)
        raise ConfigError(
            f"the output already holds records made with {was} ({summary_path.name}); re-run with the same "
            "settings to resume, or write to a new --out"
        )


def _default_domain() -> str:
    from clinnlp.components.transformer_ner import default_domain

    return default_domain()


def _write_summary(path: Path, summary: BatchSummary) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
