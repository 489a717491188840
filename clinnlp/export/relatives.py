"""Which relatives a family-history mention is about, for ``FamilyMemberHistory``.

Why not the relative nearest the mention: in "Father had MI at 50; brother with diabetes"
the brother is nearer to "MI", and in "mother and sister with breast cancer" both relatives
had it. The rules, over the mention's sentence, with relatives from ``fhir.json``:

1. a relative right after it, joined by "in"/"of" ("breast cancer in her mother");
2. else the nearest relative before it in the same ``;`` clause ("father had MI");
3. else the nearest after it in that clause, else the nearest anywhere in the sentence;

and with each, the relatives coordinated with it ("mother and sister", "mother, aunt or
grandmother"). No relative named: ``FAMMEMB``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: (start, end, code, display) of one relative word in the sentence.
_Hit = tuple[int, int, str, str]

_POSSESSIVE = r"(?:(?:his|her|their|the|a|an|one|both|patient'?s|pt'?s)\s+)?"
#: what may stand between two coordinated relatives: "mother and (her) sister", "mother, aunt"
_COORDINATION = re.compile(rf"[\s,/&]*(?:(?:and|or)\b)?[\s,]*{_POSSESSIVE}", re.IGNORECASE)
#: what may stand between a mention and the relative after it: "cancer in her mother"
_AFTER_LINK = re.compile(rf"\s*(?:in|of|-|:|,)?\s*{_POSSESSIVE}", re.IGNORECASE)


def _hits(sentence: str, relations: Mapping[str, tuple[str, str]]) -> list[_Hit]:
    found = [
        (m.start(), m.end(), code, display)
        for word, (code, display) in relations.items()
        for m in re.finditer(rf"\b{re.escape(word)}\b", sentence)
    ]
    # "maternal grandmother" (MGRMTH), not the "grandmother" inside it
    whole = [f for f in found if not any(o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)]
    return sorted(set(whole))


def _group(hits: Sequence[_Hit], at: int, sentence: str) -> list[_Hit]:
    """``hits[at]`` and the relatives coordinated with it on either side, in text order."""
    lo = hi = at
    while lo > 0 and _COORDINATION.fullmatch(sentence[hits[lo - 1][1] : hits[lo][0]]):
        lo -= 1
    while hi + 1 < len(hits) and _COORDINATION.fullmatch(sentence[hits[hi][1] : hits[hi + 1][0]]):
        hi += 1
    return list(hits[lo : hi + 1])


def relatives_of(sentence: str, start: int, end: int, relations: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """The (RoleCode, display) of each relative the mention at ``start:end`` of ``sentence``
    (lower case) is about, in text order, without repeats; empty when none is named."""
    hits = _hits(sentence, relations)
    if not hits:
        return []
    clause_start = sentence.rfind(";", 0, start) + 1
    clause_end = sentence.find(";", end)
    clause_end = len(sentence) if clause_end < 0 else clause_end
    after = [i for i, h in enumerate(hits) if h[0] >= end]
    before = [i for i, h in enumerate(hits) if h[1] <= start and h[0] >= clause_start]
    if after and _AFTER_LINK.fullmatch(sentence[end : hits[after[0]][0]]):
        chosen = after[0]
    elif before:
        chosen = before[-1]
    elif after and hits[after[0]][0] < clause_end:
        chosen = after[0]
    else:
        chosen = min(range(len(hits)), key=lambda i: abs(hits[i][0] - start))
    seen: dict[str, tuple[str, str]] = {}
    for _, _, code, display in _group(hits, chosen, sentence):
        seen.setdefault(code, (code, display))
    return list(seen.values())


__all__ = ["relatives_of"]
