"""Linker-only measurements on a PubTator corpus: mention accuracy given gold spans, with and
without embedding re-ranking, and the accuracy of claimed codes per score band (how the
threshold is chosen).

    python -m clinnlp.bench.linker_eval --data ../shared/corpora/bc5cdr/pubtator/dev.pubtator

Each gold mention with MeSH ids is linked with its type's clinnlp label (Chemical ->
MEDICATION, Disease -> DIAGNOSIS) and the long forms of the abbreviations scispaCy finds in
its abstract; correct when the top MeSH code is among the gold ids. Run on dev only.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from clinnlp.readers.registry import load_label_map

BANDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def _abbreviations(texts: list[str]) -> list[dict[str, str]]:
    import spacy
    import scispacy.abbreviation  # noqa: F401

    from clinnlp.components.linker import abbreviation_map

    nlp = spacy.blank("en")
    nlp.add_pipe("abbreviation_detector")
    return [abbreviation_map(doc) for doc in nlp.pipe(texts)]


def run(data: Path, errors: Path | None = None, weights: tuple[float, ...] = (0.5,)) -> dict[str, Any]:
    """Accuracy per type with and without re-ranking, and per-band precision of the top code."""
    from clinnlp.components.linker import long_forms_for
    from clinnlp.linking.linker import Linker, term_index
    from clinnlp.readers.pubtator import read_pubtator

    docs = read_pubtator(data)
    labels = load_label_map("bc5cdr").mapping
    abbreviations = _abbreviations([d.text for d in docs])
    index = term_index()
    result: dict[str, Any] = {"docs": len(docs)}
    encoder = None
    for rerank, weight in [(False, 0.0), *((True, w) for w in weights)]:
        linker = Linker(index, threshold=0.0, rerank=rerank, encoder=encoder, embedding_weight=weight)
        correct: Counter[str] = Counter()
        scored: Counter[str] = Counter()
        bands: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        wrong: list[dict[str, Any]] = []
        started = time.perf_counter()
        for doc, abbrevs in zip(docs, abbreviations):
            linker.prefetch(
                [(s.text, labels[s.label], long_forms_for(s.text, abbrevs)) for s in doc.spans if s.concept_ids and labels.get(s.label)]
            )
            for span in doc.spans:
                label = labels.get(span.label)
                if label is None or not span.concept_ids:
                    continue
                scored[span.label] += 1
                codes = [c for c in linker.link(span.text, label, long_forms_for(span.text, abbrevs)) if c["system"] == "MeSH"]
                top = codes[0] if codes else None
                ok = top is not None and top["code"] in span.concept_ids
                correct[span.label] += ok
                if top is not None:
                    band = next(b for b in BANDS if top["score"] < b)
                    bands[f"{span.label} <{band:.1f}"][0] += ok
                    bands[f"{span.label} <{band:.1f}"][1] += 1
                if not ok and rerank:
                    wrong.append({"text": span.text, "type": span.label, "gold": span.concept_ids, "top": top})
        if rerank:
            encoder = linker.encoder  # its cache makes the next weights cheap (timings: first run only)
        name = f"rerank_w{weight}" if rerank else "trigram_only"
        result[name] = {
            "accuracy": {t: round(correct[t] / scored[t], 4) for t in sorted(scored)},
            "scored": dict(scored),
            "seconds": round(time.perf_counter() - started, 1),
            "top_code_precision_by_score_band": {k: f"{v[0]}/{v[1]}" for k, v in sorted(bands.items())},
        }
        if errors is not None and rerank:
            errors.write_text("\n".join(json.dumps(w) for w in wrong) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Linker mention accuracy on gold spans (PubTator, MeSH)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--errors", type=Path, default=None, help="write the misses as JSON lines here")
    parser.add_argument("--weights", default="0.5", help="comma-separated embedding weights to try (default: 0.5)")
    args = parser.parse_args()
    weights = tuple(float(w) for w in args.weights.split(","))
    print(json.dumps(run(args.data, args.errors, weights), indent=2))


if __name__ == "__main__":
    main()
