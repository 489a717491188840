"""Rewrites of a mention's folded words that may name the same concept, for the linker.

Why: most mentions a name index misses are a known name written another way, not an
unknown concept: ``cerebral edema`` for *brain edema*, ``hypotensive`` for *hypotension*,
``calcification of the artery`` for *artery calcification*, ``ketamine hydrochloride``
for *ketamine*, ``haemorrhage`` for *hemorrhage*. Trying a few rule-made rewrites against
the exact tables finds the term where character trigrams or embeddings rank a look-alike
(``hypothermia`` for ``hyperthermia``) first. The rules are data
(``clinnlp/rules/linking_variants.json``); a rewrite only counts when it is a term, so
over-generating is safe. This is the sieve idea of D'Souza & Ng (2015), kept small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from clinnlp.errors import ResourceError
from clinnlp.lexicon import fold
from clinnlp.rule_files import read_rules_json

RULES_FILE = "linking_variants.json"
#: Rewrites applied one after another at most (each one costs match score in the linker).
MAX_EDITS = 2
#: Rewrites made per mention at most (bounds the cost of long mentions).
MAX_VARIANTS = 400

Words = tuple[str, ...]


@dataclass(frozen=True)
class VariantRules:
    """The rewrite rules, with every word folded as lexicon keys are."""

    synonyms: dict[Words, tuple[Words, ...]]
    suffixes: tuple[tuple[str, str], ...]
    drop: frozenset[str]
    salts: frozenset[str]
    of_words: frozenset[str]
    determiners: frozenset[str]
    longest: int


def _words(phrase: str) -> Words:
    return tuple(fold(w) for w in phrase.split())


@lru_cache(maxsize=1)
def variant_rules() -> VariantRules:
    """The packaged rules (read once); :class:`ResourceError` if the file is malformed."""
    data = read_rules_json(RULES_FILE)
    try:
        synonyms: dict[Words, set[Words]] = {}
        for group in data["synonyms"]:
            phrases = [_words(p) for p in group]
            for phrase in phrases:
                synonyms.setdefault(phrase, set()).update(p for p in phrases if p != phrase)
        suffixes = tuple((str(a), str(b)) for a, b in data["suffixes"])
        sets = {name: frozenset(fold(w) for w in data[name]) for name in ("drop", "salts", "of_words", "determiners")}
    except (KeyError, TypeError, ValueError) as exc:
        raise ResourceError(f"clinnlp/rules/{RULES_FILE} is malformed: {exc!r}") from None
    return VariantRules(
        synonyms={k: tuple(sorted(v)) for k, v in synonyms.items()},
        suffixes=suffixes,
        longest=max((len(k) for k in synonyms), default=1),
        **sets,
    )


def _one_edit(words: Words, rules: VariantRules) -> Iterator[Words]:
    """Every rewrite of ``words`` by one rule."""
    n = len(words)
    for i in range(n):
        for size in range(1, min(rules.longest, n - i) + 1):
            for other in rules.synonyms.get(words[i : i + size], ()):
                yield words[:i] + other + words[i + size :]
        word = words[i]
        for old, new in rules.suffixes:
            if word.endswith(old) and len(word) > len(old) + 2:
                yield words[:i] + (fold(word[: -len(old)] + new),) + words[i + 1 :]
        if n > 1 and (word in rules.drop or word in rules.salts or word in rules.determiners):
            yield words[:i] + words[i + 1 :]
    for i in range(1, n - 1):
        if words[i] in rules.of_words:
            tail = words[i + 1 :]
            while len(tail) > 1 and tail[0] in rules.determiners:
                tail = tail[1:]
            yield tail + words[:i]
            break


def variants(words: Words, rules: VariantRules | None = None, max_edits: int = MAX_EDITS) -> list[tuple[Words, int]]:
    """Rewrites of folded ``words`` with the number of rules used (1 .. ``max_edits``), fewest first."""
    rules = rules if rules is not None else variant_rules()
    seen = {words}
    found: list[tuple[Words, int]] = []
    frontier = [words]
    for edits in range(1, max_edits + 1):
        nxt = []
        for current in frontier:
            for variant in _one_edit(current, rules):
                if variant and variant not in seen:
                    seen.add(variant)
                    found.append((variant, edits))
                    nxt.append(variant)
                    if len(found) >= MAX_VARIANTS:
                        return found
        frontier = nxt
    return found
