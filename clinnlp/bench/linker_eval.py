"""Linker-only measurements on a PubTator corpus: mention accuracy given gold spans, with and
without embedding re-ranking, and the accuracy of claimed codes per score band (how the
threshold is chosen).

    python -m clinnlp.bench.linker_eval --data ../shared/corpora/bc5cdr/pubtator/dev.pubtator
    python -m clinnlp.bench.linker_eval --data ../shared/corpora/bc5cdr/pubtator/train.pubtator --folds 5

Each gold mention with MeSH ids is linked with its type's clinnlp label (Chemical ->
MEDICATION, Disease -> DIAGNOSIS) and the long forms of the abbreviations scispaCy finds in
its abstract; correct when the top MeSH code is among the gold ids.

``--folds K`` is how the linker is tuned without touching dev: the documents (train) are
cut into K folds, and each fold is linked with a MeSH resource built from the other K - 1
(the packaged one, built from all of train, would have seen every train mention). Dev is
for the final figure only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinnlp.linking.linker import DEFAULT_THRESHOLD
from clinnlp.readers.registry import load_label_map
from clinnlp.readers.types import GoldDocument

BANDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def _abbreviations(texts: list[str]) -> list[dict[str, str]]:
    import spacy

    import clinnlp.components.abbreviations  # noqa: F401  registers the factory
    from clinnlp.components.linker import abbreviation_map

    nlp = spacy.blank("en")
    nlp.add_pipe("clinnlp_abbreviations")
    return [abbreviation_map(doc) for doc in nlp.pipe(texts)]


@dataclass
class _Tally:
    """Counts of one scoring setting, summed over folds."""

    correct: Counter[str] = field(default_factory=Counter)
    claimed: Counter[str] = field(default_factory=Counter)
    scored: Counter[str] = field(default_factory=Counter)
    bands: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    wrong: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _score(docs: Sequence[GoldDocument], abbreviations: Sequence[dict[str, str]], linker: Any, tally: _Tally) -> None:
    """Link every gold mention with ids of ``docs`` and add the outcome to ``tally``."""
    from clinnlp.components.linker import long_forms_for

    labels = load_label_map("bc5cdr").mapping
    started = time.perf_counter()
    for doc, abbrevs in zip(docs, abbreviations):
        mentions = [s for s in doc.spans if s.concept_ids and labels.get(s.label)]
        linker.prefetch([(s.text, labels[s.label], long_forms_for(s.text, abbrevs)) for s in mentions])
        for span in mentions:
            long_forms = long_forms_for(span.text, abbrevs)
            tally.scored[span.label] += 1
            codes = [c for c in linker.link(span.text, labels[span.label], long_forms) if c["system"] == "MeSH"]
            top = codes[0] if codes else None
            ok = top is not None and top["code"] in span.concept_ids
            tally.correct[span.label] += ok
            tally.claimed[span.label] += ok and top["score"] >= DEFAULT_THRESHOLD
            if top is not None:
                band = next(b for b in BANDS if top["score"] < b)
                tally.bands[f"{span.label} <{band:.1f}"][0] += ok
                tally.bands[f"{span.label} <{band:.1f}"][1] += 1
            if not ok:
                tally.wrong.append(
                    {"doc": doc.doc_id, "text": span.text, "type": span.label, "gold": span.concept_ids, "long": long_forms, "top": top}
                )
    tally.seconds += time.perf_counter() - started


def _folds(docs: Sequence[GoldDocument], k: int) -> list[tuple[list[GoldDocument], list[GoldDocument]]]:
    """(resource documents, held-out documents) for each of ``k`` interleaved folds."""
    return [([d for i, d in enumerate(docs) if i % k != f], [d for i, d in enumerate(docs) if i % k == f]) for f in range(k)]


def run(data: Path, errors: Path | None = None, weights: tuple[float, ...] = (1.0,), folds: int = 0) -> dict[str, Any]:
    """Accuracy per type with and without re-ranking, and per-band precision of the top code."""
    from clinnlp.lexicon.mesh import rows_from_docs, write_rows
    from clinnlp.linking.linker import Linker, TermIndex, term_index
    from clinnlp.readers.pubtator import read_pubtator

    docs = read_pubtator(data)
    abbreviations = dict(zip((d.doc_id for d in docs), _abbreviations([d.text for d in docs])))
    if folds:
        splits = []
        with tempfile.TemporaryDirectory() as tmp:
            for f, (rest, held) in enumerate(_folds(docs, folds)):
                path = Path(tmp) / f"mesh_fold{f}.tsv.gz"
                write_rows(rows_from_docs(rest), path)
                splits.append((TermIndex(mesh_path=str(path)), held))
    else:
        splits = [(term_index(), docs)]
    result: dict[str, Any] = {"docs": len(docs), "folds": folds}
    encoder = None
    for rerank, weight in [(False, 0.0), *((True, w) for w in weights)]:
        tally = _Tally()
        for index, held in splits:
            linker = Linker(index, threshold=0.0, rerank=rerank, encoder=encoder, embedding_weight=weight)
            _score(held, [abbreviations[d.doc_id] for d in held], linker, tally)
            if rerank:
                encoder = linker.encoder  # its cache makes the next folds and weights cheaper
        name = f"rerank_w{weight}" if rerank else "trigram_only"
        result[name] = {
            "accuracy": {t: round(tally.correct[t] / tally.scored[t], 4) for t in sorted(tally.scored)},
            # what `clinnlp evaluate` reports: codes under the pipeline's threshold abstain (count as wrong)
            f"accuracy_at_{DEFAULT_THRESHOLD}": {t: round(tally.claimed[t] / tally.scored[t], 4) for t in sorted(tally.scored)},
            "scored": dict(tally.scored),
            "seconds": round(tally.seconds, 1),
            "top_code_precision_by_score_band": {k: f"{v[0]}/{v[1]}" for k, v in sorted(tally.bands.items())},
        }
        if errors is not None:
            out = errors.with_name(f"{errors.stem}.{name}{errors.suffix}")
            out.write_text("\n".join(json.dumps(w) for w in tally.wrong) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Linker mention accuracy on gold spans (PubTator, MeSH)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--errors", type=Path, default=None, help="write the misses as JSON lines (one file per setting)")
    parser.add_argument("--weights", default="1.0", help="comma-separated embedding weights to try (default: 1.0); '' for none")
    parser.add_argument("--folds", type=int, default=0, help="cross-fold over --data (train): K folds, each linked with a resource built from the others")
    args = parser.parse_args()
    weights = tuple(float(w) for w in args.weights.split(",") if w)
    print(json.dumps(run(args.data, args.errors, weights, args.folds), indent=2))


if __name__ == "__main__":
    main()
