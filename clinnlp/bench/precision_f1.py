"""Does a faster numeric mode cost accuracy? Strict F1 per precision on a dev split.

Runs the packaged model's head (``bc5cdr`` by default) on the dev documents of its corpus
in fp32, bf16 and int8, and prints strict micro precision/recall/F1 per mode and the
difference to fp32 (the ``clinnlp batch --precision`` choice should stay within 0.5 F1
points of fp32). Dev split only: nothing is tuned on test.

    python -m clinnlp.bench.precision_f1 --docs 200
"""

from __future__ import annotations

import argparse
import time

from clinnlp.model_registry import resolve_model
from clinnlp.ner.precision import PRECISIONS
from clinnlp.ner.predict import NerPredictor
from clinnlp.readers.registry import load_corpus


def strict_f1(gold: set[tuple[int, int, int, str]], pred: set[tuple[int, int, int, str]]) -> dict[str, float]:
    tp = len(gold & pred)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="bc5cdr", help="corpus card whose dev split is scored (default bc5cdr)")
    parser.add_argument("--head", default="bc5cdr", help="model head to score (default bc5cdr)")
    parser.add_argument("--docs", type=int, default=200, help="first N dev documents (0 = all)")
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    args = parser.parse_args(argv)

    docs = load_corpus(args.corpus, "dev")
    docs = docs[: args.docs] if args.docs else docs
    texts = [d.text for d in docs]
    gold = {(i, s.start, s.end, s.label) for i, d in enumerate(docs) for s in d.spans}
    path = resolve_model(None).path
    baseline = None
    print(f"{args.corpus} dev, {len(docs)} documents, {len(gold)} gold mentions, head {args.head}")
    for precision in args.precisions.split(","):
        predictor = NerPredictor(path, device="cpu", precision=precision, batch_tokens=16384)
        started = time.perf_counter()
        spans = predictor.predict(texts, args.head)
        seconds = time.perf_counter() - started
        pred = {(i, s.start, s.end, s.label) for i, doc in enumerate(spans) for s in doc}
        score = strict_f1(gold, pred)
        baseline = baseline if baseline is not None else score["f1"]
        print(
            f"{precision:>5}: P {100 * score['precision']:.2f}  R {100 * score['recall']:.2f}  "
            f"F1 {100 * score['f1']:.2f}  (vs first: {100 * (score['f1'] - baseline):+.2f})  {seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
