"""``clinnlp batch --engine ray``: the same extraction on Ray Data, for more than one machine.

The driver streams the input in chunks (constant memory), skips done ids exactly as the
local engine does, and hands each chunk to ``Dataset.map_batches`` with an actor pool: one
actor per worker, each loading the pipeline once (one model per actor, a GPU per actor when
the cluster has GPUs and ``--device`` allows it). Records come back to the driver, are put
back in input order by a sequence number and written by the same sink, errors file and
summary as a local run, so resume works the same and the output is identical.

Ray is optional: ``pip install 'clinnlp[ray]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from clinnlp.batch.engine import EngineSettings, Result, annotate, check_settings, windows
from clinnlp.batch.protocols import SourceDoc
from clinnlp.batch.registry import open_sink
from clinnlp.batch.run import (
    BatchJob,
    BatchSummary,
    _pending,
    _settings_dict,
    _Writer,
    check_paths,
    drive,
    with_input_domain,
)
from clinnlp.errors import ConfigError
from clinnlp.schema import Record

#: Documents handed to Ray at a time: bounds the driver's memory.
CHUNK_DOCS = 2048


class RecordActor:
    """A Ray Data actor: one pipeline (one model) per actor, reused for every batch."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = EngineSettings(**settings)
        self.nlp = self.settings.load()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        docs = [
            SourceDoc(str(doc_id), None if text is None else str(text))
            for doc_id, text in zip(batch["doc_id"], batch["text"])
        ]
        results = annotate(self.nlp, docs, self.settings.max_doc_bytes)
        return {
            "seq": list(batch["seq"]),
            "record": [r.record.model_dump_json() if r.record is not None else None for r in results],
            "error": [r.error for r in results],
            "tokens": [r.tokens for r in results],
        }


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'clinnlp[ray]'") from None
    return ray


def run_batch_ray(job: BatchJob, *, address: str | None = None, actors: int | None = None, num_cpus: int | None = None) -> BatchSummary:
    """Run ``job`` on Ray (``address`` None starts a local Ray); same outputs as :func:`run_batch`."""
    ray = _ray()
    job = with_input_domain(job)
    check_settings(job.settings)
    check_paths(job)
    started_ray = False
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)  # fmt: skip
        started_ray = True
    try:
        return _run(ray, job, actors)
    finally:
        if started_ray:
            ray.shutdown()


def _run(ray: Any, job: BatchJob, actors: int | None) -> BatchSummary:
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and job.settings.device in ("auto", "cuda")
    settings = EngineSettings(**{**asdict(job.settings), "device": "cuda" if use_gpu else "cpu", "torch_threads": 1 if not use_gpu else None})
    pool = actors or (gpus if use_gpu else max(1, int(resources.get("CPU", 1))))
    sink = open_sink(job.out)
    summary = BatchSummary(output=job.out, engine=f"ray ({pool} actors{', GPU' if use_gpu else ''})", settings=_settings_dict(job))

    def feed(writer: _Writer, skip: Mapping[str, str | None]) -> None:
        for chunk in windows(_pending(job, skip, summary, lambda _: None), CHUNK_DOCS):
            rows = [{"seq": i, "doc_id": d.doc_id, "text": d.text if d.error is None else None} for i, d in enumerate(chunk)]
            dataset = ray.data.from_items(rows).map_batches(
                RecordActor,
                fn_constructor_kwargs={"settings": asdict(settings)},
                batch_size=64,
                concurrency=pool,
                num_gpus=1 if use_gpu else None,
                num_cpus=None if use_gpu else 1,
            )
            out: dict[int, dict[str, Any]] = {row["seq"]: row for row in dataset.iter_rows()}
            results = []
            for i, doc in enumerate(chunk):
                row = out[i]
                if doc.error is not None:
                    results.append(Result(doc, error=doc.error))
                elif row["record"] is not None:
                    results.append(Result(doc, record=Record.model_validate_json(row["record"]), tokens=int(row["tokens"])))
                else:
                    results.append(Result(doc, error=row["error"]))
            writer.put(results)
            if writer.aborted:
                break

    return drive(job, sink, summary, feed)

__all__ = ["RecordActor", "run_batch_ray"]
