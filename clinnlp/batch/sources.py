"""Batch inputs: folders of ``.txt``, JSONL, CSV (MIMIC ``NOTEEVENTS`` too), PubTator, stdin.

Every source streams: it holds one document (or one line) at a time, so memory does not
grow with the corpus. A document that cannot be used is still yielded, with ``error`` set
and no text, so the engine logs it and goes on; only a problem with the input as a whole
(missing file, unreadable header) raises :class:`InputError`.

The per-document size limit (``--max-doc-bytes``) is the engine's, so it holds for every
source; here a hard cap, :data:`READ_CAP_BYTES`, only keeps a runaway line (a file with no
newlines, an unclosed CSV quote) from being read into memory whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from clinnlp.batch.protocols import SourceDoc, SourceOptions
from clinnlp.errors import InputError
from clinnlp.inputs import decode_note

#: Lines, fields and files larger than this are skipped unread (the document is an error).
READ_CAP_BYTES = 64 * 1024 * 1024

#: MIMIC-III ``NOTEEVENTS`` (and MIMIC-IV ``note_id``/``text``) column names, used when
#: ``--id-field``/``--text-field`` keep their defaults and those columns are absent.
MIMIC_ID_COLUMNS = ("ROW_ID", "row_id", "note_id", "NOTE_ID")
MIMIC_TEXT_COLUMNS = ("TEXT", "text")
#: What a CSV column name looks like; anything else in a header is shown only as a count.
_COLUMN_NAME = re.compile(r"[A-Za-z_][\w .-]{0,39}")
_ID = re.compile(r"[\w.:/-]{1,64}")


def _describe_header(header: list[str]) -> str:
    """The header's column names for an error message, unless it looks like data (a CSV
    without a header row puts a note's text there, which must not reach the terminal)."""
    if all(_COLUMN_NAME.fullmatch(name) for name in header):
        return f"columns: {', '.join(header[:12])}"
    return f"the first row ({len(header)} fields) does not look like a header; the CSV needs one"


def _checked_text(data: bytes | str, name: str) -> tuple[str | None, str | None]:
    """(text, None) for a usable document, else (None, reason); reuses the ``extract`` checks."""
    try:
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    except UnicodeEncodeError:
        return None, "the text holds unpaired surrogate escapes; expected UTF-8 text"
    try:
        return decode_note(raw, name), None
    except InputError as exc:
        return None, str(exc).removeprefix(f"{name}: ")


_LINE_START = re.compile(rb"\n[^\r\n]")


def _count_lines(path: Path) -> int:
    """Non-blank lines (the documents a JSONL file holds, for the ETA), by raw 1 MB reads:
    a GB-sized file in about a second, no parsing."""
    count = 0
    previous = b"\n"  # the file's first line starts after a virtual newline
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += len(_LINE_START.findall(previous + chunk))  # a line start may straddle reads
            previous = chunk[-1:]
    return count


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)``, or ``(line number, None)`` for a line over ``limit`` bytes,
    which is skipped in 1 MB reads instead of held in memory."""
    lineno = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # drain the rest of the over-long line
                rest = handle.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield lineno, None
            continue
        yield lineno, line


class FolderSource:
    """Every ``*.txt`` under a folder, sorted by relative path, which is also the doc id."""

    def __init__(self, input: str, options: SourceOptions) -> None:
        self.root = Path(input)
        if not self.root.is_dir():
            raise InputError(f"{input}: not a folder")

    def _paths(self) -> Iterator[Path]:
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()  # os.walk's order is the file system's; sort it for a stable input order
            for name in sorted(files):
                if name.endswith(".txt"):
                    yield Path(folder) / name

    def __len__(self) -> int:
        return sum(1 for _ in self._paths())

    def __iter__(self) -> Iterator[SourceDoc]:
        for path in self._paths():
            doc_id = path.relative_to(self.root).as_posix()
            meta: dict[str, Any] = {}
            try:
                size = path.stat().st_size
                if size > READ_CAP_BYTES:
                    reason = f"{size} bytes is larger than the {READ_CAP_BYTES}-byte read cap"
                    yield SourceDoc(doc_id, None, meta, reason)
                    continue
                data = path.read_bytes()
            except OSError as exc:
                yield SourceDoc(doc_id, None, meta, f"cannot be read ({exc.strerror or exc})")
                continue
            text, error = _checked_text(data, doc_id)
            yield SourceDoc(doc_id, text, meta, error)


class JsonlSource:
    """One JSON object per line; ``--id-field``/``--text-field`` name the keys, the rest is metadata."""

    def __init__(self, input: str, options: SourceOptions) -> None:
        self.name = input
        self.path = None if input == "-" else Path(input)
        if self.path is not None and not self.path.is_file():
            raise InputError(f"{input}: no such file")
        self.options = options

    def __len__(self) -> int:
        if self.path is None:
            raise TypeError("standard input has no length")
        return _count_lines(self.path)

    def __iter__(self) -> Iterator[SourceDoc]:
        if self.path is None:
            yield from self._read(sys.stdin.buffer)
            return
        with self.path.open("rb") as handle:
            yield from self._read(handle)

    def _read(self, handle: BinaryIO) -> Iterator[SourceDoc]:
        id_field, text_field = self.options.id_field, self.options.text_field
        for lineno, line in _bounded_lines(handle, READ_CAP_BYTES):
            where = f"{self.name}:{lineno}"
            if line is None:
                yield SourceDoc(where, None, {}, f"line is longer than {READ_CAP_BYTES} bytes")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                yield SourceDoc(where, None, {}, f"not a JSON object ({str(exc)[:80]})")
                continue
            if not isinstance(obj, dict):
                yield SourceDoc(where, None, {}, f"expected a JSON object, got {type(obj).__name__}")
                continue
            raw_id = obj.pop(id_field, None)
            if raw_id is None or str(raw_id) == "":
                yield SourceDoc(where, None, {}, f"no {id_field!r} field (set --id-field); keys: {', '.join(list(obj)[:8])}")
                continue
            doc_id = str(raw_id)
            text = obj.pop(text_field, None)
            if not isinstance(text, str):
                got = "missing" if text is None else type(text).__name__
                yield SourceDoc(doc_id, None, obj, f"{text_field!r} field is {got}; expected a string (set --text-field)")
                continue
            checked, error = _checked_text(text, doc_id)
            yield SourceDoc(doc_id, checked, obj, error)


#: A physical line that may start a CSV row: an id-like first field, quoted or not.
_ROW_START = re.compile(r'"?[\w.:/-]{1,64}"?,')


class _ReplayableLines:
    """The lines ``csv.reader`` reads, kept since the last good row so that, after a
    malformed row, the lines it swallowed can be read again.

    Why by hand: ``csv`` has no recovery. A stray quote in one MIMIC note would otherwise
    glue the rows after it into that note's text (non-strict parsing) or lose them with it
    (strict parsing). The buffer is bounded by the reader's field size limit.
    """

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._pending: deque[str] = deque()
        self.taken: list[str] = []

    def __iter__(self) -> _ReplayableLines:
        return self

    def __next__(self) -> str:
        line = self._pending.popleft() if self._pending else next(self._lines)
        self.taken.append(line)
        return line

    def row_done(self) -> None:
        self.taken.clear()

    def resync(self) -> tuple[str, int]:
        """After a malformed row: the row's first line, and how many lines after it were
        dropped with it. Reading goes on at the first later line that looks like a row start."""
        first, rest = self.taken[0], self.taken[1:]
        self.taken = []
        start = next((i for i, line in enumerate(rest) if _ROW_START.match(line)), len(rest))
        self._pending.extendleft(reversed(rest[start:]))
        return first, start


class CsvSource:
    """A CSV with a header; MIMIC-III ``NOTEEVENTS`` (``ROW_ID``, ``TEXT``) is recognised as is.

    Bytes that are not UTF-8 are kept as surrogates while parsing, so one bad row is an
    error for that row only instead of stopping the reader for the whole file. Quotes are
    parsed strictly, and a row with a stray or unclosed quote is one error: reading resumes
    at the next line that starts with an id, so the rows after it are not lost.
    """

    def __init__(self, input: str, options: SourceOptions) -> None:
        self.path = Path(input)
        if not self.path.is_file():
            raise InputError(f"{input}: no such file")
        self.options = options

    def __len__(self) -> int:
        raise TypeError("a CSV's row count needs a full parse (quoted fields span lines)")

    def _columns(self, header: list[str]) -> tuple[str, str]:
        defaults = SourceOptions()

        def pick(wanted: str, fallbacks: tuple[str, ...], default: str, flag: str) -> str:
            # the MIMIC names stand in only for the default; a column the user named must be there
            tried = (wanted, *fallbacks) if wanted == default else (wanted,)
            for name in tried:
                if name in header:
                    return name
            names = " or ".join(repr(n) for n in tried)
            raise InputError(f"{self.path}: no {names} column (set {flag}); {_describe_header(header)}")

        return (
            pick(self.options.id_field, MIMIC_ID_COLUMNS, defaults.id_field, "--id-field"),
            pick(self.options.text_field, MIMIC_TEXT_COLUMNS, defaults.text_field, "--text-field"),
        )

    def __iter__(self) -> Iterator[SourceDoc]:
        csv.field_size_limit(max(csv.field_size_limit(), READ_CAP_BYTES))
        with self.path.open("rb") as binary:
            handle = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
            lines = _ReplayableLines(handle)
            reader = csv.reader(lines, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise InputError(f"{self.path}: the CSV is empty") from None
            lines.row_done()  # the header is no row to replay
            id_col, text_col = self._columns(header)
            id_at, text_at = header.index(id_col), header.index(text_col)
            row_no = 0
            while True:
                row_no += 1
                where = f"{self.path.name}:row {row_no}"
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    first, dropped = lines.resync()
                    lead = first.split(",", 1)[0].strip('"')
                    doc_id = lead if id_at == 0 and _ID.fullmatch(lead) else where
                    swallowed = f"; {dropped} more line(s) up to the next row were skipped with it" if dropped else ""
                    yield SourceDoc(doc_id, None, {}, f"malformed CSV row, likely a stray or unclosed quote ({exc}){swallowed}")
                    continue
                lines.row_done()
                if not row:
                    continue
                if len(row) != len(header):
                    # the row's fields are shifted: its id is trusted only before the text and
                    # only when it looks like an id, else its "id" might be note text
                    doc_id = row[id_at] if id_at < text_at and len(row) > id_at and _ID.fullmatch(row[id_at]) else where
                    yield SourceDoc(doc_id, None, {}, f"{len(row)} fields, the header has {len(header)}")
                    continue
                doc_id = row[id_at].strip()
                if not doc_id:
                    yield SourceDoc(where, None, {}, f"empty {id_col!r}")
                    continue
                meta: dict[str, Any] = {k: v for k, v in zip(header, row) if k not in (id_col, text_col)}
                text, error = _checked_text(row[text_at], doc_id)
                if error is not None:
                    meta = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in meta.items()}
                yield SourceDoc(doc_id, text, meta, error)


class PubtatorSource:
    """PubTator abstracts (``PMID|t|title`` / ``PMID|a|abstract``); annotation lines are ignored.

    The text is ``title + " " + abstract``, the convention PubTator offsets use, so
    mentions found here line up with the corpus's gold offsets.
    """

    def __init__(self, input: str, options: SourceOptions) -> None:
        self.path = Path(input)
        if not self.path.is_file():
            raise InputError(f"{input}: no such file")

    def __len__(self) -> int:
        raise TypeError("PubTator documents are counted only by reading them")

    def __iter__(self) -> Iterator[SourceDoc]:
        current: str | None = None
        parts: list[str] = []
        with self.path.open("rb") as handle:
            for _, line in _bounded_lines(handle, READ_CAP_BYTES):
                if line is None:
                    if current is not None:
                        parts.append("\x00")  # marks the document as oversized below
                    continue
                text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
                pieces = text.split("|", 2)
                if len(pieces) == 3 and pieces[1] in ("t", "a") and "\t" not in pieces[0]:
                    if pieces[1] == "t" or pieces[0] != current:
                        if current is not None:
                            yield self._doc(current, parts)
                        current, parts = pieces[0], []
                    parts.append(pieces[2])
        if current is not None:
            yield self._doc(current, parts)

    def _doc(self, doc_id: str, parts: list[str]) -> SourceDoc:
        if "\x00" in parts:
            return SourceDoc(doc_id, None, {}, f"a line is longer than {READ_CAP_BYTES} bytes")
        text, error = _checked_text(" ".join(parts), doc_id)
        return SourceDoc(doc_id, text, {}, error)
