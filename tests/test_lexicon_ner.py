"""The lexicon NER: longest match, folding, case-sensitive short forms, value-gated labs, codes.

Runs offline on the packaged resource with a bare ``spacy.blank("en")`` pipeline, so a
failure here points at the lexicon or the matcher, not at other components.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

import clinnlp.components.lexicon_ner  # noqa: F401  registers the factory
from clinnlp.components.lexicon_ner import (
    CONFIDENCE_ABBREVIATION,
    CONFIDENCE_EXACT,
    CONFIDENCE_FOLDED,
    CONFIDENCE_WITH_VALUE,
)
from clinnlp.errors import ConfigError, ResourceError
from clinnlp.lexicon import fold
from clinnlp.lexicon.store import load_lexicon, packaged_path

FUROSEMIDE = "DB00695"
METFORMIN = "DB00331"


@pytest.fixture(scope="module")
def nlp() -> Language:
    """A blank English pipeline with only the lexicon NER."""
    pipeline = spacy.blank("en")
    pipeline.add_pipe("clinnlp_lexicon_ner")
    return pipeline


def ents(doc: Doc) -> dict[str, Span]:
    """Entities by their text (tests use each mention text once)."""
    return {e.text: e for e in doc.ents}


def codes(span: Span, system: str) -> list[str]:
    """The codes of one system on a span, in order."""
    return [c["code"] for c in span._.clinnlp_codes if c["system"] == system]


def test_longest_match_wins(nlp: Language) -> None:
    doc = nlp("History of congestive heart failure and community-acquired pneumonia.")
    found = ents(doc)
    assert "congestive heart failure" in found
    assert "heart failure" not in found
    assert found["congestive heart failure"].label_ == "DIAGNOSIS"
    assert codes(found["congestive heart failure"], "ICD-10-CM")[0] == "I50.9"
    assert "community-acquired pneumonia" in found


def test_no_overlapping_entities(nlp: Language) -> None:
    doc = nlp("Type 2 diabetes mellitus, chronic kidney disease stage 3, chest pain and shortness of breath.")
    spans = sorted((e.start, e.end) for e in doc.ents)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    texts = {e.text for e in doc.ents}
    assert {"Type 2 diabetes mellitus", "chronic kidney disease", "chest pain", "shortness of breath"} <= texts


def test_case_and_plural_folding(nlp: Language) -> None:
    doc = nlp("HYPERTENSION. Gastric Ulcers. She takes Metformin tablets. Headaches and fevers.")
    found = ents(doc)
    assert found["HYPERTENSION"].label_ == "DIAGNOSIS"
    assert found["HYPERTENSION"]._.clinnlp_confidence == CONFIDENCE_EXACT
    assert found["Gastric Ulcers"].label_ == "DIAGNOSIS"
    assert found["Gastric Ulcers"]._.clinnlp_confidence == CONFIDENCE_FOLDED
    assert found["Metformin"].label_ == "MEDICATION"
    assert found["Headaches"]._.clinnlp_finding_kind == "symptom"
    assert found["fevers"]._.clinnlp_finding_kind == "symptom"


def test_folding_is_symmetric_and_conservative() -> None:
    assert fold("ulcers") == fold("ulcer")
    assert fold("tablets") == fold("tablet")
    assert fold("allergies") == fold("allergy")
    assert fold("abscesses") == fold("abscess")
    assert fold("headaches") == fold("headache")
    assert fold("rashes") == fold("rash")
    for word in ("diabetes", "mellitus", "pneumonia", "arthritis", "abscess"):
        assert fold(word) == fold(word.upper())
    assert fold("mellitus") == "mellitus"
    assert fold("aids") != fold("aid")


def test_hyphen_space_and_possessive_variants(nlp: Language) -> None:
    for text in ("community acquired pneumonia", "community-acquired pneumonia"):
        doc = nlp(f"Admitted with {text}.")
        assert [e.text for e in doc.ents] == [text]
        assert doc.ents[0]._.clinnlp_confidence == CONFIDENCE_EXACT
    for text in ("Crohn's disease", "Crohn disease"):
        doc = nlp(f"Known {text}.")
        assert [e.text for e in doc.ents] == [text]


def test_case_sensitive_abbreviations(nlp: Language) -> None:
    doc = nlp("PMH: CHF, HTN, DM2, COPD, CAD, AFib. Ruled out PE.")
    found = ents(doc)
    for abbr in ("CHF", "HTN", "DM2", "COPD", "CAD", "AFib", "PE"):
        assert found[abbr].label_ == "DIAGNOSIS", abbr
        assert found[abbr]._.clinnlp_confidence == CONFIDENCE_ABBREVIATION
        assert codes(found[abbr], "ICD-10-CM"), abbr
    assert codes(found["PE"], "ICD-10-CM") == ["I26.99"]


def test_lowercase_or_titlecase_short_forms_do_not_match(nlp: Language) -> None:
    doc = nlp("The pe ripheral pulses were normal. Pe said ms was not an issue. John Doe, Asa.")
    assert not any(e.text.lower() in {"pe", "ms", "doe", "asa"} for e in doc.ents)


def test_listed_abbreviations_match_in_lower_case_and_capitals(nlp: Language) -> None:
    # rules/lexicon_case_variants.json: short forms no English word shares
    found = ents(nlp("pt with chf, htn, dm2 and AFIB. Htn controlled. c/o sob. Takes asa."))
    for text, icd in (("chf", "I50.9"), ("htn", "I10"), ("dm2", "E11.9"), ("Htn", "I10")):
        assert codes(found[text], "ICD-10-CM") == [icd], text
    assert found["AFIB"].label_ == "DIAGNOSIS" and found["sob"].label_ == "FINDING"
    assert codes(found["asa"], "DrugBank") == ["DB00945"]


def test_medication_abbreviations(nlp: Language) -> None:
    found = ents(nlp("Home meds: ASA 81 mg daily, HCTZ 25 mg, NTG SL prn."))
    assert found["ASA"].label_ == "MEDICATION"
    assert codes(found["ASA"], "DrugBank") == ["DB00945"]
    assert found["HCTZ"].label_ == "MEDICATION"
    assert found["NTG"].label_ == "MEDICATION"


def test_requires_value_labs_and_vitals(nlp: Language) -> None:
    doc = nlp("Labs: K 3.2, Na: 135, Cr 1.4. Vitals: T 38.1 HR 110 BP 90/60.")
    found = ents(doc)
    for abbr, kind in (("K", "lab"), ("Na", "lab"), ("Cr", "lab"), ("T", "vital"), ("HR", "vital"), ("BP", "vital")):
        assert found[abbr].label_ == "FINDING", abbr
        assert found[abbr]._.clinnlp_finding_kind == kind, abbr
        assert found[abbr]._.clinnlp_confidence == CONFIDENCE_WITH_VALUE
    assert codes(found["K"], "LOINC") == ["2823-3"]


def test_requires_value_blocks_words_without_a_value(nlp: Language) -> None:
    doc = nlp("Give vitamin K tonight. Grade K lesion. K was not checked. T cells.")
    labs = [e for e in doc.ents if e.label_ == "FINDING"]
    assert labs == []
    assert ents(doc)["vitamin K"].label_ == "MEDICATION"


def test_diagnosis_codes(nlp: Language) -> None:
    found = ents(nlp("Hypertension and atrial fibrillation."))
    assert codes(found["Hypertension"], "ICD-10-CM")[0] == "I10"
    assert codes(found["atrial fibrillation"], "ICD-10-CM")[0] == "I48.91"
    assert codes(found["Hypertension"], "DOID")


def test_categories_that_are_also_blocks_are_icd_codes(nlp: Language) -> None:
    """simple-icd-10-cm calls C50 and B20 blocks too; the lexicon still codes with them."""
    from clinnlp.lexicon.build import is_icd_code

    assert is_icd_code("C50") and is_icd_code("B20") and is_icd_code("C50.919")
    assert not is_icd_code("C00-C96") and not is_icd_code("2") and not is_icd_code("C50.X")
    assert codes(ents(nlp("Mother with breast cancer."))["breast cancer"], "ICD-10-CM")[0] == "C50"


def test_icd_nonessential_modifiers_are_left_out_of_names(nlp: Language) -> None:
    """ICD-10-CM's parenthesised words are optional by its own convention, so the plain name
    is a term: 'pericardial effusion' gets I31.3 (Pericardial effusion (noninflammatory))."""
    from clinnlp.lexicon.build import clean_icd_description

    assert clean_icd_description("Pericardial effusion (noninflammatory)") == "Pericardial effusion"
    assert clean_icd_description("Venous insufficiency (chronic) (peripheral)") == "Venous insufficiency"
    assert clean_icd_description("Fracture of lesser toe(s)") == "Fracture of lesser toe"
    assert clean_icd_description("Other specified disorders (of nose)") is None
    found = ents(nlp("Echo showed a pericardial effusion and venous insufficiency."))
    assert codes(found["pericardial effusion"], "ICD-10-CM")[0] == "I31.3"
    assert codes(found["venous insufficiency"], "ICD-10-CM")[0] == "I87.2"


def test_malignant_morphology_of_a_site_gets_the_sites_neoplasm_code(nlp: Language) -> None:
    """ICD-10-CM codes carcinomas by site ('Adenocarcinoma - see Neoplasm, malignant, by
    site'); with no site, C80.1."""
    from clinnlp.lexicon.build import neoplasm_aliases

    assert "adenocarcinoma of prostate" in neoplasm_aliases("Malignant neoplasm of prostate")
    assert "prostate carcinoma" in neoplasm_aliases("Malignant neoplasm of prostate")
    assert neoplasm_aliases("Benign neoplasm of prostate") == []
    found = ents(nlp("Adenocarcinoma of prostate. Bladder carcinoma. Metastatic adenocarcinoma."))
    assert codes(found["Adenocarcinoma of prostate"], "ICD-10-CM")[0] == "C61"
    assert codes(found["Bladder carcinoma"], "ICD-10-CM")[0] == "C67.9"
    assert codes(found["adenocarcinoma"], "ICD-10-CM")[0] == "C80.1"


def test_medication_codes_generic_and_brand(nlp: Language) -> None:
    found = ents(nlp("Metformin 500 mg bid and Lasix 40 mg daily; also furosemide."))
    assert codes(found["Metformin"], "DrugBank")[0] == METFORMIN
    assert codes(found["Lasix"], "DrugBank")[0] == FUROSEMIDE
    assert codes(found["furosemide"], "DrugBank")[0] == FUROSEMIDE
    zyloric = ents(nlp("Started Zyloric."))["Zyloric"]
    assert codes(zyloric, "DrugBank") == codes(ents(nlp("Started allopurinol."))["allopurinol"], "DrugBank")


def test_code_dicts_have_the_schema_shape(nlp: Language) -> None:
    for ent in nlp("CHF on Lasix with chest pain and K 3.1.").ents:
        assert ent._.clinnlp_codes
        for code in ent._.clinnlp_codes:
            assert set(code) == {"system", "code", "display", "score"}
            assert 0.0 <= code["score"] <= 1.0


def test_extension_attributes(nlp: Language) -> None:
    doc = nlp("Chest pain, wheezing and hemoglobin of 9.8.")
    for ent in doc.ents:
        assert ent._.clinnlp_source == "clinnlp_lexicon_ner"
        assert 0.0 < ent._.clinnlp_confidence <= 1.0
        assert ent._.clinnlp_finding_kind in {"symptom", "sign", "lab", "vital", "other"}
    kinds = {e.text: e._.clinnlp_finding_kind for e in doc.ents}
    assert kinds == {"Chest pain": "symptom", "wheezing": "sign", "hemoglobin": "lab"}


def test_offsets_match_the_text(nlp: Language) -> None:
    text = (
        "ASSESSMENT:  CHF exacerbation,  community-acquired pneumonia;\n\nMeds: Lasix 40 mg, "
        "ASA 81 mg.  Labs: K 3.2, Na: 135.  Crohn's disease.  Pt's BP 120/80."
    )
    doc = nlp(text)
    assert len(doc.ents) >= 7
    for ent in doc.ents:
        assert ent.text == doc.text[ent.start_char : ent.end_char]


def test_common_english_words_are_not_mentions(nlp: Language) -> None:
    doc = nlp("Today the water was clear; she drinks coffee, takes ice and salt. Date of birth withheld.")
    assert list(doc.ents) == []


def test_block_phrases_suppress_false_positives(nlp: Language) -> None:
    doc = nlp("ASA monitors were attached. Bilateral PE tubes placed. SpO2 98% on RA.")
    texts = {e.text for e in doc.ents}
    assert not texts & {"ASA", "PE", "RA"}
    assert "SpO2" in texts


def test_keeps_non_overlapping_existing_entities(nlp: Language) -> None:
    doc = nlp.make_doc("Dr Smith notes hypertension.")
    doc.ents = [Span(doc, 1, 2, label="PERSON")]
    doc = nlp(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [("Smith", "PERSON"), ("hypertension", "DIAGNOSIS")]


def test_labels_option_limits_output() -> None:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("clinnlp_lexicon_ner", config={"labels": ["MEDICATION"]})
    doc = pipeline("Hypertension treated with lisinopril.")
    assert [(e.text, e.label_) for e in doc.ents] == [("lisinopril", "MEDICATION")]
    with pytest.raises(ConfigError):
        spacy.blank("en").add_pipe("clinnlp_lexicon_ner", config={"labels": ["DRUG"]})


def test_packaged_resource_is_compact_and_complete() -> None:
    path = packaged_path()
    assert path.stat().st_size < 4 * 1024 * 1024
    counts = load_lexicon().label_counts()
    assert counts["DIAGNOSIS"] > 10_000
    assert counts["MEDICATION"] > 10_000
    assert counts["FINDING"] > 300


def test_missing_resource_raises_resource_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="not found"):
        load_lexicon(str(tmp_path / "nope.tsv.gz"))


def test_corrupt_resource_raises_resource_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tsv.gz"
    garbage.write_bytes(b"\x1f\x8b this is not gzip data")
    with pytest.raises(ResourceError, match="corrupt"):
        load_lexicon(str(garbage))
    wrong = tmp_path / "wrong.tsv.gz"
    with gzip.open(wrong, "wt", encoding="utf-8") as fh:
        fh.write("hello\tworld\n")
    with pytest.raises(ResourceError, match="not a clinnlp lexicon"):
        load_lexicon(str(wrong))
