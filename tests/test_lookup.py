"""Terminology lookup: exact/folded/fuzzy passes, system filter, and the ``clinnlp lookup`` command."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from clinnlp.cli import lookup as _lookup_command  # noqa: F401  registers the command
from clinnlp.cli.main import app
from clinnlp.errors import ConfigError
from clinnlp.linking.lookup import Candidate, _index, known_systems, lookup

MUST_SHOW = ("CHF", "congestive heart failure")


def _is_i50(code: str) -> bool:
    return code == "I50" or code.startswith("I50.")


@pytest.mark.parametrize("term", MUST_SHOW)
def test_heart_failure_first_with_system_filter(term: str) -> None:
    results = lookup(term, system="ICD-10-CM")
    assert results and all(c.system == "ICD-10-CM" for c in results)
    assert _is_i50(results[0].code), results[:3]
    assert results[0].how == "exact" and results[0].score == 1.0


@pytest.mark.parametrize("term", MUST_SHOW)
def test_heart_failure_first_icd_without_filter(term: str) -> None:
    results = lookup(term)
    icd = [c for c in results if c.system == "ICD-10-CM"]
    assert icd and _is_i50(icd[0].code), results[:3]


def test_folded_match_and_case_insensitive_system() -> None:
    results = lookup("Congestive Heart Failures", system="icd-10-cm")
    assert results[0].code == "I50.9" and results[0].how == "folded" and results[0].score == 0.95


def test_misspelling_found_fuzzily() -> None:
    results = lookup("congestive hart failure", system="ICD-10-CM")
    assert _is_i50(results[0].code) and results[0].how == "fuzzy"
    assert 0 < results[0].score < 0.95


def test_mesh_descriptor_names_in_both_orders() -> None:
    """As the linker: MeSH's inverted heading is found written either way."""
    for term in ("cryptococcal meningitis", "Meningitis, Cryptococcal"):
        results = lookup(term, system="MeSH")
        assert results[0].code == "D016919" and results[0].how in ("exact", "folded"), results[:2]


def test_candidates_are_ranked_unique_and_bounded() -> None:
    results = lookup("congestive heart failure", top=25)
    assert 0 < len(results) <= 25
    assert all(isinstance(c, Candidate) and 0.0 <= c.score <= 1.0 for c in results)
    assert [c.score for c in results] == sorted((c.score for c in results), reverse=True)
    keys = [(c.system, c.code) for c in results]
    assert len(keys) == len(set(keys))
    assert len(lookup("CHF", top=3)) == 3


def test_unknown_system_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        lookup("CHF", system="ICD-9")
    assert "ICD-10-CM" in str(info.value) and "SNOMED CT" in str(info.value)
    assert {"ICD-10-CM", "DrugBank", "MeSH", "SNOMED CT"} <= set(known_systems())


def test_nothing_found_and_bad_top() -> None:
    assert lookup("   ") == []
    assert lookup("qqxzqqxz") == []
    with pytest.raises(ConfigError):
        lookup("CHF", top=0)


def test_index_build_and_query_speed() -> None:
    _index.cache_clear()
    start = time.perf_counter()
    _index()
    assert time.perf_counter() - start < 3.0
    lookup("warm up")
    for term in ("CHF", "congestive hart failure", "metformin 500 mg", "type 2 diabetes mellitus"):
        start = time.perf_counter()
        lookup(term)
        assert time.perf_counter() - start < 0.1, term


def test_cli_lookup_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["lookup", "CHF", "--system", "ICD-10-CM", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "I50.9" in result.stdout and "exact" in result.stdout
    result = runner.invoke(app, ["lookup", "congestive heart failure"])
    assert result.exit_code == 0 and "I50.9" in result.stdout
    result = runner.invoke(app, ["lookup", "--help"])
    assert result.exit_code == 0 and "Examples" in result.stdout


def test_cli_lookup_errors(runner: CliRunner) -> None:
    result = runner.invoke(app, ["lookup", "qqxzqqxz"])
    assert result.exit_code == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no codes found" in result.stderr
    result = runner.invoke(app, ["lookup", "CHF", "--system", "ICD-9"])
    assert result.exit_code == 1 and "unknown code system" in result.stderr
    assert "Traceback" not in result.output


def test_system_names_are_forgiving_but_not_ambiguous() -> None:
    from clinnlp.errors import ConfigError
    from clinnlp.linking.lookup import lookup

    for name in ("ICD-10", "icd10cm", "ICD 10 CM"):
        assert lookup("CHF", system=name, top=1)[0].code == "I50.9", name
    assert lookup("CHF", system="snomed", top=1)[0].system == "SNOMED CT"
    with pytest.raises(ConfigError, match="unknown code system"):
        lookup("CHF", system="IC")
