"""Mention-level scoring of predicted spans against gold spans, on character offsets.

Why by hand: seqeval and nervaluate score token tag sequences (nervaluate also takes
span lists, but its partial/type schemes are SemEval-2013's, not the overlap matching
below), while clinnlp compares character spans across tokenisations (a transformer's
word pieces, spaCy tokens, the gold corpus's own). Rebuilding tag sequences would tie
the score to one tokeniser and lose mentions that do not fall on its token boundaries.
The scoring itself is short and has no dependency.

Two views, each micro-averaged over all mentions and also given per type:

* **strict**: a prediction is a true positive when a gold mention has the same
  ``(start, end, type)``. Counts are over multisets, so a duplicated prediction is a
  false positive. This is the BC5CDR / NCBI-disease published metric.
* **lenient**: a prediction is a true positive when it overlaps (shares at least one
  character with) a gold mention of the same type. Each gold and each predicted mention
  is matched at most once, and tp is the largest possible number of such one-to-one
  pairs within a document and type (a maximum bipartite matching), so lenient tp is
  never below strict tp.

In both views ``fp = predictions - tp`` and ``fn = gold - tp``; precision, recall and F1
are 0.0 when their denominator is 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any, Protocol


class _HasSpan(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


SpanLike = tuple[int, int, str] | _HasSpan
Example = tuple[str, Iterable[SpanLike], Iterable[SpanLike]]  # doc_id, gold, predicted


def score_mentions(examples: Iterable[Example], *, types: Iterable[str] | None = None) -> dict[str, Any]:
    """Strict and lenient mention-level scores for ``(doc_id, gold spans, predicted spans)``.

    Spans are ``(start, end, type)`` tuples or objects with ``start``/``end``/``label``
    (such as :class:`clinnlp.readers.types.GoldSpan`). ``types`` restricts scoring to
    those types (gold and predicted spans of other types are dropped), e.g. a corpus's
    own evaluation types. Returns ``{"docs", "strict": {"micro", "by_type"}, "lenient": ...}``.
    """
    keep = set(types) if types is not None else None
    counts: dict[str, dict[str, Counter[str]]] = {
        "strict": defaultdict(Counter),
        "lenient": defaultdict(Counter),
    }
    docs = 0
    for _doc_id, gold, predicted in examples:
        docs += 1
        gold_by_type = _by_type(gold, keep)
        pred_by_type = _by_type(predicted, keep)
        for label in gold_by_type.keys() | pred_by_type.keys():
            g, p = gold_by_type.get(label, []), pred_by_type.get(label, [])
            strict_tp = sum((Counter(g) & Counter(p)).values())
            lenient_tp = _max_overlap_matching(g, p)
            for view, tp in (("strict", strict_tp), ("lenient", lenient_tp)):
                c = counts[view][label]
                c["tp"] += tp
                c["fp"] += len(p) - tp
                c["fn"] += len(g) - tp
    result: dict[str, Any] = {"docs": docs}
    for view in ("strict", "lenient"):
        by_type = {label: _prf(c) for label, c in sorted(counts[view].items())}
        total: Counter[str] = Counter()
        for c in counts[view].values():
            total.update(c)
        result[view] = {"micro": _prf(total), "by_type": by_type}
    return result


def _by_type(spans: Iterable[SpanLike], keep: set[str] | None) -> dict[str, list[tuple[int, int]]]:
    grouped: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for span in spans:
        if isinstance(span, tuple):
            start, end, label = span
        else:
            start, end, label = span.start, span.end, span.label
        if keep is None or label in keep:
            grouped[label].append((int(start), int(end)))
    return grouped


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def _max_overlap_matching(gold: list[tuple[int, int]], pred: list[tuple[int, int]]) -> int:
    """Size of a maximum one-to-one matching between overlapping gold and predicted spans."""
    candidates = [
        sorted((j for j, p in enumerate(pred) if _overlaps(g, p)), key=lambda j: (pred[j] != g, pred[j]))
        for g in gold
    ]
    owner: dict[int, int] = {}  # predicted index -> gold index

    def augment(i: int, seen: set[int]) -> bool:
        # Kuhn's augmenting path; exact matches are tried first, so ties keep them together
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(gold)) if candidates[i])


def _prf(c: Counter[str]) -> dict[str, float | int]:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
