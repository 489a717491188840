"""Throughput benchmark: ``clinnlp batch`` vs the Hugging Face pipeline vs medspaCy's rules.

On the same notes (the first N MTSamples transcriptions, or BC5CDR abstracts) and the same
model (the packaged NER; the baseline is its merged encoder + one head exported as a plain
``AutoModelForTokenClassification``), each tool runs in its own process so peak RSS is its
own; model loading is not timed. Printed per tool: documents/s, tokens/s (MiniLM subword
tokens of the notes, the same count for every tool) and peak RSS; then the ratios, and
whether the transformer's mentions are identical to the pipeline's on a check set (notes
that fit one model window), with clinnlp decoding each word's argmax as the pipeline does
(``argmax``: a check that batching, padding and windows change nothing) and with its default
constrained decoding (``viterbi``, which differs on purpose: it keeps BIO valid). The last line reads
``ratio_vs_hf_pipeline: X`` (clinnlp documents/s over the baseline's).

    python -m clinnlp.bench.batch_speed --notes 200                  # CPU (make bench)
    python -m clinnlp.bench.batch_speed --notes 2000 --device cuda   # GPU (make bench-gpu)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEAD = "bc5cdr"  # the head whose mentions are compared (Chemical, Disease)


def load_notes(corpus: str, count: int, root: Path) -> list[dict[str, str]]:
    """``{"id", "text"}`` for the first ``count`` notes of MTSamples or BC5CDR (dev)."""
    notes: list[dict[str, str]] = []
    if corpus == "mtsamples":
        with (root / "mtsamples" / "mtsamples.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                obj = json.loads(line)
                if (obj.get("text") or "").strip():
                    notes.append({"id": str(obj["id"]), "text": obj["text"]})
                if len(notes) >= count:
                    break
    else:
        from clinnlp.readers.pubtator import iter_pubtator

        for doc in iter_pubtator(root / "bc5cdr" / "pubtator" / "dev.pubtator"):
            notes.append({"id": doc.doc_id, "text": doc.text})
            if len(notes) >= count:
                break
    return notes


class GpuSampler:
    """Mean GPU utilisation (nvidia-smi, every 0.5 s) and peak torch GPU memory while running."""

    def __init__(self, device: str) -> None:
        self.active = device.startswith("cuda")
        self.samples: list[float] = []
        self._stop = False
        self._thread: Any = None

    def __enter__(self) -> GpuSampler:
        if self.active:
            import threading

            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"]
        while not self._stop:
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.strip()
                self.samples.append(float(out.splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return
            time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=6)

    def report(self) -> dict[str, Any]:
        if not self.active:
            return {}
        import torch

        util = sum(self.samples) / len(self.samples) if self.samples else None
        return {"gpu_util_mean": util, "gpu_mem_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- one tool per process -------------------------------------------------------------


def run_clinnlp(
    notes_path: Path, check_path: Path, device: str, precision: str, batch_tokens: int, ner: str, workers: int = 1
) -> dict[str, Any]:
    from clinnlp.batch.engine import EngineSettings
    from clinnlp.batch.run import BatchJob, run_batch
    from clinnlp.components.transformer_ner import _predictor

    settings = EngineSettings(ner=ner, device=device, precision=precision, batch_tokens=batch_tokens)
    nlp = settings.load()  # not timed: building the pipeline
    # not timed either: the models load lazily on the first document (as the baseline's
    # pipeline does its warm-up call), so one note goes through first
    nlp(json.loads(notes_path.read_text(encoding="utf-8").splitlines()[0])["text"])
    with tempfile.TemporaryDirectory() as tmp, GpuSampler(device) as gpu:
        job = BatchJob(inputs=[str(notes_path)], out=str(Path(tmp) / "out.jsonl"), settings=settings, workers=workers)
        summary = run_batch(job)
    result: dict[str, Any] = {"documents": summary.documents, "seconds": summary.seconds, "errors": summary.errors}
    result.update(gpu.report())
    mentions = summary.mentions
    result["mentions"] = mentions.get("diagnoses", 0) + mentions.get("medications", 0) + mentions.get("findings", 0)
    if ner != "lexicon":
        ner_pipe = nlp.get_pipe("clinnlp_transformer_ner")
        predictor = _predictor(str(ner_pipe.info.path), ner_pipe.device, ner_pipe.precision, ner_pipe.batch_tokens)
        texts = [json.loads(line)["text"] for line in check_path.read_text(encoding="utf-8").splitlines()]
        for decoding, constrained in (("argmax", False), ("viterbi", True)):
            spans = predictor.predict_heads(texts, [HEAD], constrained=constrained)[HEAD]
            result[f"check_spans_{decoding}"] = [[[s.start, s.end, s.label] for s in doc] for doc in spans]
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def run_hf(notes_path: Path, check_path: Path, model_dir: Path, device: str, batch_size: int) -> dict[str, Any]:
    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    texts = [json.loads(line)["text"] for line in notes_path.read_text(encoding="utf-8").splitlines()]
    dev = 0 if device == "cuda" else -1
    dtype = torch.bfloat16 if device == "cuda" else None
    pipe = pipeline("token-classification", model=str(model_dir), aggregation_strategy="simple", stride=64, device=dev, dtype=dtype)
    pipe(texts[0])  # warm-up, not timed
    with GpuSampler(device) as gpu:
        started = time.perf_counter()
        outputs = pipe(texts, batch_size=batch_size)
        seconds = time.perf_counter() - started
    result: dict[str, Any] = {"documents": len(texts), "seconds": seconds, "mentions": sum(len(o) for o in outputs)}
    result.update(gpu.report())
    check = [json.loads(line)["text"] for line in check_path.read_text(encoding="utf-8").splitlines()]
    for strategy in ("simple", "first"):
        tagger = pipeline("token-classification", model=str(model_dir), aggregation_strategy=strategy, stride=64, device=dev)
        result[f"check_spans_{strategy}"] = [[[e["start"], e["end"], e["entity_group"]] for e in doc] for doc in tagger(check)]
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


# -- orchestration --------------------------------------------------------------------


def _child(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "clinnlp.bench.batch_speed", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _agreement(a: list[list[list[Any]]], b: list[list[list[Any]]]) -> dict[str, Any]:
    sa = {(i, *s) for i, doc in enumerate(a) for s in doc}
    sb = {(i, *s) for i, doc in enumerate(b) for s in doc}
    same = len(sa & sb)
    return {
        "clinnlp": len(sa),
        "hf": len(sb),
        "same": same,
        "identical": sa == sb,
        "docs_identical": sum(1 for x, y in zip(a, b) if sorted(map(tuple, x)) == sorted(map(tuple, y))),
        "docs": len(a),
    }


def _lexicon_rules(path: Path) -> int:
    """clinnlp's lexicon surfaces as medspaCy literal rules (category = clinnlp label)."""
    import gzip

    from clinnlp.lexicon.store import RESOURCE_NAME

    lexicon = Path(__file__).resolve().parent.parent / "resources" / RESOURCE_NAME
    seen: set[str] = set()
    with gzip.open(lexicon, "rt", encoding="utf-8") as handle, path.open("w", encoding="utf-8") as out:
        for line in handle:
            if line.startswith(("#", "key\t")):
                continue
            cols = line.rstrip("\n").split("\t")
            key = cols[0]
            if key in seen or len(key) < 3:
                continue
            seen.add(key)
            out.write(json.dumps({"literal": cols[1], "category": cols[2]}) + "\n")
    return len(seen)


def _token_count(texts: list[str]) -> int:
    from clinnlp.model_registry import resolve_model
    from clinnlp.ner.model import NerModelConfig, load_tokenizer, resolve_base

    info = resolve_model(None)
    config = NerModelConfig.from_json((info.path / "config.json").read_text(encoding="utf-8"), "config.json")
    tokenizer = load_tokenizer(resolve_base(config.base).location)
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=200, help="how many notes (default 200)")
    parser.add_argument("--corpus", choices=("mtsamples", "bc5cdr"), default="mtsamples")
    parser.add_argument("--root", type=Path, default=None, help="shared corpora folder (default $CLINNLP_CORPORA or ../shared/corpora)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto", help="clinnlp precision: auto, fp32, bf16, int8 (comma-separated to compare)")
    parser.add_argument("--batch-tokens", type=int, default=0, help="clinnlp batch --batch-tokens (0: by device)")
    parser.add_argument("--ner", default="transformer", help="clinnlp NER back-end (transformer: the model plus the rule components)")
    parser.add_argument("--workers", type=int, default=1, help="clinnlp batch --workers (pipeline processes; on a GPU several keep it fed)")
    parser.add_argument("--hf-batch-size", type=int, default=1, help="the pipeline's batch_size (its default is 1)")
    parser.add_argument("--check-notes", type=int, default=50, help="size of the mention check set")
    parser.add_argument("--medspacy-venv", default=".venv-medspacy", help="medspaCy's venv (created if missing; '' skips medspaCy)")
    parser.add_argument("--step", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.step:  # a child process: one tool
        kind, notes_path, check_path, *rest = args.step
        if kind == "clinnlp":
            device, precision, batch_tokens, ner, workers = rest
            result = run_clinnlp(Path(notes_path), Path(check_path), device, precision, int(batch_tokens), ner, int(workers))
        else:
            model_dir, device, batch_size = rest
            result = run_hf(Path(notes_path), Path(check_path), Path(model_dir), device, int(batch_size))
        print(json.dumps(result))
        return 0

    from clinnlp.bench.hf_export import export_token_classifier
    from clinnlp.model_registry import resolve_model
    from clinnlp.readers.registry import default_root

    root = args.root or default_root()
    notes = load_notes(args.corpus, args.notes, root)
    texts = [n["text"] for n in notes]
    tokens = _token_count(texts)
    with tempfile.TemporaryDirectory(prefix="clinnlp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        notes_path, check_path = tmp / "notes.jsonl", tmp / "check.jsonl"
        notes_path.write_text("".join(json.dumps(n) + "\n" for n in notes), encoding="utf-8")
        # the check set: notes that fit one 256-token window, so only decoding can differ
        check = [n for n in load_notes("bc5cdr", 400, root) if len(n["text"]) < 700][: args.check_notes]
        check_path.write_text("".join(json.dumps(n) + "\n" for n in check), encoding="utf-8")
        model_dir = export_token_classifier(resolve_model(None).path, HEAD, tmp / "hf-model")
        print(f"{len(notes)} {args.corpus} notes, {tokens:,} subword tokens; device {args.device}; "
              f"check set {len(check)} BC5CDR abstracts; torch threads {os.cpu_count()}", flush=True)  # fmt: skip

        rows: dict[str, dict[str, Any]] = {}
        rows["hf_pipeline"] = _child(["--step", "hf", str(notes_path), str(check_path), str(model_dir), args.device, str(args.hf_batch_size)])
        for precision in args.precision.split(","):
            step = ["--step", "clinnlp", str(notes_path), str(check_path), args.device, precision, str(args.batch_tokens), args.ner, str(args.workers)]
            rows[f"clinnlp_batch[{precision}]"] = _child(step)
        if args.medspacy_venv:
            from clinnlp.bench.context_vs_medspacy import ensure_medspacy_venv

            python = ensure_medspacy_venv(Path(args.medspacy_venv))
            rules = tmp / "rules.jsonl"
            _lexicon_rules(rules)
            runner = Path(__file__).with_name("medspacy_batch_runner.py")
            proc = subprocess.run([str(python), str(runner), str(notes_path), str(rules)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"medspaCy failed:\n{proc.stderr[-3000:]}")
            rows["medspacy_rules"] = json.loads(proc.stdout.strip().splitlines()[-1])

    gpu = args.device.startswith("cuda")
    extra = f"{'GPU util %':>12}{'GPU mem MB':>12}" if gpu else ""
    print(f"\n{'tool':<26}{'docs/s':>10}{'tokens/s':>12}{'peak RSS MB':>13}{'mentions':>10}{extra}")
    for name, row in rows.items():
        row["docs_per_s"] = row["documents"] / row["seconds"]
        line = f"{name:<26}{row['docs_per_s']:>10.2f}{tokens / row['seconds']:>12,.0f}{row['peak_rss_mb']:>13,.0f}{row['mentions']:>10}"
        if gpu and "gpu_mem_peak_mb" in row:
            util = row.get("gpu_util_mean")
            line += f"{'n/a' if util is None else f'{util:.0f}':>12}{row['gpu_mem_peak_mb']:>12,.0f}"
        print(line)
    base = rows["hf_pipeline"]
    print()
    for name, row in rows.items():
        for decoding in ("argmax", "viterbi"):
            if not name.startswith("clinnlp") or f"check_spans_{decoding}" not in row:
                continue
            for strategy in ("simple", "first"):
                agree = _agreement(row[f"check_spans_{decoding}"], base[f"check_spans_{strategy}"])
                print(f"mentions {name} ({decoding}) vs HF aggregation={strategy}: {agree['same']}/{agree['clinnlp']} clinnlp, "
                      f"{agree['same']}/{agree['hf']} HF, identical docs {agree['docs_identical']}/{agree['docs']}, "
                      f"identical={agree['identical']}")  # fmt: skip
    for name, row in rows.items():
        if name != "hf_pipeline":
            print(f"{name} / hf_pipeline documents/s: {row['docs_per_s'] / base['docs_per_s']:.2f}x")
    clinnlp_rows = [r for n, r in rows.items() if n.startswith("clinnlp")]
    print(f"ratio_vs_hf_pipeline: {clinnlp_rows[0]['docs_per_s'] / base['docs_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
