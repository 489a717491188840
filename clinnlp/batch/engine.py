"""The extraction engine shared by ``clinnlp extract`` and ``clinnlp batch``.

Documents arrive in *windows* (a few hundred at a time, so memory stays flat); inside a
window they are sorted by length and run through ``nlp.pipe``, whose transformer NER
batches length-sorted subword windows by a token budget with dynamic padding; records
come back in input order. In a local run three threads overlap: one reads and decodes
the input, the main one runs the pipeline (torch releases the GIL while it computes),
one serialises and writes records. ``workers > 1`` runs the pipeline in that many
processes instead, each with its own model, results reassembled in input order.

A document the pipeline cannot handle is isolated (its window is rerun one document at
a time) and reported; the others of its window are kept.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import ConfigError, ResourceError
from clinnlp.schema import Record

#: Default per-document limit (``--max-doc-bytes``): 1 MB of UTF-8, about 20 times the
#: longest MIMIC-III notes; a 5 MB single-line "note" is an export accident, not a note.
DEFAULT_MAX_DOC_BYTES = 1_000_000
#: ``batch_tokens`` 0 means "by device": a GPU wants big forward passes; on a CPU small
#: ones stay in cache (100 MTSamples notes, bf16, 2 cores: 8.98 s at 16384 tokens, 8.84 at
#: 4096, 8.04 at 1024, 9.31 at 256; fp32 15.4 / 13.7 / 13.0 / 15.6).
AUTO_BATCH_TOKENS = 0
GPU_BATCH_TOKENS = 16384
CPU_BATCH_TOKENS = 1024
DEFAULT_BATCH_TOKENS = AUTO_BATCH_TOKENS
DEFAULT_WINDOW_DOCS = 256


@dataclass(frozen=True)
class EngineSettings:
    """How to run the pipeline; picklable, so worker processes and Ray actors rebuild it."""

    ner: str = "hybrid"
    model: str | None = None
    device: str = "cpu"
    precision: str = "auto"
    #: None: fixed ``docs_per_batch``-sized forward passes (what ``extract`` has always used)
    batch_tokens: int | None = DEFAULT_BATCH_TOKENS
    docs_per_batch: int = 64
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    torch_threads: int | None = None
    #: the kind of text (clinical, literature): which NER head types become mentions
    domain: str | None = None

    def resolved_precision(self) -> str:
        """``auto``: bf16 where the hardware does it natively, else fp32.

        On GPUs the predictor autocasts to bf16 (fp16 on older cards) whatever this says; on
        CPUs with AVX-512 BF16 (oneDNN's check) bf16 weights are about 2x faster for 0.07 F1
        points (BC5CDR dev, 200 abstracts: 79.10 fp32, 79.03 bf16; ``python -m
        clinnlp.bench.precision_f1``).
        int8 (per-channel, FFN outputs in float) costs only 0.03 points there (79.07), but
        on 2 cores it is no faster than bf16 (the float FFN outputs, attention and GELU
        remain), so ``auto`` does not choose it; ``--precision int8`` is there for CPUs
        without bf16.
        """
        if self.precision != "auto" or self.ner == "lexicon":
            return "fp32" if self.precision == "auto" else self.precision
        import torch

        if self.device == "cpu" or (self.device == "auto" and not torch.cuda.is_available()):
            return "bf16" if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
        return "fp32"

    def resolved_batch_tokens(self) -> int | None:
        """The token budget per forward pass; ``0`` (auto) picks it by device."""
        if self.batch_tokens != AUTO_BATCH_TOKENS:
            return self.batch_tokens
        import torch

        on_gpu = self.device.startswith("cuda") or (self.device == "auto" and torch.cuda.is_available())
        return GPU_BATCH_TOKENS if on_gpu else CPU_BATCH_TOKENS

    def load(self) -> Any:
        """The cached spaCy pipeline for these settings."""
        from clinnlp.pipeline import load

        if self.torch_threads and self.ner != "lexicon":
            import torch

            torch.set_num_threads(self.torch_threads)
        nlp = load(
            ner=self.ner,
            model=self.model,
            device=self.device,
            precision=self.resolved_precision(),
            batch_tokens=self.resolved_batch_tokens(),
            batch_size=self.docs_per_batch,
            domain=self.domain,
        )
        # --max-doc-bytes is the one size limit: spaCy's own (1,000,000 characters) guards
        # its parser's memory, and this pipeline has no parser
        nlp.max_length = max(nlp.max_length, self.max_doc_bytes)
        return nlp


@dataclass(frozen=True)
class Result:
    """One document's outcome: a record, or the reason it has none."""

    doc: SourceDoc
    record: Record | None = None
    error: str | None = None
    tokens: int = 0


def check_settings(settings: EngineSettings) -> None:
    """Raise :class:`ConfigError` for a setting outside what is allowed."""
    from clinnlp.ner.precision import PRECISIONS
    from clinnlp.pipeline import check_options

    check_options(settings.ner, settings.device, settings.domain, settings.model)
    if settings.precision not in ("auto", *PRECISIONS):
        raise ConfigError(f"unknown precision {settings.precision!r}; allowed: auto, {', '.join(PRECISIONS)}")
    if settings.batch_tokens not in (None, AUTO_BATCH_TOKENS) and settings.batch_tokens < 64:
        raise ConfigError(f"--batch-tokens must be 0 (by device) or at least 64, not {settings.batch_tokens}")
    if settings.max_doc_bytes < 1:
        raise ConfigError(f"--max-doc-bytes must be positive, not {settings.max_doc_bytes}")


def precheck(doc: SourceDoc, max_doc_bytes: int) -> Result | None:
    """The error result for a document that must not reach the pipeline, else None."""
    if doc.error is not None or doc.text is None:
        return Result(doc, error=doc.error or "no text")
    size = len(doc.text.encode("utf-8", "surrogatepass"))
    if size > max_doc_bytes:
        return Result(doc, error=f"{size} bytes is larger than the {max_doc_bytes}-byte limit per document (--max-doc-bytes)")
    if not doc.text.strip():
        return Result(doc, error="the note is empty")
    return None


def _make_doc(nlp: Any, doc: SourceDoc) -> Any:
    spacy_doc = nlp.make_doc(doc.text)
    spacy_doc._.clinnlp_doc_id = doc.doc_id
    return spacy_doc


def annotate(
    nlp: Any, docs: Sequence[SourceDoc], max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES, batch_size: int = 64
) -> list[Result]:
    """Results for ``docs`` in their order; the pipeline sees them longest first.

    ``batch_size`` documents at a time go through the components (spaCy's default, 1000,
    would keep a whole window of parsed Docs alive at once and make peak memory follow it).
    """
    results: list[Result | None] = [precheck(d, max_doc_bytes) for d in docs]
    todo = sorted((i for i, r in enumerate(results) if r is None), key=lambda i: -len(docs[i].text or ""))
    try:
        pipeline = nlp.pipe((_make_doc(nlp, docs[i]) for i in todo), batch_size=batch_size)
        for i, spacy_doc in zip(todo, pipeline):
            results[i] = Result(docs[i], record=spacy_doc._.clinnlp_record, tokens=len(spacy_doc))
    except (ConfigError, ResourceError):
        raise  # a missing model or a bad setting fails every document: stop, don't log each
    except Exception:  # noqa: BLE001  one bad document must not sink its window: isolate it
        for i in todo:
            if results[i] is not None:
                continue
            try:
                spacy_doc = nlp(_make_doc(nlp, docs[i]))
                results[i] = Result(docs[i], record=spacy_doc._.clinnlp_record, tokens=len(spacy_doc))
            except (ConfigError, ResourceError):
                raise
            except Exception as exc:  # noqa: BLE001
                results[i] = Result(docs[i], error=f"pipeline failed: {type(exc).__name__}: {str(exc)[:200]}")
    return [r for r in results if r is not None]


def windows(docs: Iterable[SourceDoc], size: int) -> Iterator[list[SourceDoc]]:
    """Consecutive lists of ``size`` documents (the last one shorter)."""
    window: list[SourceDoc] = []
    for doc in docs:
        window.append(doc)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


# -- worker processes -------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_init(settings: dict[str, Any]) -> None:
    engine = EngineSettings(**settings)
    _WORKER["settings"] = engine
    _WORKER["nlp"] = engine.load()


def _worker_run(docs: list[SourceDoc]) -> list[Result]:
    settings: EngineSettings = _WORKER["settings"]
    results = annotate(_WORKER["nlp"], docs, settings.max_doc_bytes, settings.docs_per_batch)
    gc.collect()
    return results


def run_windows(
    settings: EngineSettings, batches: Iterable[list[SourceDoc]], workers: int = 1
) -> Iterator[list[Result]]:
    """Annotate windows in order: in this process, or in ``workers`` processes with at most
    two windows in flight per worker (bounded memory, input order kept)."""
    if workers <= 1:
        nlp = settings.load()
        for batch in batches:
            yield annotate(nlp, batch, settings.max_doc_bytes, settings.docs_per_batch)
            gc.collect()  # parsed Docs hold reference cycles: free them per window, not per GC threshold
        return
    threads = settings.torch_threads or max(1, (os.cpu_count() or 1) // workers)
    payload = asdict(EngineSettings(**{**asdict(settings), "torch_threads": threads}))
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(payload,)) as pool:
        pending: list[Future[list[Result]]] = []
        for batch in batches:
            pending.append(pool.submit(_worker_run, batch))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
