"""Corpus readers on tiny synthetic files written in each real format (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinnlp.errors import ConfigError, InputError
from clinnlp.readers import (
    GoldDocument,
    GoldSpan,
    apply_label_map,
    corpus_names,
    corpus_stats,
    load_corpus,
    load_label_map,
    read_ade,
    read_brat,
    read_iob,
    read_phee,
    read_pubtator,
)
from clinnlp.readers.ade import ade_split
from clinnlp.readers.registry import CARDS
from clinnlp.readers.to_hf import to_hf_records


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(content)
    return path


def assert_offsets(docs: list[GoldDocument]) -> None:
    for doc in docs:
        for span in doc.spans:
            assert doc.text[span.start : span.end] == span.text, (doc.doc_id, span)


# ---------------------------------------------------------------- PubTator

TITLE = "Lithium toxicity and cardiovascular, and respiratory depression."
ABSTRACT = "A patient on lithium had tremor. Naloxone reversed it."
PUBTATOR = (
    f"111|t|{TITLE}\n"
    f"111|a|{ABSTRACT}\n"
    "111\t0\t7\tLithium\tChemical\tD008094\n"
    "111\t8\t16\ttoxicity\tDisease\tD064420\n"
    "111\t21\t63\tcardiovascular, and respiratory depression\tDisease\tD002318|D012131\t"
    "cardiovascular depression|respiratory depression\n"
    "111\t78\t85\tlithium\tChemical\tD008094\n"
    "111\t90\t96\ttremor\tDisease\t-1\n"
    "111\tCID\tD008094\tD064420\n"
    "\n"
    "222|t|Short title.\n"
    "222|a|\n"
    "222\t0\t5\tShort\tDisease\t-1\n"
)


def test_pubtator_offsets_composite_and_no_id(tmp_path: Path) -> None:
    docs = read_pubtator(write(tmp_path / "x.pubtator", PUBTATOR))
    assert [d.doc_id for d in docs] == ["111", "222"]
    first = docs[0]
    assert first.text == f"{TITLE} {ABSTRACT}"
    assert_offsets(docs)
    by_text = {s.text: s for s in first.spans}
    composite = by_text["cardiovascular, and respiratory depression"]
    assert composite.concept_ids == ("D002318", "D012131")
    assert composite.attributes == {"composite": "cardiovascular depression|respiratory depression"}
    assert by_text["tremor"].concept_ids == ()  # -1 means no concept
    assert by_text["lithium"].label == "Chemical"
    assert len(first.spans) == 5  # the CID relation line is not a span


def test_pubtator_offset_mismatch_names_file_and_line(tmp_path: Path) -> None:
    bad = PUBTATOR.replace("111\t78\t85\tlithium", "111\t77\t84\tlithium")
    path = write(tmp_path / "bad.pubtator", bad)
    with pytest.raises(InputError, match=r"bad\.pubtator:6: .*Chemical") as caught:
        read_pubtator(path)
    assert "lithium" not in str(caught.value)  # the mention is note text: never in a message


def test_pubtator_rejects_annotation_outside_its_block(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.pubtator", "1|t|A b.\n1|a|C.\n2\t0\t1\tA\tDisease\t-1\n")
    with pytest.raises(InputError, match=r"bad\.pubtator:3"):
        read_pubtator(path)


# ---------------------------------------------------------------- IOB

IOB = (
    "Naloxone\tB-Chemical\n"
    "reverses\tO\n"
    "renal\tB-Disease\n"
    "failure\tI-Disease\n"
    ".\tO\n"
    "\n"
    "severe\tI-Disease\n"  # stray I- after a sentence break: starts a new span
    "pain\tI-Disease\n"
    "and\tO\n"
    "lithium\tB-Chemical\n"
    "toxicity\tI-Disease\n"  # I- of another type: starts a new span
    "\n"
)


def test_iob_rebuilds_text_and_spans_one_sentence_per_doc(tmp_path: Path) -> None:
    docs = read_iob(write(tmp_path / "devel.tsv", IOB))
    assert [d.doc_id for d in docs] == ["devel-00001", "devel-00002"]
    assert docs[0].text == "Naloxone reverses renal failure ."
    assert [(s.text, s.label) for s in docs[0].spans] == [
        ("Naloxone", "Chemical"),
        ("renal failure", "Disease"),
    ]
    assert [(s.text, s.label) for s in docs[1].spans] == [
        ("severe pain", "Disease"),
        ("lithium", "Chemical"),
        ("toxicity", "Disease"),
    ]
    assert_offsets(docs)


def test_iob_groups_sentences_and_docstart(tmp_path: Path) -> None:
    grouped = read_iob(write(tmp_path / "a.tsv", IOB), sentences_per_doc=5)
    assert len(grouped) == 1
    assert grouped[0].text == "Naloxone reverses renal failure .\nsevere pain and lithium toxicity"
    assert len(grouped[0].spans) == 5
    assert_offsets(grouped)
    docstart = "-DOCSTART- O\n\nA\tB-Disease\n\nB\tO\n\n-DOCSTART- O\n\nC\tB-Chemical\n"
    docs = read_iob(write(tmp_path / "b.tsv", docstart))
    assert [d.text for d in docs] == ["A\nB", "C"]


def test_iob_bad_tag_names_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"bad\.tsv:2: .*not O, B-TYPE or I-TYPE"):
        read_iob(write(tmp_path / "bad.tsv", "a\tO\nb\tX-Disease\n"))
    with pytest.raises(ConfigError):
        read_iob(tmp_path / "bad.tsv", sentences_per_doc=0)


# ---------------------------------------------------------------- BRAT

BRAT_TXT = "Fever—no rash.\r\nLeft arm pain; aspirin 81 mg daily.\n"
BRAT_ANN = (
    "T1\tSign_symptom 0 5\tFever\n"
    "E1\tSign_symptom:T1 \n"
    "T2\tSign_symptom 9 13\trash\n"
    "E2\tSign_symptom:T2 \n"
    "A1\tPOLARITY E2 NEG\n"  # attribute on an event id: lands on its trigger T2
    "T3\tSign_symptom 16 20;25 29\tLeft pain\n"  # discontinuous
    "T4\tMedication 31 38\taspirin\n"
    "A2\tTREND T4 INC\n"
    "A3\tHypothetical T4\n"  # binary attribute
    "N1\tReference T4 RxNorm:1191\taspirin\n"
    "R1\tMODIFY Arg1:T4 Arg2:E1\t\n"
    "*\tOVERLAP E1 E2\n"
    "#1\tAnnotatorNotes T1\tnote\n"
)


def make_brat(root: Path) -> Path:
    folder = root / "brat"
    write(folder / "doc1.txt", BRAT_TXT)
    write(folder / "doc1.ann", BRAT_ANN)
    write(folder / "doc2.txt", "Nothing here.\n")
    write(folder / "doc2.ann", "")
    write(root / "splits.json", json.dumps({"train": ["doc2"], "dev": ["doc1"]}))
    return folder


def test_brat_spans_events_attributes_and_discontinuous(tmp_path: Path) -> None:
    docs = read_brat(make_brat(tmp_path))
    assert [d.doc_id for d in docs] == ["doc1", "doc2"]
    doc = docs[0]
    assert doc.text == BRAT_TXT  # no newline translation: \r\n stays, offsets stay right
    assert_offsets(docs)
    spans = {s.id: s for s in doc.spans}
    assert spans["T2"].attributes == {"POLARITY": "NEG"}
    assert spans["T1"].attributes == {}
    left_pain = spans["T3"]
    assert (left_pain.start, left_pain.end) == (16, 29)
    assert left_pain.fragments == ((16, 20), (25, 29))
    assert left_pain.text == "Left arm pain"
    assert [doc.text[a:b] for a, b in left_pain.pieces] == ["Left", "pain"]
    assert spans["T4"].attributes == {"TREND": "INC", "Hypothetical": "true"}
    assert spans["T4"].concept_ids == ("RxNorm:1191",)
    assert spans["T1"].pieces == ((0, 5),)


def test_brat_split_from_parent_splits_json(tmp_path: Path) -> None:
    folder = make_brat(tmp_path)
    assert [d.doc_id for d in read_brat(folder, split="dev")] == ["doc1"]
    assert [d.doc_id for d in read_brat(folder, split="train")] == ["doc2"]
    with pytest.raises(ConfigError, match="no split 'test'.*dev, train"):
        read_brat(folder, split="test")
    (tmp_path / "splits.json").unlink()
    with pytest.raises(ConfigError, match="splits.json"):
        read_brat(folder, split="dev")


def test_brat_errors_name_file_and_line(tmp_path: Path) -> None:
    folder = make_brat(tmp_path)
    write(
        folder / "doc1.ann",
        BRAT_ANN.replace("T4\tMedication 31 38\taspirin", "T4\tMedication 30 37\taspirin"),
    )
    with pytest.raises(InputError, match=r"doc1\.ann:7: .*Medication") as caught:
        read_brat(folder)
    assert "aspirin" not in str(caught.value)
    write(folder / "doc1.ann", "T1\tSign_symptom 0 5\tFever\nA1\tPOLARITY E9 NEG\n")
    with pytest.raises(InputError, match=r"doc1\.ann:2: .*E9"):
        read_brat(folder)


# ---------------------------------------------------------------- PHEE

PHEE_CONTEXT = "A 54-year-old man on lithium and 2 mg haloperidol may not develop mild tremor or rash."


def _arg(*mentions: list[tuple[str, int]], ids: list[str] | None = None) -> dict[str, object]:
    return {
        "text": [[t for t, _ in pieces] for pieces in mentions],
        "start": [[s for _, s in pieces] for pieces in mentions],
        "entity_id": ids or [f"T{i}" for i in range(len(mentions))],
    }


def phee_line() -> str:
    c = PHEE_CONTEXT
    at = c.index
    event1 = {
        "event_id": "E1",
        "event_type": "Adverse_event",
        "Trigger": _arg([("develop", at("develop"))]),
        "Subject": {
            **_arg([("A 54-year-old man", 0)]),
            "Age": _arg([("54-year-old", 2)]),
            "Gender": _arg([("man", at("man"))]),
        },
        "Treatment": {
            **_arg([("lithium and 2 mg haloperidol", at("lithium"))]),
            "Drug": _arg([("lithium", at("lithium"))], [("haloperidol", at("haloperidol"))]),
            "Dosage": _arg([("2 mg", at("2 mg"))]),
            "Combination": [
                {
                    "event_id": "E2",
                    "event_type": "Combination",
                    "Trigger": _arg([("and", at("and"))]),
                    "Drug": _arg([("lithium", at("lithium"))], [("haloperidol", at("haloperidol"))]),
                }
            ],
        },
        # discontinuous: "mild tremor ... rash" as one mention of two pieces
        "Effect": _arg([("mild tremor", at("mild")), ("rash", at("rash"))]),
        "Speculated": {**_arg([("may", at("may"))]), "value": True},
        "Negated": {**_arg([("not", at("not"))]), "value": True},
        "Severity": {**_arg([("mild", at("mild"))]), "value": "Low"},
    }
    event2 = {
        "event_id": "E3",
        "event_type": "Adverse_event",
        "Trigger": _arg([("develop", at("develop"))]),
        "Treatment": {**_arg([("lithium", at("lithium"))]), "Drug": _arg([("lithium", at("lithium"))])},
        "Effect": _arg([("rash", at("rash"))]),
    }
    record = {
        "id": "123_4",
        "context": c,
        "is_mult_event": True,
        "annotations": [{"events": [event1, event2]}],
    }
    return json.dumps(record)


def test_phee_spans_labels_and_event_attributes(tmp_path: Path) -> None:
    docs = read_phee(write(tmp_path / "dev.json", phee_line() + "\n"))
    assert len(docs) == 1
    doc = docs[0]
    assert doc.doc_id == "123_4" and doc.text == PHEE_CONTEXT
    assert doc.attributes == {"is_mult_event": "true"}
    assert_offsets(docs)
    labels = [(s.label, s.text) for s in doc.spans]
    # a mention shared by two events (lithium as Drug, the trigger) is one span
    assert labels.count(("Drug", "lithium")) == 1
    assert ("Drug", "haloperidol") in labels and ("Dosage", "2 mg") in labels
    assert ("Age", "54-year-old") in labels and ("Gender", "man") in labels
    effect = next(s for s in doc.spans if s.label == "Adverse_event" and s.fragments)
    assert [doc.text[a:b] for a, b in effect.fragments] == ["mild tremor", "rash"]
    assert effect.attributes["Speculated"] == "true"
    assert effect.attributes["Negated"] == "true"
    assert effect.attributes["Severity"] == "Low"
    rash = next(s for s in doc.spans if s.label == "Adverse_event" and not s.fragments)
    assert rash.text == "rash" and "Negated" not in rash.attributes
    drugs = {s.text: s for s in doc.spans if s.label == "Drug"}
    assert drugs["haloperidol"].attributes == {"combination": "true"}
    assert {s.label for s in doc.spans} >= {
        "Trigger",
        "Subject",
        "Treatment",
        "Speculated",
        "Negated",
        "Severity",
    }


def test_phee_bad_offset_and_bad_json(tmp_path: Path) -> None:
    line = phee_line().replace('"start": [[0]]', '"start": [[1]]', 1)
    with pytest.raises(InputError, match=r"dev\.json:1: "):
        read_phee(write(tmp_path / "dev.json", line + "\n"))
    with pytest.raises(InputError, match=r"dev\.json:2: not JSON"):
        read_phee(write(tmp_path / "dev.json", phee_line() + "\n{oops\n"))


# ---------------------------------------------------------------- ADE

ADE_SENT = "Rash after rash-free weeks on aspirin 81 mg; aspirin-induced rash recurred."


def make_ade(folder: Path) -> Path:
    # document offsets: the sentence starts at 100 in its abstract, so the AE "rash"
    # at 161..165 is the third occurrence (local 61), not the "rash" of "rash-free"
    write(
        folder / "DRUG-AE.rel",
        f"10|{ADE_SENT}|rash|161|165|aspirin|145|152\n10|{ADE_SENT}|Rash|100|104|aspirin|130|137\n",
    )
    write(folder / "DRUG-DOSE.rel", f"10|{ADE_SENT}|81 mg|138|143|aspirin|130|137\n")
    write(folder / "ADE-NEG.txt", "20 NEG No adverse effect here.\n20 NEG No adverse effect here.\n")
    return folder


def test_ade_places_mentions_by_document_offsets_and_dedupes(tmp_path: Path) -> None:
    docs = read_ade(make_ade(tmp_path))
    assert len(docs) == 2  # the repeated negative sentence is one document
    positive, negative = docs
    assert positive.text == ADE_SENT and positive.doc_id.startswith("10-")
    assert_offsets(docs)
    got = [(s.label, s.start, s.text) for s in positive.spans]
    assert got == [
        ("Adverse_effect", 0, "Rash"),
        ("Drug", 30, "aspirin"),
        ("Dose", 38, "81 mg"),
        ("Drug", 45, "aspirin"),
        ("Adverse_effect", 61, "rash"),
    ]
    assert positive.attributes == {"pmid": "10", "negative": "false"}
    assert negative.spans == () and negative.attributes["negative"] == "true"


def test_ade_split_is_by_pmid_and_mention_must_be_in_sentence(tmp_path: Path) -> None:
    folder = make_ade(tmp_path)
    for split in ("train", "dev"):
        assert all(ade_split(d.attributes["pmid"]) == split for d in read_ade(folder, split=split))
    assert len(read_ade(folder, split="train")) + len(read_ade(folder, split="dev")) == 2
    with pytest.raises(ConfigError):
        read_ade(folder, split="test")
    write(folder / "DRUG-AE.rel", "10|A sentence.|fever|0|5|aspirin|6|13\n")
    with pytest.raises(InputError, match=r"DRUG-AE\.rel:1: .*Adverse_effect") as caught:
        read_ade(folder)
    assert "fever" not in str(caught.value)


# ---------------------------------------------------------------- registry, label maps, stats, HF


def test_load_corpus_by_name_root_path_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "bc5cdr" / "pubtator" / "dev.pubtator", PUBTATOR)
    make_brat(tmp_path / "maccrobat")
    assert len(load_corpus("bc5cdr", "dev", tmp_path)) == 2
    monkeypatch.setenv("CLINNLP_CORPORA", str(tmp_path))
    assert len(load_corpus("bc5cdr", "dev")) == 2
    assert [d.doc_id for d in load_corpus("maccrobat", "dev")] == ["doc1"]
    direct = tmp_path / "bc5cdr" / "pubtator" / "dev.pubtator"
    assert len(load_corpus(f"bc5cdr:{direct}", "dev")) == 2
    assert len(load_corpus(f"bc5cdr:{direct.parent}", "dev")) == 2  # the split's file inside
    assert len(load_corpus(f"pubtator:{direct}", "dev")) == 2
    assert len(load_corpus(f"brat:{tmp_path / 'maccrobat' / 'brat'}", "dev")) == 1


def test_load_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="unknown corpus 'nope'.*bc5cdr.*ncbi-disease.*maccrobat.*phee.*ade.*pubtator"
    ):
        load_corpus("nope", "dev", tmp_path)
    with pytest.raises(ConfigError, match="held back"):
        load_corpus("bc5cdr", "test", tmp_path)
    with pytest.raises(ConfigError, match="needs a path"):
        load_corpus("iob", "dev", tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_corpus("ncbi-disease", "dev", tmp_path)
    assert corpus_names() == ["bc5cdr", "ncbi-disease", "maccrobat", "phee", "ade", "pubtator", "iob", "brat"]


def test_missing_default_root_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINNLP_CORPORA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"relative to the current folder.*--root.*CLINNLP_CORPORA"):
        load_corpus("bc5cdr", "dev")


# ---------------------------------------------------------------- bad input: encoding, privacy, empty

NOT_UTF8 = b"fi\xe8vre\tB-Disease\n"


@pytest.mark.parametrize("fmt", ["pubtator", "iob", "brat", "phee", "ade"])
def test_non_utf8_input_is_an_input_error_naming_line_and_offset(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"ok line\n" + NOT_UTF8)
    if fmt == "brat":
        (tmp_path / "latin1.ann").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"latin1\.txt:2: not UTF-8 text .*offset 10") as caught:
        load_corpus(f"{fmt}:{path}")
    assert not isinstance(caught.value, UnicodeDecodeError)


def test_non_utf8_deep_in_a_streamed_file_names_its_line(tmp_path: Path) -> None:
    # decoding runs a chunk ahead of the lines; the error must still name the right line
    lines = [b"tok\tO\n"] * 5000 + [NOT_UTF8]
    path = tmp_path / "deep.tsv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(InputError, match=rf"deep\.tsv:5001: not UTF-8 .*offset {5000 * 6 + 2}\b"):
        read_iob(path)
    path.write_bytes(b"\x7fELF\x00\x01\xff\xfe")
    with pytest.raises(InputError, match="binary"):
        read_pubtator(path)


def test_a_byte_order_mark_is_not_text(tmp_path: Path) -> None:
    """Windows editors start UTF-8 files with U+FEFF; offsets and ids must not count it."""
    bom = "\ufeff"
    (tmp_path / "n.txt").write_text(bom + "No asthma.", encoding="utf-8")
    (tmp_path / "n.ann").write_text("T1\tProblem 3 9\tasthma\n", encoding="utf-8")
    [doc] = read_brat(tmp_path)
    assert doc.text == "No asthma." and doc.spans[0].text == "asthma"
    (tmp_path / "p.pubtator").write_text(bom + "7|t|No asthma.\n7|a|Fine.\n7\t3\t9\tasthma\tDisease\t-1\n\n", encoding="utf-8")
    [doc] = read_pubtator(tmp_path / "p.pubtator")
    assert doc.doc_id == "7" and doc.spans[0].text == "asthma"
    (tmp_path / "i.tsv").write_text(bom + "Patient\tO\nasthma\tB-Problem\n", encoding="utf-8")
    [doc] = read_iob(tmp_path / "i.tsv")
    assert doc.text.startswith("Patient") and doc.spans[0].text == "asthma"


SECRET = "Zelda Quixby quinine"


@pytest.mark.parametrize(
    ("fmt", "name", "content", "line"),
    [
        ("pubtator", "a.pubtator", f"{SECRET}\n", 1),
        ("pubtator", "a.pubtator", f"1|t|T.\n1|a|A.\n{SECRET}\t0\t1\tx\tDisease\n", 3),
        ("iob", "a.tsv", f"ok\tO\n{SECRET}\n", 2),  # space-separated: the last word is the "tag"
        ("iob", "a.tsv", f"ok\tO\n\n{SECRET.replace(' ', '')}\n", 3),
        ("brat", "a.ann", f"T1\tX 0 1\tZ\n{SECRET}\n", 2),
        ("brat", "a.ann", f"T1\t{SECRET}\tZ\n", 1),
        ("brat", "a.ann", f"T1\tX 0 1\tZ\nA1\tNeg {SECRET.split()[0]}\n", 2),  # unknown target
        ("brat", "a.ann", f"T{SECRET}\tX 0 1\tZ\nT{SECRET}\tX 0 1\tZ\n", 2),  # odd id, twice
        ("ade", "DRUG-AE.rel", f"1|{SECRET}.|{SECRET}|x|y|aspirin|1|8\n", 1),
        ("ade", "DRUG-AE.rel", f"1|{SECRET}.|{SECRET}|0|3|aspirin|1|8\n", 1),
        ("phee", "a.json", json.dumps({"context": SECRET, "annotations": [{"events": [SECRET]}]}), 1),
    ],
)
def test_malformed_line_message_has_line_number_but_no_corpus_text(
    tmp_path: Path, fmt: str, name: str, content: str, line: int
) -> None:
    path = write(tmp_path / name, content)
    if fmt == "brat":
        write(tmp_path / "a.txt", SECRET + "\n")
        path = tmp_path
    with pytest.raises(InputError) as caught:
        load_corpus(f"{fmt}:{path}")
    message = str(caught.value)
    assert f"{name}:{line}: " in message
    for word in SECRET.split() + [SECRET.replace(" ", "")]:
        assert word not in message, message


def test_span_mismatch_message_has_no_corpus_text(tmp_path: Path) -> None:
    path = write(tmp_path / "a.pubtator", f"1|t|{SECRET}\n1|a|\n1\t0\t4\tJohn\tPerson\t-1\n")
    with pytest.raises(InputError, match=r"a\.pubtator:3: span 'Person'") as caught:
        read_pubtator(path)
    assert "Zelda" not in str(caught.value) and "John" not in str(caught.value)


def test_empty_input_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "empty.pubtator", "\n")
    with pytest.raises(InputError, match=r"no documents found in .*empty\.pubtator; is it a pubtator file"):
        load_corpus(f"pubtator:{tmp_path / 'empty.pubtator'}")
    (tmp_path / "brat").mkdir()
    with pytest.raises(InputError, match=r"no documents found in .*brat; is it a brat folder"):
        load_corpus(f"brat:{tmp_path / 'brat'}")


def test_label_maps_load_and_apply() -> None:
    for name in CARDS:
        label_map = load_label_map(name)
        assert label_map.eval_types and set(label_map.eval_types) <= set(label_map.mapping)
    bc5cdr = load_label_map("bc5cdr")
    assert bc5cdr.mapping == {"Chemical": "MEDICATION", "Disease": "DIAGNOSIS"}
    maccrobat = load_label_map("maccrobat")
    assert len(maccrobat.mapping) == 41 and maccrobat.mapping["Lab_value"] is None
    doc = GoldDocument("d", "fever x", (GoldSpan(0, 5, "Sign_symptom", "fever"), GoldSpan(6, 7, "Date", "x")))
    (mapped,) = apply_label_map([doc], maccrobat)
    assert [(s.label, s.text) for s in mapped.spans] == [("FINDING", "fever")]
    with pytest.raises(ConfigError, match="'Bogus'"):
        apply_label_map([GoldDocument("d", "a", (GoldSpan(0, 1, "Bogus", "a"),))], maccrobat)


def test_corpus_stats_and_hf_records(tmp_path: Path) -> None:
    docs = read_brat(make_brat(tmp_path))
    stats = corpus_stats(docs)
    assert stats == {
        "docs": 2,
        "chars": len(BRAT_TXT) + len("Nothing here.\n"),
        "spans": 4,
        "spans_by_type": {"Medication": 1, "Sign_symptom": 3},
        "discontinuous_spans": 1,
        "docs_without_spans": 1,
    }
    records = to_hf_records(docs)
    assert [r["doc_id"] for r in records] == ["doc1", "doc2"]
    left = next(s for s in records[0]["spans"] if s["id"] == "T3")
    assert left["fragments"] == [[16, 20], [25, 29]] and left["label"] == "Sign_symptom"
    assert json.loads(next(s for s in records[0]["spans"] if s["id"] == "T2")["attributes"]) == {
        "POLARITY": "NEG"
    }


def test_hf_dataset(tmp_path: Path) -> None:
    try:
        import datasets  # noqa: F401
    except ImportError as exc:  # not installed, or a pyarrow built for another numpy
        pytest.skip(f"datasets cannot be imported: {exc}")
    from clinnlp.readers.to_hf import to_hf_dataset

    dataset = to_hf_dataset(read_brat(make_brat(tmp_path)))
    assert dataset.column_names == ["doc_id", "text", "spans"]
    assert dataset.num_rows == 2 and dataset[1]["spans"] == []


def test_gold_span_checks_itself() -> None:
    with pytest.raises(ValueError):
        GoldSpan(5, 3, "X", "")
    with pytest.raises(ValueError):
        GoldSpan(0, 3, "X", "ab")
    span = GoldSpan(0, 3, "X", "abc", attributes={"a": "b"})
    assert span in {span}  # hashable despite the attributes dict


def test_iob_tags_with_spaces_and_binary_files_are_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("Patient\tO\nasthma\tB-Problem extra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t\.tsv:2: the tag"):
        read_iob(path)
    path.write_bytes(b"Patient\tO\nas\x00thma\tO\n")
    with pytest.raises(InputError, match=r"t\.tsv:2: a NUL byte"):
        read_iob(path)
