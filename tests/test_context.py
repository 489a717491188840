"""Assertion rules (clinnlp_context): each ConText phenomenon with exact expected flags, and the scorer."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc

import clinnlp.components.context  # noqa: F401  registers clinnlp_context
import clinnlp.components.sections  # noqa: F401  registers clinnlp_sections
import clinnlp.components.sentences  # noqa: F401  registers clinnlp_sentences
from clinnlp.assertion_metrics import score_assertions
from clinnlp.components.context import assert_spans, load_rules
from clinnlp.errors import ConfigError

NONE = {"negated": False, "uncertain": False, "historical": False, "hypothetical": False, "family": False, "resolved": False}


def flags(**set_true: bool) -> dict[str, bool]:
    """An assertion dict with the given attributes set."""
    return {**NONE, **set_true}


@pytest.fixture(scope="module")
def nlp() -> Language:
    """Layout components plus the context rules on a blank English pipeline (no NER)."""
    pipeline = spacy.blank("en")
    pipeline.add_pipe("clinnlp_sections")
    pipeline.add_pipe("clinnlp_sentences")
    pipeline.add_pipe("clinnlp_context")
    return pipeline


def make_doc(nlp: Language, text: str, mentions: list[str]) -> Doc:
    """Run the pipeline with ``mentions`` (first occurrences, in order) set as doc.ents by hand."""
    doc = nlp.make_doc(text)
    for name in ("clinnlp_sections", "clinnlp_sentences"):
        doc = nlp.get_pipe(name)(doc)
    spans, offset = [], 0
    for mention in mentions:
        start = text.index(mention, offset)
        span = doc.char_span(start, start + len(mention), label="FINDING")
        assert span is not None, mention
        spans.append(span)
        offset = start + len(mention)
    doc.ents = spans
    return nlp.get_pipe("clinnlp_context")(doc)


def assertions(nlp: Language, text: str, *mentions: str) -> list[dict[str, bool]]:
    """The assertion dicts the component sets on ``mentions`` of ``text``."""
    return [ent._.clinnlp_assertion for ent in make_doc(nlp, text, list(mentions)).ents]


@pytest.mark.parametrize("text", ["Assessment: no evidence of pneumonia.", "Assessment:\nNo evidence of pneumonia."])
def test_negation_right_after_a_heading(nlp: Language, text: str) -> None:
    assert assertions(nlp, text, "pneumonia") == [flags(negated=True)]


def test_list_after_negation_is_all_negated(nlp: Language) -> None:
    got = assertions(nlp, "No fever, chills, or night sweats.", "fever", "chills", "night sweats")
    assert got == [flags(negated=True)] * 3


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Pneumonia was ruled out.", "Pneumonia"),
        ("Cough: negative", "Cough"),
        ("Blood transfusion: No", "Blood transfusion"),
        ("The test for tuberculosis is negative.", "tuberculosis"),
        ("Fever, cough and dyspnea were absent.", "cough"),
        ("The patient denies chest pain.", "chest pain"),
        ("Negative for hematuria.", "hematuria"),
        ("Margins free of tumor.", "tumor"),
        ("He was discharged without complications.", "complications"),
        ("There was no evidence of metastasis.", "metastasis"),
        ("Neither murmurs nor gallops were heard.", "gallops"),
    ],
)
def test_negation_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(negated=True)]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("There was no increase in pain.", "pain"),
        ("Cultures grew gram negative rods.", "rods"),
        ("No change in the effusion.", "effusion"),
        ("The pain did not improve with rest.", "pain"),
        ("The nodule is stable.", "nodule"),  # "no" inside "nodule" is no cue
        ("The abdomen was non-tender.", "non-tender"),  # a glued prefix is part of the term
    ],
)
def test_pseudo_negation_and_whole_words(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [NONE]


def test_termination_ends_the_scope(nlp: Language) -> None:
    assert assertions(nlp, "No fever but has cough.", "fever", "cough") == [flags(negated=True), NONE]
    got = assertions(nlp, "No rash; however, she reports itching.", "rash", "itching")
    assert got == [flags(negated=True), NONE]


def test_scope_stays_in_the_sentence(nlp: Language) -> None:
    assert assertions(nlp, "No fever. Cough persists.", "fever", "Cough") == [flags(negated=True), NONE]


def test_cue_inside_a_mention_counts_forward(nlp: Language) -> None:
    assert assertions(nlp, "Echo showed no signs of endocarditis.", "no signs of endocarditis") == [flags(negated=True)]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Findings are concerning for pneumonia.", "pneumonia"),
        ("Possible pneumonia in the left base.", "pneumonia"),
        ("Pulmonary embolism cannot be excluded.", "Pulmonary embolism"),
        ("Admitted to r/o myocardial infarction.", "myocardial infarction"),
        ("Suspected appendicitis.", "appendicitis"),
        ("Findings likely represent atelectasis.", "atelectasis"),
        ("Pneumonia versus atelectasis.", "atelectasis"),
        ("Questionable fracture of the radius.", "fracture"),
    ],
)
def test_uncertainty_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(uncertain=True)]


def test_cannot_be_excluded_is_not_negation(nlp: Language) -> None:
    assert assertions(nlp, "Sepsis could not be ruled out.", "Sepsis") == [flags(uncertain=True)]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("History of asthma.", "asthma"),
        ("She is s/p appendectomy.", "appendectomy"),
        ("He had a prior myocardial infarction.", "myocardial infarction"),
        ("Status post cholecystectomy.", "cholecystectomy"),
    ],
)
def test_history_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(historical=True)]


def test_history_of_present_illness_is_not_history(nlp: Language) -> None:
    assert assertions(nlp, "History of present illness: cough for two days.", "cough") == [NONE]


def test_no_history_of_is_negation(nlp: Language) -> None:
    assert assertions(nlp, "No history of diabetes.", "diabetes") == [flags(negated=True)]


def test_resolved_is_negated_and_historical(nlp: Language) -> None:
    """Decision: a resolved finding is not present now (negated) but was (historical)."""
    gone = flags(historical=True, negated=True, resolved=True)
    assert assertions(nlp, "The rash resolved after two days.", "rash") == [gone]
    assert assertions(nlp, "Imaging showed resolution of the effusion.", "effusion") == [gone]
    assert assertions(nlp, "Fever and cough cleared with antibiotics.", "Fever", "cough") == [gone, gone]
    assert assertions(nlp, "The anemia corrected by transfusion.", "anemia") == [gone]


def test_resolved_alias_can_mean_historical_only(nlp: Language) -> None:
    doc = make_doc(nlp, "The rash resolved after two days.", ["rash"])
    got = assert_spans(doc, doc.ents, aliases={"resolved": ["historical"]})
    assert got == [flags(historical=True)]  # the alias replaces the file's meaning


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Troponin was normal, thereby ruling out acute coronary syndrome.", "acute coronary syndrome"),
        ("The EEG did not show any anomaly.", "anomaly"),
        ("He remained seizure free for six months.", "seizure"),
        ("She was disease-free at follow-up.", "disease"),
    ],
)
def test_more_negation_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(negated=True)]


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("Weak to absent tendon reflexes and exercise intolerance.", ["tendon reflexes", "exercise intolerance"]),
        ("He reported absence of appetite.", ["absence of appetite"]),
        ("A free-floating thrombus was seen.", ["thrombus"]),
    ],
)
def test_not_negations(nlp: Language, text: str, mentions: list[str]) -> None:
    assert assertions(nlp, text, *mentions) == [NONE] * len(mentions)


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Mother had breast cancer.", "breast cancer"),
        ("Family history of colon cancer.", "colon cancer"),
        ("Diabetes in her father.", "Diabetes"),
        ("FH: hypertension.", "hypertension"),
        ("His grandmother died of a stroke.", "stroke"),
    ],
)
def test_family_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(family=True)]


def test_family_does_not_spill_onto_the_patient(nlp: Language) -> None:
    got = assertions(nlp, "Her mother had diabetes and she has asthma.", "diabetes", "asthma")
    assert got == [flags(family=True), NONE]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Return if you develop chest pain.", "chest pain"),
        ("Call if fever above 38.5.", "fever"),
        ("Should you develop shortness of breath, go to the ED.", "shortness of breath"),
        ("Watch for bleeding at the site.", "bleeding"),
        ("If she develops shortness of breath, return.", "shortness of breath"),
        ("Should the patient develop fever, call the clinic.", "fever"),
        ("If fever develops, return to the ED.", "fever"),
        ("Albuterol 2 puffs q4h prn wheezing.", "wheezing"),  # a PRN reason: why to give it, not a finding
        ("Acetaminophen 650 mg q6h as needed for pain.", "pain"),
    ],
)
def test_hypothetical_cues(nlp: Language, text: str, mention: str) -> None:
    assert assertions(nlp, text, mention) == [flags(hypothetical=True)]


def test_a_conditional_scope_ends_at_a_comma(nlp: Language) -> None:
    """The main clause after "If X," and the next drug of a list after "prn," are not conditional."""
    assert assertions(nlp, "If fever, call cardiology.", "fever", "cardiology")[1] == flags()
    assert assertions(nlp, "Ibuprofen prn, metoprolol 25 mg daily.", "Ibuprofen", "metoprolol") == [flags(), flags()]


def test_likely_after_a_diagnosis_is_uncertain(nlp: Language) -> None:
    assert assertions(nlp, "UTI likely.", "UTI") == [flags(uncertain=True)]


def test_a_refused_or_declined_drug_is_negated(nlp: Language) -> None:
    """So FHIR says MedicationStatement not-taken, not active."""
    assert assertions(nlp, "Patient refused warfarin.", "warfarin") == [flags(negated=True)]
    assert assertions(nlp, "He declined aspirin.", "aspirin") == [flags(negated=True)]


def test_consider_is_uncertain(nlp: Language) -> None:
    assert assertions(nlp, "If symptoms worsen, consider pneumonia.", "pneumonia") == [flags(uncertain=True)]


def test_section_context(nlp: Language) -> None:
    text = (
        "FAMILY HISTORY:\nDiabetes in several relatives.\n\n"
        "PAST MEDICAL HISTORY:\nAsthma.\n\n"
        "ALLERGIES:\nPenicillin.\n\n"
        "DISCHARGE INSTRUCTIONS:\nTake aspirin daily. Return for chest pain.\n\n"
        "ASSESSMENT:\nCough."
    )
    doc = make_doc(nlp, text, ["Diabetes", "Asthma", "Penicillin", "aspirin", "chest pain", "Cough"])
    names = [s.name for s in doc._.clinnlp_sections]
    assert {"family_history", "past_medical_history", "allergies", "instructions"} <= set(names), names
    got = [ent._.clinnlp_assertion for ent in doc.ents]
    assert got == [
        flags(family=True),
        flags(historical=True),
        NONE,  # allergies are left to the medication component
        NONE,  # instructions alone make nothing hypothetical...
        flags(hypothetical=True),  # ...a cue does
        NONE,
    ]


def test_assert_spans_without_sentences_or_sections() -> None:
    doc = spacy.blank("en")("No fever, no cough.")
    assert assert_spans(doc, [doc[1:2], doc[4:5]]) == [flags(negated=True)] * 2
    assert assert_spans(doc, []) == []


def test_rules_load_and_bad_alias_config_fails() -> None:
    rules = load_rules()
    assert "resolved" in rules.aliases and rules.by_phrase["no"]
    pipeline = spacy.blank("en")
    with pytest.raises(ConfigError):
        pipeline.add_pipe("clinnlp_context", config={"aliases": {"resolved": ["gone"]}})


def test_score_assertions_hand_made() -> None:
    pairs = [
        (flags(negated=True), flags(negated=True)),  # tp
        (flags(negated=True), NONE),  # fn
        (NONE, flags(negated=True, uncertain=True)),  # fp, fp
        (flags(uncertain=True), flags(uncertain=True)),  # tp
        ({}, {}),  # missing keys are False
    ]
    scores = score_assertions(pairs)
    assert scores["negated"]["precision"] == pytest.approx(0.5)
    assert scores["negated"]["recall"] == pytest.approx(0.5)
    assert scores["negated"]["f1"] == pytest.approx(0.5)
    assert scores["negated"]["support"] == 2
    assert scores["uncertain"]["precision"] == pytest.approx(0.5)
    assert scores["uncertain"]["recall"] == pytest.approx(1.0)
    assert scores["uncertain"]["f1"] == pytest.approx(2 / 3)
    assert scores["uncertain"]["support"] == 1
    assert scores["family"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "tp": 0, "fp": 0, "fn": 0}


def test_trie_pattern_matches_like_the_flat_longest_first_alternation() -> None:
    """The compiled trie is a speed-up only: on text made of every cue phrase (pieces of
    phrases glued and split in odd ways too) it finds the same matches as the plain
    alternation of all phrases, longest first."""
    import re

    def phrase_regex(phrase: str) -> str:  # the plain, slow form of one phrase
        body = r"\s+".join(re.escape(part) for part in phrase.split())
        head = r"(?<![\w-])" if phrase[0].isalnum() else ""
        tail = r"(?![\w])" if phrase[-1].isalnum() else ""
        return head + body + tail

    rules = load_rules()
    ordered = sorted(rules.by_phrase, key=lambda p: (-len(p), p))
    flat = re.compile("|".join(phrase_regex(p) for p in ordered), re.IGNORECASE)
    phrases = list(rules.by_phrase)
    pieces = [" ".join(phrases), "\n".join(p.upper() for p in phrases), "-".join(phrases), "".join(phrases)]
    pieces.append("  ".join(p[: max(1, len(p) - 2)] for p in phrases))
    for text in pieces:
        assert [m.span() for m in rules.pattern.finditer(text)] == [m.span() for m in flat.finditer(text)]


@pytest.mark.parametrize(
    ("text", "cued", "measured", "flag"),
    [
        ("No fever, WBC 15.2 H.", "fever", "WBC", "negated"),
        ("Mother with diabetes, HbA1c 9.2.", "diabetes", "HbA1c", "family"),
        ("History of MI, troponin 0.9 H.", "MI", "troponin", "historical"),
    ],
)
def test_a_measured_result_is_not_reached_across_a_comma(text: str, cued: str, measured: str, flag: str) -> None:
    import clinnlp

    record = clinnlp.extract(text, ner="lexicon")
    mentions = {m.text: m.assertion for m in [*record.diagnoses, *record.findings]}
    assert getattr(mentions[cued], flag) and not any(vars(mentions[measured]).values())
    # without its value the mention is not a result, and the list rule holds
    assert clinnlp.extract("No fever, chills.", ner="lexicon").findings[1].assertion.negated


@pytest.mark.parametrize(
    ("text", "mentions", "expected"),
    [
        # a headed list is denied to its end, as without the heading
        ("GASTROINTESTINAL:  No nausea, vomiting, hematemesis, melena, or abdominal pain.",
         ["nausea", "abdominal pain"], [flags(negated=True)] * 2),
        ("ROS: Denies fever, chills, cough, melena, hematuria, or dysuria.", ["fever", "dysuria"], [flags(negated=True)] * 2),
        ("She has not had any chest pain.", ["chest pain"], [flags(negated=True)]),
        # a new statement or a new uncertain item ends a denial
        ("He denies dyspnea, and states that the pain is like his MI.", ["dyspnea", "pain", "MI"],
         [flags(negated=True), NONE, NONE]),
        ("No diabetes, questionable CAD.", ["diabetes", "CAD"], [flags(negated=True), flags(uncertain=True)]),
        ("No fever, started on ceftriaxone for pneumonia.", ["fever", "ceftriaxone", "pneumonia"],
         [flags(negated=True), NONE, NONE]),
        ("He was not started on warfarin.", ["warfarin"], [flags(negated=True)]),
        ("No other findings such as suspected metastasis.", ["metastasis"], [flags(negated=True, uncertain=True)]),
        # a relative who brings the child or reports is not whose history it is
        ("This 5-year-old boy was brought in by his mother with fever.", ["fever"], [NONE]),
        ("Mother states he has had cough for 3 days.", ["cough"], [NONE]),
        ("Mother with breast cancer.", ["breast cancer"], [flags(family=True)]),
        # backward history and likelihood cues reach only nearby mentions
        ("She has pneumonia today and was previously on warfarin.", ["pneumonia", "warfarin"], [NONE, flags(historical=True)]),
        ("Regarding his syncope, he was admitted with likely dehydration.", ["syncope", "dehydration"],
         [NONE, flags(uncertain=True)]),
        # a PRN reason is hypothetical up to the comma, not the drugs after it
        ("Tylenol as needed for pain, metoprolol daily.", ["pain", "metoprolol"], [flags(hypothetical=True), NONE]),
        ("Continue DVT prophylaxis.", ["DVT"], [flags(hypothetical=True)]),
        # a consent's list of risks: none of them happened
        ("Risks of anesthesia, bleeding, infection, MI, DVT, and PE were discussed.", ["bleeding", "PE"],
         [flags(hypothetical=True)] * 2),
    ],
)
def test_scopes_end_where_a_clinician_reads_them_end(nlp: Language, text: str, mentions: list[str],
                                                     expected: list[dict[str, bool]]) -> None:
    assert assertions(nlp, text, *mentions) == expected


def test_a_drug_does_not_resolve_and_without_stops_at_using() -> None:
    import clinnlp

    record = clinnlp.extract("Phenergan resolved his nausea. Lidocaine without epinephrine using a tuberculin syringe.",
                             ner="lexicon")
    meds = {m.text: m.assertion for m in record.medications}
    assert not meds["Phenergan"].resolved and not meds["Phenergan"].negated  # not_for_labels
    assert record.findings[0].assertion.resolved  # the nausea did
    assert meds["epinephrine"].negated and not meds.get("tuberculin", meds["Lidocaine"]).negated
