"""Scores the medication attribute finder against corpora that annotate doses, routes...

Corpora name and cut attributes differently, so a run takes a *mapping*:

* ``type_map``: clinnlp attribute type (``Dosage``, ``Route``, ``Frequency``,
  ``Duration``, ``Form``) -> the corpus's type; unmapped types are not scored;
* ``merge``: corpus type -> clinnlp types that are part of it when they follow it
  directly (only spaces and commas between). MACCROBAT annotates ``1 g daily`` and
  ``5 mg twice daily`` as one Dosage and keeps a Frequency only when no amount stands
  before it, so its mapping merges a Frequency right after a Dosage into the Dosage;
* ``extend_left``: corpus type -> a pattern of words that the corpus keeps in the span
  when they stand right before it. clinnlp's Duration is the measure alone (``6 weeks``);
  MACCROBAT keeps a time preposition other than ``for`` and a qualifier in it
  (``over 6 weeks``, ``over the past 10 years``, ``approximately 5–6 years``,
  ``more than 1 year``; ``for`` and ``the`` stay out), PHEE does not.

The mappings used for the shared corpora are :data:`CORPUS_MAPPINGS`:

* MACCROBAT: Dosage -> Dosage (absorbing a following Frequency), Frequency -> Frequency,
  Duration -> Duration, Route and Form -> Administration (it annotates ``oral``, ``i.v.``
  and also ``tablets``, ``injection``, ``infusion`` as Administration);
* PHEE: Dosage -> Dosage, Frequency -> Freq, Duration -> Duration, Route and Form ->
  Route (PHEE's Route holds ``injection``, ``infusion`` as well as ``intravenous``).

Run ``python -m clinnlp.attribute_eval [--split dev]`` for the figures on both corpora.

:func:`evaluate_ade_dose_pairs` scores the *linking* on the ADE corpus's drug-dose
pairs (printed after the tables; ``--no-ade`` skips it). The ADE reader keeps the
Drug and Dose mentions of a sentence but not which Drug each Dose was paired with
(spans are deduplicated per sentence, with no pair id), so each gold Dose is paired
with the nearest gold Drug of its sentence (smallest character gap; on a tie the Drug
before the Dose). The gold Drugs are given as the MEDICATION mentions, so only the
linking and the dose finding are measured, not the NER.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from clinnlp.medications.finder import find_attribute_spans
from clinnlp.medications.linking import link_attributes
from clinnlp.metrics import score_mentions
from clinnlp.readers.types import GoldDocument, GoldSpan

Finder = Callable[[Doc], list[tuple[int, int, str]]]

@dataclass(frozen=True)
class CorpusMapping:
    """How one corpus names and cuts the attribute spans (see the module docstring)."""

    type_map: dict[str, str]
    merge: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extend_left: dict[str, re.Pattern[str]] = field(default_factory=dict)


#: MACCROBAT's words kept before a Duration measure, one or more of them in a row.
_MACCROBAT_DURATION_LEAD = re.compile(
    r"(?<![A-Za-z])(?:(?:over|during)(?:\s+the)?(?:\s+(?:past|previous|last|next|following|preceding|first))?"
    r"|since|past|following|preceding|approximately|about|more\s+than|less\s+than|at\s+least|almost|nearly"
    r"|further|up\s+to)\s+$",
    re.IGNORECASE,
)

#: The mappings for the shared corpora, as documented above.
CORPUS_MAPPINGS: dict[str, CorpusMapping] = {
    "maccrobat": CorpusMapping(
        {"Dosage": "Dosage", "Frequency": "Frequency", "Duration": "Duration",
         "Route": "Administration", "Form": "Administration"},
        {"Dosage": ("Frequency",), "Administration": ("Route", "Form")},
        {"Duration": _MACCROBAT_DURATION_LEAD},
    ),
    "phee": CorpusMapping(
        {"Dosage": "Dosage", "Frequency": "Freq", "Duration": "Duration", "Route": "Route", "Form": "Route"},
        {"Route": ("Route", "Form")},
    ),
}

_JOIN = re.compile(r"[\s,]*")
_LEAD_WINDOW = 40  # characters looked at before a span for extend_left words


def map_spans(
    text: str,
    spans: Sequence[tuple[int, int, str]],
    type_map: Mapping[str, str],
    merge: Mapping[str, Sequence[str]] | None = None,
    extend_left: Mapping[str, re.Pattern[str]] | None = None,
) -> list[tuple[int, int, str]]:
    """Rename clinnlp attribute spans to corpus types, merging and extending as the corpus cuts them."""
    merge = merge or {}
    spans = [_extend_left(text, span, type_map, extend_left or {}) for span in spans]
    out: list[tuple[int, int, str]] = []
    absorb_type: str | None = None  # clinnlp type of the last span kept (for merging)
    for start, end, kind in sorted(spans):
        if out and absorb_type is not None and kind in merge.get(type_map.get(absorb_type, ""), ()):
            prev_start, prev_end, prev_label = out[-1]
            if _JOIN.fullmatch(text[prev_end:start]):
                out[-1] = (prev_start, end, prev_label)
                continue
        if kind in type_map:
            out.append((start, end, type_map[kind]))
            absorb_type = kind
        else:
            absorb_type = None
    return out


def _extend_left(
    text: str, span: tuple[int, int, str], type_map: Mapping[str, str], extend_left: Mapping[str, re.Pattern[str]]
) -> tuple[int, int, str]:
    """Move a span's start back over the words its corpus keeps before it, as often as they repeat."""
    start, end, kind = span
    pattern = extend_left.get(type_map.get(kind, ""))
    while pattern is not None:
        found = pattern.search(text, max(0, start - _LEAD_WINDOW), start)
        if found is None or found.start() == start:
            break
        start = found.start()
    return (start, end, kind)


def evaluate_attributes(
    docs: Iterable[GoldDocument],
    nlp: Language,
    type_map: Mapping[str, str],
    merge: Mapping[str, Sequence[str]] | None = None,
    *,
    extend_left: Mapping[str, re.Pattern[str]] | None = None,
    finder: Finder = find_attribute_spans,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Strict and lenient P/R/F1 of ``finder`` against the gold spans of the mapped types.

    Each gold document's raw text goes through ``nlp`` (the attribute finder itself
    needs only the text; the pipeline is run so a finder that links attributes to drugs
    can be scored the same way). Returns :func:`clinnlp.metrics.score_mentions`' result
    plus ``types`` (the corpus types scored).
    """
    docs = list(docs)
    types = sorted(set(type_map.values()))
    examples = []
    for gold, doc in zip(docs, nlp.pipe((d.text for d in docs), batch_size=batch_size)):
        predicted = map_spans(gold.text, finder(doc), type_map, merge, extend_left)
        examples.append((gold.doc_id, [s for s in gold.spans if s.label in types], predicted))
    result = score_mentions(examples, types=types)
    result["types"] = types
    return result


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Characters between two ranges (0 when they touch or overlap)."""
    return max(0, max(a[0], b[0]) - min(a[1], b[1]))


def nearest_drug(dose: GoldSpan, drugs: Sequence[GoldSpan]) -> GoldSpan | None:
    """The Drug a Dose is paired with: the nearest one, the one before it on a tie."""
    if not drugs:
        return None
    return min(drugs, key=lambda d: (_gap((d.start, d.end), (dose.start, dose.end)), d.start > dose.start, d.start))


def _locate_text(text: str, found: str, near: Span) -> tuple[int, int] | None:
    """Where ``found`` (an attribute's text) stands in ``near``'s sentence, nearest to ``near``."""
    if not found:
        return None
    sent = near.sent if near.doc.has_annotation("SENT_START") else near.doc[:]
    starts, at = [], text.find(found, sent.start_char, sent.end_char)
    while at != -1:
        starts.append(at)
        at = text.find(found, at + 1, sent.end_char)
    if not starts:
        return None
    best = min(starts, key=lambda s: (_gap((s, s + len(found)), (near.start_char, near.end_char)), s))
    return (best, best + len(found))


def _ade_doc(gold: GoldDocument, nlp: Language) -> tuple[Doc, dict[tuple[int, int], Span]]:
    """The layout-only doc with the gold Drugs as MEDICATION mentions, attributes linked.

    Returns the doc and, for each gold Drug's (start, end), the entity standing for it
    (after overlapping Drugs are reduced by :func:`spacy.util.filter_spans`).
    """
    doc = nlp.make_doc(gold.text)
    for name in ("clinnlp_sections", "clinnlp_sentences"):
        doc = nlp.get_pipe(name)(doc)
    drugs = [s for s in gold.spans if s.label == "Drug"]
    candidates = []
    for drug in drugs:
        span = doc.char_span(drug.start, drug.end, label="MEDICATION", alignment_mode="expand")
        if span is not None:
            candidates.append(span)
    doc.ents = filter_spans(candidates)
    link_attributes(doc)
    ents = list(doc.ents)
    owner: dict[tuple[int, int], Span] = {}
    for drug in drugs:
        hits = [e for e in ents if e.start_char < drug.end and drug.start < e.end_char]
        if hits:
            owner[(drug.start, drug.end)] = hits[0]
    return doc, owner


def _predicted_doses(ent: Span) -> list[tuple[int, int]]:
    """The character ranges of the dose and strength linked to ``ent`` (distinct)."""
    fields = ent._.clinnlp_medication or {}
    out: list[tuple[int, int]] = []
    for key in ("dose", "strength"):
        value = fields.get(key)
        if isinstance(value, Mapping) and value.get("text"):
            where = _locate_text(ent.doc.text, str(value["text"]), ent)
            if where is not None and where not in out:
                out.append(where)
    return out


def evaluate_ade_dose_pairs(docs: Iterable[GoldDocument], nlp: Language) -> dict[str, Any]:
    """Score the drug-dose links on ADE sentences that have Dose spans.

    Each gold Dose is paired with its nearest gold Drug (:func:`nearest_drug`; the ADE
    reader does not keep the pairing). The gold Drugs become the doc's MEDICATION
    mentions and :func:`clinnlp.medications.linking.link_attributes` links attributes to
    them; a gold pair is found when the drug's linked ``dose`` or ``strength`` overlaps
    the gold Dose (lenient) or equals it (strict). Recall (= accuracy over gold pairs)
    counts gold pairs found; precision counts predicted links, one per drug with a
    linked dose/strength, correct when it matches any gold Dose paired with that drug.
    Returns ``sentences``, ``pairs``, ``predicted`` and, per view, ``correct``/``recall``/
    ``precision``/``accuracy`` (``accuracy`` == ``recall``), plus ``unaligned`` (gold
    pairs whose drug had no entity in the doc; counted as missed).
    """
    counts = {"sentences": 0, "pairs": 0, "predicted": 0, "unaligned": 0}
    found = {"strict": 0, "lenient": 0}
    right = {"strict": 0, "lenient": 0}
    for gold in docs:
        doses = [s for s in gold.spans if s.label == "Dose"]
        drugs = [s for s in gold.spans if s.label == "Drug"]
        if not doses:
            continue
        counts["sentences"] += 1
        doc, owner = _ade_doc(gold, nlp)
        # gold doses per entity (by its char range)
        gold_by_ent: dict[tuple[int, int], list[tuple[int, int]]] = {}
        predicted = {(e.start_char, e.end_char): _predicted_doses(e) for e in doc.ents}
        for dose in doses:
            counts["pairs"] += 1
            drug = nearest_drug(dose, drugs)
            ent = owner.get((drug.start, drug.end)) if drug is not None else None
            if ent is None:
                counts["unaligned"] += 1
                continue
            key = (ent.start_char, ent.end_char)
            gold_by_ent.setdefault(key, []).append((dose.start, dose.end))
            preds = predicted.get(key, [])
            if any(p == (dose.start, dose.end) for p in preds):
                found["strict"] += 1
            if any(_overlaps(p, (dose.start, dose.end)) for p in preds):
                found["lenient"] += 1
        for key, preds in predicted.items():
            if not preds:
                continue
            counts["predicted"] += 1
            golds = gold_by_ent.get(key, [])
            if any(p == g for p in preds for g in golds):
                right["strict"] += 1
            if any(_overlaps(p, g) for p in preds for g in golds):
                right["lenient"] += 1
    result: dict[str, Any] = dict(counts)
    for view in ("strict", "lenient"):
        recall = found[view] / counts["pairs"] if counts["pairs"] else 0.0
        precision = right[view] / counts["predicted"] if counts["predicted"] else 0.0
        result[view] = {
            "correct": found[view], "correct_predicted": right[view],
            "recall": recall, "accuracy": recall, "precision": precision,
        }
    return result


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def format_ade(result: Mapping[str, Any]) -> str:
    """Plain-text lines for :func:`evaluate_ade_dose_pairs`' result."""
    lines = [f"sentences {result['sentences']}  gold pairs {result['pairs']}  predicted links {result['predicted']}"
             f"  unaligned {result['unaligned']}",
             f"{'view':<8} {'acc(R)':>7} {'P':>6} {'found':>6} {'right':>6}"]
    for view in ("strict", "lenient"):
        m = result[view]
        lines.append(f"{view:<8} {m['accuracy']:7.3f} {m['precision']:6.3f} {m['correct']:6d} {m['correct_predicted']:6d}")
    return "\n".join(lines)


def format_table(result: Mapping[str, Any]) -> str:
    """A plain-text table: one row per type and view, then the micro averages."""
    lines = [f"{'view':<8} {'type':<15} {'P':>6} {'R':>6} {'F1':>6} {'tp':>5} {'fp':>5} {'fn':>5}"]
    for view in ("strict", "lenient"):
        rows = [*result[view]["by_type"].items(), ("(micro)", result[view]["micro"])]
        for label, m in rows:
            lines.append(f"{view:<8} {label:<15} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}"
                         f" {m['tp']:5d} {m['fp']:5d} {m['fn']:5d}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the attribute scores on MACCROBAT and PHEE (``--split train|dev``)."""
    import clinnlp
    from clinnlp.readers import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("train", "dev"))
    parser.add_argument("--corpus", action="append", choices=sorted(CORPUS_MAPPINGS))
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    parser.add_argument("--no-ade", action="store_true", help="skip the ADE drug-dose pair evaluation")
    args = parser.parse_args(argv)
    nlp = clinnlp.load(ner="lexicon")
    results: dict[str, Any] = {}
    for name in args.corpus or sorted(CORPUS_MAPPINGS):
        mapping = CORPUS_MAPPINGS[name]
        docs = load_corpus(name, split=args.split)
        results[name] = evaluate_attributes(docs, nlp, mapping.type_map, mapping.merge,
                                            extend_left=mapping.extend_left)
        if not args.json:
            print(f"== {name} {args.split} ({results[name]['docs']} docs)")
            print(format_table(results[name]))
    if not args.no_ade:
        ade_docs = load_corpus("ade", split=args.split)
        results["ade_dose_pairs"] = evaluate_ade_dose_pairs(ade_docs, nlp)
        if not args.json:
            print(f"== ade {args.split} drug-dose pairs (nearest gold Drug per Dose; gold Drugs as MEDICATION)")
            print(format_ade(results["ade_dose_pairs"]))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
