"""Look a term up in the packaged lexicon: exact, folded, then fuzzy (character trigrams).

``lookup("CHF", system="ICD-10-CM")`` returns ranked :class:`Candidate` codes. Three passes,
best first:

1. **exact** - the query's raw tokens are a case-sensitive lexicon key (``CHF``), or the
   query is character-for-character the surface form of a folded entry: score 1.0;
2. **folded** - the query's folded key (lower case, no accents, plurals folded, hyphens
   and possessives dropped; see :mod:`clinnlp.lexicon`) is a lexicon key: score 0.95;
3. **fuzzy** - Jaccard similarity of character-trigram sets between the query's folded
   text and every lexicon term's folded text, scaled by 0.9 so a fuzzy hit never outranks
   an exact or folded one; terms below :data:`MIN_SIMILARITY` are dropped.

Each code's own confidence (the lexicon stores 1.0 for curated mappings, 0.9 for ones
inferred through UMLS) multiplies the match score, so within one matched term the curated
code ranks first. Candidates are deduplicated by ``(system, code)``, keeping the best score.

Why hand-written: no maintained library does lexicon-backed n-gram lookup offline over
*our* lexicon without a multi-GB index. scispaCy's ``EntityLinker`` (TF-IDF over character
3-grams + approximate nearest neighbours) downloads a ~11 GB UMLS index and links only to
UMLS CUIs; rapidfuzz/pyfuzzy-style libraries score pairs but bring no index, so a query
would be a 60k-term linear scan of Python edit-distance calls. The lexicon here is ~60k
terms: a trigram inverted index over it is built in about a second, kept in memory (a few
MB), and answers a query in milliseconds with one ``numpy.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from clinnlp.errors import ConfigError
from clinnlp.lexicon import BLOCK_LABEL, fold, folded_key, is_skipped
from clinnlp.lexicon.store import Entry, load_lexicon
from clinnlp.linking.linker import code_generality

How = Literal["exact", "folded", "fuzzy"]

#: Match scores of the three passes (multiplied by each code's own score).
EXACT_SCORE = 1.0
FOLDED_SCORE = 0.95
FUZZY_SCALE = 0.9
#: Lowest trigram Jaccard similarity a fuzzy match may have.
MIN_SIMILARITY = 0.3

_HOW_RANK = {"exact": 0, "folded": 1, "fuzzy": 2}


@dataclass(frozen=True)
class Candidate:
    """One code a looked-up term may mean."""

    system: str
    code: str
    display: str | None
    score: float
    matched_term: str
    label: str
    how: How


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    """spaCy's blank English tokenizer: the one the lexicon terms were tokenised with."""
    import spacy

    return spacy.blank("en").tokenizer


def _tokens(term: str) -> list[str]:
    return [t.text for t in _tokenizer()(term) if not t.is_space]


def _fuzzy_text(tokens: tuple[str, ...] | list[str]) -> str:
    """The folded, space-joined text trigrams are taken from (same rules on both sides)."""
    return " ".join(fold(t) for t in tokens if not is_skipped(t) and not t.isspace())


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True)
class _TrigramIndex:
    """Distinct folded term texts, their trigram-set sizes, and trigram -> term-id postings."""

    texts: list[str]
    entries: list[list[Entry]]
    sizes: np.ndarray
    postings: dict[str, np.ndarray]


@lru_cache(maxsize=1)
def _index() -> _TrigramIndex:
    """Build the trigram inverted index over every coded lexicon term (once per process)."""
    lexicon = load_lexicon()
    ids: dict[str, int] = {}
    texts: list[str] = []
    entries: list[list[Entry]] = []
    for table in (lexicon.exact, lexicon.folded):
        for key, entry in table.items():
            if entry.label == BLOCK_LABEL or not entry.codes_json:
                continue
            text = _fuzzy_text(key)
            if not text:
                continue
            i = ids.get(text)
            if i is None:
                i = ids[text] = len(texts)
                texts.append(text)
                entries.append([])
            entries[i].append(entry)
    lists: dict[str, list[int]] = {}
    sizes = np.empty(len(texts), dtype=np.int32)
    for i, text in enumerate(texts):
        grams = _trigrams(text)
        sizes[i] = len(grams)
        for gram in grams:
            posting = lists.get(gram)
            if posting is None:
                lists[gram] = [i]
            else:
                posting.append(i)
    postings = {gram: np.asarray(p, dtype=np.int32) for gram, p in lists.items()}
    return _TrigramIndex(texts, entries, sizes, postings)


@lru_cache(maxsize=1)
def _mesh_names() -> dict[tuple[str, ...], list[tuple[str, dict[str, Any]]]]:
    """MeSH descriptor preferred names by folded key, as MeSH writes them and in reading
    order: the names the linker adds to its index (``Meningitis, Cryptococcal`` is found
    as ``cryptococcal meningitis``), so a lookup agrees with the codes a mention gets."""
    from clinnlp.lexicon.mesh_descriptors import load_descriptors
    from clinnlp.linking.linker import descriptor_code

    names: dict[tuple[str, ...], list[tuple[str, dict[str, Any]]]] = {}
    for d in load_descriptors():
        for key in d.keys():
            names.setdefault(key, []).append((d.surface, descriptor_code(d)))
    return names


@lru_cache(maxsize=1)
def known_systems() -> tuple[str, ...]:
    """The code systems the packaged lexicon maps to, sorted."""
    lexicon = load_lexicon()
    seen: set[str] = set()
    for table in (lexicon.exact, lexicon.folded):
        for entry in table.values():
            if entry.label != BLOCK_LABEL:
                seen.update(c["system"] for c in entry.codes())
    return tuple(sorted(seen))


def _resolve_system(system: str | None) -> str | None:
    if system is None:
        return None
    systems = known_systems()

    def squash(name: str) -> str:  # "ICD-10-CM", "icd10cm" and "ICD 10 CM" are one
        return "".join(ch for ch in name.casefold() if ch.isalnum())

    wanted = squash(system)
    exact = [name for name in systems if squash(name) == wanted]
    # a unique prefix names a system too: "ICD-10" is ICD-10-CM, "SNOMED" is SNOMED CT
    prefixed = [name for name in systems if len(wanted) >= 3 and squash(name).startswith(wanted)]
    if exact or len(prefixed) == 1:
        return (exact or prefixed)[0]
    raise ConfigError(f"unknown code system {system!r}; the lexicon has: {', '.join(systems)}")


def lookup(term: str, system: str | None = None, top: int = 10) -> list[Candidate]:
    """Ranked codes for ``term``: exact, folded, then fuzzy trigram matches (at most ``top``).

    ``system`` (case-insensitive, e.g. ``"icd-10-cm"``) keeps only that system's codes; an
    unknown system raises :class:`ConfigError` naming the systems the lexicon has.
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    wanted = _resolve_system(system)
    best: dict[tuple[str, str], Candidate] = {}

    def add(entry: Entry, match_score: float, how: How) -> None:
        if entry.label != BLOCK_LABEL:
            add_codes(entry.codes(), match_score, how, entry.surface, entry.label)

    def add_codes(codes: list[dict[str, Any]], match_score: float, how: How, surface: str, label: str) -> None:
        for code in codes:
            if wanted is not None and code["system"] != wanted:
                continue
            score = round(match_score * float(code.get("score") or 1.0), 4)
            key = (code["system"], str(code["code"]))
            old = best.get(key)
            if old is None or score > old.score or (score == old.score and _HOW_RANK[how] < _HOW_RANK[old.how]):
                best[key] = Candidate(key[0], key[1], code.get("display"), score, surface, label, how)

    text = term.strip()
    tokens = _tokens(text)
    if not tokens:
        return []
    lexicon = load_lexicon()
    raw = tuple(t for t in tokens if not is_skipped(t))
    folded = folded_key(tokens)
    exact_entry = lexicon.exact.get(raw)
    if exact_entry is not None:
        add(exact_entry, EXACT_SCORE, "exact")
    folded_entry = lexicon.folded.get(folded)
    if folded_entry is not None:
        same = folded_entry.surface == text
        add(folded_entry, EXACT_SCORE if same else FOLDED_SCORE, "exact" if same else "folded")

    for surface, code in _mesh_names().get(folded, ()):
        same = surface == text
        add_codes([code], EXACT_SCORE if same else FOLDED_SCORE, "exact" if same else "folded", surface, "")

    index = _index()
    grams = [g for g in _trigrams(_fuzzy_text(tokens)) if g in index.postings]
    if grams:
        n_query = len(_trigrams(_fuzzy_text(tokens)))
        overlap = np.bincount(np.concatenate([index.postings[g] for g in grams]), minlength=len(index.texts))
        similarity = overlap / (n_query + index.sizes - overlap)
        hits = np.flatnonzero(similarity >= MIN_SIMILARITY)
        hits = hits[np.argsort(-similarity[hits], kind="stable")]
        fuzzy_found = 0
        for i in hits:
            before = len(best)
            for entry in index.entries[i]:
                add(entry, FUZZY_SCALE * float(similarity[i]), "fuzzy")
            fuzzy_found += len(best) - before
            if len(best) >= top and fuzzy_found >= top:
                break

    ranked = sorted(best.values(), key=lambda c: (-c.score, _HOW_RANK[c.how], code_generality(c.system, c.code, c.display)))
    return ranked[:top]
