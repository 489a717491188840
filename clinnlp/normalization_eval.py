"""Score concept normalisation (linking) on corpora whose gold mentions carry concept ids.

Two measures, as in the BioCreative V CDR task (which normalises to MeSH):

* **mention accuracy given gold spans** - each gold mention's text is linked with its
  gold type (mapped to a clinnlp label) and the long forms of the abbreviations its
  document defines; it is correct when the predicted top id of the system is among the
  gold ids (a composite mention has several). Gold mentions without an id (``-1``) are
  skipped and counted in ``skipped``;
* **document-level concept precision/recall/F1** - per type, the set of ``(document,
  id)`` pairs of the full pipeline's predicted mentions against the gold set, micro over
  documents (the CDR DNER measure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clinnlp.readers.types import GoldDocument

#: Concepts of one document: (type, id) pairs.
Concepts = set[tuple[str, str]]


def gold_concepts(doc: GoldDocument) -> Concepts:
    """Every (type, id) the document's gold mentions name."""
    return {(span.label, cid) for span in doc.spans for cid in span.concept_ids}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def document_concept_scores(
    gold: Mapping[str, Concepts], predicted: Mapping[str, Concepts], types: Iterable[str]
) -> dict[str, dict[str, float]]:
    """Per type precision, recall, f1 (and tp, fp, fn) over (document, id) pairs."""
    result: dict[str, dict[str, float]] = {}
    for type_ in types:
        tp = fp = fn = 0
        for doc_id in set(gold) | set(predicted):
            g = {cid for t, cid in gold.get(doc_id, set()) if t == type_}
            p = {cid for t, cid in predicted.get(doc_id, set()) if t == type_}
            tp += len(g & p)
            fp += len(p - g)
            fn += len(g - p)
        result[type_] = {**_prf(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn}
    return result


def mention_accuracy(
    cases: Iterable[tuple[str, tuple[str, ...], str | None]],
) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Accuracy per type of ``(type, gold ids, predicted id)`` cases; empty gold ids are skipped.

    Returns ``({type: accuracy}, {type: {"correct", "scored", "skipped"}})``."""
    counts: dict[str, dict[str, int]] = {}
    for type_, gold_ids, predicted in cases:
        c = counts.setdefault(type_, {"correct": 0, "scored": 0, "skipped": 0})
        if not gold_ids:
            c["skipped"] += 1
            continue
        c["scored"] += 1
        c["correct"] += int(predicted is not None and predicted in gold_ids)
    accuracy = {t: round(c["correct"] / c["scored"], 4) if c["scored"] else 0.0 for t, c in sorted(counts.items())}
    return accuracy, counts


def gold_span_cases(
    docs: Sequence[GoldDocument],
    abbreviations: Sequence[dict[str, str]],
    linker: Any,
    label_of: Mapping[str, str],
    system: str,
) -> list[tuple[str, tuple[str, ...], str | None]]:
    """Link every gold mention of a mapped type; ``(gold type, gold ids, predicted top id)``."""
    from clinnlp.components.linker import long_forms_for

    cases = []
    for doc, abbrevs in zip(docs, abbreviations):
        linker.prefetch(
            [(s.text, label_of[s.label], long_forms_for(s.text, abbrevs)) for s in doc.spans if s.concept_ids and label_of.get(s.label)]
        )
        for span in doc.spans:
            label = label_of.get(span.label)
            if not label:
                continue
            predicted = None
            if span.concept_ids:
                predicted = linker.top_code(span.text, label, system, long_forms_for(span.text, abbrevs))
            cases.append((span.label, span.concept_ids, predicted))
    return cases


def has_concept_ids(docs: Sequence[GoldDocument]) -> bool:
    """Whether the gold mentions carry concept ids (PubTator's MeSH ids)."""
    return any(span.concept_ids for doc in docs for span in doc.spans)
