"""FHIR R4 output: Bundles validated with fhir.resources, the mapping choices, the NDJSON/Bundle sink."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

# fhir.resources ships R5 (default), R4B and STU3 models, no pure R4; R4B (4.3) is R4 (4.0.1)
# for every resource clinnlp writes (Bundle, DocumentReference, Condition, FamilyMemberHistory,
# MedicationStatement, Observation).
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import InputError
from clinnlp.export.fhir import DERIVATION_REFERENCE, frequency_period, record_to_bundle
from clinnlp.export.fhir_sink import FhirNdjsonSink
from clinnlp.pipeline import extract
from clinnlp.schema import Record

NOTE = (
    "ASSESSMENT:\n"
    "Chest X-ray shows no evidence of pneumonia. Possible pulmonary embolism. "
    "History of myocardial infarction.\n"
    "FAMILY HISTORY:\nMother had breast cancer.\n"
    "LABS:\nHb 9.2 g/dL (L). BP 140/90 mmHg.\n"
    "MEDICATIONS:\n1. Metformin 500 mg PO bid.\n2. Ibuprofen 400 mg PO q6h prn pain.\n"
)


@pytest.fixture(scope="module")
def note_bundle() -> dict[str, Any]:
    return record_to_bundle(extract(NOTE, doc_id="n1", ner="lexicon"), text=NOTE)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _by_text(bundle: dict[str, Any], kind: str, words: str) -> dict[str, Any]:
    field = {"MedicationStatement": "medicationCodeableConcept"}.get(kind, "code")
    for resource in _resources(bundle, kind):
        concept = resource["condition"][0]["code"] if kind == "FamilyMemberHistory" else resource[field]
        if concept["text"].lower() == words:
            return resource
    raise AssertionError(f"no {kind} for {words!r}")


def _span(resource: dict[str, Any]) -> tuple[int, int]:
    ext = next(e for e in resource["extension"] if e["url"] == DERIVATION_REFERENCE)
    parts = {e["url"]: e for e in ext["extension"]}
    assert parts["reference"]["valueReference"]["type"] == "DocumentReference"
    return parts["offset"]["valueInteger"], parts["length"]["valueInteger"]


def test_each_sample_note_gives_a_valid_bundle_with_evidence(sample_notes: list[Path]) -> None:
    for path in sample_notes:
        text = path.read_text(encoding="utf-8")
        record = extract(text, doc_id=path.name, ner="lexicon")
        bundle = record_to_bundle(record, text=text)
        Bundle.model_validate(bundle)  # raises on any invalid element
        kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert kinds[0] == "DocumentReference"
        observed = [f for f in record.findings if not (f.assertion.hypothetical and not f.assertion.family)]
        mentions = len(record.diagnoses) + len(observed) + sum(not m.assertion.family for m in record.medications)
        assert len(kinds) == 1 + mentions, path.name
        for entry in bundle["entry"][1:]:
            start, length = _span(entry["resource"])
            words = text[start : start + length]
            resource = entry["resource"]
            concept = (
                resource.get("code") or resource.get("medicationCodeableConcept") or resource["condition"][0]["code"]
            )
            assert concept["text"] == " ".join(words.split()), path.name


def test_validation_rejects_a_broken_bundle(note_bundle: dict[str, Any]) -> None:
    broken = copy.deepcopy(note_bundle)
    del _resources(broken, "Condition")[0]["subject"]
    with pytest.raises(ValidationError):
        Bundle.model_validate(broken)


def test_negated_diagnosis_is_a_refuted_condition(note_bundle: dict[str, Any]) -> None:
    condition = _by_text(note_bundle, "Condition", "pneumonia")
    assert condition["verificationStatus"]["coding"][0]["code"] == "refuted"
    assert "clinicalStatus" not in condition
    assert {"url": "negated", "valueBoolean": True} in condition["extension"][1]["extension"]


def test_resolved_diagnosis_is_a_resolved_condition_not_refuted() -> None:
    text = "Her pneumonia resolved after antibiotics."
    bundle = record_to_bundle(extract(text, doc_id="r1", ner="lexicon"), text=text)
    condition = _by_text(bundle, "Condition", "pneumonia")
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"
    Bundle.model_validate(bundle)


def test_uncertain_historical_and_family_mappings(note_bundle: dict[str, Any]) -> None:
    pe = _by_text(note_bundle, "Condition", "pulmonary embolism")
    assert pe["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert pe["clinicalStatus"]["coding"][0]["code"] == "active"
    mi = _by_text(note_bundle, "Condition", "myocardial infarction")
    assert mi["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert "clinicalStatus" not in mi
    assert any(c["system"] == "http://hl7.org/fhir/sid/icd-10-cm" for c in mi["code"]["coding"])
    family = _by_text(note_bundle, "FamilyMemberHistory", "breast cancer")
    assert family["relationship"]["coding"][0]["code"] == "MTH"
    assert not [c for c in _resources(note_bundle, "Condition") if c["code"]["text"] == "breast cancer"]


def test_medication_statement_dosage(note_bundle: dict[str, Any]) -> None:
    metformin = _by_text(note_bundle, "MedicationStatement", "metformin")
    assert metformin["status"] == "active"
    dosage = metformin["dosage"][0]
    assert dosage["route"]["coding"][0] == {"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 500.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert dosage["asNeededBoolean"] is False
    assert metformin["medicationCodeableConcept"]["coding"][0]["system"] == "https://go.drugbank.com/drugs"
    ibuprofen = _by_text(note_bundle, "MedicationStatement", "ibuprofen")
    assert ibuprofen["dosage"][0]["asNeededBoolean"] is True
    assert ibuprofen["dosage"][0]["timing"]["repeat"] == {"frequency": 4, "period": 1, "periodUnit": "d"}


def test_observations_values_interpretation_and_blood_pressure(note_bundle: dict[str, Any]) -> None:
    hb = _by_text(note_bundle, "Observation", "hb")
    assert hb["valueQuantity"] == {"value": 9.2, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"}
    assert hb["interpretation"][0]["coding"][0]["code"] == "L"
    assert hb["category"][0]["coding"][0]["code"] == "laboratory"
    bp = _by_text(note_bundle, "Observation", "bp")
    assert [c["valueQuantity"]["value"] for c in bp["component"]] == [140, 90]
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6", "8462-4"]


def test_negated_finding_is_absent() -> None:
    text = "The patient denies fever."
    bundle = record_to_bundle(extract(text, doc_id="n2", ner="lexicon"), text=text)
    fever = _by_text(bundle, "Observation", "fever")
    assert fever["valueCodeableConcept"]["coding"][0]["code"] == "2667000"


def test_subject_and_note_id_from_omop_metadata(note_bundle: dict[str, Any]) -> None:
    record = extract(NOTE, doc_id="42", ner="lexicon")
    bundle = record_to_bundle(record, text=NOTE, metadata={"note_id": 42, "person_id": 7})
    Bundle.model_validate(bundle)
    assert _by_text(bundle, "Condition", "pneumonia")["subject"] == {"reference": "Patient/7", "type": "Patient"}
    doc = _resources(bundle, "DocumentReference")[0]
    assert {"system": "urn:clinnlp:omop-note-id", "value": "42"} in doc["identifier"]
    assert bundle == record_to_bundle(record, text=NOTE, metadata={"note_id": 42, "person_id": 7})  # stable ids


def test_the_notes_date_dates_what_was_recorded_never_the_observations() -> None:
    record = extract(NOTE, doc_id="42", ner="lexicon")
    bundle = record_to_bundle(record, text=NOTE, metadata={"note_id": 42, "note_date": "2021-03-04", "note_datetime": "2021-03-04 10:30:00"})
    Bundle.model_validate(bundle)
    doc = _resources(bundle, "DocumentReference")[0]
    assert doc["context"] == {"period": {"start": "2021-03-04"}} and "date" not in doc  # an instant needs a time zone
    assert _by_text(bundle, "Condition", "pneumonia")["recordedDate"] == "2021-03-04"
    assert _by_text(bundle, "MedicationStatement", "metformin")["dateAsserted"] == "2021-03-04"
    assert _by_text(bundle, "FamilyMemberHistory", "breast cancer")["date"] == "2021-03-04"
    assert all("effectiveDateTime" not in o and "issued" not in o for o in _resources(bundle, "Observation"))
    zoned = record_to_bundle(record, text=NOTE, metadata={"CHARTTIME": "2021-03-04T10:30+01:00"})
    Bundle.model_validate(zoned)
    assert _resources(zoned, "DocumentReference")[0]["date"] == "2021-03-04T10:30:00+01:00"
    undated = record_to_bundle(record, text=NOTE, metadata={"note_date": "March 4th"})
    assert "recordedDate" not in _by_text(undated, "Condition", "pneumonia")


@pytest.mark.parametrize(
    ("per_day", "expected"),
    [(2.0, (2, 1, "d")), (1.0, (1, 1, "d")), (0.5, (1, 2, "d")), (1 / 7, (1, 1, "wk")), (12.0, (12, 1, "d")), (1.5, (3, 2, "d"))],
)
def test_frequency_period(per_day: float, expected: tuple[int, int, str]) -> None:
    got = frequency_period(per_day)
    assert (got["frequency"], got["period"], got["periodUnit"]) == expected


def _records(n: int) -> list[tuple[Record, SourceDoc]]:
    texts = ["No pneumonia. Metformin 500 mg PO bid.", "Hb 9.2 g/dL (L).", "Asthma, on salbutamol."]
    out = []
    for i in range(n):
        text = texts[i % len(texts)]
        out.append((extract(text, doc_id=f"note-{i}", ner="lexicon"), SourceDoc(doc_id=f"note-{i}", text=text)))
    return out


def test_ndjson_sink_resumes_and_cuts_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    items = _records(3)
    sink = FhirNdjsonSink(str(out))
    for record, doc in items[:2]:
        sink.write(record, doc)
    sink.close()
    sink.close()  # safe twice
    with out.open("a", encoding="utf-8") as stream:
        stream.write('{"resourceType":"Bundle","ident')  # a write killed half-way
    sink = FhirNdjsonSink(str(out))
    assert sink.done_ids() == {"note-0", "note-1"}
    sink.write(*items[2])
    sink.close()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line in lines:
        Bundle.model_validate(json.loads(line))
    assert [json.loads(line)["identifier"]["value"] for line in lines] == ["note-0", "note-1", "note-2"]


def test_fhir_json_sink_is_one_valid_bundle_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out.fhir.json"
    items = _records(3)
    sink = FhirNdjsonSink(str(out))
    sink.write(*items[0])
    # killed before close: no footer yet; the next run recovers and continues
    sink._stream.close()  # type: ignore[union-attr]
    sink._stream = None
    with pytest.raises(ValueError):
        json.loads(out.read_text(encoding="utf-8"))
    sink = FhirNdjsonSink(str(out))
    assert sink.done_ids() == {"note-0"}
    sink.write(*items[1])
    sink.close()
    sink = FhirNdjsonSink(str(out))  # a resume after a clean close removes the footer
    assert sink.done_ids() == {"note-0", "note-1"}
    sink.write(*items[2])
    sink.close()
    outer = json.loads(out.read_text(encoding="utf-8"))
    Bundle.model_validate(outer)
    assert [e["resource"]["identifier"]["value"] for e in outer["entry"]] == ["note-0", "note-1", "note-2"]


def test_fhir_sink_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must end with"):
        FhirNdjsonSink(str(tmp_path / "out.json"))
    other = tmp_path / "other.ndjson"
    other.write_text('{"hello": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match="not a clinnlp FHIR output"):
        FhirNdjsonSink(str(other))
    assert other.read_text(encoding="utf-8") == '{"hello": 1}\n'  # nothing lost


def test_fhir_sink_never_truncates_a_foreign_file(tmp_path: Path) -> None:
    other = tmp_path / "mine.fhir.json"
    content = '{\n  "resourceType": "Bundle",\n  "type": "collection"\n}\n'
    other.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        FhirNdjsonSink(str(other))
    assert other.read_text(encoding="utf-8") == content


def test_fhir_sink_overwrite_starts_empty(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    items = _records(2)
    sink = FhirNdjsonSink(str(out))
    for record, doc in items:
        sink.write(record, doc)
    sink.close()
    sink = FhirNdjsonSink(str(out), overwrite=True)
    assert sink.done_ids() == set()
    sink.write(*items[1])
    sink.close()
    assert [json.loads(line)["identifier"]["value"] for line in out.read_text(encoding="utf-8").splitlines()] == ["note-1"]


def test_negated_family_history_is_not_exported_and_piped_notes_get_their_own_ids() -> None:
    text = "FAMILY HISTORY: No family history of colon cancer. Mother with breast cancer."
    record = extract(text, doc_id="-", ner="lexicon")
    bundle = record_to_bundle(record, text=text)
    histories = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "FamilyMemberHistory"]
    assert [h["condition"][0]["code"]["text"] for h in histories] == ["breast cancer"]
    other = extract("Mother with breast cancer.", doc_id="-", ner="lexicon")
    assert record_to_bundle(other)["id"] != bundle["id"]


def test_bare_vitals_and_count_units_get_ucum_codes() -> None:
    text = "HR 112, RR 24, WBC 14.2 K/uL."
    bundle = record_to_bundle(extract(text, doc_id="v", ner="lexicon"), text=text)
    Bundle.model_validate(bundle)
    quantities = {e["resource"]["code"]["text"]: e["resource"].get("valueQuantity") for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "Observation"}
    assert quantities["HR"]["code"] == "/min" and quantities["RR"]["code"] == "/min"
    assert quantities["WBC"]["code"] == "10*3/uL"


def test_what_the_patient_may_get_or_had_is_exported_as_such() -> None:
    """A PRN reason or an "if" symptom is no Observation; HH/LL keep their direction; the
    strength survives a dose in tablets; MIMIC's SUBJECT_ID is the subject; bad dates are dropped."""
    text = (
        "Albuterol 2 puffs inhaled q4h prn wheezing. If fever develops, return to ED.\n"
        "Lisinopril 10 mg tablet, take 1 tablet PO daily.\nK 6.8 (HH). Glucose 45 mg/dL (LL).\n"
    )
    record = extract(text, doc_id="n", ner="lexicon")
    bundle = record_to_bundle(record, text=text, metadata={"SUBJECT_ID": 22532, "CHARTDATE": "2024-02-30"})
    Bundle.model_validate(bundle)
    observed = {o["code"]["text"].lower() for o in _resources(bundle, "Observation")}
    assert not observed & {"wheezing", "fever"} and {"k", "glucose"} <= observed
    codes = {o["code"]["text"].lower(): o["interpretation"][0]["coding"][0]["code"] for o in _resources(bundle, "Observation")}
    assert (codes["k"], codes["glucose"]) == ("HH", "LL")
    assert _by_text(bundle, "MedicationStatement", "lisinopril")["dosage"][0]["text"] == "10 mg 1 tablet oral daily"
    assert _resources(bundle, "DocumentReference")[0]["subject"] == {"reference": "Patient/22532", "type": "Patient"}
    assert "context" not in _resources(bundle, "DocumentReference")[0]  # 30 February is no date
    from clinnlp.export.fhir import note_date

    assert note_date({"note_datetime": "2024-03-01T10:00:00+0000"}) == ("2024-03-01T10:00:00+00:00",) * 2


def test_rates_and_lab_units_are_ucum_coded() -> None:
    text = "TSH 0.02 mIU/L. eGFR >60 mL/min/1.73m2. Fentanyl patch 25 mcg/hr transdermal q72h."
    bundle = record_to_bundle(extract(text, doc_id="u", ner="lexicon"), text=text)
    Bundle.model_validate(bundle)
    assert _by_text(bundle, "Observation", "egfr")["valueQuantity"]["code"] == "mL/min/{1.73_m2}"
    assert _by_text(bundle, "Observation", "tsh")["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    rate = _by_text(bundle, "MedicationStatement", "fentanyl")["dosage"][0]["doseAndRate"][0]
    assert rate == {"rateQuantity": {"value": 25.0, "unit": "mcg/h", "system": "http://unitsofmeasure.org", "code": "ug/h"}}


def test_a_maternal_grandmother_is_not_just_a_grandmother() -> None:
    text = "FAMILY HISTORY:\nMaternal grandmother with breast cancer.\n"
    bundle = record_to_bundle(extract(text, doc_id="f", ner="lexicon"), text=text)
    Bundle.model_validate(bundle)
    assert _by_text(bundle, "FamilyMemberHistory", "breast cancer")["relationship"]["coding"][0]["code"] == "MGRMTH"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Family history: mother and sister with breast cancer.", {"breast cancer": ["MTH", "SIS"]}),
        ("FH: Father had MI at 50; brother with diabetes.", {"mi": ["FTH"], "diabetes": ["BRO"]}),
        ("Mother had breast cancer and father had colon cancer.", {"breast cancer": ["MTH"], "colon cancer": ["FTH"]}),
        ("Breast cancer in her mother and maternal aunt.", {"breast cancer": ["MTH", "MAUNT"]}),
        ("Family history of diabetes.", {"diabetes": ["FAMMEMB"]}),
    ],
)
def test_one_family_member_history_per_relative(text: str, expected: dict[str, list[str]]) -> None:
    bundle = record_to_bundle(extract(text, doc_id="f", ner="lexicon"), text=text)
    Bundle.model_validate(bundle)
    got: dict[str, list[str]] = {}
    for resource in _resources(bundle, "FamilyMemberHistory"):
        got.setdefault(resource["condition"][0]["code"]["text"].lower(), []).append(resource["relationship"]["coding"][0]["code"])
    assert got == expected
    ids = [r["id"] for r in _resources(bundle, "FamilyMemberHistory")]
    assert len(set(ids)) == len(ids)
