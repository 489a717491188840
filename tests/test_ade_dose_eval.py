"""ADE drug-dose pair evaluation (clinnlp.attribute_eval.evaluate_ade_dose_pairs), on hand-made sentences."""

from __future__ import annotations

import pytest
from spacy.language import Language

import clinnlp
from clinnlp.attribute_eval import evaluate_ade_dose_pairs, format_ade, nearest_drug
from clinnlp.readers.types import GoldDocument, GoldSpan


@pytest.fixture(scope="module")
def nlp() -> Language:
    return clinnlp.load(ner="lexicon")


def span(text: str, mention: str, label: str, nth: int = 0) -> GoldSpan:
    at = -1
    for _ in range(nth + 1):
        at = text.index(mention, at + 1)
    return GoldSpan(at, at + len(mention), label, mention)


def doc(doc_id: str, text: str, *spans: tuple[str, str]) -> GoldDocument:
    return GoldDocument(doc_id, text, tuple(sorted((span(text, m, lab) for m, lab in spans), key=lambda s: s.key)))


def test_nearest_drug_prefers_closest_then_the_one_before() -> None:
    text = "Aspirin 100 mg and warfarin 5 mg were given."
    aspirin, warfarin = span(text, "Aspirin", "Drug"), span(text, "warfarin", "Drug")
    assert nearest_drug(span(text, "100 mg", "Dose"), [aspirin, warfarin]) == aspirin
    assert nearest_drug(span(text, "5 mg", "Dose"), [aspirin, warfarin]) == warfarin
    assert nearest_drug(span(text, "5 mg", "Dose"), []) is None


def test_scores_pairs_strict_lenient_and_precision(nlp: Language) -> None:
    docs = [
        # two drugs, each with its dose: both pairs found exactly
        doc("a", "She received methotrexate 7.5 mg weekly and prednisone 40 mg daily.",
            ("methotrexate", "Drug"), ("7.5 mg weekly", "Dose"), ("prednisone", "Drug"), ("40 mg", "Dose")),
        # no Dose spans: not scored at all
        doc("b", "Hepatitis developed after isoniazid.", ("isoniazid", "Drug"), ("Hepatitis", "Adverse_effect")),
        # a qualitative dose, linked as the drug's dose
        doc("c", "Toxicity followed high-dose cytarabine.", ("cytarabine", "Drug"), ("high-dose", "Dose")),
    ]
    result = evaluate_ade_dose_pairs(docs, nlp)
    assert result["sentences"] == 2
    assert result["pairs"] == 3
    assert result["unaligned"] == 0
    # "7.5 mg weekly" overlaps the linked "7.5 mg" (lenient) but is not equal to it (strict)
    assert result["lenient"]["correct"] == 3
    assert result["strict"]["correct"] == 2
    assert result["lenient"]["accuracy"] == result["lenient"]["recall"] == 1.0
    assert result["strict"]["accuracy"] == pytest.approx(2 / 3)
    assert result["predicted"] == 3
    assert result["lenient"]["precision"] == 1.0
    assert result["strict"]["precision"] == pytest.approx(2 / 3)
    assert "gold pairs 3" in format_ade(result)


def test_dose_linked_to_the_wrong_drug_is_missed(nlp: Language) -> None:
    # the gold Dose is paired with the nearest Drug (warfarin, right after it), but the
    # linker gives "10 mg" to aspirin (the text after a drug is its own): a miss and a false link
    text = "Aspirin tablets 10 mg warfarin were stopped."
    gold = GoldDocument("d", text, (span(text, "Aspirin", "Drug"), span(text, "10 mg", "Dose"),
                                     span(text, "warfarin", "Drug")))
    result = evaluate_ade_dose_pairs([gold], nlp)
    assert result["pairs"] == 1
    assert result["lenient"]["correct"] == 0
    assert result["predicted"] == 1 and result["lenient"]["precision"] == 0.0


def test_empty_input(nlp: Language) -> None:
    result = evaluate_ade_dose_pairs([], nlp)
    assert result["pairs"] == 0 and result["strict"]["recall"] == 0.0 and result["strict"]["precision"] == 0.0
