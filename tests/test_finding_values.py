"""Values of labs and vitals read after the finding's name (clinnlp_finding_values)."""

from __future__ import annotations

from typing import Any

import pytest
from spacy.language import Language

import clinnlp
from clinnlp.components.finding_values import FindingValues, read_value


@pytest.fixture(scope="module")
def nlp() -> Language:
    return clinnlp.load(ner="lexicon")


@pytest.fixture(scope="module")
def values(nlp: Language) -> FindingValues:
    return FindingValues(nlp, "clinnlp_finding_values")


def _value_of(nlp: Language, values: FindingValues, text: str, name: str) -> Any:
    doc = values(nlp(text))
    matches = [e for e in doc.ents if e.text == name]
    assert matches, f"{name!r} not recognised in {text!r}: {[e.text for e in doc.ents]}"
    return matches[0]._.clinnlp_finding_value


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("BP 140/90 mmHg on arrival.", "BP", {"value": {"text": "140/90", "value": None, "unit": "mmHg"}}),
        ("HR 112, regular.", "HR", {"value": {"text": "112", "value": 112.0, "unit": None}}),
        ("T 38.6 C at triage.", "T", {"value": {"text": "38.6", "value": 38.6, "unit": "°C"}}),
        ("SpO2 91% on RA.", "SpO2", {"value": {"text": "91", "value": 91.0, "unit": "%"}}),
        ("Hb 9.2 g/dL (L), stable.", "Hb",
         {"value": {"text": "9.2", "value": 9.2, "unit": "g/dL"}, "interpretation": "low"}),
        ("WBC 14.3 K/uL today.", "WBC", {"value": {"text": "14.3", "value": 14.3, "unit": "K/uL"}}),
        ("Na 128 on admission.", "Na", {"value": {"text": "128", "value": 128.0, "unit": None}}),
        ("Troponin < 0.01 ng/mL times two.", "Troponin",
         {"value": {"text": "< 0.01", "value": 0.01, "unit": "ng/mL", "comparator": "<"}}),
        ("BNP 1,250 pg/mL on admission.", "BNP", {"value": {"text": "1,250", "value": 1250.0, "unit": "pg/mL"}}),
        ("LDL 162 mg/dL (H), repeat.", "LDL",
         {"value": {"text": "162", "value": 162.0, "unit": "mg/dL"}, "interpretation": "high"}),
        ("WBC 17.8 (H), rising.", "WBC", {"value": {"text": "17.8", "value": 17.8, "unit": None}, "interpretation": "high"}),
        ("Hb 7.1 L on repeat.", "Hb", {"value": {"text": "7.1", "value": 7.1, "unit": None}, "interpretation": "low"}),
        ("Potassium was 2.1 (critical).", "Potassium",
         {"value": {"text": "2.1", "value": 2.1, "unit": None}, "interpretation": "critical"}),
        ("Na: 150 mmol/L high.", "Na", {"value": {"text": "150", "value": 150.0, "unit": "mmol/L"}, "interpretation": "high"}),
        ("Her recent TSH was normal.", "TSH", {"interpretation": "normal"}),
    ],
)
def test_finding_values(nlp: Language, values: FindingValues, text: str, name: str, expected: dict[str, Any]) -> None:
    assert _value_of(nlp, values, text, name) == expected


def test_symptoms_get_no_value(nlp: Language, values: FindingValues) -> None:
    doc = values(nlp("Fever 39 C at home and cough for 3 days."))
    fever = [e for e in doc.ents if e.text == "Fever"][0]
    assert fever._.clinnlp_finding_kind == "symptom"
    assert fever._.clinnlp_finding_value is None


def test_no_value_without_a_number(nlp: Language, values: FindingValues) -> None:
    assert _value_of(nlp, values, "Recheck HbA1c in 3 months.", "HbA1c") is None


def test_read_value_on_plain_text() -> None:
    assert read_value("eGFR > 60, urine", 4) == {"value": {"text": "> 60", "value": 60.0, "unit": None, "comparator": ">"}}


def test_sample_note_vitals_feed_the_record(nlp: Language, values: FindingValues, sample_notes: list[Any]) -> None:
    from clinnlp.schema import Finding

    text = next(p for p in sample_notes if p.name == "ed_note.txt").read_text(encoding="utf-8")
    doc = values(nlp(text))
    spo2 = [e for e in doc.ents if e.text == "SpO2"][0]
    assert spo2._.clinnlp_finding_value == {"value": {"text": "86", "value": 86.0, "unit": "%"}}
    # the dict fits the schema's Finding fields as the record builder passes them
    finding = Finding(text="SpO2", start=0, end=4, sentence={"start": 0, "end": 4}, confidence=1.0,
                      source="t", kind="vital", **spo2._.clinnlp_finding_value)
    assert finding.value is not None and finding.value.value == 86.0


def test_ejection_fraction_and_ranges() -> None:
    # LVEF is kind "other" (an imaging measurement) but listed by LOINC under value_loinc
    from fhir.resources.R4B.bundle import Bundle

    from clinnlp.export.fhir import record_to_bundle
    from clinnlp.pipeline import extract

    text = "Echo: LVEF 55-60%. EF 30%. WBC 12-15."
    record = extract(text, ner="lexicon")
    values = {f.text: f.value for f in record.findings}
    assert values["EF"] is not None and (values["EF"].value, values["EF"].unit) == (30.0, "%")
    assert values["LVEF"] is not None and (values["LVEF"].text, values["LVEF"].value) == ("55-60", None)
    assert values["WBC"] is not None and values["WBC"].text == "12-15"
    bundle = record_to_bundle(record, text=text)
    Bundle.model_validate(bundle)
    lvef = next(e["resource"] for e in bundle["entry"] if e["resource"].get("code", {}).get("text") == "LVEF")
    assert (lvef["valueRange"]["low"]["value"], lvef["valueRange"]["high"]["value"]) == (55.0, 60.0)


def test_degrees_take_their_scale_from_the_value_and_more_links() -> None:
    from clinnlp.pipeline import extract

    record = extract("Temp 97.5 degrees. Temperature 38.2 degrees. INR was found to be 3.1.", ner="lexicon")
    got = [(f.text, f.value.value if f.value else None, f.value.unit if f.value else None) for f in record.findings]
    assert got == [("Temp", 97.5, "°F"), ("Temperature", 38.2, "°C"), ("INR", 3.1, None)]


def test_a_flag_word_before_the_value_is_its_interpretation() -> None:
    assert read_value("saturation low at 91%.", 10) == {
        "value": {"text": "91", "value": 91.0, "unit": "%"}, "interpretation": "low"}
    assert read_value(" elevated at 5.9 (H)", 0)["interpretation"] == "high"  # type: ignore[index]
