"""Documents as subword windows, and back: the alignment layer of the transformer NER.

A document is tokenised once, whole, with the fast tokenizer's character offsets, so
every prediction maps back to exact characters of the original text. Long documents
are cut into overlapping windows of at most ``max_length`` tokens (special tokens
included); when windows overlap, each token keeps the prediction of the window in
which it sits most centrally (most context on both sides), so a mention straddling a
window edge is decoded once, from one window, and never lost or duplicated.

Tokens are grouped into *words* (split at whitespace and punctuation, using offsets),
and only the first subword of a word carries a BIO label: a span can then neither
start nor end inside a word, and the tag sequence has one decision per word.

Nothing here imports torch, spaCy or pydantic; numpy holds the merged probabilities.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from clinnlp.errors import ConfigError
from clinnlp.ner.labels import Head

IGNORE = -100  # label of tokens the loss skips (continuation subwords, special tokens)


class PredictedSpan(NamedTuple):
    """A predicted mention: character offsets into the text, type, and a confidence in [0, 1]."""

    start: int
    end: int
    label: str
    score: float


@dataclass(frozen=True)
class EncodedDoc:
    """A document's subword tokens (no special tokens) with offsets and word groups.

    ``word_starts[w]`` / ``word_ends[w]`` are the first and one-past-last token index of
    word ``w``; ``word_chars[w]`` is its ``(start, end)`` in ``text``.
    """

    text: str
    input_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    word_starts: tuple[int, ...]
    word_ends: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def word_chars(self) -> list[tuple[int, int]]:
        return [(self.offsets[s][0], self.offsets[e - 1][1]) for s, e in zip(self.word_starts, self.word_ends)]


@dataclass(frozen=True)
class Window:
    """One model input: tokens ``[start, end)`` of document ``doc``, wrapped in special tokens."""

    doc: int
    start: int
    end: int
    input_ids: tuple[int, ...]
    labels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SpecialTokens:
    """What the tokenizer puts before and after a single sequence (``[CLS]`` / ``[SEP]`` for BERT)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: Any) -> SpecialTokens:
        # probe the tokenizer's own post-processor rather than assume BERT's layout, so
        # RoBERTa-style tokenizers (<s> ... </s>) work too
        probe = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
        ids, mask = list(probe["input_ids"]), list(probe["special_tokens_mask"])
        if 0 not in mask:
            raise ConfigError("the tokenizer turned a probe text into special tokens only")
        first = mask.index(0)
        last = len(mask) - 1 - mask[::-1].index(0)
        return cls(tuple(ids[:first]), tuple(ids[last + 1 :]))

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


def _is_punct(text: str) -> bool:
    return not any(ch.isalnum() for ch in text)


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> list[EncodedDoc]:
    """Tokenise whole documents (no truncation) and group their tokens into words."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("the NER needs a fast (Rust) tokenizer: it relies on character offsets")
    if not texts:
        return []
    enc = tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    docs = []
    for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        starts: list[int] = []
        ends: list[int] = []
        prev_end = -1
        prev_punct = False
        for i, (s, e) in enumerate(offsets):
            piece = text[s:e]
            punct = _is_punct(piece) if e > s else False
            # a token with no characters (rare normaliser artefacts) joins the word before it
            new_word = not starts or (e > s and (s > prev_end or punct or prev_punct))
            if new_word:
                if starts:
                    ends.append(i)
                starts.append(i)
            if e > s:
                prev_end, prev_punct = e, punct
        if starts:
            ends.append(len(ids))
        docs.append(
            EncodedDoc(
                text=text,
                input_ids=tuple(ids),
                offsets=tuple((int(s), int(e)) for s, e in offsets),
                word_starts=tuple(starts),
                word_ends=tuple(ends),
            )
        )
    return docs


def window_bounds(n_tokens: int, max_length: int, stride: int, n_special: int = 2) -> list[tuple[int, int]]:
    """``[start, end)`` token ranges covering ``n_tokens``, each at most ``max_length - n_special`` long.

    Consecutive windows overlap by at least ``stride`` tokens; the last window ends at the
    last token (it may overlap its neighbour by more), so every window is full length.
    """
    size = max_length - n_special
    if size < 2:
        raise ConfigError(f"max_length {max_length} leaves no room for tokens")
    if not 0 <= stride < size:
        raise ConfigError(f"stride must be in [0, {size}) for max_length {max_length}, not {stride}")
    if n_tokens == 0:
        return []
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - stride
    bounds = [(s, s + size) for s in range(0, n_tokens - size, step)]
    bounds.append((n_tokens - size, n_tokens))
    return bounds


def make_windows(
    doc: EncodedDoc,
    doc_index: int,
    special: SpecialTokens,
    max_length: int,
    stride: int,
    token_labels: Sequence[int] | None = None,
) -> list[Window]:
    """Cut one encoded document into model inputs (with labels when ``token_labels`` is given)."""
    windows = []
    for start, end in window_bounds(len(doc), max_length, stride, len(special)):
        ids = (*special.prefix, *doc.input_ids[start:end], *special.suffix)
        labels = None
        if token_labels is not None:
            labels = (
                *([IGNORE] * len(special.prefix)),
                *token_labels[start:end],
                *([IGNORE] * len(special.suffix)),
            )
        windows.append(Window(doc_index, start, end, ids, labels))
    return windows


def merge_windows(
    n_tokens: int, bounds: Sequence[tuple[int, int]], window_scores: Sequence[np.ndarray]
) -> np.ndarray:
    """Per-token scores for a whole document, each token taken from its most central window.

    ``window_scores[k]`` has one row per content token of window ``bounds[k]`` (special
    tokens already removed). Centrality is the distance to the nearer window edge; an
    edge at the document's start or end does not count (no context is missing there).
    Ties keep the earlier window.
    """
    if not bounds:
        width = window_scores[0].shape[1] if window_scores else 0
        return np.zeros((0, width), dtype=np.float32)
    merged = np.zeros((n_tokens, window_scores[0].shape[1]), dtype=np.float32)
    best = np.full(n_tokens, -1.0)
    for (start, end), scores in zip(bounds, window_scores):
        if scores.shape[0] != end - start:
            raise ValueError(f"window [{start}, {end}) got {scores.shape[0]} rows of scores")
        idx = np.arange(start, end)
        left = idx - start if start > 0 else np.full(end - start, np.inf)
        right = end - 1 - idx if end < n_tokens else np.full(end - start, np.inf)
        centrality = np.minimum(left, right)
        take = centrality > best[start:end]
        merged[start:end][take] = scores[take]
        best[start:end][take] = centrality[take]
    return merged


def spans_to_token_labels(
    doc: EncodedDoc, spans: Iterable[Any], head: Head
) -> tuple[list[int], int]:
    """BIO tag ids per token (first subword of each word; others ``IGNORE``), and how many spans were dropped.

    ``spans`` are ``(start, end, label)`` tuples or objects with those attributes; spans
    of types the head does not know are skipped silently (the caller chose the head).
    A span covers every word it overlaps, so a mention ending inside a word is widened
    to the word. Flat BIO cannot hold overlapping mentions: spans are taken in order of
    start (longest first) and one overlapping an earlier-taken span is dropped and counted.
    """
    chars = doc.word_chars
    word_begin = [s for s, _ in chars]
    word_tags = [0] * len(chars)
    dropped = 0
    items = []
    for span in spans:
        start, end, label = span if isinstance(span, tuple) else (span.start, span.end, span.label)
        if label in head.types:
            items.append((int(start), int(end), label))
    for start, end, label in sorted(items, key=lambda t: (t[0], t[0] - t[1], t[2])):
        # words overlapping [start, end): from the last word beginning at or before start
        first = max(bisect.bisect_right(word_begin, start) - 1, 0)
        while first < len(chars) and chars[first][1] <= start:
            first += 1
        last = bisect.bisect_left(word_begin, end) - 1
        if first >= len(chars) or last < first:
            dropped += 1  # covers no token (only whitespace or characters the tokenizer drops)
            continue
        if any(word_tags[w] for w in range(first, last + 1)):
            dropped += 1
            continue
        word_tags[first] = head.begin_id(label)
        for w in range(first + 1, last + 1):
            word_tags[w] = head.begin_id(label) + 1
    labels = [IGNORE] * len(doc)
    for w, token in enumerate(doc.word_starts):
        labels[token] = word_tags[w]
    return labels, dropped


def word_tags_to_spans(
    doc: EncodedDoc, word_tags: Sequence[int], head: Head, word_scores: Sequence[float] | None = None
) -> list[PredictedSpan]:
    """Decode one BIO tag id per word into character spans.

    An ``I-X`` that does not continue an ``X`` span starts one (conlleval's repair), so a
    model that misses a ``B-`` still yields the mention. The score is the mean of
    ``word_scores`` over the span's words (1.0 when none are given).
    """
    chars = doc.word_chars
    spans: list[PredictedSpan] = []
    current: tuple[str, int, int] | None = None  # type, first word, last word

    def close() -> None:
        if current is not None:
            label, first, last = current
            scores = word_scores[first : last + 1] if word_scores is not None else [1.0]
            spans.append(PredictedSpan(chars[first][0], chars[last][1], label, float(np.mean(scores))))

    for w, tag in enumerate(word_tags):
        prefix, label = head.parse(int(tag))
        if prefix == "I" and current is not None and current[0] == label:
            current = (label, current[1], w)
            continue
        close()
        current = (label, w, w) if label is not None else None
    close()
    return spans


def token_labels_to_spans(doc: EncodedDoc, token_labels: Sequence[int], head: Head) -> list[PredictedSpan]:
    """Spans from per-token tag ids (only each word's first subword is read)."""
    return word_tags_to_spans(doc, [token_labels[s] for s in doc.word_starts], head)


@lru_cache(maxsize=16)
def allowed_transitions(head: Head) -> np.ndarray:
    """``[from, to]`` True where BIO allows tag ``to`` right after tag ``from`` (``I-X`` only
    after ``B-X`` or ``I-X``); row ``num_tags`` is the start of the sequence."""
    n = head.num_tags
    allowed = np.ones((n + 1, n), dtype=bool)
    for to in range(n):
        prefix, label = head.parse(to)
        if prefix == "I":
            allowed[:, to] = False
            allowed[head.begin_id(label), to] = allowed[to, to] = True
    return allowed


def viterbi_tags(word_probs: np.ndarray, head: Head) -> list[int]:
    """The most probable tag sequence that is valid BIO, one tag per word.

    Why not argmax per word: a softmax tagger's argmax can break a mention ("Graft" B,
    "-" O, "versus-host disease" I), which conlleval's repair then splits in two. With
    hard constraints and no learned transition scores, a valid argmax sequence is already
    the answer; so the dynamic programme runs only over each stretch around an invalid
    step: back over the ``O`` words before it and the mention before those (which it may
    join), on to the next ``O`` after it. Each stretch gets its own best valid path (on
    random test sequences, 99.5% of them matched a whole-sequence pass; stretches far apart
    rarely interact).
    """
    best = word_probs.argmax(axis=1)
    allowed = allowed_transitions(head)
    previous = np.concatenate([[head.num_tags], best[:-1]])
    invalid = np.flatnonzero(~allowed[previous, best])
    if not len(invalid):
        return [int(t) for t in best]
    stretches: list[list[int]] = []
    for i in invalid.tolist():
        begin = i
        while begin > 0 and best[begin - 1] == 0:  # the gap
            begin -= 1
        while begin > 0 and best[begin - 1] != 0:  # the mention before it
            begin -= 1
        end = i + 1
        while end < len(best) and best[end] != 0:
            end += 1
        if stretches and begin <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([begin, end])
    tags = best.copy()
    logp = np.log(np.clip(word_probs, 1e-12, None))
    penalty = np.where(allowed, 0.0, -np.inf)
    for begin, end in stretches:
        tags[begin:end] = _viterbi(logp[begin:end], penalty, head.num_tags)
    return [int(t) for t in tags]


def _viterbi(logp: np.ndarray, penalty: np.ndarray, start_row: int) -> np.ndarray:
    """Best path through ``logp`` (words x tags) under ``penalty`` (0 or -inf per step)."""
    steps = penalty[:start_row]
    score = logp[0] + penalty[start_row]
    back = np.zeros(logp.shape, dtype=np.int64)
    for w in range(1, len(logp)):
        candidates = score[:, None] + steps
        back[w] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + logp[w]
    path = np.zeros(len(logp), dtype=np.int64)
    path[-1] = score.argmax()
    for w in range(len(logp) - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    return path


def decode_probs(doc: EncodedDoc, probs: np.ndarray, head: Head, *, constrained: bool = True) -> list[PredictedSpan]:
    """Spans from merged per-token probabilities at each word's first subword: the best
    valid BIO sequence (:func:`viterbi_tags`), scored by its tags' probabilities.
    ``constrained=False`` takes each word's argmax (with conlleval's repair), as Hugging
    Face's token-classification pipeline does: the batch benchmark checks against it."""
    if not doc.word_starts:
        return []
    first = probs[list(doc.word_starts)]
    tags = viterbi_tags(first, head) if constrained else [int(t) for t in first.argmax(axis=1)]
    chosen = first[np.arange(len(tags)), tags]
    return word_tags_to_spans(doc, tags, head, chosen.tolist())
