"""Clinical sentence splitting: one test per layout rule, with the exact sentences expected."""

from __future__ import annotations

import time

import pytest
import spacy
from spacy.language import Language

import clinnlp.components.sections  # noqa: F401  registers the factories
import clinnlp.components.sentences  # noqa: F401


@pytest.fixture(scope="module")
def nlp() -> Language:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("clinnlp_sections")
    pipeline.add_pipe("clinnlp_sentences")
    return pipeline


def sents(nlp: Language, text: str) -> list[str]:
    """Sentence texts without the whitespace that layout leaves at their ends."""
    return [s.text.strip() for s in nlp(text).sents]


def test_every_token_has_a_sentence_flag(nlp: Language) -> None:
    doc = nlp("HPI: cough.\n\nPlan: rest. Fluids!")
    assert all(token.is_sent_start is not None for token in doc)
    assert doc[0].is_sent_start is True
    assert doc.has_annotation("SENT_START")


def test_blank_line_is_a_boundary(nlp: Language) -> None:
    assert sents(nlp, "Patient doing well\n\nfollow up in clinic") == [
        "Patient doing well",
        "follow up in clinic",
    ]


def test_heading_is_its_own_sentence(nlp: Language) -> None:
    text = "Seen today. HISTORY OF PRESENT ILLNESS: 65 yo man with cough.\nPlan:\nRest and fluids."
    assert sents(nlp, text) == [
        "Seen today.",
        "HISTORY OF PRESENT ILLNESS:",
        "65 yo man with cough.",
        "Plan:",
        "Rest and fluids.",
    ]


def test_sentence_offsets_are_exact(nlp: Language) -> None:
    text = "HPI: cough x 3 days. No fever.\n"
    doc = nlp(text)
    assert [(s.start_char, s.end_char) for s in doc.sents] == [(0, 4), (5, 20), (21, 31)]
    assert doc.text == text


@pytest.mark.parametrize("marker", ["-", "*", "\u2022", "1.", "1)", "#1"])
def test_each_list_item_starts_a_sentence(nlp: Language, marker: str) -> None:
    text = f"Medications:\n{marker} aspirin 81 mg daily\n{marker} lisinopril 10 mg daily\n"
    assert sents(nlp, text) == [
        "Medications:",
        f"{marker} aspirin 81 mg daily",
        f"{marker} lisinopril 10 mg daily",
    ]


def test_vitals_line_stays_one_sentence(nlp: Language) -> None:
    text = "Vitals: BP 140/90, HR 88, T 37.1 C, SpO2 96% on RA\nHe looks well."
    assert sents(nlp, text) == [
        "Vitals:",
        "BP 140/90, HR 88, T 37.1 C, SpO2 96% on RA",
        "He looks well.",
    ]


def test_hard_wrapped_prose_is_not_split(nlp: Language) -> None:
    text = (
        "Mr. Jones is a 67 year old man with a history of heart failure and\n"
        "COPD who presented with three days of worsening dyspnea on exertion,\n"
        "orthopnea and leg swelling. He was seen by Dr. Lee last week, who\n"
        "increased his furosemide.\n"
    )
    assert sents(nlp, text) == [
        "Mr. Jones is a 67 year old man with a history of heart failure and\n"
        "COPD who presented with three days of worsening dyspnea on exertion,\n"
        "orthopnea and leg swelling.",
        "He was seen by Dr. Lee last week, who\nincreased his furosemide.",
    ]


def test_period_space_capital_is_a_boundary(nlp: Language) -> None:
    assert sents(nlp, "Lungs are clear. Heart sounds normal. 2 views obtained.") == [
        "Lungs are clear.",
        "Heart sounds normal.",
        "2 views obtained.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Seen by Dr. Smith today.",
        "Mr. Jones and Mrs. Jones and Ms. Smith came.",
        "Comorbidities, e.g. CHF and COPD, are stable.",
        "Chronic lung disease, i.e. COPD, is stable.",
        "Aspirin vs. Clopidogrel was discussed.",
        "Weight approx. 80 kg today.",
        "Metoprolol 25 mg b.i.d. Lisinopril 10 mg q.d. Tylenol p.r.n. pain.",
        "Furosemide 40 mg p.o. Daily weights.",
        "Given at 8 a.m. Tuesday and 6 p.m. Wednesday.",
        "Admitted to St. Mary's hospital.",
        "Placed in room No. 5 on the ward.",
        "Potassium 3.5 mEq/L and creatinine 1.2 mg/dL today.",
    ],
)
def test_abbreviations_and_decimals_do_not_split(nlp: Language, text: str) -> None:
    assert sents(nlp, text) == [text]


def test_unit_ms_is_not_the_title_ms(nlp: Language) -> None:
    assert sents(nlp, "QRS duration 90 ms. QT interval normal.") == [
        "QRS duration 90 ms.",
        "QT interval normal.",
    ]


def test_abbreviation_before_a_sentence_starter_splits(nlp: Language) -> None:
    assert sents(nlp, "Furosemide 40 mg b.i.d. Despite this he gained 2 kg.") == [
        "Furosemide 40 mg b.i.d.",
        "Despite this he gained 2 kg.",
    ]


def test_question_and_exclamation_marks_end_sentences(nlp: Language) -> None:
    assert sents(nlp, "Any chest pain? denies. Feels great! Going home.") == [
        "Any chest pain?",
        "denies.",
        "Feels great!",
        "Going home.",
    ]


def test_detached_question_mark_is_not_a_boundary(nlp: Language) -> None:
    assert sents(nlp, "CXR shows ? pneumonia in the RLL.") == ["CXR shows ? pneumonia in the RLL."]


def test_short_title_and_list_lines_are_boundaries(nlp: Language) -> None:
    text = "DISCHARGE SUMMARY\nAdmitted for chest pain\nAspirin 81 mg daily\nMetoprolol 25 mg twice daily\n"
    assert sents(nlp, text) == [
        "DISCHARGE SUMMARY",
        "Admitted for chest pain",
        "Aspirin 81 mg daily",
        "Metoprolol 25 mg twice daily",
    ]


def test_line_ending_with_a_continuation_word_is_not_a_boundary(nlp: Language) -> None:
    assert sents(nlp, "History of hypertension and\nCOPD on inhalers.") == [
        "History of hypertension and\nCOPD on inhalers."
    ]


def test_line_ending_with_colon_is_a_boundary(nlp: Language) -> None:
    assert sents(nlp, "He was given the following:\nAspirin and heparin.") == [
        "He was given the following:",
        "Aspirin and heparin.",
    ]


def test_subheading_starts_a_sentence_and_keeps_its_text(nlp: Language) -> None:
    text = "Physical Exam:\nGeneral: NAD\nLungs: Clear.  Heart: RRR."
    assert sents(nlp, text) == ["Physical Exam:", "General: NAD", "Lungs: Clear.", "Heart: RRR."]


def test_mtsamples_flattened_layout(nlp: Language) -> None:
    text = (
        "SUBJECTIVE:,  She has allergies.,MEDICATIONS: , Allegra.,OBJECTIVE:,Vitals:  Weight 130 pounds."
        ",Lungs:  Clear.,PLAN:,1.  Try Zyrtec.,2.  Samples of Nasonex given."
    )
    assert sents(nlp, text) == [
        "SUBJECTIVE:,",
        "She has allergies.,",
        "MEDICATIONS: ,",
        "Allegra.,",
        "OBJECTIVE:,",
        "Vitals:  Weight 130 pounds.,",
        "Lungs:  Clear.,",
        "PLAN:,",
        "1.  Try Zyrtec.,",
        "2.  Samples of Nasonex given.",
    ]


def test_flattened_tokens_are_split_at_boundaries(nlp: Language) -> None:
    text = "Allegra.,ALLERGIES: , None."
    doc = nlp(text)
    assert doc.text == text
    assert "ALLERGIES" in [t.text for t in doc]
    assert [s.text.strip() for s in doc.sents] == ["Allegra.,", "ALLERGIES: ,", "None."]


def test_flattened_comma_line_break_before_capital(nlp: Language) -> None:
    text = "Tests given:,Boston Naming Test,Trail Making Test"
    assert sents(nlp, text) == ["Tests given:,", "Boston Naming Test,", "Trail Making Test"]


def test_works_without_the_section_component() -> None:
    alone = spacy.blank("en")
    alone.add_pipe("clinnlp_sentences")
    doc = alone("HPI: cough.\nPlan: rest.")
    assert [s.text.strip() for s in doc.sents] == ["HPI:", "cough.", "Plan:", "rest."]


def test_empty_and_whitespace_docs(nlp: Language) -> None:
    assert list(nlp("").sents) == []
    assert len(list(nlp("   \n\n  ").sents)) == 1


def test_a_long_note_is_split_in_a_few_milliseconds(nlp: Language) -> None:
    block = (
        "HPI:\nMr. Smith is a 70 yo man with CHF and COPD who presents with\n"
        "dyspnea. He takes furosemide 40 mg p.o. b.i.d. and metoprolol.\n"
        "Vitals: BP 140/90, HR 88, T 37.1 C, SpO2 96% on RA\n"
        "Meds:\n- aspirin 81 mg daily\n- lisinopril 10 mg daily\n\n"
    )
    text = block * (3000 // len(block) + 1)
    doc = nlp.make_doc(text)
    nlp.get_pipe("clinnlp_sections")(doc)
    splitter = nlp.get_pipe("clinnlp_sentences")
    started = time.perf_counter()
    splitter(doc)
    elapsed = time.perf_counter() - started
    assert len(list(doc.sents)) > 20
    assert elapsed < 0.05  # a few ms in practice; generous bound for slow CI machines
