"""Section detection: headings found, canonical names, offsets, and the false positives avoided."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

import clinnlp.components.sections  # noqa: F401  registers the factory
from clinnlp.components.sections import (
    HEADING_SPANS_KEY,
    SUBHEADING_SPANS_KEY,
    find_headings,
    section_at,
)
from clinnlp.schema import Section


@pytest.fixture(scope="module")
def nlp() -> Language:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("clinnlp_sections")
    return pipeline


def sections(nlp: Language, text: str) -> list[tuple[str, int, int]]:
    return [(s.name, s.start, s.end) for s in nlp(text)._.clinnlp_sections]


def names(nlp: Language, text: str) -> list[str]:
    return [s.name for s in nlp(text)._.clinnlp_sections]


NOTE = (
    "Patient seen in clinic.\n"
    "Chief Complaint: chest pain\n"
    "HPI: 65M with 2 days of chest pain.\n"
    "PMH: HTN, DM2\n"
    "Meds:\n"
    "- aspirin 81 mg daily\n"
    "Allergies: NKDA\n"
    "A/P: NSTEMI. Admit.\n"
)


def test_sections_names_and_offsets(nlp: Language) -> None:
    starts = [NOTE.index(h) for h in ("Chief Complaint:", "HPI:", "PMH:", "Meds:", "Allergies:", "A/P:")]
    expected_names = [
        "chief_complaint",
        "history_of_present_illness",
        "past_medical_history",
        "medications",
        "allergies",
        "assessment_and_plan",
    ]
    ends = [*starts[1:], len(NOTE)]
    assert sections(nlp, NOTE) == list(zip(expected_names, starts, ends))


def test_sections_are_schema_sections(nlp: Language) -> None:
    found = nlp(NOTE)._.clinnlp_sections
    assert all(isinstance(s, Section) for s in found)


def test_text_before_first_heading_has_no_section(nlp: Language) -> None:
    doc = nlp(NOTE)
    assert doc._.clinnlp_sections[0].start == NOTE.index("Chief")
    assert section_at(doc._.clinnlp_sections, 0) is None


def test_no_headings_gives_empty_list(nlp: Language) -> None:
    assert nlp("Patient is doing well. Continue current therapy.")._.clinnlp_sections == []


@pytest.mark.parametrize(
    ("heading", "canonical"),
    [
        ("Chief Complaint", "chief_complaint"),
        ("CC", "chief_complaint"),
        ("History of Present Illness", "history_of_present_illness"),
        ("HPI", "history_of_present_illness"),
        ("Past Medical History", "past_medical_history"),
        ("PMH", "past_medical_history"),
        ("PSH", "past_surgical_history"),
        ("Past Surgical History", "past_surgical_history"),
        ("Medications", "medications"),
        ("Meds", "medications"),
        ("Home medications", "medications"),
        ("Current Medications", "medications"),
        ("Discharge Meds", "discharge_medications"),
        ("Discharge Medications", "discharge_medications"),
        ("Admission Medications", "admission_medications"),
        ("Allergies", "allergies"),
        ("FH", "family_history"),
        ("Family History", "family_history"),
        ("SH", "social_history"),
        ("Social History", "social_history"),
        ("ROS", "review_of_systems"),
        ("Review of Systems", "review_of_systems"),
        ("PE", "physical_exam"),
        ("Exam", "physical_exam"),
        ("Physical Examination", "physical_exam"),
        ("Vital Signs", "vital_signs"),
        ("Vitals", "vital_signs"),
        ("Labs", "labs"),
        ("Laboratory data", "labs"),
        ("Imaging", "imaging"),
        ("Radiology", "imaging"),
        ("Hospital Course", "hospital_course"),
        ("ED Course", "hospital_course"),
        ("Assessment", "assessment"),
        ("Plan", "plan"),
        ("A/P", "assessment_and_plan"),
        ("A&P", "assessment_and_plan"),
        ("A & P", "assessment_and_plan"),
        ("Assessment and Plan", "assessment_and_plan"),
        ("Impression/Plan", "assessment_and_plan"),
        ("Discharge Diagnoses", "diagnoses"),
        ("Admission Diagnosis", "diagnoses"),
        ("Final Diagnosis", "diagnoses"),
        ("Postoperative Diagnosis", "diagnoses"),
        ("Procedures", "procedures"),
        ("Procedure Performed", "procedures"),
        ("Impression", "impression"),
        ("Disposition", "disposition"),
        ("Follow-up", "follow_up"),
        ("Follow up", "follow_up"),
        ("Discharge Instructions", "instructions"),
        # combined headings: named by their first known part
        ("PAST MEDICAL HISTORY/SURGERIES/HOSPITALIZATIONS", "past_medical_history"),
        ("PROCEDURES AND IMMUNIZATIONS", "procedures"),
        ("DISCHARGE INSTRUCTIONS/MEDICATIONS", "instructions"),
        ("MEDICAL DECISION MAKING", "assessment"),
        # family and social history together: a section of its own, with no family assertion
        ("FAMILY HISTORY/SOCIAL HISTORY", "family_and_social_history"),
        ("Family/Social History", "family_and_social_history"),
    ],
)
def test_heading_variants(nlp: Language, heading: str, canonical: str) -> None:
    text = f"Seen today.\n{heading}: details here.\n"
    assert sections(nlp, text) == [(canonical, text.index(heading), len(text))]


@pytest.mark.parametrize("heading", ["HISTORY OF PRESENT ILLNESS", "history of present illness", "Hpi"])
def test_line_start_heading_is_case_insensitive(nlp: Language, heading: str) -> None:
    assert names(nlp, f"{heading}: cough for a week.") == ["history_of_present_illness"]


def test_heading_without_colon_at_end_of_line(nlp: Language) -> None:
    text = "Assessment and Plan\nAdmit for diuresis.\nDischarge Diagnoses\nCHF\n"
    assert sections(nlp, text) == [
        ("assessment_and_plan", 0, text.index("Discharge")),
        ("diagnoses", text.index("Discharge"), len(text)),
    ]


def test_numbered_and_indented_headings(nlp: Language) -> None:
    text = "Note\n  1. Allergies: none\n  2) Medications: aspirin\n"
    assert sections(nlp, text) == [
        ("allergies", text.index("1."), text.index("2)")),
        ("medications", text.index("2)"), len(text)),
    ]


def test_capital_headings_anywhere_mtsamples_style(nlp: Language) -> None:
    text = (
        "SUBJECTIVE:,  She has a cough.,MEDICATIONS: , Allegra.,ALLERGIES:,  None."
        "  SOCIAL HISTORY: Nonsmoker. FAMILY HISTORY: Mother with DM."
    )
    assert sections(nlp, text) == [
        ("subjective", 0, text.index("MEDICATIONS")),
        ("medications", text.index("MEDICATIONS"), text.index("ALLERGIES")),
        ("allergies", text.index("ALLERGIES"), text.index("SOCIAL")),
        ("social_history", text.index("SOCIAL"), text.index("FAMILY")),
        ("family_history", text.index("FAMILY"), len(text)),
    ]


def test_flattened_line_break_ends_capital_heading(nlp: Language) -> None:
    text = "PROCEDURE,Appendectomy.,ANESTHESIA,General."
    assert names(nlp, text) == ["procedures", "anesthesia"]


@pytest.mark.parametrize(
    "text",
    [
        "He agrees with the plan: surgery next week.",
        "We discussed the\nplan: surgery next week.",
        "Recent PE: on heparin for 3 months.",
        "PE was ruled out by CT angiography.",
        "He takes no meds. His exam is normal.",
        "Patient History reviewed with family: nothing new.",
    ],
)
def test_no_false_positive_headings(nlp: Language, text: str) -> None:
    assert names(nlp, text) == []


def test_subheadings_stay_inside_their_section(nlp: Language) -> None:
    text = "Physical Exam:\nGeneral: NAD\nHEENT: PERRL\nLungs: clear\nAssessment: stable\n"
    doc = nlp(text)
    assert [(s.name, s.start, s.end) for s in doc._.clinnlp_sections] == [
        ("physical_exam", 0, text.index("Assessment")),
        ("assessment", text.index("Assessment"), len(text)),
    ]
    assert doc.user_data[HEADING_SPANS_KEY] == [(0, 14), (text.index("Assessment"), text.index(" stable"))]
    assert doc.user_data[SUBHEADING_SPANS_KEY] == [
        (text.index("General"), text.index("General") + 8),
        (text.index("HEENT"), text.index("HEENT") + 6),
        (text.index("Lungs"), text.index("Lungs") + 6),
    ]


def test_vitals_inside_exam_is_a_subheading(nlp: Language) -> None:
    inside = "PHYSICAL EXAMINATION:,VITAL SIGNS:  BP 120/80.,HEENT:  Normal."
    assert names(nlp, inside) == ["physical_exam"]
    alone = "Vital signs: BP 120/80, HR 70\nLabs: Na 140\n"
    assert names(nlp, alone) == ["vital_signs", "labs"]


def test_unknown_capital_heading_starts_other_section(nlp: Language) -> None:
    text = "PROCEDURE: Appendectomy.\nDRAINS: None.\nCOMPLICATIONS: None.\n"
    assert names(nlp, text) == ["procedures", "other", "complications"]


def test_unknown_capital_labels_do_not_split_exam_or_problem_list(nlp: Language) -> None:
    exam = "PHYSICAL EXAM:\nGENERAL: NAD\nMENTAL STATUS: Alert\nAssessment: ok\n"
    assert names(nlp, exam) == ["physical_exam", "assessment"]
    problems = "Assessment and plan:\n1. HYPERTENSION: continue lisinopril\n2. DIABETES: A1c next visit\n"
    assert names(nlp, problems) == ["assessment_and_plan"]


def test_find_headings_marks_subheadings_with_no_name() -> None:
    headings = find_headings("Exam:\nLungs: clear\n")
    assert [(h.text, h.name) for h in headings] == [("Exam", "physical_exam"), ("Lungs", None)]


def test_section_at() -> None:
    found = [Section(name="hpi", start=10, end=20), Section(name="plan", start=25, end=40)]
    assert section_at(found, 0) is None
    assert section_at(found, 10) == "hpi"
    assert section_at(found, 19) == "hpi"
    assert section_at(found, 20) is None
    assert section_at(found, 25) == "plan"
    assert section_at(found, 39) == "plan"
    assert section_at(found, 40) is None
    assert section_at([], 5) is None
