"""Per-attribute precision/recall/F1 of predicted assertions against gold, per mention.

Each assertion attribute is a binary label on a mention, so each is scored on its own:
a true positive is a mention both gold and prediction flag, ``support`` is the number
of gold positives. Kept apart from :mod:`clinnlp.metrics` (span matching) because the
mentions here are given: the pairs are already aligned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: The attributes scored, as in :class:`clinnlp.schema.Assertion`.
ASSERTION_ATTRIBUTES = ("negated", "uncertain", "historical", "hypothetical", "family")


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, 0.0 when there is nothing to divide by."""
    return numerator / denominator if denominator else 0.0


def score_assertions(
    pairs: Iterable[tuple[Mapping[str, bool], Mapping[str, bool]]],
) -> dict[str, dict[str, float | int]]:
    """Score ``(gold, predicted)`` assertion dicts, one pair per mention.

    Returns, per attribute, ``precision``, ``recall``, ``f1`` (0.0 on an empty
    denominator), ``support`` (gold positives), plus the raw ``tp``/``fp``/``fn`` so
    results over several corpora can be summed. A missing key counts as False.
    """
    counts = {attr: [0, 0, 0] for attr in ASSERTION_ATTRIBUTES}  # tp, fp, fn
    for gold, predicted in pairs:
        for attr, tp_fp_fn in counts.items():
            g, p = bool(gold.get(attr, False)), bool(predicted.get(attr, False))
            if g and p:
                tp_fp_fn[0] += 1
            elif p:
                tp_fp_fn[1] += 1
            elif g:
                tp_fp_fn[2] += 1
    scores: dict[str, dict[str, float | int]] = {}
    for attr, (tp, fp, fn) in counts.items():
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        scores[attr] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
    return scores


__all__ = ["ASSERTION_ATTRIBUTES", "score_assertions"]
