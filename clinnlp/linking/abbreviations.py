"""Short forms defined in a text as ``long form (SHORT)``, by Schwartz & Hearst's algorithm.

Why a second finder next to scispaCy's detector: on BC5CDR train it misses definitions
the linker needs, mostly where the parenthesis is glued to what follows or holds more
than the short form: ``isoproterenol (ISO)-induced``, ``sodium nitroprusside (SNP, n =
7)``, ``zidovudine (ZDV)-induced``, ``phenobarbital (PB: 15 mg per rat)``,
``5,7-dihydroxytryptamine (5,7-DHT)``. This finder reads the whole parenthesis when it is a
short form with a comma between digits, else only its first item (up to ``,``, ``;`` or
``:``), and matches the short form's characters right to left into the words before it
(the published algorithm, 2003), so it is deliberately strict about the match and loose
about the punctuation. Its results only add short forms scispaCy did not define.
"""

from __future__ import annotations

import re

#: ``(`` + a candidate short form + ``)`` or a separator that ends it (``:`` as in ``(PB: 15 mg``).
_PAREN = re.compile(r"\(\s*([^()\s,;:][^(),;:]{0,11}?)\s*[),;:]")
#: A whole parenthesis, for short forms that hold a comma between digits (``5,7-DHT``).
_WHOLE = re.compile(r"\(\s*(\d[\d,]*\d[^()\s]{0,10}?)\s*\)")
_SENTENCE_END = re.compile(r"[.;:!?]\s")


def _is_short_form(text: str) -> bool:
    """2-10 characters, at most two words, starting alphanumeric, holding a letter."""
    return 2 <= len(text) <= 10 and len(text.split()) <= 2 and text[0].isalnum() and any(c.isalpha() for c in text)


def best_long_form(short: str, window: str) -> str | None:
    """The shortest tail of ``window`` whose characters spell ``short`` (Schwartz & Hearst), or None."""
    s = len(short) - 1
    i = len(window) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (window[i].lower() != c or (s == 0 and i > 0 and window[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = window.rfind(" ", 0, i + 1) + 1
    long_form = window[start:].strip()
    if len(long_form) <= len(short) or short.lower() in long_form.lower().split():
        return None
    return long_form


def find_abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form for every ``long form (SHORT ...)`` definition in ``text`` (first wins)."""
    found: dict[str, str] = {}
    matches = sorted([*_WHOLE.finditer(text), *_PAREN.finditer(text)], key=lambda m: (m.start(), -len(m.group(1))))
    for match in matches:
        short = match.group(1).strip()
        if short in found or not _is_short_form(short):
            continue
        before = text[: match.start()]
        cut = max((m.end() for m in _SENTENCE_END.finditer(before, max(0, len(before) - 200))), default=0)
        words = before[cut:].split()
        size = min(len(short) + 5, 2 * len(short))
        long_form = best_long_form(short, " ".join(words[-size:]))
        if long_form is not None:
            found[short] = long_form
    return found
