"""The one document type every corpus reader yields.

Readers for PubTator, IOB, BRAT, PHEE and ADE all return :class:`GoldDocument`, so
statistics, the Hugging Face export, label maps and scoring never need to know which
format a corpus came in. Offsets are Python ``str`` indices (code points) into
``GoldDocument.text``, half-open ``[start, end)``, and every reader checks that each
span's ``text`` is exactly ``doc.text[start:end]`` before it hands the document on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clinnlp.errors import InputError


@dataclass(frozen=True)
class GoldSpan:
    """One annotated mention.

    ``fragments`` is empty for a contiguous span; for a discontinuous one (BRAT
    ``10 20;25 30``, PHEE multi-piece mentions) it holds every piece and ``start``/``end``
    are the outer bounds, so ``text`` is the outer text, gaps included. ``attributes``
    holds string flags such as ``POLARITY=NEG`` or ``Negated=true``; treat it as read-only
    (it is left out of the hash so spans can live in sets).
    """

    start: int
    end: int
    label: str
    text: str
    concept_ids: tuple[str, ...] = ()
    fragments: tuple[tuple[int, int], ...] = ()
    id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span offsets [{self.start}, {self.end})")
        if len(self.text) != self.end - self.start:
            # the length only: span text is note text and must not reach messages or logs
            raise ValueError(
                f"span text of {len(self.text)} characters does not fit [{self.start}, {self.end})"
            )
        if self.fragments and (
            self.fragments[0][0] != self.start or max(e for _, e in self.fragments) != self.end
        ):
            raise ValueError(f"fragments {self.fragments} do not span [{self.start}, {self.end})")

    @property
    def pieces(self) -> tuple[tuple[int, int], ...]:
        """The character ranges the mention covers: its fragments, or ``((start, end),)``."""
        return self.fragments or ((self.start, self.end),)

    @property
    def key(self) -> tuple[int, int, str]:
        """``(start, end, label)``: what mention-level scoring compares."""
        return (self.start, self.end, self.label)


@dataclass(frozen=True)
class GoldDocument:
    """A text with its gold spans, sorted by (start, end, label); ``attributes`` are document flags."""

    doc_id: str
    text: str
    spans: tuple[GoldSpan, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict, hash=False)


def make_span(
    doc_text: str,
    pieces: list[tuple[int, int]] | tuple[tuple[int, int], ...],
    label: str,
    where: str,
    *,
    expected: str | list[str] | None = None,
    concept_ids: tuple[str, ...] = (),
    span_id: str | None = None,
    attributes: dict[str, str] | None = None,
) -> GoldSpan:
    """Build a span from one or more ``(start, end)`` pieces, checking them against the text.

    ``expected`` is the mention text the corpus file gives (one string for the whole
    mention, or one per piece); a mismatch means the file and our offset convention
    disagree, which would silently corrupt training data, so it raises
    :class:`InputError` naming ``where`` (``file:line``).
    """
    if not pieces:
        raise InputError(f"{where}: span {label!r} has no offsets")
    ordered = sorted(pieces)
    for start, end in ordered:
        if not 0 <= start <= end <= len(doc_text):
            raise InputError(
                f"{where}: span {label!r} offsets [{start}, {end}) fall outside the "
                f"{len(doc_text)}-character text"
            )
    if expected is not None:
        found = [doc_text[s:e] for s, e in pieces]
        if isinstance(expected, str):
            ok = expected in (" ".join(found), "".join(found)) if len(found) > 1 else found[0] == expected
        else:
            ok = found == list(expected)
        if not ok:
            # lengths, not the strings: both are note text (privacy)
            given = len(expected) if isinstance(expected, str) else sum(len(e) for e in expected)
            raise InputError(
                f"{where}: span {label!r} at {list(pieces)} does not match the mention the file gives "
                f"({sum(e - s for s, e in pieces)} characters in the text, {given} in the file; "
                "offsets or newlines differ from the text)"
            )
    start, end = ordered[0][0], max(e for _, e in ordered)
    fragments = tuple(ordered) if len(ordered) > 1 else ()
    return GoldSpan(
        start=start,
        end=end,
        label=label,
        text=doc_text[start:end],
        concept_ids=concept_ids,
        fragments=fragments,
        id=span_id,
        attributes=dict(attributes or {}),
    )


def sort_spans(spans: list[GoldSpan]) -> tuple[GoldSpan, ...]:
    """Spans in a stable reading order, so two reads of one file compare equal."""
    return tuple(sorted(spans, key=lambda s: (s.start, s.end, s.label, s.fragments, s.id or "")))


def merge_attributes(into: dict[str, str], new: dict[str, str]) -> None:
    """Add ``new`` to ``into``; differing values for one key are kept as ``a|b`` so nothing is lost."""
    for key, value in new.items():
        old = into.get(key)
        if old is None:
            into[key] = value
        elif value not in old.split("|"):
            into[key] = "|".join(sorted({*old.split("|"), value}))


def read_utf8(path: Path) -> str:
    """The whole file as UTF-8 text, newlines untouched, a leading byte-order mark dropped
    (as ``clinnlp extract`` drops it: editors on Windows add one, and it is not text).

    Every failure is an :class:`InputError` naming the file (and, for a bad byte, its
    line and offset), so the CLI prints one line instead of a ``UnicodeDecodeError``.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8_error(path, data, exc.start) from None


def utf8_lines(path: Path, *, newline: str | None = "") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file, streamed, with :func:`read_utf8`'s errors.

    Decoding runs a chunk ahead of the lines, so on a bad byte the file is scanned again
    to name the line it sits on rather than the line being read. A leading byte-order mark
    is dropped, as by :func:`read_utf8`.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline=newline)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        try:
            yield from enumerate(handle, start=1)
        except UnicodeDecodeError:
            raise _locate_bad_byte(path) from None


def not_utf8_error(path: Path, data: bytes, offset: int, *, first_line: int = 1, base: int = 0) -> InputError:
    """The error for a byte at ``offset`` of ``data`` that is not UTF-8.

    ``data`` may be one piece of the file, starting at byte ``base`` on line
    ``first_line``. The message gives line and offset, never the surrounding text
    (corpora hold patient notes).
    """
    line = first_line + data.count(b"\n", 0, offset)
    nul = data.find(b"\x00", 0, offset + 1)
    if nul != -1:
        return InputError(
            f"{path}:{line}: looks like a binary file (NUL byte at offset {base + nul}); expected UTF-8 text"
        )
    return InputError(
        f"{path}:{line}: not UTF-8 text (invalid byte 0x{data[offset:offset + 1].hex()} at offset "
        f"{base + offset}); corpus files must be UTF-8, convert it first, e.g. iconv -f latin1 -t utf-8"
    )


def _locate_bad_byte(path: Path) -> InputError:
    """Find the first non-UTF-8 byte line by line (a newline never sits inside a UTF-8 sequence)."""
    base = 0
    try:
        with path.open("rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return not_utf8_error(path, raw, exc.start, first_line=lineno, base=base)
                base += len(raw)
    except OSError as exc:
        return InputError(f"{path}: cannot read ({exc.strerror or exc})")
    return InputError(f"{path}: not UTF-8 text; corpus files must be UTF-8")
