"""CoNLL / IOB reader (the tokenised BC5CDR and NCBI-disease releases).

One token per line, ``token<TAB>tag`` (whitespace-separated columns also work; the tag
is the last column), a blank line between sentences, tags ``O``, ``B-X``, ``I-X``. The
original text is gone, so we rebuild it: tokens joined by one space, sentences of one
document joined by a newline. Character offsets refer to that rebuilt text.

Document boundaries: a ``-DOCSTART-`` line starts a new document when a file has them.
The BC5CDR and NCBI-disease IOB files have none (nor any other marker), so by default
each sentence is its own document (ids ``<file stem>-00001``...); ``sentences_per_doc``
groups consecutive sentences instead, which changes nothing for mention-level scores.

An ``I-X`` that does not continue an ``X`` span (after ``O``, or after another type)
starts a new span, as conlleval does. ``S-``/``E-`` (IOBES) are read as ``B-``/``I-``.
"""

from __future__ import annotations

from pathlib import Path

from clinnlp.errors import ConfigError, InputError
from clinnlp.readers.types import GoldDocument, make_span, sort_spans, utf8_lines

DOCSTART = "-DOCSTART-"

_Token = tuple[str, str, int]  # token, tag, line number
_Sentence = list[_Token]


def read_iob(path: str | Path, *, sentences_per_doc: int = 1) -> list[GoldDocument]:
    """Read an IOB file into documents of ``sentences_per_doc`` sentences (or per -DOCSTART-)."""
    if sentences_per_doc < 1:
        raise ConfigError(f"sentences_per_doc must be at least 1, not {sentences_per_doc}")
    path = Path(path)
    groups, has_docstart = _read_groups(path)
    docs: list[GoldDocument] = []
    for group in groups:
        step = len(group) if has_docstart else sentences_per_doc
        for i in range(0, len(group), step):
            docs.append(_build(group[i : i + step], f"{path.stem}-{len(docs) + 1:05d}", path))
    return docs


def _read_groups(path: Path) -> tuple[list[list[_Sentence]], bool]:
    """Sentences grouped by -DOCSTART- (one group when the file has none), and whether it had any.

    Errors name the line, never its token or tag: either may be note text (privacy).
    """
    groups: list[list[_Sentence]] = [[]]
    sentence: _Sentence = []
    has_docstart = False
    for lineno, raw in utf8_lines(path):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if sentence:
                groups[-1].append(sentence)
                sentence = []
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if cols[0] == DOCSTART:
            has_docstart = True
            if sentence:
                groups[-1].append(sentence)
                sentence = []
            if groups[-1]:
                groups.append([])
            continue
        if len(cols) < 2 or not cols[0]:
            found = "one column" if len(cols) < 2 else "an empty token"
            raise InputError(f"{path}:{lineno}: expected 'token<TAB>tag', found {found}")
        tag = cols[-1].strip()
        if "\x00" in line:
            raise InputError(f"{path}:{lineno}: a NUL byte: this looks like a binary file, not IOB/CoNLL text")
        if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-", "S-", "E-") and not any(c.isspace() for c in tag)):
            raise InputError(
                f"{path}:{lineno}: the tag (last column) is not O, B-TYPE or I-TYPE (or S-/E-TYPE), TYPE without spaces"
            )
        sentence.append((cols[0], tag, lineno))
    if sentence:
        groups[-1].append(sentence)
    return [g for g in groups if g], has_docstart


def _build(sentences: list[_Sentence], doc_id: str, path: Path) -> GoldDocument:
    """Rebuild the text of some sentences and turn their tags into character spans."""
    pieces: list[str] = []
    found: list[tuple[str, int, int, int]] = []  # label, start, end, line of first token
    offset = 0
    for s_index, sentence in enumerate(sentences):
        if s_index:
            pieces.append("\n")
            offset += 1
        current: tuple[str, int, int] | None = None  # label, start, line
        end = offset
        for t_index, (token, tag, lineno) in enumerate(sentence):
            if t_index:
                pieces.append(" ")
                offset += 1
            start = offset
            pieces.append(token)
            offset += len(token)
            prefix, label = (tag[0], tag[2:]) if tag != "O" else ("O", "")
            continues = prefix in ("I", "E") and current is not None and current[0] == label
            if current is not None and not continues:
                found.append((current[0], current[1], end, current[2]))
                current = None
            if prefix != "O" and not continues:
                current = (label, start, lineno)
            end = offset
        if current is not None:
            found.append((current[0], current[1], end, current[2]))
    text = "".join(pieces)
    spans = [make_span(text, [(s, e)], label, f"{path}:{line}") for label, s, e, line in found]
    return GoldDocument(doc_id=doc_id, text=text, spans=sort_spans(spans))
