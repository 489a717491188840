"""Medication attributes linked to the right drug (clinnlp_medication_attributes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spacy.language import Language

import clinnlp
from clinnlp.attribute_eval import CORPUS_MAPPINGS, evaluate_attributes, map_spans
from clinnlp.components.medication_attributes import MedicationAttributes
from clinnlp.medications.finder import find_attribute_spans, find_attributes
from clinnlp.readers.types import GoldDocument, GoldSpan


@pytest.fixture(scope="module")
def nlp() -> Language:
    return clinnlp.load(ner="lexicon")


@pytest.fixture(scope="module")
def component(nlp: Language) -> MedicationAttributes:
    return MedicationAttributes(nlp, "clinnlp_medication_attributes")


def meds(nlp: Language, component: MedicationAttributes, text: str) -> dict[str, dict[str, Any]]:
    """Drug text (lower case) -> its attributes, for the MEDICATION mentions of ``text``."""
    doc = component(nlp(text))
    return {e.text.lower(): e._.clinnlp_medication or {} for e in doc.ents if e.label_ == "MEDICATION"}


def q(text: str, value: float | None, unit: str | None) -> dict[str, Any]:
    return {"text": text, "value": value, "unit": unit}


def freq(text: str, per_day: float | None, as_needed: bool) -> dict[str, Any]:
    return {"text": text, "per_day": per_day, "as_needed": as_needed}


def test_multi_drug_sentence(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "Continue metformin 500 mg bid and lisinopril 10 mg daily.")
    assert got["metformin"] == {
        "strength": q("500 mg", 500.0, "mg"), "dose": q("500 mg", 500.0, "mg"),
        "frequency": freq("bid", 2.0, False), "status": "continued",
    }
    assert got["lisinopril"] == {
        "strength": q("10 mg", 10.0, "mg"), "dose": q("10 mg", 10.0, "mg"),
        "frequency": freq("daily", 1.0, False), "status": "continued",
    }


def test_numbered_list_with_amount_before_drug(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "DISCHARGE MEDICATIONS:\n1. 40 mg furosemide PO daily\n2. Aspirin 81 mg PO daily\n")
    assert got["furosemide"]["strength"] == q("40 mg", 40.0, "mg")
    assert got["furosemide"]["route"] == "oral"
    assert got["aspirin"]["strength"] == q("81 mg", 81.0, "mg")
    assert got["aspirin"]["frequency"] == freq("daily", 1.0, False)


def test_attributes_wrapped_onto_the_next_line(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "MEDICATIONS:\n1. Metoprolol tartrate\n   25 mg PO BID\n2. Lisinopril\n   10 mg daily\n")
    assert got["metoprolol tartrate"]["strength"] == q("25 mg", 25.0, "mg")
    assert got["metoprolol tartrate"]["route"] == "oral"
    assert got["metoprolol tartrate"]["frequency"] == freq("BID", 2.0, False)
    assert got["lisinopril"]["frequency"] == freq("daily", 1.0, False)
    # fill only: the line above wins; a status on the wrapped line counts too
    got = meds(nlp, component, "Metoprolol 50 mg\n25 mg PO BID, held\n")
    assert got["metoprolol"]["strength"] == q("50 mg", 50.0, "mg") and got["metoprolol"]["status"] == "held"
    # not after a blank line, nor from a line with other words, nor from the same line
    for text in ("Metoprolol.\n\n25 mg PO BID\n", "Metoprolol.\nHR 80, 25 mg PO BID\n", "Metoprolol. 25 mg PO BID."):
        assert "strength" not in meds(nlp, component, text)["metoprolol"], text


def test_a_ceiling_is_not_the_dose(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "Tylenol 650 mg PO q6h PRN pain, max 4 g/day.")["tylenol"]
    assert got["dose"] == q("650 mg", 650.0, "mg") and got["frequency"] == freq("q6h PRN", 4.0, True)
    got = meds(nlp, component, "Nitroglycerin 0.4 mg SL q5min x3 prn chest pain.")["nitroglycerin"]
    assert got["frequency"] == freq("q5min x3 prn", 3.0, True)  # x3: at most 3 doses, not 288


def test_inhaler_strength_dose_range_and_prn(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "- Albuterol HFA 90 mcg 1-2 puffs inhaled q4-6h prn wheezing\n")
    assert got["albuterol"] == {
        "strength": q("90 mcg", 90.0, "mcg"),
        "dose": q("1-2 puffs", 2.0, "puff"),
        "route": "inhaled",
        "form": "inhaler",
        "frequency": freq("q4-6h prn", 6.0, True),
    }


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("Acetaminophen 500 mg PO q6h.", "strength", q("500 mg", 500.0, "mg")),
        ("Acetaminophen 1-2 tabs PO q6h.", "dose", q("1-2 tabs", 2.0, "tablet")),
        ("Heparin 10 units/kg IV.", "dose", q("10 units/kg", 10.0, "units/kg")),
        ("Prednisone 0.5 mg/kg/day PO.", "dose", q("0.5 mg/kg/day", 0.5, "mg/kg/day")),
        ("Insulin glargine 20 units SC qhs.", "strength", q("20 units", 20.0, "units")),
        ("Fluticasone 2 puffs inhaled bid.", "dose", q("2 puffs", 2.0, "puff")),
    ],
)
def test_amounts(nlp: Language, component: MedicationAttributes, text: str, field: str, expected: Any) -> None:
    (attrs,) = meds(nlp, component, text).values()
    assert attrs[field] == expected


def test_strength_only_is_also_the_dose(nlp: Language, component: MedicationAttributes) -> None:
    (attrs,) = meds(nlp, component, "Aspirin 81 mg daily.").values()
    assert attrs["dose"] == attrs["strength"] == q("81 mg", 81.0, "mg")


def test_weight_based_amount_is_a_dose_only(nlp: Language, component: MedicationAttributes) -> None:
    (attrs,) = meds(nlp, component, "Heparin 10 units/kg IV.").values()
    assert "strength" not in attrs


@pytest.mark.parametrize(
    ("route_text", "route"),
    [
        ("PO", "oral"), ("by mouth", "oral"), ("IV", "intravenous"), ("IM", "intramuscular"),
        ("SC", "subcutaneous"), ("SQ", "subcutaneous"), ("subcutaneous", "subcutaneous"),
        ("SL", "sublingual"), ("PR", "rectal"), ("inhaled", "inhaled"), ("topical", "topical"),
        ("transdermal", "transdermal"), ("ophthalmic", "ophthalmic"), ("intranasal", "intranasal"),
        ("NG", "nasogastric"),
    ],
)
def test_routes(nlp: Language, component: MedicationAttributes, route_text: str, route: str) -> None:
    (attrs,) = meds(nlp, component, f"Morphine 2 mg {route_text} daily.").values()
    assert attrs["route"] == route


@pytest.mark.parametrize(
    ("freq_text", "per_day", "as_needed"),
    [
        ("qd", 1.0, False), ("daily", 1.0, False), ("once daily", 1.0, False), ("bid", 2.0, False),
        ("tid", 3.0, False), ("qid", 4.0, False), ("q4h", 6.0, False), ("q6-8h", 4.0, False),
        ("qhs", 1.0, False), ("qam", 1.0, False), ("qod", 0.5, False), ("weekly", 1 / 7, False),
        ("prn", None, True), ("q6h prn", 4.0, True), ("every 8 hours", 3.0, False),
        ("twice a day", 2.0, False), ("three times daily", 3.0, False), ("with breakfast", 1.0, False),
    ],
)
def test_frequencies(nlp: Language, component: MedicationAttributes, freq_text: str,
                     per_day: float | None, as_needed: bool) -> None:
    (attrs,) = meds(nlp, component, f"Ibuprofen 400 mg PO {freq_text}.").values()
    got = attrs["frequency"]
    assert got["text"] == freq_text
    assert got["as_needed"] is as_needed
    assert got["per_day"] == (None if per_day is None else pytest.approx(per_day))


@pytest.mark.parametrize(
    ("duration_text", "expected"),
    [
        ("for 7 days", q("7 days", 7.0, "day")),
        ("x2 weeks", q("2 weeks", 2.0, "week")),
        ("x 7 days", q("7 days", 7.0, "day")),
        ("for eight weeks", q("eight weeks", 8.0, "week")),
        ("until follow-up", q("until follow-up", None, None)),
    ],
)
def test_durations(nlp: Language, component: MedicationAttributes, duration_text: str, expected: Any) -> None:
    (attrs,) = meds(nlp, component, f"Amoxicillin 500 mg PO tid {duration_text}.").values()
    assert attrs["duration"] == expected


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("Lisinopril 10 mg tablet PO daily.", "tablet"),
        ("Omeprazole 20 mg capsule PO daily.", "capsule"),
        ("Albuterol HFA 2 puffs q4h prn.", "inhaler"),
        ("Fentanyl 25 mcg/h patch every 72 hours.", "patch"),
        ("Amoxicillin 250 mg suspension PO tid.", "suspension"),
        ("Hydrocortisone 1% cream topical bid.", "cream"),
        ("Enoxaparin 40 mg injection SC daily.", "injection"),
    ],
)
def test_forms(nlp: Language, component: MedicationAttributes, text: str, form: str) -> None:
    (attrs,) = meds(nlp, component, text).values()
    assert attrs["form"] == form


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Start losartan 50 mg PO daily.", "started"),
        ("Apixaban was started.", "started"),
        ("Apixaban was initiated.", "started"),
        ("Continue amlodipine 5 mg PO daily.", "continued"),
        ("Increase metformin to 1000 mg bid.", "increased"),
        ("Lisinopril was increased last month.", "increased"),
        ("Titrate up metoprolol.", "increased"),
        ("Decrease prednisone to 10 mg daily.", "decreased"),
        ("Reduce prednisone to 10 mg daily.", "decreased"),
        ("Hold lisinopril.", "held"),
        ("Warfarin 5 mg PO daily - held for procedure.", "held"),
        ("Stop metformin.", "stopped"),
        ("Metformin was stopped.", "stopped"),
        ("Discontinue metformin.", "stopped"),
        ("D/c metformin.", "stopped"),
        ("She is allergic to penicillin.", "allergic"),
    ],
)
def test_status(nlp: Language, component: MedicationAttributes, text: str, status: str) -> None:
    (attrs,) = meds(nlp, component, text).values()
    assert attrs["status"] == status


def test_status_goes_to_the_drug_it_precedes(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "Changed to formoterol 6 mcg inhaler, and stopped the salbutamol inhaler.")
    assert "status" not in got["formoterol"]
    assert got["salbutamol"]["status"] == "stopped"


def test_allergies_section(nlp: Language, component: MedicationAttributes) -> None:
    got = meds(nlp, component, "ALLERGIES: Penicillin (rash)\n\nMEDICATIONS:\nAspirin 81 mg PO daily.\n")
    assert got["penicillin"]["status"] == "allergic"
    assert "status" not in got["aspirin"]


def test_not_a_route_or_dose_outside_a_drug_context() -> None:
    spans = find_attribute_spans("Stage IV disease; glucose 160-210 mg/dL; PR interval normal.")
    assert [s for s in spans if s[2] in ("Route", "Dosage")] == []


def test_sample_medication_list(nlp: Language, component: MedicationAttributes, sample_notes: list[Any]) -> None:
    text = next(p for p in sample_notes if p.name == "medication_list.txt").read_text(encoding="utf-8")
    got = meds(nlp, component, text)
    assert got["warfarin"]["status"] == "held"
    assert got["amoxicillin"]["duration"] == q("7 days", 7.0, "day")
    assert got["insulin glargine"]["route"] == "subcutaneous"
    assert got["hydrochlorothiazide"]["status"] == "stopped"


def test_record_accepts_the_fields(nlp: Language, component: MedicationAttributes) -> None:
    from clinnlp.schema import Medication

    (attrs,) = meds(nlp, component, "Acetaminophen 650 mg PO q6h prn pain for 5 days.").values()
    med = Medication(text="Acetaminophen", start=0, end=13, sentence={"start": 0, "end": 13},
                     confidence=1.0, source="t", **attrs)
    assert med.frequency is not None and med.frequency.per_day == 4.0 and med.frequency.as_needed


def test_map_spans_merges_as_the_corpus_cuts() -> None:
    text = "levofloxacin 500 mg daily iv"
    spans = [(13, 19, "Dosage"), (20, 25, "Frequency"), (26, 28, "Route")]
    mapped = map_spans(text, spans, {"Dosage": "Dosage", "Frequency": "Frequency", "Route": "Administration"},
                       {"Dosage": ("Frequency",)})
    assert mapped == [(13, 25, "Dosage"), (26, 28, "Administration")]


def test_evaluate_attributes(nlp: Language) -> None:
    text = "Start aspirin 81 mg PO daily for 7 days."
    gold = GoldDocument("d1", text, (GoldSpan(14, 19, "Dosage", "81 mg"), GoldSpan(20, 22, "Route", "PO"),
                                     GoldSpan(33, 39, "Duration", "7 days")))
    result = evaluate_attributes([gold], nlp, {"Dosage": "Dosage", "Route": "Route", "Duration": "Duration"})
    assert result["strict"]["by_type"]["Dosage"]["f1"] == 1.0
    assert result["strict"]["by_type"]["Route"]["f1"] == 1.0
    assert result["strict"]["by_type"]["Duration"]["f1"] == 1.0


def _frequency_table() -> list[tuple[str, float | None, bool]]:
    """The rows of tests/data/frequencies.tsv: text, per_day ('-' = none), as_needed."""
    rows = []
    for line in (Path(__file__).parent / "data" / "frequencies.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, per_day, as_needed = line.split("\t")
            rows.append((text, None if per_day == "-" else float(per_day), as_needed == "true"))
    return rows


FREQUENCY_TABLE = _frequency_table()


def test_frequency_table_is_large_enough() -> None:
    assert len(FREQUENCY_TABLE) >= 60
    assert len({text for text, _, _ in FREQUENCY_TABLE}) == len(FREQUENCY_TABLE)


@pytest.mark.parametrize(("freq_text", "per_day", "as_needed"), FREQUENCY_TABLE)
def test_frequency_table(freq_text: str, per_day: float | None, as_needed: bool) -> None:
    """Each real-world frequency string, in a prescription line, normalises as the table says."""
    found = [a for a in find_attributes(f"Metoprolol 25 mg PO {freq_text} for hypertension.") if a.type == "Frequency"]
    assert [a.data["text"] for a in found] == [freq_text]
    assert found[0].data["as_needed"] is as_needed
    assert found[0].data["per_day"] == (None if per_day is None else pytest.approx(per_day, abs=1e-3))


def _spans(text: str, kind: str) -> list[str]:
    """The texts of the attributes of one type that the finder gives for ``text``."""
    return [text[s:e] for s, e, t in find_attribute_spans(text) if t == kind]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cisplatin was given by intraperitoneal infusion.", ["intraperitoneal"]),
        ("Intraventricular methotrexate 12 mg.", ["Intraventricular"]),
        ("Seizures after ingestion of 40 tablets of carbamazepine.", ["ingestion"]),
        ("CT showed intraperitoneal metastases and a lesion in segment IV.", []),
        ("A peri-rectal abscess near the PEG tube; PEG-IFN was stopped.", []),
    ],
)
def test_routes_and_anatomical_words(text: str, expected: list[str]) -> None:
    assert _spans(text, "Route") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Methylprednisolone 1 g daily for 3 consecutive days.", ["3 consecutive days"]),
        ("She took warfarin for more than 2 years.", ["2 years"]),
        ("Rash within 3 weeks of treatment with phenytoin.", []),
        ("At 3 months follow-up she was well; a long-term follow-up study.", []),
        ("He was discharged on long-term warfarin.", ["long-term"]),
    ],
)
def test_duration_conventions(text: str, expected: list[str]) -> None:
    assert _spans(text, "Duration") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Interstitial pneumopathy with low-dosage amiodarone.", ["low-dosage"]),
        ("After four doses of linezolid he improved.", ["four doses"]),
        ("Myoclonus when given higher doses of quetiapine.", ["higher doses"]),
        ("She received radiotherapy (66 Gy in 28 fractions).", ["66 Gy in 28 fractions"]),
    ],
)
def test_dose_conventions(text: str, expected: list[str]) -> None:
    assert _spans(text, "Dosage") == expected


def test_map_spans_keeps_maccrobat_duration_leads() -> None:
    """MACCROBAT keeps 'over', 'the past', 'approximately' in a Duration but not 'for' or 'the'."""
    mapping = CORPUS_MAPPINGS["maccrobat"]
    text = "Steroids were weaned over 6 weeks; for approximately 5–6 years; for the past 3 years; for 7 days."
    got = [text[s:e] for s, e, t in map_spans(text, find_attribute_spans(text), mapping.type_map, mapping.merge,
                                              mapping.extend_left) if t == "Duration"]
    assert got == ["over 6 weeks", "approximately 5–6 years", "past 3 years", "7 days"]
    phee = CORPUS_MAPPINGS["phee"]
    assert [text[s:e] for s, e, t in map_spans(text, find_attribute_spans(text), phee.type_map, phee.merge,
                                               phee.extend_left) if t == "Duration"][0] == "6 weeks"


def test_percent_strengths_only_right_by_the_drug_or_form(nlp: Language, component: MedicationAttributes) -> None:
    assert meds(nlp, component, "Infiltrated with 1% lidocaine.")["lidocaine"] == {"strength": q("1%", 1.0, "%")}
    got = meds(nlp, component, "Hydrocortisone 2.5% ointment BID.")["hydrocortisone"]
    assert got["strength"] == q("2.5%", 2.5, "%") and "dose" not in got  # a concentration is no dose
    assert "strength" not in meds(nlp, component, "Bleeding in 23.8% for heparin.")["heparin"]


@pytest.mark.parametrize(
    ("text", "drug", "status"),
    [
        ("The Coreg was discontinued and then restarted at 6.25 mg b.i.d.", "coreg", "started"),
        ("Metoprolol was restarted after being held.", "metoprolol", "started"),
        ("Lisinopril was held, then resumed.", "lisinopril", "continued"),
        ("Aspirin was started, but later stopped due to bleeding.", "aspirin", "stopped"),
    ],
)
def test_status_is_where_the_narrative_leaves_the_drug(nlp: Language, component: MedicationAttributes,
                                                       text: str, drug: str, status: str) -> None:
    assert meds(nlp, component, text)[drug]["status"] == status


def test_a_hedged_drug_has_no_status_but_an_allergy_keeps_its_own(nlp: Language, component: MedicationAttributes) -> None:
    assert "status" not in meds(nlp, component, "Consider starting metformin 500 mg bid.")["metformin"]
    assert meds(nlp, component, "Start metformin 500 mg bid.")["metformin"]["status"] == "started"
    assert meds(nlp, component, "Possible allergy to penicillin.")["penicillin"]["status"] == "allergic"
