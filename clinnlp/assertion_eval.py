"""Score the context rules on gold mentions of an assertion-annotated corpus (MACCROBAT).

Why on gold mentions: it measures the assertion rules alone, not NER errors. Each
document's raw text goes through the pipeline's layout components (sections, sentence
splitter), the gold spans become spaCy spans, and :func:`assert_spans` labels them.

Gold mapping for BRAT ``POLARITY`` (MACCROBAT), decided here:

* negated = ``NEG``. ``MAYBE_NEG`` is not counted as negated: its mentions are
  hedged contrasts ("rather than metastasis", "partial improvement in his symptoms")
  rather than statements that the finding is absent;
* uncertain = ``UNCERTAIN``, ``MAYBE_POS`` or ``MAYBE_NEG``;
* historical, hypothetical and family are not annotated there, so they are not scored.

Run ``python -m clinnlp.assertion_eval --split dev`` for the figures and a few errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc

from clinnlp.assertion_metrics import score_assertions
from clinnlp.components.context import assert_spans
from clinnlp.readers.types import GoldDocument, GoldSpan

#: The pipeline components run before the rules: they set sections and sentences.
LAYOUT_COMPONENTS = ("clinnlp_sections", "clinnlp_sentences")
#: Attributes the MACCROBAT POLARITY annotation can score.
SCORED_ATTRIBUTES = ("negated", "uncertain")
DEFAULT_TYPES = ("Disease_disorder", "Sign_symptom")

#: The ``assert_spans`` aliases under which resolved findings are historical only (not the
#: default: the rules file makes them negated and historical, as MACCROBAT does).
RESOLVED_AS_HISTORICAL: dict[str, list[str]] = {"resolved": ["historical", "resolved"]}

NEGATED_VALUES = frozenset({"NEG"})
UNCERTAIN_VALUES = frozenset({"UNCERTAIN", "MAYBE_POS", "MAYBE_NEG"})


@dataclass(frozen=True)
class AssertionCase:
    """One gold mention with its gold and predicted assertions and its sentence, for error reading."""

    doc_id: str
    span: GoldSpan
    gold: dict[str, bool]
    predicted: dict[str, bool]
    sentence: str


def gold_assertion(span: GoldSpan) -> dict[str, bool]:
    """The gold assertion of a BRAT mention from its ``POLARITY`` attribute (merged values are ``A|B``)."""
    values = set(span.attributes.get("POLARITY", "").split("|")) - {""}
    return {"negated": bool(values & NEGATED_VALUES), "uncertain": bool(values & UNCERTAIN_VALUES)}


def layout_doc(text: str, nlp: Language) -> Doc:
    """A doc of ``text`` with only the layout components of ``nlp`` run (no NER)."""
    doc = nlp.make_doc(text)
    for name in LAYOUT_COMPONENTS:
        if name in nlp.pipe_names:
            doc = nlp.get_pipe(name)(doc)
    return doc


def assertion_cases(
    docs: Iterable[GoldDocument],
    nlp: Language,
    types: Sequence[str] | None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[AssertionCase]:
    """Each gold mention of the given ``types`` (None: all) with gold and predicted assertions.

    ``aliases`` is passed to :func:`assert_spans` (e.g. ``RESOLVED_AS_HISTORICAL``).
    """
    wanted = set(types) if types else None
    for gold_doc in docs:
        mentions = [s for s in gold_doc.spans if wanted is None or s.label in wanted]
        if not mentions:
            continue
        doc = layout_doc(gold_doc.text, nlp)
        pairs = [(m, doc.char_span(m.start, m.end, alignment_mode="expand")) for m in mentions]
        pairs = [(m, s) for m, s in pairs if s is not None and len(s)]
        predicted = assert_spans(doc, [s for _, s in pairs], aliases)
        for (mention, span), assertion in zip(pairs, predicted, strict=True):
            yield AssertionCase(
                doc_id=gold_doc.doc_id,
                span=mention,
                gold=gold_assertion(mention),
                predicted={a: assertion[a] for a in SCORED_ATTRIBUTES},
                sentence=span.sent.text if doc.has_annotation("SENT_START") else span.text,
            )


def evaluate_assertions_on_gold(
    docs: Iterable[GoldDocument],
    nlp: Language,
    types: Sequence[str] | None = DEFAULT_TYPES,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, dict[str, float | int]], int]:
    """Score negated/uncertain on the gold mentions of ``types`` (None: all); returns (metrics, mentions scored).

    The default rules score "resolved" findings negated (and historical), as MACCROBAT
    does; pass ``aliases=RESOLVED_AS_HISTORICAL`` to see them as historical only.
    """
    cases = list(assertion_cases(docs, nlp, types, aliases))
    metrics = score_assertions((c.gold, c.predicted) for c in cases)
    return {a: metrics[a] for a in SCORED_ATTRIBUTES}, len(cases)


def _print_metrics(title: str, metrics: dict[str, dict[str, float | int]], n: int) -> None:
    """One line per attribute."""
    print(f"{title} ({n} mentions)")
    for attr, m in metrics.items():
        print(f"  {attr:<10} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f} support={m['support']} (tp={m['tp']} fp={m['fp']} fn={m['fn']})")


def main(argv: Sequence[str] | None = None) -> None:
    """Print MACCROBAT assertion figures for one split, and some errors."""
    import clinnlp
    from clinnlp.readers import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--errors", type=int, default=10, help="errors to print per attribute")
    args = parser.parse_args(argv)
    nlp = clinnlp.load(ner="lexicon")
    docs = load_corpus("maccrobat", split=args.split)
    for view, aliases in (("resolved = negated (default)", None), ("resolved = historical only", RESOLVED_AS_HISTORICAL)):
        for title, types in (("Disease_disorder+Sign_symptom", DEFAULT_TYPES), ("all types", None)):
            metrics, n = evaluate_assertions_on_gold(docs, nlp, types, aliases)
            _print_metrics(f"maccrobat {args.split}, {title}, {view}", metrics, n)
    cases = list(assertion_cases(docs, nlp, DEFAULT_TYPES))
    for attr in SCORED_ATTRIBUTES:
        for kind, want_gold in (("missed", True), ("false", False)):
            wrong = [c for c in cases if c.gold[attr] == want_gold and c.predicted[attr] != want_gold]
            print(f"\n{attr}: {kind} ({len(wrong)})")
            for case in wrong[: args.errors]:
                s = case.span
                print(f"  [{case.doc_id}] {s.text!r} ({s.attributes.get('POLARITY', '-')}) in: {' '.join(case.sentence.split())[:220]}")


if __name__ == "__main__":
    main()
