"""The packaged clinical lexicon: term normalisation shared by the builder and the matcher.

Lexicon terms are tokenised and normalised once, at build time, with the same rules the
NER component applies to document tokens at run time. Keeping both sides in this one
module is what makes a folded lexicon key and a folded text token comparable.

Normalisation (case-insensitive entries only; case-sensitive abbreviations keep the
raw token text):

* lower case, accents stripped (``Sjögren`` = ``sjogren``), curly quotes made straight;
* conservative plural folding: ``ulcers`` = ``ulcer``, ``allergies`` = ``allergy``,
  ``abscesses`` = ``abscess``, ``headaches`` = ``headache``; words in ``-ss``, ``-us``
  and ``-is`` (``abscess``, ``mellitus``, ``arthritis``) and a few collision-prone words
  (``aids``, ``lens``, ``hers``...) are left alone. Folding is applied to both sides, so a "wrong"
  stem (``diabetes`` -> ``diabete``) is harmless; only collisions matter;
* hyphen, dash and possessive tokens are dropped, so ``community-acquired`` =
  ``community acquired`` and ``Crohn's disease`` = ``Crohn disease``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

#: Resource format marker written in the first line of the lexicon file.
FORMAT_MAGIC = "#clinnlp-lexicon"
#: Version of the TSV layout; bump when columns change.
FORMAT_VERSION = "1"
#: Column names of the lexicon TSV, in order.
COLUMNS = ("key", "surface", "label", "kind", "flags", "codes")
#: Flag letters of the ``flags`` column.
FLAG_CASE_SENSITIVE = "c"
FLAG_REQUIRES_VALUE = "v"
#: Label of entries that only block other matches (deny phrases), never emitted.
BLOCK_LABEL = "BLOCK"

#: Tokens ignored on both sides when matching (hyphens, dashes, possessives).
SKIP_TOKENS = frozenset({"-", "–", "‐", "‑", "'s", "’s", "'", "’"})

#: Words whose plural folding would collide with a different word.
_NO_FOLD = frozenset({"aids", "lens", "news", "yes", "does", "goes", "gas", "bus", "plus", "hers"})
_KEEP_ENDINGS = ("ss", "us", "is")
_E_AFTER = ("ch", "sh", "x", "ss", "zz")


def _strip_accents(text: str) -> str:
    """Drop combining marks so accented spellings match their ASCII forms."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=131072)
def fold(token_text: str) -> str:
    """Case-, accent- and plural-fold one token's text (cached: text tokens repeat a lot)."""
    text = token_text.lower().replace("’", "'")
    if not text.isascii():
        text = _strip_accents(text)
    if len(text) < 4 or not text.isalpha() or text in _NO_FOLD:
        return text
    if text.endswith("ies") and len(text) > 4:
        text = text[:-3] + "y"
    elif text.endswith("uses") and len(text) > 5:
        text = text[:-2]  # viruses -> virus, sinuses -> sinus
    elif text.endswith("s") and not text.endswith(_KEEP_ENDINGS):
        text = text[:-1]
    # rashes -> rashe -> rash, but also headache -> headach so both sides agree
    if text.endswith("e") and text[:-1].endswith(_E_AFTER):
        text = text[:-1]
    return text


def is_skipped(token_text: str) -> bool:
    """Whether a token is ignored for matching (hyphen, dash, possessive)."""
    return token_text in SKIP_TOKENS


def folded_key(tokens: list[str]) -> tuple[str, ...]:
    """The case-insensitive lookup key of a tokenised term."""
    return tuple(fold(t) for t in tokens if not is_skipped(t) and not t.isspace())


def exact_key(tokens: list[str]) -> tuple[str, ...]:
    """The case-sensitive lookup key of a tokenised term (skip tokens still dropped)."""
    return tuple(t for t in tokens if not is_skipped(t) and not t.isspace())
