"""The one document type every corpus reader yields.

Readers for PubTator, IOB, BRAT, PHEE and ADE all return :class:`GoldDocument`, so
statistics, the Hugging Face export, label maps and scoring never need to know which
format a corpus came in. Offsets are Python ``str`` indices (code points) into
``GoldDocument.text``, half-open ``[start, end)``, and every reader checks that each
span's ``text`` is exactly ``doc.text[start:end]`` before it hands the document on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
            raise ValueError(f"span text {self.text!r} does not have length {self.end - self.start}")
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
            raise InputError(
                f"{where}: span {label!r} at {list(pieces)} reads {' '.join(found)!r} in the text, "
                f"but the file says {expected if isinstance(expected, str) else ' '.join(expected)!r}"
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
