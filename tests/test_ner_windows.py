"""Window splitting, merging and BIO <-> span conversion of the transformer NER."""

from __future__ import annotations

import numpy as np
import pytest

from clinnlp.errors import ConfigError
from clinnlp.ner.labels import Head, get_head
from clinnlp.ner.windows import (
    IGNORE,
    SpecialTokens,
    decode_probs,
    encode_texts,
    make_windows,
    merge_windows,
    spans_to_token_labels,
    token_labels_to_spans,
    viterbi_tags,
    window_bounds,
    word_tags_to_spans,
)

HEAD = Head("toy", ("Drug", "Disease"))

SENTENCES = [  # template, drug, disease
    ("Patient {n} received {Drug} for {Disease}.", "aspirin", "acute renal failure"),
    ("On day {n}, {Drug} was stopped because of {Disease}.", "cyclophosphamide", "hemorrhagic cystitis"),
    ("{Disease} developed after {Drug} (dose {n} mg).", "IL-2", "chronic kidney disease"),
    ("No {Disease} was seen with {Drug} on visit {n}.", "warfarin sodium", "deep vein thrombosis"),
]


WORDS = ["patient", "received", "for", "day", "was", "of", "after", "no", "seen", "with", "on", "renal", "aspirin"]


def long_document(repeats: int = 6) -> tuple[str, list[tuple[int, int, str]]]:
    """A text of many sentences and its gold (start, end, label) spans."""
    text, spans = "", []
    for n in range(repeats):
        for template, drug, disease in SENTENCES:
            sentence = template.replace("{n}", str(n))
            for slot, value in (("{Drug}", drug), ("{Disease}", disease)):
                at = sentence.index(slot)
                sentence = sentence[:at] + value + sentence[at + len(slot) :]
            for value, label in ((drug, "Drug"), (disease, "Disease")):
                start = len(text) + sentence.index(value)
                spans.append((start, start + len(value), label))
            text += sentence + " "
    return text.rstrip(), sorted(spans)


@pytest.fixture(scope="module")
def setup(tiny_tokenizer):
    text, gold = long_document()
    tokenizer = tiny_tokenizer([text], WORDS)
    return text, gold, tokenizer


def test_window_bounds_cover_everything_with_overlap():
    for n in (1, 5, 22, 23, 100, 257):
        bounds = window_bounds(n, max_length=24, stride=6)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(0 < e - s <= 22 for s, e in bounds)
        assert all(b[0] <= a[1] - 6 for a, b in zip(bounds, bounds[1:]))  # overlap >= stride
    assert window_bounds(0, 24, 6) == []
    with pytest.raises(ConfigError):
        window_bounds(10, max_length=24, stride=22)


def test_words_split_at_whitespace_and_punctuation(setup):
    _, _, tokenizer = setup
    (doc,) = encode_texts(tokenizer, ["IL-2 cyclophosphamide,x"])
    words = [doc.text[s:e] for s, e in doc.word_chars]
    assert words == ["IL", "-", "2", "cyclophosphamide", ",", "x"]
    assert len(doc) > len(words)  # cyclophosphamide is several subwords


def test_bio_span_round_trip(setup):
    text, gold, tokenizer = setup
    (doc,) = encode_texts(tokenizer, [text])
    labels, dropped = spans_to_token_labels(doc, gold, HEAD)
    assert dropped == 0
    first_subwords = set(doc.word_starts)
    assert all((lab == IGNORE) == (i not in first_subwords) for i, lab in enumerate(labels))
    assert [s[:3] for s in token_labels_to_spans(doc, labels, HEAD)] == gold


def test_overlapping_and_mid_word_gold_spans(setup):
    _, _, tokenizer = setup
    (doc,) = encode_texts(tokenizer, ["acute renal failure today"])
    spans = [(0, 19, "Disease"), (6, 11, "Disease"), (20, 23, "Drug")]  # nested; "tod" ends mid-word
    labels, dropped = spans_to_token_labels(doc, spans, HEAD)
    assert dropped == 1
    decoded = [s[:3] for s in token_labels_to_spans(doc, labels, HEAD)]
    assert decoded == [(0, 19, "Disease"), (20, 25, "Drug")]  # widened to the whole word


def test_stray_inside_tags_are_repaired(setup):
    _, _, tokenizer = setup
    (doc,) = encode_texts(tokenizer, ["aspirin and acute renal failure"])
    i_drug, b_dis, i_dis = HEAD.tag_id("I-Drug"), HEAD.tag_id("B-Disease"), HEAD.tag_id("I-Disease")
    spans = word_tags_to_spans(doc, [i_drug, 0, i_dis, b_dis, i_dis], HEAD, [0.9, 1.0, 0.5, 0.7, 0.9])
    assert [s[:3] for s in spans] == [(0, 7, "Drug"), (12, 17, "Disease"), (18, 31, "Disease")]
    assert spans[2].score == pytest.approx(0.8)


def _word_probs(rows: list[dict[str, float]]) -> np.ndarray:
    """One probability row per word from ``{tag: p}``, the rest spread evenly."""
    probs = np.zeros((len(rows), HEAD.num_tags), dtype=np.float32)
    for w, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (HEAD.num_tags - len(row))
        probs[w] = rest
        for tag, p in row.items():
            probs[w, HEAD.tag_id(tag)] = p
    return probs


def test_viterbi_joins_a_mention_that_argmax_breaks():
    """'Graft - versus-host disease': argmax says B, O, I, I; the best valid BIO sequence
    keeps one mention (I on the hyphen) rather than two."""
    probs = _word_probs(
        [{"B-Disease": 0.9}, {"O": 0.5, "I-Disease": 0.45}, {"I-Disease": 0.8, "B-Disease": 0.1}, {"I-Disease": 0.9}]
    )
    assert list(probs.argmax(axis=1)) == [3, 0, 4, 4]
    tags = viterbi_tags(probs, HEAD)
    assert [HEAD.tags[t] for t in tags] == ["B-Disease", "I-Disease", "I-Disease", "I-Disease"]


def test_viterbi_keeps_a_valid_argmax_and_never_starts_inside():
    valid = _word_probs([{"B-Drug": 0.8}, {"O": 0.9}, {"B-Disease": 0.7}, {"I-Disease": 0.6}])
    assert viterbi_tags(valid, HEAD) == list(valid.argmax(axis=1))
    stray = _word_probs([{"I-Drug": 0.6, "B-Drug": 0.3}, {"O": 0.9}])
    assert [HEAD.tags[t] for t in viterbi_tags(stray, HEAD)] == ["B-Drug", "O"]
    # an I of another type cannot continue a mention either
    switch = _word_probs([{"B-Drug": 0.9}, {"I-Disease": 0.6, "I-Drug": 0.3}])
    assert [HEAD.tags[t] for t in viterbi_tags(switch, HEAD)] == ["B-Drug", "I-Drug"]


def test_viterbi_output_is_always_valid_bio():
    rng = np.random.default_rng(7)
    for _ in range(200):
        logits = rng.normal(size=(int(rng.integers(1, 30)), HEAD.num_tags)) * 3
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        tags = [HEAD.tags[t] for t in viterbi_tags(probs, HEAD)]
        for before, tag in zip(["O", *tags], tags):
            if tag.startswith("I-"):
                assert before[2:] == tag[2:], tags


def test_decode_scores_a_mention_by_its_chosen_tags(setup):
    _, _, tokenizer = setup
    (doc,) = encode_texts(tokenizer, ["acute renal failure"])
    probs = _word_probs([{"B-Disease": 0.9}, {"O": 0.5, "I-Disease": 0.4}, {"I-Disease": 0.8}])
    token_probs = np.zeros((len(doc), HEAD.num_tags), dtype=np.float32)
    token_probs[list(doc.word_starts)] = probs
    (span,) = decode_probs(doc, token_probs, HEAD)
    assert span[:3] == (0, 19, "Disease")
    assert span.score == pytest.approx((0.9 + 0.4 + 0.8) / 3)
    # argmax decoding, as Hugging Face's pipeline does it: the O in the middle splits it
    split = decode_probs(doc, token_probs, HEAD, constrained=False)
    assert [s[:3] for s in split] == [(0, 5, "Disease"), (12, 19, "Disease")]


def test_windows_merge_recovers_each_mention_once(setup):
    """A long document through small windows, where each window's predictions are wrong
    near its inner edges: the most-central merge must still recover every mention once."""
    text, gold, tokenizer = setup
    (doc,) = encode_texts(tokenizer, [text])
    special = SpecialTokens.of(tokenizer)
    labels, _ = spans_to_token_labels(doc, gold, HEAD)
    max_length, stride, margin = 40, 16, 3
    windows = make_windows(doc, 0, special, max_length, stride, labels)
    bounds = [(w.start, w.end) for w in windows]
    assert len(windows) > 5 and all(len(w.input_ids) <= max_length for w in windows)
    assert all(w.input_ids[0] == tokenizer.cls_token_id and w.input_ids[-1] == tokenizer.sep_token_id for w in windows)

    # at least one gold mention straddles a window edge
    token_ranges = []
    for start, end, _ in gold:
        toks = [i for i, (s, e) in enumerate(doc.offsets) if s < end and e > start]
        token_ranges.append((toks[0], toks[-1]))
    assert any(a < e <= b for a, b in token_ranges for _, e in bounds[:-1])

    rng = np.random.default_rng(0)
    window_scores = []
    for w in windows:
        true = np.array([max(lab, 0) for lab in labels[w.start : w.end]])
        probs = np.full((len(true), HEAD.num_tags), 0.01, dtype=np.float32)
        probs[np.arange(len(true)), true] = 0.95
        for i in range(len(true)):  # garbage near the edges that have no context
            near_left = w.start > 0 and i < margin
            near_right = w.end < len(doc) and i >= len(true) - margin
            if near_left or near_right:
                probs[i] = rng.random(HEAD.num_tags)
        window_scores.append(probs)
    merged = merge_windows(len(doc), bounds, window_scores)
    predicted = decode_probs(doc, merged, HEAD)
    assert sorted(p[:3] for p in predicted) == gold
    assert all(p.score == pytest.approx(0.95) for p in predicted)


def test_single_short_document_and_empty_text(setup):
    _, _, tokenizer = setup
    docs = encode_texts(tokenizer, ["aspirin", ""])
    special = SpecialTokens.of(tokenizer)
    assert len(make_windows(docs[0], 0, special, 24, 6)) == 1
    assert make_windows(docs[1], 1, special, 24, 6) == []
    assert decode_probs(docs[1], np.zeros((0, HEAD.num_tags)), HEAD) == []


def test_builtin_heads_and_tags():
    bc5cdr = get_head("bc5cdr")
    assert bc5cdr.tags == ("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease")
    assert bc5cdr.parse(4) == ("I", "Disease")
    with pytest.raises(ConfigError):
        get_head("nope")
    with pytest.raises(ConfigError):
        Head("x", ("A", "A"))
