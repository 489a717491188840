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
