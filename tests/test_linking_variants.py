"""Linker recall aids: rule-made rewrites, the Schwartz-Hearst abbreviation finder, and
MeSH ids carried over shared DrugBank codes (tiny synthetic MeSH resources)."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from clinnlp.components.linker import abbreviation_map
from clinnlp.lexicon.mesh import write_rows
from clinnlp.linking.abbreviations import best_long_form, find_abbreviations
from clinnlp.linking.linker import VARIANT_SCORE, Linker, TermIndex
from clinnlp.linking.variants import variants


def _rewrites(*words: str) -> dict[tuple[str, ...], int]:
    return dict(variants(tuple(words)))


def test_variants_cover_adjectives_organs_reordering_and_salts() -> None:
    assert _rewrites("hypotensive")[("hypotension",)] == 1
    assert _rewrites("psychotic")[("psychosis",)] == 1
    assert _rewrites("cerebral", "edema")[("brain", "edema")] == 1
    assert _rewrites("cerebral", "oedema")[("brain", "edema")] == 2
    assert _rewrites("calcification", "of", "the", "artery")[("artery", "calcification")] == 1
    assert _rewrites("ketamine", "hydrochloride")[("ketamine",)] == 1


def test_variants_fewest_rewrites_first_and_bounded() -> None:
    found = variants(("acute", "hepatic", "cerebral", "renal", "cardiac", "damage", "of", "the", "liver"))
    edits = [n for _, n in found]
    assert edits == sorted(edits) and max(edits) <= 2 and len(found) <= 400
    assert variants(("zzz",)) == []


def test_abbreviation_finder_reads_glued_and_listed_definitions() -> None:
    text = (
        "Rats given isoproterenol (ISO)-induced injury. Sodium nitroprusside (SNP, n = 7) was infused. "
        "Values were lower (P < 0.05) and (n = 12). ISO and SNP again."
    )
    found = find_abbreviations(text)
    assert found == {"ISO": "isoproterenol", "SNP": "Sodium nitroprusside"}


def test_abbreviation_finder_reads_colon_items_and_digit_comma_short_forms() -> None:
    text = (
        "Phenobarbital (PB: 15 mg per rat) with diethylnitrosamine (DEN: 10 mg/kg/day). "
        "The neurotoxin 5,7-dihydroxytryptamine (5,7-DHT) was injected. "
        "Doses (1,2 mg) differed (P: 0.05)."
    )
    assert find_abbreviations(text) == {
        "PB": "Phenobarbital", "DEN": "diethylnitrosamine", "5,7-DHT": "5,7-dihydroxytryptamine",
    }


def test_parenthesis_finder_matches_scispacys_matcher_and_stays_linear() -> None:
    """clinnlp_abbreviations replaces only scispaCy's ``( + )`` Matcher, whose output grows
    with the square of a note's parentheses; what scispaCy keeps of it must be identical."""
    import scispacy.abbreviation  # noqa: F401

    from clinnlp.components.abbreviations import MAX_INSIDE, BoundedParentheses

    nlp = spacy.blank("en")
    reference = nlp.add_pipe("abbreviation_detector").matcher
    finder = BoundedParentheses(nlp.vocab.strings["parenthesis"])
    texts = [
        "Valproic acid (VPA) and carbamazepine (CBZ) (n = 12) were given; VPA (500 mg) later.",
        "a (b (c) d) e (f) ) ( ) (x)(y) ((a)) (b ) ( a ) )",
        "One " + "word " * 12 + "(too long inside: " + "w " * 9 + ")",
    ]
    for text in texts:
        doc = nlp.make_doc(text)
        assert finder(doc) == [m for m in reference(doc) if m[2] - m[1] - 2 <= MAX_INSIDE]
    long_note = nlp.make_doc("Hb 9.2 (L), K 3.1 (L), " * 2000)
    # each "(" reaches its own ")" and the next one (7 tokens inside), not all 4,000 later ones
    assert len(finder(long_note)) == 2 * 4000 - 1


def test_abbreviations_component_gives_scispacys_abbreviations() -> None:
    import scispacy.abbreviation  # noqa: F401

    import clinnlp.components.abbreviations  # noqa: F401

    text = "Patients on valproic acid (VPA) or carbamazepine (CBZ: 400 mg). VPA levels rose; CBZ did not."
    found = {}
    for factory in ("abbreviation_detector", "clinnlp_abbreviations"):
        nlp = spacy.blank("en")
        nlp.add_pipe(factory)
        found[factory] = sorted((a.start_char, a.text, a._.long_form.text) for a in nlp(text)._.abbreviations)
    assert found["clinnlp_abbreviations"] == found["abbreviation_detector"]
    assert ("VPA", "valproic acid") in {(t, lf) for _, t, lf in found["clinnlp_abbreviations"]}


def test_best_long_form_needs_every_character_in_order() -> None:
    assert best_long_form("HT", "patients with hypertension") == "hypertension"
    assert best_long_form("XQ", "patients with hypertension") is None


def test_abbreviation_map_adds_finder_definitions_without_scispacy() -> None:
    doc = spacy.blank("en")("Treated with zidovudine (ZDV)-induced myopathy.")
    assert abbreviation_map(doc) == {"ZDV": "zidovudine"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> TermIndex:
    path: Path = tmp_path_factory.mktemp("mesh") / "mesh.tsv.gz"
    write_rows(
        [
            ("bupropion", "bupropion", "MEDICATION", "D016642", 3, ""),
            ("wumpus hypotension", "wumpus hypotension", "DIAGNOSIS", "D999001", 2, ""),
        ],
        path,
    )
    return TermIndex(mesh_path=str(path))


def test_variant_reaches_a_term_the_words_do_not(index: TermIndex) -> None:
    linker = Linker(index, threshold=0.7, rerank=False)
    mesh = next(c for c in linker.link("wumpus hypotensive", "DIAGNOSIS") if c["system"] == "MeSH")
    assert mesh["code"] == "D999001" and mesh["score"] == pytest.approx(VARIANT_SCORE)


def test_mesh_id_carried_over_drugbank_synonym(index: TermIndex) -> None:
    linker = Linker(index, threshold=0.7, rerank=False)
    assert linker.top_code("Zyban", "MEDICATION", "MeSH") == "D016642"
