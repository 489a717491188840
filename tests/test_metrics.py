"""Mention-level scoring on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from clinnlp.metrics import score_mentions
from clinnlp.readers.types import GoldSpan

KEYS = ["precision", "recall", "f1", "tp", "fp", "fn"]


def counts(block: dict[str, object]) -> tuple[object, object, object]:
    return block["tp"], block["fp"], block["fn"]  # type: ignore[index]


def test_shape_is_exactly_the_contract() -> None:
    result = score_mentions([("d1", [(0, 4, "DIAGNOSIS")], [(0, 4, "DIAGNOSIS")])])
    assert list(result) == ["docs", "strict", "lenient"]
    for view in ("strict", "lenient"):
        assert list(result[view]) == ["micro", "by_type"]
        assert list(result[view]["micro"]) == KEYS
        assert list(result[view]["by_type"]) == ["DIAGNOSIS"]
        assert list(result[view]["by_type"]["DIAGNOSIS"]) == KEYS
    json.dumps(result)  # JSON-ready


def test_perfect() -> None:
    gold = [(0, 4, "DIAGNOSIS"), (10, 17, "MEDICATION")]
    result = score_mentions([("d1", gold, list(gold)), ("d2", [], [])])
    assert result["docs"] == 2
    for view in ("strict", "lenient"):
        assert result[view]["micro"] == {
            "precision": 1.0,
            "recall": 1.0,
            "f1": 1.0,
            "tp": 2,
            "fp": 0,
            "fn": 0,
        }


def test_all_wrong() -> None:
    result = score_mentions([("d1", [(0, 4, "DIAGNOSIS")], [(10, 14, "DIAGNOSIS"), (20, 22, "DIAGNOSIS")])])
    for view in ("strict", "lenient"):
        assert result[view]["micro"] == {
            "precision": 0.0,
            "recall": 0.0,
            "f1": 0.0,
            "tp": 0,
            "fp": 2,
            "fn": 1,
        }


def test_partial_overlap_counts_only_in_lenient() -> None:
    gold = [(0, 13, "DIAGNOSIS"), (20, 30, "MEDICATION")]
    pred = [(6, 13, "DIAGNOSIS"), (20, 30, "MEDICATION")]  # "failure" inside "renal failure"
    result = score_mentions([("d1", gold, pred)])
    assert counts(result["strict"]["micro"]) == (1, 1, 1)
    assert result["strict"]["micro"]["f1"] == pytest.approx(0.5)
    assert counts(result["strict"]["by_type"]["DIAGNOSIS"]) == (0, 1, 1)
    assert counts(result["lenient"]["micro"]) == (2, 0, 0)
    assert result["lenient"]["micro"]["f1"] == 1.0


def test_touching_spans_do_not_overlap() -> None:
    result = score_mentions([("d1", [(0, 5, "X")], [(5, 9, "X")])])
    assert counts(result["lenient"]["micro"]) == (0, 1, 1)


def test_type_mismatch_is_a_miss_and_a_false_alarm() -> None:
    result = score_mentions([("d1", [(0, 7, "MEDICATION")], [(0, 7, "DIAGNOSIS")])])
    for view in ("strict", "lenient"):
        assert counts(result[view]["micro"]) == (0, 1, 1)
        assert counts(result[view]["by_type"]["MEDICATION"]) == (0, 0, 1)
        assert counts(result[view]["by_type"]["DIAGNOSIS"]) == (0, 1, 0)
        # undefined precision (no MEDICATION predicted) is 0.0, not an error
        assert result[view]["by_type"]["MEDICATION"]["precision"] == 0.0


def test_empty() -> None:
    for examples in ([], [("d1", [], [])]):
        result = score_mentions(examples)
        assert result["docs"] == len(examples)
        for view in ("strict", "lenient"):
            assert result[view] == {
                "micro": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0},
                "by_type": {},
            }


def test_lenient_matches_each_mention_once() -> None:
    # one long prediction over two gold mentions: one tp, one fn
    result = score_mentions([("d1", [(0, 5, "X"), (6, 10, "X")], [(0, 10, "X")])])
    assert counts(result["lenient"]["micro"]) == (1, 0, 1)
    # two predictions inside one gold mention: one tp, one fp
    result = score_mentions([("d1", [(0, 10, "X")], [(0, 4, "X"), (5, 10, "X")])])
    assert counts(result["lenient"]["micro"]) == (1, 1, 0)


def test_lenient_finds_the_best_one_to_one_matching() -> None:
    # pred A overlaps gold 1 and 2, pred B only gold 1: a greedy A-1 pairing would leave
    # B and 2 unmatched; the maximum matching pairs A-2 and B-1
    gold = [(0, 10, "X"), (12, 20, "X")]
    pred = [(0, 14, "X"), (5, 8, "X")]
    assert counts(score_mentions([("d", gold, pred)])["lenient"]["micro"]) == (2, 0, 0)


def test_duplicates_and_documents_are_kept_apart() -> None:
    # the same offsets in another document are not a match; a duplicate prediction is an fp
    result = score_mentions([("d1", [(0, 4, "X")], [(0, 4, "X"), (0, 4, "X")]), ("d2", [], [(0, 4, "X")])])
    assert result["docs"] == 2
    for view in ("strict", "lenient"):
        assert counts(result[view]["micro"]) == (1, 2, 0)


def test_types_filter_and_span_objects() -> None:
    gold = [GoldSpan(0, 5, "Chemical", "xxxxx"), GoldSpan(6, 9, "Gene", "yyy")]
    pred = [(0, 5, "Chemical"), (6, 9, "Other")]
    result = score_mentions([("d", gold, pred)], types=["Chemical"])
    assert list(result["strict"]["by_type"]) == ["Chemical"]
    assert counts(result["strict"]["micro"]) == (1, 0, 0)


def test_micro_sums_types_and_f1_is_harmonic_mean() -> None:
    gold = [(0, 4, "A"), (5, 9, "A"), (10, 14, "B")]
    pred = [(0, 4, "A"), (10, 14, "B"), (20, 24, "B")]
    micro = score_mentions([("d", gold, pred)])["strict"]["micro"]
    assert counts(micro) == (2, 1, 1)
    assert micro["precision"] == pytest.approx(2 / 3) and micro["recall"] == pytest.approx(2 / 3)
    assert micro["f1"] == pytest.approx(2 / 3)


def test_a_custom_heads_labels_are_mapped_before_assertions_and_concepts_are_matched() -> None:
    """Gold is in clinnlp types after the label map; a custom head's mentions carry the corpus's
    own types, so they are mapped the same way first, or no assertion or concept would pair."""
    import spacy
    from spacy.tokens import Span

    from clinnlp.evaluation import _examples
    from clinnlp.extensions import install_extensions
    from clinnlp.readers.types import GoldDocument, GoldSpan

    install_extensions()
    text = "No asthma. Aspirin daily."

    class Tagger:
        """Two mentions of a custom head 'mine' (Problem, Drug), as the transformer sets them."""

        pipe_names: list[str] = []  # no linker: the codes below are the mention's own

        def __init__(self) -> None:
            self.nlp = spacy.blank("en")

        def pipe(self, texts: object, batch_size: int = 16) -> object:
            for t in texts:  # type: ignore[attr-defined]
                doc = self.nlp(t)
                ents = [Span(doc, 1, 2, label="DIAGNOSIS"), Span(doc, 3, 4, label="MEDICATION")]
                for ent, native in zip(ents, ("mine:Problem", "mine:Drug")):
                    ent._.clinnlp_native_label = native
                ents[0]._.clinnlp_assertion = {"negated": True, "uncertain": False}
                ents[0]._.clinnlp_codes = [{"system": "MeSH", "code": "D001249"}]
                doc.ents = ents
                yield doc

    gold = GoldDocument("d", text, (GoldSpan(3, 9, "DIAGNOSIS", "asthma", attributes={"POLARITY": "NEG"}),))
    run = _examples([gold], Tagger(), True, None, {"Problem": "DIAGNOSIS", "Drug": None})
    assert run.examples == [("d", [(3, 9, "DIAGNOSIS")], [(3, 9, "DIAGNOSIS")])]  # Drug maps to nothing: dropped
    assert run.pairs == [("DIAGNOSIS", {"negated": True, "uncertain": False}, {"negated": True, "uncertain": False})]
    assert run.concepts == {"d": {("DIAGNOSIS", "D001249")}}


def test_two_corpora_of_one_format_are_scored_apart_and_titles_name_a_split_only_when_one_applies(tmp_path: Path) -> None:
    from clinnlp.evaluation import _corpus_labels
    from clinnlp.readers.registry import split_title

    assert _corpus_labels(["brat", "bc5cdr", "brat", "brat"]) == ["brat", "bc5cdr", "brat-2", "brat-3"]
    assert split_title(["brat:/data/notes"], "dev") == ""  # a path is read whole: no split applies
    assert split_title(["bc5cdr", "brat:/data/notes"], "train") == " (train)"
    # a BRAT folder with a splits.json beside it is read by split, and the title says so
    (tmp_path / "brat").mkdir()
    (tmp_path / "splits.json").write_text('{"train": [], "dev": []}', encoding="utf-8")
    assert split_title([f"brat:{tmp_path / 'brat'}"], "dev") == " (dev)"
