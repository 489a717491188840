"""Scores the medication attribute finder against corpora that annotate doses, routes...

Corpora name and cut attributes differently, so a run takes a *mapping*:

* ``type_map``: clinnlp attribute type (``Dosage``, ``Route``, ``Frequency``,
  ``Duration``, ``Form``) -> the corpus's type; unmapped types are not scored;
* ``merge``: corpus type -> clinnlp types that are part of it when they follow it
  directly (only spaces and commas between). MACCROBAT annotates ``1 g daily`` and
  ``5 mg twice daily`` as one Dosage and keeps a Frequency only when no amount stands
  before it, so its mapping merges a Frequency right after a Dosage into the Dosage.

The mappings used for the shared corpora are :data:`CORPUS_MAPPINGS`:

* MACCROBAT: Dosage -> Dosage (absorbing a following Frequency), Frequency -> Frequency,
  Duration -> Duration, Route and Form -> Administration (it annotates ``oral``, ``i.v.``
  and also ``tablets``, ``injection``, ``infusion`` as Administration);
* PHEE: Dosage -> Dosage, Frequency -> Freq, Duration -> Duration, Route and Form ->
  Route (PHEE's Route holds ``injection``, ``infusion`` as well as ``intravenous``).

Run ``python -m clinnlp.attribute_eval [--split dev]`` for the figures on both corpora.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from clinnlp.components.medication_attributes import find_attribute_spans
from clinnlp.metrics import score_mentions
from clinnlp.readers.types import GoldDocument

Finder = Callable[[Doc], list[tuple[int, int, str]]]

#: Per corpus: (type_map, merge), as documented above.
CORPUS_MAPPINGS: dict[str, tuple[dict[str, str], dict[str, tuple[str, ...]]]] = {
    "maccrobat": (
        {"Dosage": "Dosage", "Frequency": "Frequency", "Duration": "Duration",
         "Route": "Administration", "Form": "Administration"},
        {"Dosage": ("Frequency",), "Administration": ("Route", "Form")},
    ),
    "phee": (
        {"Dosage": "Dosage", "Frequency": "Freq", "Duration": "Duration", "Route": "Route", "Form": "Route"},
        {"Route": ("Route", "Form")},
    ),
}

_JOIN = re.compile(r"[\s,]*")


def map_spans(
    text: str,
    spans: Sequence[tuple[int, int, str]],
    type_map: Mapping[str, str],
    merge: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[int, int, str]]:
    """Rename clinnlp attribute spans to corpus types, merging as the corpus cuts them."""
    merge = merge or {}
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


def evaluate_attributes(
    docs: Iterable[GoldDocument],
    nlp: Language,
    type_map: Mapping[str, str],
    merge: Mapping[str, Sequence[str]] | None = None,
    *,
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
        predicted = map_spans(gold.text, finder(doc), type_map, merge)
        examples.append((gold.doc_id, [s for s in gold.spans if s.label in types], predicted))
    result = score_mentions(examples, types=types)
    result["types"] = types
    return result


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
    args = parser.parse_args(argv)
    nlp = clinnlp.load(ner="lexicon")
    results: dict[str, Any] = {}
    for name in args.corpus or sorted(CORPUS_MAPPINGS):
        type_map, merge = CORPUS_MAPPINGS[name]
        docs = load_corpus(name, split=args.split)
        results[name] = evaluate_attributes(docs, nlp, type_map, merge)
        if not args.json:
            print(f"== {name} {args.split} ({results[name]['docs']} docs)")
            print(format_table(results[name]))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
