"""ADE corpus v2 reader: drug / adverse-effect and drug / dose pairs in sentences.

``DRUG-AE.rel`` and ``DRUG-DOSE.rel`` hold one pair a line,
``PMID|sentence|mention|begin|end|drug|begin|end``; ``ADE-NEG.txt`` holds sentences
without an adverse effect, ``PMID NEG sentence``. Each distinct (PMID, sentence) is
one document (id ``PMID-<8 hex of the sentence's sha1>``, stable whatever the file
order), with spans ``Drug``, ``Adverse_effect`` and ``Dose``, deduplicated across its
lines; negative sentences have no spans and the attribute ``negative=true``.

The offsets are into the whole abstract (``PMID\\n\\nTitle\\n\\nAbstract``), which is not
distributed, so a mention is found in its sentence by text. When it occurs more than
once, the document offsets decide: every mention of a sentence shares one
sentence-start offset, so we take the offset most mentions agree on and pick, for each
mention, the occurrence it implies (or the nearest one if none matches exactly).

The corpus has no official split. ``split="train"``/``"dev"`` is a fixed 80/20 split by
PMID (sha1 of the PMID, modulo 5 equal to 0 is dev), so one abstract never straddles
both.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from clinnlp.errors import ConfigError, InputError
from clinnlp.readers.types import GoldDocument, GoldSpan, make_span, read_utf8, sort_spans

PAIR_FILES = {"DRUG-AE.rel": "Adverse_effect", "DRUG-DOSE.rel": "Dose"}
NEGATIVE_FILE = "ADE-NEG.txt"
SPLITS = ("train", "dev")

# label, mention text, document-level begin, where
_Mention = tuple[str, str, int, str]


def ade_split(pmid: str) -> str:
    """The split (``train`` or ``dev``) a PMID belongs to: a stable 80/20 hash split."""
    return "dev" if int(hashlib.sha1(pmid.encode("utf-8")).hexdigest(), 16) % 5 == 0 else "train"


def read_ade(
    path: str | Path, *, split: str | None = None, include_negative: bool = True
) -> list[GoldDocument]:
    """Read the ADE folder (or one of its files); ``split`` keeps the PMIDs of that split."""
    if split is not None and split not in SPLITS:
        raise ConfigError(
            f"ADE split {split!r} does not exist; use one of {', '.join(SPLITS)} (or none for all)"
        )
    path = Path(path)
    if path.is_dir():
        files = [path / name for name in (*PAIR_FILES, NEGATIVE_FILE) if (path / name).exists()]
        if not files:
            raise InputError(f"{path}: none of {', '.join([*PAIR_FILES, NEGATIVE_FILE])} found")
    elif path.exists():
        files = [path]
    else:
        raise InputError(f"{path}: no such file or folder")

    mentions: dict[tuple[str, str], list[_Mention]] = {}
    for file in files:
        if file.name == NEGATIVE_FILE:
            if include_negative:
                for pmid, sentence in _read_negative(file):
                    mentions.setdefault((pmid, sentence), [])
        else:
            label = PAIR_FILES.get(file.name, "Adverse_effect")
            for pmid, sentence, found in _read_pairs(file, label):
                mentions.setdefault((pmid, sentence), []).extend(found)

    docs = []
    for (pmid, sentence), found in mentions.items():
        if split is not None and ade_split(pmid) != split:
            continue
        doc_id = f"{pmid}-{hashlib.sha1(sentence.encode('utf-8')).hexdigest()[:8]}"
        attributes = {"pmid": pmid, "negative": "false" if found else "true"}
        docs.append(GoldDocument(doc_id, sentence, _locate(sentence, found), attributes))
    return docs


def _lines(path: Path) -> list[str]:
    return read_utf8(path).splitlines()


def _read_negative(path: Path) -> list[tuple[str, str]]:
    rows = []
    for lineno, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or parts[1] != "NEG" or not parts[0].isdigit():
            raise InputError(f"{path}:{lineno}: expected 'PMID NEG sentence'")
        rows.append((parts[0], parts[2]))
    return rows


def _read_pairs(path: Path, label: str) -> list[tuple[str, str, list[_Mention]]]:
    """The rows of a ``.rel`` file; errors name the line and column, never a mention (privacy)."""
    rows = []
    for lineno, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        parts = line.split("|")
        if len(parts) < 8:
            raise InputError(f"{where}: expected 8 '|'-separated columns, got {len(parts)}")
        # the sentence may itself contain '|': take the fixed columns from both ends
        pmid, sentence, tail = parts[0], "|".join(parts[1:-6]), parts[-6:]
        found: list[_Mention] = []
        for (mention, begin, end), mention_label, column in (
            (tail[0:3], label, len(parts) - 4),
            (tail[3:6], "Drug", len(parts) - 1),
        ):
            if not (begin.isdigit() and end.isdigit()):
                raise InputError(
                    f"{where}: the {mention_label} offsets (columns {column}-{column + 1}) are not numbers"
                )
            if int(end) - int(begin) != len(mention):
                raise InputError(
                    f"{where}: {mention_label} offsets {begin}-{end} do not fit its mention "
                    f"({len(mention)} characters)"
                )
            found.append((mention_label, mention, int(begin), where))
        rows.append((pmid, sentence, found))
    return rows


def _occurrences(sentence: str, mention: str) -> list[int]:
    starts, at = [], sentence.find(mention)
    while at != -1:
        starts.append(at)
        at = sentence.find(mention, at + 1)
    return starts


def _locate(sentence: str, mentions: list[_Mention]) -> tuple[GoldSpan, ...]:
    """Place each mention in the sentence, using the shared sentence offset to disambiguate."""
    votes: Counter[int] = Counter()
    for _, mention, begin, _ in set(mentions):
        votes.update({begin - at for at in _occurrences(sentence, mention)})
    base = max(votes, key=lambda off: (votes[off], -off)) if votes else 0
    spans: dict[tuple[int, int, str], GoldSpan] = {}
    for label, mention, begin, where in mentions:
        starts = _occurrences(sentence, mention)
        if not starts:
            raise InputError(
                f"{where}: the {label} mention ({len(mention)} characters) does not occur in its sentence"
            )
        local = min(starts, key=lambda at: (abs(at - (begin - base)), at))
        span = make_span(sentence, [(local, local + len(mention))], label, where, expected=mention)
        spans.setdefault(span.key, span)
    return sort_spans(list(spans.values()))
