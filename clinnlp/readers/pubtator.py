"""PubTator reader (BC5CDR and other PubMed corpora).

Format, one document per block::

    PMID|t|title
    PMID|a|abstract
    PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>ids[<TAB>extra]
    PMID<TAB>CID<TAB>chemical<TAB>disease          (relation: ignored)

The document text is ``title + " " + abstract``: PubTator offsets count the title, one
separator character, then the abstract, and the BC5CDR files check out under exactly
that convention. ``ids`` is ``-1`` for "no concept", or several ids joined by
``|`` (``+`` or ``,`` in some other PubTator corpora) for a composite mention
("cardiovascular, and respiratory depression"), whose 7th column then names the
parts; we keep them as the ``composite`` attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clinnlp.errors import InputError
from clinnlp.readers.types import GoldDocument, GoldSpan, make_span, sort_spans, utf8_lines

NO_CONCEPT = "-1"


@dataclass
class _Draft:
    doc_id: str
    title: str | None = None
    abstract: str | None = None
    # (line number, start, end, mention, type, ids, extra)
    annotations: list[tuple[int, int, int, str, str, str, str | None]] = field(default_factory=list)


def read_pubtator(path: str | Path) -> list[GoldDocument]:
    """Read every document of a PubTator file."""
    return list(iter_pubtator(path))


def iter_pubtator(path: str | Path) -> Iterator[GoldDocument]:
    """Yield the documents of a PubTator file one at a time, in file order.

    Error messages name the file and line but never quote it: a line that is not
    PubTator may well be note text (privacy), so not even its first column is shown.
    """
    path = Path(path)
    seen: dict[str, int] = {}  # document id -> line of its title
    draft: _Draft | None = None
    draft_line = 0
    for lineno, raw in utf8_lines(path):
        line = raw.rstrip("\r\n")
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        head = line.split("\t", 1)[0]
        if "|" in head and line.split("|", 2)[1:2] in (["t"], ["a"]):
            doc_id, kind, body = line.split("|", 2)
            if kind == "t":
                if draft is not None:
                    yield _finish(draft, path)
                if doc_id in seen:
                    raise InputError(f"{where}: document id already used by the title on line {seen[doc_id]}")
                seen[doc_id] = lineno
                draft, draft_line = _Draft(doc_id, title=body), lineno
            else:
                if draft is None or draft.doc_id != doc_id:
                    raise InputError(
                        f"{where}: abstract line ('ID|a|...') without a title line of the same ID before it"
                    )
                if draft.abstract is not None:
                    raise InputError(
                        f"{where}: second abstract line for the document titled on line {draft_line}"
                    )
                draft.abstract = body
            continue
        cols = line.split("\t")
        if draft is None:
            raise InputError(
                f"{where}: not a PubTator line; expected a title 'ID|t|title' first "
                "(is this a PubTator file?)"
            )
        if cols[0] != draft.doc_id:
            raise InputError(
                f"{where}: line outside its document's block (its first column is not the ID of "
                f"the document titled on line {draft_line})"
            )
        if len(cols) >= 5 and cols[1].isdigit() and cols[2].isdigit():
            ids = cols[5] if len(cols) > 5 else NO_CONCEPT
            extra = cols[6] if len(cols) > 6 else None
            draft.annotations.append((lineno, int(cols[1]), int(cols[2]), cols[3], cols[4], ids, extra))
        elif len(cols) >= 3 and not cols[1].isdigit():
            continue  # a relation line (CID ...): not a mention
        else:
            raise InputError(
                f"{where}: expected 'id|t|title', 'id|a|abstract', an annotation "
                "'id<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids]' or a relation line"
            )
    if draft is not None:
        yield _finish(draft, path)


def _finish(draft: _Draft, path: Path) -> GoldDocument:
    title = draft.title or ""
    text = title if draft.abstract is None else f"{title} {draft.abstract}"
    spans: list[GoldSpan] = []
    for lineno, start, end, mention, label, ids, extra in draft.annotations:
        concept_ids = tuple(i for i in re.split(r"[|+,]", ids) if i and i != NO_CONCEPT)
        attributes = {"composite": extra} if extra else {}
        spans.append(
            make_span(
                text,
                [(start, end)],
                label,
                f"{path}:{lineno}",
                expected=mention,
                concept_ids=concept_ids,
                attributes=attributes,
            )
        )
    return GoldDocument(doc_id=draft.doc_id, text=text, spans=sort_spans(spans))
