"""BRAT standoff reader (MACCROBAT and any ``.txt`` + ``.ann`` folder).

What becomes of each ``.ann`` line:

* ``T1<TAB>Label 10 20;25 30<TAB>text``: a span; a discontinuous one keeps every piece in
  ``fragments`` and gets the outer bounds as ``start``/``end``.
* ``E1<TAB>Type:T4 Role:T5``: an event; no new span, but the id resolves to its trigger
  ``T4`` so attributes on the event land on that span.
* ``A1<TAB>POLARITY E3 NEG`` / ``M1``: an attribute (``true`` when it has no value) on a T
  span, or on the trigger span of an E event.
* ``N1<TAB>Reference T1 MeSH:D001<TAB>...``: a concept id of that span.
* ``R``, ``*`` (relations), ``#`` (notes): ignored.

Offsets are code points of the ``.txt`` read as UTF-8 without newline translation, as
BRAT itself counts them. A split (``read_brat(path, split="dev")``) comes from a
``splits.json`` (``{"train": [ids], "dev": [ids]}``) in the folder or its parent;
MACCROBAT keeps it in the parent, beside ``brat/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from clinnlp.errors import ConfigError, InputError
from clinnlp.readers.types import (
    GoldDocument,
    GoldSpan,
    make_span,
    merge_attributes,
    read_utf8,
    sort_spans,
)

SPLITS_FILE = "splits.json"
_OFFSETS = re.compile(r"^\d+ \d+(;\d+ \d+)*$")
# what an annotation id looks like; only such an id is ever quoted in a message
_ID = re.compile(r"^[A-Z]\d+$")


def read_brat(
    path: str | Path, *, split: str | None = None, splits_file: str | Path | None = None
) -> list[GoldDocument]:
    """Read every ``.txt``/``.ann`` pair of a folder (or only those of ``split``), sorted by id."""
    path = Path(path)
    if path.is_file():
        return [read_brat_document(path.with_suffix(".txt"))]
    if not path.is_dir():
        raise InputError(f"{path}: no such BRAT folder")
    if split is None:
        ids = sorted(p.stem for p in path.glob("*.txt"))
    else:
        ids = brat_split_ids(path, split, splits_file)
    return [read_brat_document(path / f"{doc_id}.txt") for doc_id in ids]


def brat_split_ids(path: Path, split: str, splits_file: str | Path | None = None) -> list[str]:
    """Document ids of one split, from ``splits_file`` or a ``splits.json`` next to the documents."""
    candidates = [Path(splits_file)] if splits_file else [path / SPLITS_FILE, path.parent / SPLITS_FILE]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ConfigError(
            f"{path}: split {split!r} asked for, but there is no {SPLITS_FILE} "
            f"(looked at {', '.join(str(c) for c in candidates)})"
        )
    try:
        splits = json.loads(read_utf8(found))
    except json.JSONDecodeError as exc:
        raise InputError(f"{found}: not a readable splits file ({exc})") from None
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise InputError(f"{found}: expected an object of lists of document ids")
    if split not in splits:
        raise ConfigError(f"{found}: no split {split!r}; it has {', '.join(sorted(splits))}")
    return [str(doc_id) for doc_id in splits[split]]


def read_brat_document(txt_path: str | Path, ann_path: str | Path | None = None) -> GoldDocument:
    """Read one BRAT document; its id is the file stem.

    Errors name the ``.ann`` file and line but never quote the line, its mention or a
    malformed id: any of them may be note text (privacy).
    """
    txt_path = Path(txt_path)
    ann_path = Path(ann_path) if ann_path is not None else txt_path.with_suffix(".ann")
    text = read_utf8(txt_path)
    ann_lines = read_utf8(ann_path).split("\n")

    spans: dict[str, GoldSpan] = {}
    defined_at: dict[str, int] = {}  # T id -> line
    triggers: dict[str, str] = {}  # event id -> T id of its trigger
    attributes: list[tuple[str, str, str, str]] = []  # where, target, name, value
    concepts: list[tuple[str, str, str]] = []  # where, target, concept id

    for lineno, raw in enumerate(ann_lines, start=1):
        line = raw.rstrip("\r")
        where = f"{ann_path}:{lineno}"
        if not line.strip():
            continue
        cols = line.split("\t")
        ann_id = cols[0]
        kind = ann_id[:1]
        if kind == "T":
            if len(cols) < 3:
                raise InputError(f"{where}: expected 'T1<TAB>Label start end<TAB>text'")
            label, _, offsets = cols[1].partition(" ")
            if not _OFFSETS.match(offsets):
                raise InputError(
                    f"{where}: bad offsets (expected 'T1<TAB>Label start end[;start end...]<TAB>text')"
                )
            pieces = [(int(a), int(b)) for a, b in (p.split(" ") for p in offsets.split(";"))]
            if ann_id in spans:
                shown = ann_id if _ID.match(ann_id) else "this id"
                raise InputError(f"{where}: {shown} is already defined on line {defined_at[ann_id]}")
            defined_at[ann_id] = lineno
            spans[ann_id] = make_span(text, pieces, label, where, expected=cols[2], span_id=ann_id)
        elif kind == "E":
            args = cols[1].split() if len(cols) > 1 else []
            if not args or ":" not in args[0]:
                raise InputError(f"{where}: expected 'E1<TAB>Type:T1 [Role:ID...]'")
            triggers[ann_id] = args[0].split(":", 1)[1]
        elif kind in ("A", "M"):
            parts = cols[1].split() if len(cols) > 1 else []
            if len(parts) not in (2, 3):
                raise InputError(f"{where}: expected 'A1<TAB>Name Target [Value]'")
            attributes.append((where, parts[1], parts[0], parts[2] if len(parts) == 3 else "true"))
        elif kind == "N":
            parts = cols[1].split() if len(cols) > 1 else []
            if len(parts) != 3:
                raise InputError(f"{where}: expected 'N1<TAB>Reference Target DB:ID'")
            concepts.append((where, parts[1], parts[2]))
        elif kind in ("R", "*", "#"):
            continue
        else:
            raise InputError(
                f"{where}: not a BRAT annotation line (expected an id starting with T, E, A, M, N, R, * or #)"
            )

    extra_attrs: dict[str, dict[str, str]] = {}
    extra_ids: dict[str, list[str]] = {}
    for where, target, name, value in attributes:
        merge_attributes(extra_attrs.setdefault(_resolve(target, spans, triggers, where), {}), {name: value})
    for where, target, concept in concepts:
        extra_ids.setdefault(_resolve(target, spans, triggers, where), []).append(concept)

    result: list[GoldSpan] = []
    for span_id, span in spans.items():
        if span_id in extra_attrs or span_id in extra_ids:
            attrs = dict(span.attributes)
            merge_attributes(attrs, extra_attrs.get(span_id, {}))
            span = GoldSpan(
                start=span.start,
                end=span.end,
                label=span.label,
                text=span.text,
                concept_ids=span.concept_ids + tuple(extra_ids.get(span_id, [])),
                fragments=span.fragments,
                id=span.id,
                attributes=attrs,
            )
        result.append(span)
    return GoldDocument(doc_id=txt_path.stem, text=text, spans=sort_spans(result))


def _resolve(target: str, spans: dict[str, GoldSpan], triggers: dict[str, str], where: str) -> str:
    """The T id an attribute or normalisation refers to (an event id goes to its trigger)."""
    span_id = triggers.get(target, target)
    if span_id not in spans:
        shown = target if _ID.match(target) else "an unknown id"
        raise InputError(f"{where}: refers to {shown}, which is not a T span or an event with one")
    return span_id
