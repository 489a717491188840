"""The linker: passes (exact, folded, word order, fuzzy), abbreviations, threshold, the
pipeline component, the sample notes' codes, and the normalisation metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.tokens import Span

import clinnlp
from clinnlp.components.linker import EntityLinker, long_forms_for
from clinnlp.errors import ConfigError
from clinnlp.extensions import install_extensions
from clinnlp.linking.linker import FUZZY_SCALE, Linker, term_index
from clinnlp.normalization_eval import document_concept_scores, gold_concepts, mention_accuracy
from clinnlp.readers.types import GoldDocument, GoldSpan


class FakeEncoder:
    """Bag-of-characters unit vectors: deterministic, no model load, similar texts stay close."""

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text:
                vectors[row, ord(ch) % 64] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)


@pytest.fixture(scope="module")
def linker() -> Linker:
    return Linker(term_index(), threshold=0.6, encoder=FakeEncoder())


def _first(codes: list[dict], system: str) -> dict | None:
    return next((c for c in codes if c["system"] == system), None)


def test_exact_abbreviation_and_full_name(linker: Linker) -> None:
    for text in ("CHF", "congestive heart failure"):
        codes = linker.link(text, "DIAGNOSIS")
        assert codes[0]["system"] == "ICD-10-CM" and codes[0]["code"].startswith("I50")
        assert codes[0]["score"] == 1.0


def test_plural_case_and_word_order(linker: Linker) -> None:
    plural = _first(linker.link("Congestive Heart Failures", "DIAGNOSIS"), "ICD-10-CM")
    assert plural is not None and plural["code"] == "I50.9" and plural["score"] == pytest.approx(0.97)
    reordered = _first(linker.link("failure heart congestive", "DIAGNOSIS"), "ICD-10-CM")
    assert reordered is not None and reordered["code"] == "I50.9" and reordered["score"] == pytest.approx(0.93)


def test_fuzzy_misspelling_scores_below_exact(linker: Linker) -> None:
    codes = linker.link("congestive hart failure", "DIAGNOSIS")
    icd = _first(codes, "ICD-10-CM")
    assert icd is not None and icd["code"].startswith("I50")
    assert 0.6 <= icd["score"] < FUZZY_SCALE


def test_threshold_gives_an_empty_list(linker: Linker) -> None:
    assert linker.link("xyzzy qwerty", "DIAGNOSIS") == []
    strict = Linker(term_index(), threshold=0.95, encoder=FakeEncoder())
    assert strict.link("congestive hart failure", "DIAGNOSIS") == []
    with pytest.raises(ConfigError, match="threshold"):
        Linker(term_index(), threshold=1.5)


def test_medication_brand_folds_to_ingredient(linker: Linker) -> None:
    codes = linker.link("Lasix", "MEDICATION")
    assert codes[0] == {**codes[0], "system": "DrugBank", "code": "DB00695"}
    assert linker.link("furosemide", "DIAGNOSIS") == [] or all(c["system"] != "DrugBank" for c in linker.link("furosemide", "DIAGNOSIS"))


def test_abbreviation_long_form_is_looked_up(linker: Linker) -> None:
    assert long_forms_for("PD", {"PD": "Parkinson's disease"}) == ("Parkinson's disease",)
    assert long_forms_for("PD patients", {"PD": "Parkinson's disease"}) == ("Parkinson's disease patients",)
    assert long_forms_for("tremor", {"PD": "Parkinson's disease"}) == ()
    assert _first(linker.link("PD", "DIAGNOSIS"), "ICD-10-CM") is None  # alone: no ICD code for "PD"
    expanded = _first(linker.link("PD", "DIAGNOSIS", ("Parkinson's disease",)), "ICD-10-CM")
    assert expanded is not None and expanded["code"].startswith("G20")


def test_capital_first_letter_is_the_same_spelling_and_form_words_drop(linker: Linker) -> None:
    """"Diabetes" at the start of a list item scores like "diabetes" (a usual-default code at
    0.7, so a 0.97 folded match would fall under the default threshold); a dosage-form word
    after a drug name is dropped ("salbutamol inhaler" -> salbutamol)."""
    default = Linker(term_index(), encoder=FakeEncoder())
    assert default.link("Diabetes", "DIAGNOSIS") == default.link("diabetes", "DIAGNOSIS")
    assert _first(default.link("Diabetes", "DIAGNOSIS"), "ICD-10-CM")["code"] == "E11.9"
    assert _first(linker.link("salbutamol inhaler", "MEDICATION"), "DrugBank")["code"] == "DB01001"


def test_inverted_mesh_headings_are_also_read_in_reading_order(linker: Linker) -> None:
    from clinnlp.lexicon.mesh_descriptors import reading_order

    assert reading_order(("meningitis", ",", "cryptococcal")) == ("cryptococcal", "meningitis")
    assert reading_order(("leukemia", ",", "myeloid", ",", "acute")) == ("acute", "myeloid", "leukemia")
    assert reading_order(("heart", "failure")) is None and reading_order((",", "x")) is None
    mesh = _first(linker.link("cryptococcal meningitis", "DIAGNOSIS"), "MeSH")
    assert mesh is not None and mesh["code"] == "D016919"  # MeSH: "Meningitis, Cryptococcal"


def test_mesh_from_bc5cdr_train(linker: Linker) -> None:
    mesh = _first(linker.link("naloxone", "MEDICATION"), "MeSH")
    assert mesh is not None and mesh["code"] == "D009270"


def _doc_with_span(text: str, start: int, end: int, label: str):  # type: ignore[no-untyped-def]
    install_extensions()
    nlp = spacy.blank("en")
    doc = nlp(text)
    span = doc.char_span(start, end, label=label)
    span._.clinnlp_codes = []
    doc.ents = [span]
    return nlp, doc


def test_component_fills_codes_of_uncoded_mentions() -> None:
    nlp, doc = _doc_with_span("History of congestive heart failure.", 11, 35, "DIAGNOSIS")
    component = EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=False, require_primary=True)
    component(doc)
    codes = doc.ents[0]._.clinnlp_codes
    assert codes[0]["system"] == "ICD-10-CM" and codes[0]["code"] == "I50.9"


def test_component_require_primary_gives_explicit_empty_list() -> None:
    # "ACE inhibitor" is a drug class: a MeSH id (BC5CDR train) but no DrugBank ingredient
    nlp, doc = _doc_with_span("Started an ACE inhibitor.", 11, 24, "MEDICATION")
    EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=False, require_primary=True)(doc)
    assert doc.ents[0]._.clinnlp_codes == []
    nlp, doc = _doc_with_span("Started an ACE inhibitor.", 11, 24, "MEDICATION")
    EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=False, require_primary=False)(doc)
    assert any(c["system"] == "MeSH" for c in doc.ents[0]._.clinnlp_codes)


def test_native_labels_link_through_head_rules() -> None:
    nlp, doc = _doc_with_span("Renal failure after cisplatin.", 0, 13, "Disease")
    doc.ents[0]._.clinnlp_native_label = "bc5cdr:Disease"
    EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=False, require_primary=True)(doc)
    assert _first(doc.ents[0]._.clinnlp_codes, "MeSH") == {**_first(doc.ents[0]._.clinnlp_codes, "MeSH"), "code": "D051437"}


def test_pipeline_has_the_linker() -> None:
    names = clinnlp.load(ner="lexicon").pipe_names
    assert names.index("clinnlp_lexicon_ner") < names.index("clinnlp_linker") < names.index("clinnlp_context")
    assert "clinnlp_linker" not in clinnlp.load(ner="lexicon", linker=False).pipe_names


def test_sample_notes_every_diagnosis_and_medication_coded_or_empty(sample_notes: list[Path]) -> None:
    coded = 0
    for path in sample_notes:
        record = clinnlp.extract(path.read_text(encoding="utf-8"), doc_id=path.name, ner="lexicon")
        for mention, system in [*((d, "ICD-10-CM") for d in record.diagnoses), *((m, "DrugBank") for m in record.medications)]:
            systems = {c.system for c in mention.codes}
            assert mention.codes == [] or system in systems, (path.name, mention.text, systems)
            coded += bool(mention.codes)
            assert all(0.0 <= c.score <= 1.0 for c in mention.codes)
    assert coded > 20


@pytest.mark.slow
def test_sample_notes_hybrid_every_diagnosis_and_medication_coded_or_empty(sample_notes: list[Path]) -> None:
    for path in sample_notes:
        record = clinnlp.extract(path.read_text(encoding="utf-8"), doc_id=path.name)
        for mention, system in [*((d, "ICD-10-CM") for d in record.diagnoses), *((m, "DrugBank") for m in record.medications)]:
            assert mention.codes == [] or system in {c.system for c in mention.codes}, (path.name, mention.text)


def _span(start: int, text: str, label: str, ids: tuple[str, ...]) -> GoldSpan:
    return GoldSpan(start, start + len(text), label, text, concept_ids=ids)


def test_document_concept_scores_by_hand() -> None:
    doc = GoldDocument("1", "x" * 50, (_span(0, "aa", "Disease", ("D1",)), _span(5, "bb", "Disease", ("D2", "D3")), _span(9, "c", "Chemical", ())))
    gold = {"1": gold_concepts(doc), "2": {("Disease", "D9")}}
    predicted = {"1": {("Disease", "D1"), ("Disease", "D4"), ("Chemical", "C1")}}
    scores = document_concept_scores(gold, predicted, ["Disease", "Chemical"])
    # Disease: gold {1:D1,D2,D3; 2:D9}, predicted {1:D1,D4}: tp 1, fp 1, fn 3
    assert scores["Disease"] == {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "tp": 1, "fp": 1, "fn": 3}
    assert scores["Chemical"]["fp"] == 1 and scores["Chemical"]["precision"] == 0.0


def test_mention_accuracy_by_hand() -> None:
    cases = [("Disease", ("D1",), "D1"), ("Disease", ("D2", "D3"), "D3"), ("Disease", ("D4",), None), ("Disease", (), None), ("Chemical", ("C1",), "C2")]
    accuracy, counts = mention_accuracy(cases)
    assert accuracy == {"Chemical": 0.0, "Disease": 0.6667}
    assert counts["Disease"] == {"correct": 2, "scored": 3, "skipped": 1}


def test_evaluate_adds_the_normalization_block(tiny_pubtator: Path) -> None:
    from clinnlp.evaluation import DataSpec, evaluate
    from clinnlp.readers.registry import load_label_map

    data = tiny_pubtator
    spec = DataSpec(f"pubtator:{data}", "pubtator", load_label_map("bc5cdr"))
    metrics = evaluate([spec], ner="lexicon")
    block = metrics["normalization"]
    assert set(block["mention_accuracy"]) == {"DIAGNOSIS", "MEDICATION"}
    assert block["mention_accuracy"]["DIAGNOSIS"] == 1.0  # renal failure x2, hypertension: MeSH from train names
    assert set(block["document_concepts"]["DIAGNOSIS"]) >= {"precision", "recall", "f1"}
    json.dumps(metrics)


class CountingEncoder(FakeEncoder):
    """Counts forward passes (calls with texts not yet cached)."""

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.cache]
        if missing:
            self.calls += 1
            for text, vector in zip(missing, super().encode(missing)):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


def test_prefetch_embeds_once_and_changes_nothing() -> None:
    mentions = [("congestive hart failure", "DIAGNOSIS", ()), ("furosemid", "MEDICATION", ()), ("CHF", "DIAGNOSIS", ())]
    plain = Linker(term_index(), threshold=0.6, encoder=FakeEncoder())
    expected = [plain.link(t, label, lf) for t, label, lf in mentions]
    encoder = CountingEncoder()
    batched = Linker(term_index(), threshold=0.6, encoder=encoder)
    batched.prefetch(mentions)
    assert encoder.calls == 1
    assert [batched.link(t, label, lf) for t, label, lf in mentions] == expected
    assert encoder.calls == 1  # every fuzzy candidate was already embedded


def test_link_memo_gives_equal_copies_and_skips_the_work() -> None:
    linker = Linker(term_index(), threshold=0.6, encoder=FakeEncoder())
    first = linker.link("congestive hart failure", "DIAGNOSIS")
    first[0]["code"] = "edited by a caller"
    linker.index = None  # type: ignore[assignment]  # a second lookup must not touch the index
    again = linker.link("congestive hart failure", "DIAGNOSIS")
    assert again == Linker(term_index(), threshold=0.6, encoder=FakeEncoder()).link("congestive hart failure", "DIAGNOSIS")
    assert again[0]["code"] != "edited by a caller"


def test_component_links_a_batch_of_documents_with_one_prefetch() -> None:
    """``pipe`` embeds the fuzzy candidates of several documents in one call and gives
    each mention the codes it gets when its document is linked alone."""
    texts = [("History of congestive hart failure.", 11, 34, "DIAGNOSIS"), ("Given furosemid.", 6, 15, "MEDICATION")]
    alone = []
    for text, start, end, label in texts:
        nlp, doc = _doc_with_span(text, start, end, label)
        component = EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=True, require_primary=False)
        component.linker._encoder = FakeEncoder()
        alone.append(component(doc).ents[0]._.clinnlp_codes)
    docs = [_doc_with_span(*t)[1] for t in texts]
    component = EntityLinker(nlp, "clinnlp_linker", threshold=0.6, rerank=True, require_primary=False)
    encoder = CountingEncoder()
    component.linker._encoder = encoder
    assert [d.ents[0]._.clinnlp_codes for d in component.pipe(docs, batch_size=2)] == alone
    assert encoder.calls == 1 and all(alone)


def test_lru_memo_drops_the_least_recently_used() -> None:
    from clinnlp.linking.memo import LruMemo

    memo: LruMemo[str, int] = LruMemo(2)
    memo["a"], memo["b"] = 1, 2
    assert memo.get("a") == 1  # "a" is now the most recent
    memo["c"] = 3
    assert "b" not in memo and memo.get("a") == 1 and memo.get("c") == 3 and len(memo) == 2
    with pytest.raises(ConfigError, match="at least 1"):
        LruMemo(0)


def test_term_encoder_cache_is_bounded_and_a_larger_batch_still_encodes(monkeypatch: pytest.MonkeyPatch) -> None:
    from clinnlp.linking import embeddings

    monkeypatch.setattr(embeddings, "CACHE_SIZE", 3)
    encoder = embeddings.TermEncoder()
    texts = ["renal failure", "kidney failure", "heart failure", "hepatitis", "cirrhosis"]
    vectors = encoder.encode(texts + texts[:1])
    assert vectors.shape == (6, 384) and np.allclose(vectors[0], vectors[5])
    assert len(encoder._cache) == 3
    assert np.allclose(encoder.encode(texts), vectors[:5], atol=1e-5)


def test_term_encoder_batches_by_length_and_bf16_stays_close() -> None:
    """Length-sorted batches give each text the vector it gets alone; bf16 (the batch
    engine's CPU mode) moves vectors too little to change a ranking."""
    from clinnlp.linking.embeddings import BATCH_SIZE, TermEncoder

    texts = [f"{'chronic ' * (i % 7)}kidney disease {i}" for i in range(BATCH_SIZE + 5)]
    texts.append("congestive heart failure with reduced ejection fraction of the left ventricle")
    together = TermEncoder().encode(texts)
    alone = np.stack([TermEncoder().encode([t])[0] for t in (texts[0], texts[-1])])
    assert np.allclose(together[[0, -1]], alone, atol=1e-4)
    half = TermEncoder(precision="bf16").encode(texts)
    assert float(np.min(np.sum(half * together, axis=1))) > 0.99
    with pytest.raises(ConfigError):
        TermEncoder(precision="fp8")
    with pytest.raises(ConfigError, match="int8 precision is for CPU"):
        TermEncoder(precision="int8", device="cuda")


def test_pipeline_gives_the_linker_the_ner_device() -> None:
    """The term encoder follows the transformer's device (a GPU run keeps it off the CPU);
    with the lexicon back-end there is no model device and it stays on the CPU."""
    import clinnlp

    hybrid = clinnlp.load(ner="hybrid", device="cpu", precision="bf16")
    assert hybrid.get_pipe_config("clinnlp_linker")["device"] == "cpu"
    encoder = hybrid.get_pipe("clinnlp_linker").linker.encoder
    assert (encoder.device, encoder.precision) == ("cpu", "bf16")
    assert clinnlp.load(ner="lexicon").get_pipe_config("clinnlp_linker")["device"] == "cpu"


def _descriptor_file(tmp_path: Path, csv_text: str) -> str:
    from clinnlp.lexicon.mesh_descriptors import rows_from_csv, write_rows

    out = tmp_path / "descriptors.tsv.gz"
    write_rows(rows_from_csv(csv_text), out)
    return str(out)


DESCRIPTOR_CSV = (
    "id,scheme,subject\n"
    "https://id.nlm.nih.gov/mesh/D002110,MeSH,Caffeine\n"
    "https://id.nlm.nih.gov/mesh/D002110Q000009,MeSH,Caffeine/adverse effects\n"
    "https://id.nlm.nih.gov/mesh/D999991,MeSH,Zorbulinic Acids\n"
)


def test_descriptor_rows_skip_qualifier_combinations(tmp_path: Path) -> None:
    from clinnlp.lexicon.mesh_descriptors import load_descriptors

    found = load_descriptors(_descriptor_file(tmp_path, DESCRIPTOR_CSV))
    assert [(d.surface, d.mesh) for d in found] == [("Caffeine", "D002110"), ("Zorbulinic Acids", "D999991")]
    assert found[1].key == ("zorbulinic", "acid")  # folded like every lexicon key


def test_descriptor_names_add_mesh_ids_exact_only(tmp_path: Path) -> None:
    from clinnlp.linking.linker import TermIndex

    index = TermIndex(descriptor_path=_descriptor_file(tmp_path, DESCRIPTOR_CSV))
    linker = Linker(index, threshold=0.6, encoder=FakeEncoder())
    assert _first(linker.link("caffeine", "MEDICATION"), "MeSH")["code"] == "D002110"
    assert _first(linker.link("caffeine", "MEDICATION"), "DrugBank") is not None  # the DrugBank term got the id
    assert _first(linker.link("zorbulinic acid", "MEDICATION"), "MeSH")["code"] == "D999991"
    assert _first(linker.link("Zorbulinic acids", "DIAGNOSIS"), "MeSH")["code"] == "D999991"  # category unknown
    fuzzy = _first(linker.link("zorbulinic acidz", "MEDICATION"), "MeSH")
    assert fuzzy is None or fuzzy["code"] != "D999991"  # never a fuzzy candidate


def test_icd_ties_go_to_the_unspecified_code() -> None:
    # "cutaneous melanoma" carries C43.0 (lip) to C43.9 with one score; the lip came first
    from clinnlp.pipeline import extract

    record = extract("History of cutaneous melanoma.", ner="lexicon")
    icd = [c.code for c in record.diagnoses[0].codes if c.system == "ICD-10-CM"]
    assert icd == ["C43.9"]


def test_a_historical_acute_event_gets_its_history_code() -> None:
    from clinnlp.linking.history_codes import history_code
    from clinnlp.pipeline import extract

    record = extract("History of MI in 1995. Acute MI today. Mother had a stroke. History of hypertension.", ner="lexicon")
    icd = [[c.code for c in d.codes if c.system == "ICD-10-CM"] for d in record.diagnoses]
    assert icd == [["I25.2"], ["I21.9"], ["I63.9"], ["I10"]]  # a relative's event and a chronic disease keep theirs
    assert history_code("G45.9") is not None and history_code("G45.4") is None  # transient global amnesia is no TIA
