"""Load the packaged, pre-tokenised lexicon into lookup tables (once per process).

The file is built by :mod:`clinnlp.lexicon.build`; terms are stored already tokenised and
normalised, so loading is a gzip read plus dict inserts (well under a second), not
~60k tokenizer calls. Codes stay as JSON text until a term actually matches.
"""

from __future__ import annotations

import gc
import gzip
import json
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from clinnlp.errors import ResourceError
from clinnlp.rule_files import read_rules_json
from clinnlp.lexicon import (
    COLUMNS,
    FLAG_CASE_SENSITIVE,
    FLAG_REQUIRES_VALUE,
    FORMAT_MAGIC,
    FORMAT_VERSION,
)

#: Name of the lexicon file inside the ``clinnlp.resources`` package.
RESOURCE_NAME = "lexicon.tsv.gz"
REBUILD_HINT = (
    "rebuild it with `python -m clinnlp.lexicon.build --shared ../shared/corpora "
    "--out clinnlp/resources/lexicon.tsv.gz` (or `make lexicon`)"
)


class Entry(NamedTuple):
    """One lexicon term: what it is (label, finding kind), how it matches, and its codes."""

    surface: str
    label: str
    kind: str | None
    case_sensitive: bool
    requires_value: bool
    codes_json: str

    def codes(self) -> list[dict[str, Any]]:
        """A fresh list of code dicts (system, code, display, score); callers may mutate it."""
        return json.loads(self.codes_json) if self.codes_json else []


@dataclass(frozen=True)
class Lexicon:
    """Lookup tables keyed by token tuples; ``*_max`` bound the lengths tried per first token."""

    folded: dict[tuple[str, ...], Entry]
    exact: dict[tuple[str, ...], Entry]
    folded_max: dict[str, int]
    exact_max: dict[str, int]
    source: str

    def __len__(self) -> int:
        return len(self.folded) + len(self.exact)

    def label_counts(self) -> Counter[str]:
        """Number of entries per label (case-sensitive and folded tables together)."""
        return Counter(e.label for table in (self.folded, self.exact) for e in table.values())


def packaged_path() -> Path:
    """Filesystem path of the lexicon shipped in ``clinnlp/resources``."""
    return Path(str(resources.files("clinnlp") / "resources" / RESOURCE_NAME))


def _read_lines(path: Path) -> list[str]:
    """Decompress and split the file, turning I/O and format problems into ResourceError."""
    if not path.is_file():
        raise ResourceError(f"lexicon resource not found: {path}; {REBUILD_HINT}")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ResourceError(f"lexicon resource {path} is corrupt ({exc}); {REBUILD_HINT}") from exc
    lines = text.split("\n")
    header = lines[0].split("\t") if lines else []
    if len(header) < 2 or header[0] != FORMAT_MAGIC:
        raise ResourceError(f"{path} is not a clinnlp lexicon file; {REBUILD_HINT}")
    if header[1] != FORMAT_VERSION:
        raise ResourceError(
            f"{path} has lexicon format v{header[1]}, this clinnlp reads v{FORMAT_VERSION}; {REBUILD_HINT}"
        )
    if len(lines) < 2 or tuple(lines[1].split("\t")) != COLUMNS:
        raise ResourceError(f"{path} has unexpected columns; {REBUILD_HINT}")
    return lines[2:]


CASE_VARIANTS_FILE = "lexicon_case_variants.json"


def _add_case_variants(exact: dict[tuple[str, ...], Entry], exact_max: dict[str, int]) -> None:
    """Lower-case, all-capital and capitalised forms of the abbreviations listed in
    ``rules/lexicon_case_variants.json`` (``chf``, ``AFIB``, ``Htn``), as the same entries.

    Why at load time: the list is a judgement about which short forms are safe in which
    case, kept in data; a rebuild of the lexicon resource is not needed to change it."""
    rules = read_rules_json(CASE_VARIANTS_FILE)
    capitalized = set(rules.get("capitalized", []))
    for abbreviation in rules.get("lower_and_upper", []):
        entry = exact.get((abbreviation,))
        if entry is None:
            continue
        variants = {abbreviation.lower(), abbreviation.upper()}
        if abbreviation in capitalized:
            variants.add(abbreviation.capitalize())
        for variant in variants:
            exact.setdefault((variant,), entry)
            exact_max[variant] = max(exact_max.get(variant, 0), 1)


@lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> Lexicon:
    """Parse the lexicon at ``path`` (default: the packaged one), cached per path.

    Raises :class:`ResourceError` if the file is missing, not a lexicon, or corrupt.
    """
    source = Path(path) if path else packaged_path()
    folded: dict[tuple[str, ...], Entry] = {}
    exact: dict[tuple[str, ...], Entry] = {}
    folded_max: dict[str, int] = {}
    exact_max: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(source), start=3):
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != len(COLUMNS):
            raise ResourceError(f"{source}:{lineno}: expected {len(COLUMNS)} columns, got {len(parts)}; {REBUILD_HINT}")
        key_text, surface, label, kind, flags, codes_json = parts
        key = tuple(key_text.split(" "))
        case_sensitive = FLAG_CASE_SENSITIVE in flags
        entry = Entry(surface, label, kind or None, case_sensitive, FLAG_REQUIRES_VALUE in flags, codes_json)
        table, lengths = (exact, exact_max) if case_sensitive else (folded, folded_max)
        table[key] = entry
        if lengths.get(key[0], 0) < len(key):
            lengths[key[0]] = len(key)
    if not folded and not exact:
        raise ResourceError(f"lexicon resource {source} has no entries; {REBUILD_HINT}")
    _add_case_variants(exact, exact_max)
    # Loading allocates ~200k objects; collect now so the full collection they trigger
    # (~0.15 s with spaCy loaded) happens during load, not in the middle of the first notes.
    gc.collect()
    return Lexicon(folded, exact, folded_max, exact_max, str(source))
