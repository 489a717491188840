"""Linking found medication attributes and statuses to the MEDICATION mentions of a doc.

Why a module of its own: deciding which drug an attribute belongs to is the part of the
medication component with the most judgement in it, and it only needs the attributes
(:mod:`clinnlp.medications.finder`), not how they were found. The rules:

* an attribute between a drug and the next drug of the same sentence (a list item is a
  sentence) belongs to the first; when a clause break (``,``, ``;``, ``and``...) stands
  between them, what follows the last break belongs to the *next* drug, so in
  ``... inhaler, and stopped the salbutamol inhaler`` "stopped" is salbutamol's;
* attributes before the first drug of a sentence, after its last ``,``/``;`` (``1. 40 mg
  furosemide``), belong to that drug, but only fill what the text after it left empty;
* status comes from the same regions (the text after the drug first), from an allergies
  section (``allergic``), and is shared by coordinated drugs (``Continue ceftriaxone and
  azithromycin``);
* a line that holds nothing but attributes (``   25 mg PO BID`` under ``1. Metoprolol
  tartrate``) continues the last drug of the line above it, filling only what that drug
  lacks; a blank line, a new section or any other word ends the continuation.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spacy.tokens import Doc, Span

from clinnlp.components.sections import section_at
from clinnlp.extensions import MEDICATION
from clinnlp.medications.finder import drug_anchors, find_attributes, find_statuses
from clinnlp.medications.rules import Attribute, MedicationRules, StatusHit, load_rules

@dataclass
class _Regions:
    """Where one drug's attributes may be: after it (first choice) and before it."""

    after: tuple[int, int]
    before: tuple[int, int]
    before_is_conjunction: bool


def _regions(text: str, drugs: Sequence[Span], sent_start: int, sent_end: int, rules: MedicationRules) -> list[_Regions]:
    """Split a sentence among its drugs at the clause breaks between them."""
    cuts: list[int] = []
    break_starts: list[int] = []  # where the clause break before the next drug starts
    for i, drug in enumerate(drugs):
        if i + 1 < len(drugs):
            gap_start, gap_end = drug.end_char, drugs[i + 1].start_char
            breaks = list(rules.clause_break.finditer(text, gap_start, gap_end))
            cuts.append(breaks[-1].end() if breaks else gap_end)
            break_starts.append(breaks[-1].start() if breaks else gap_end)
        else:
            cuts.append(sent_end)
            break_starts.append(sent_end)
    regions: list[_Regions] = []
    for i, drug in enumerate(drugs):
        if i == 0:
            breaks = list(rules.clause_break.finditer(text, sent_start, drug.start_char))
            before_start = max(breaks[-1].end() if breaks else sent_start, drug.start_char - rules.max_before_chars)
        else:
            before_start = max(cuts[i - 1], drugs[i - 1].end_char)
        regions.append(_Regions(
            after=(drug.end_char, max(drug.end_char, cuts[i])),
            before=(before_start, drug.start_char),
            before_is_conjunction=i > 0 and bool(rules.conjunction_only.match(text[break_starts[i - 1] : drug.start_char])),
        ))
    return regions


def _inside(items: Sequence[Any], region: tuple[int, int], starts: Sequence[int] | None = None) -> list[Any]:
    """The items (sorted by start) lying within ``region``; ``starts`` (their starts) makes
    it a bisection instead of a scan, which a long note with thousands of attributes needs."""
    if starts is None:
        return [a for a in items if region[0] <= a.start and a.end <= region[1]]
    lo, hi = bisect_left(starts, region[0]), bisect_left(starts, region[1])
    return [a for a in items[lo:hi] if a.end <= region[1]]


def medication_fields(attrs_after: Sequence[Attribute], attrs_before: Sequence[Attribute],
                      rules: MedicationRules | None = None) -> dict[str, Any]:
    """The Medication schema fields given by a drug's attributes (after the drug wins)."""
    rules = rules or load_rules()
    fields: dict[str, Any] = {}
    count_unit: str | None = None
    for attr in [*attrs_after, *attrs_before]:
        if attr.type == "Dosage":
            kind = attr.data["kind"]
            if kind == "strength" and "strength" not in fields:
                fields["strength"] = dict(attr.data["quantity"])
            elif kind == "dose" and "dose" not in fields:
                fields["dose"] = dict(attr.data["quantity"])
                count_unit = attr.data.get("count_unit")
            elif kind == "qualitative" and "qualitative" not in fields:
                fields["qualitative"] = dict(attr.data["quantity"])
        elif attr.type == "Route":
            fields.setdefault("route", attr.data["route"])
        elif attr.type == "Form":
            fields.setdefault("form", attr.data["form"])
        elif attr.type == "Frequency":
            fields.setdefault("frequency", dict(attr.data))
        elif attr.type == "Duration":
            fields.setdefault("duration", dict(attr.data))
    qualitative = fields.pop("qualitative", None)
    if "dose" not in fields:
        if "strength" in fields and not str(fields["strength"]["unit"]).startswith("%"):
            fields["dose"] = dict(fields["strength"])  # a concentration (1% lidocaine) is no dose
        elif qualitative is not None:
            fields["dose"] = qualitative
    if "form" not in fields and count_unit in rules.form_from_count_unit:
        fields["form"] = rules.form_from_count_unit[count_unit]
    return fields


def link_attributes(doc: Doc, attrs: Sequence[Attribute] | None = None) -> None:
    """Set ``span._.clinnlp_medication`` on every MEDICATION mention of ``doc``."""
    rules = load_rules()
    text = doc.text
    attrs = find_attributes(text, drug_anchors(doc)) if attrs is None else sorted(attrs, key=lambda a: a.start)
    attr_starts = [a.start for a in attrs]
    statuses = find_statuses(text)
    status_starts = [h.start for h in statuses]
    sections = list(doc._.clinnlp_sections or [])
    has_sents = doc.has_annotation("SENT_START")
    by_sentence: dict[tuple[int, int], list[Span]] = {}
    for ent in doc.ents:
        if ent.label_ != MEDICATION:
            continue
        sent = ent.sent if has_sents else doc[:]
        by_sentence.setdefault((sent.start_char, sent.end_char), []).append(ent)
    for (sent_start, sent_end), drugs in by_sentence.items():
        # text with the drug mentions themselves blanked, so "insulin glargine" is no route
        drug_ranges = [(d.start_char, d.end_char) for d in drugs]
        sent_attrs = [a for a in _inside(attrs, (sent_start, sent_end), attr_starts)
                      if not any(s < a.end and a.start < e for s, e in drug_ranges)]
        previous_status: str | None = None
        for drug, region in zip(drugs, _regions(text, drugs, sent_start, sent_end, rules)):
            fields = {
                k: v for k, v in medication_fields(_inside(sent_attrs, region.after), _inside(sent_attrs, region.before), rules).items()
                if k in {"dose", "strength", "route", "frequency", "duration", "form"}
            }
            status, from_before = _status(drug, region, statuses, status_starts, rules, sections, previous_status, text)
            if status is not None and (status == "allergic" or not _hedged(drug)):
                fields["status"] = status
            previous_status = status if from_before else None
            drug._.clinnlp_medication = fields or None
    if has_sents:
        _continue_wrapped_lines(doc, text, by_sentence, attrs, attr_starts, statuses, status_starts, sections, rules)


def _continue_wrapped_lines(doc: Doc, text: str, by_sentence: dict[tuple[int, int], list[Span]],
                            attrs: Sequence[Attribute], attr_starts: Sequence[int],
                            statuses: Sequence[StatusHit], status_starts: Sequence[int],
                            sections: Sequence[Any], rules: MedicationRules) -> None:
    """Give the attributes of attribute-only lines to the last drug of the line above
    (``by_sentence``: the drugs of each sentence that has any)."""
    last_drug: Span | None = None
    previous_end = 0
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        gap = text[previous_end:start]  # from the last character of the previous sentence
        previous_end = start + len(sent.text.rstrip())
        drugs = by_sentence.get((start, end))
        if drugs:
            last_drug = drugs[-1]
            continue
        if last_drug is None:
            continue
        if gap.count("\n") != 1 or section_at(sections, start) != section_at(sections, last_drug.start_char):
            # a wrapped line starts on the next line: not in the same line, not after a blank one
            last_drug = None
            continue
        line_attrs = _inside(attrs, (start, end), attr_starts)
        line_statuses = _inside(statuses, (start, end), status_starts)
        leftover = list(text[start:end])
        for hit in [*line_attrs, *line_statuses]:
            leftover[hit.start - start : hit.end - start] = " " * (hit.end - hit.start)
        if not line_attrs or not rules.continuation_filler.match("".join(leftover)):
            last_drug = None
            continue
        fields = dict(last_drug._.clinnlp_medication or {})
        for key, value in medication_fields(line_attrs, [], rules).items():
            if key in {"dose", "strength", "route", "frequency", "duration", "form"}:
                fields.setdefault(key, value)
        if line_statuses and "status" not in fields:
            fields["status"] = line_statuses[0].status
        last_drug._.clinnlp_medication = fields


def _status(drug: Span, region: _Regions, statuses: Sequence[StatusHit], starts: Sequence[int],
            rules: MedicationRules, sections: Sequence[Any], previous: str | None, text: str) -> tuple[str | None, bool]:
    """(status, whether it came from before the drug, so a coordinated drug may share it)."""
    if section_at(sections, drug.start_char) in rules.allergy_sections:
        return "allergic", False
    before = _inside(statuses, region.before, starts)
    if before and before[-1].status == "allergic":
        return "allergic", True
    after = _inside(statuses, region.after, starts)
    if after:
        return _latest(after, text, rules).status, False
    if before:
        return before[-1].status, True
    if region.before_is_conjunction and previous is not None:
        return previous, True
    return None, False


def _hedged(drug: Span) -> bool:
    """An uncertain or hypothetical drug ("consider starting metformin", "may need to increase
    lisinopril") has no status: nothing was started or changed yet. An allergy keeps its own."""
    assertion = drug._.clinnlp_assertion or {}
    return bool(assertion.get("uncertain") or assertion.get("hypothetical"))


def _latest(hits: Sequence[StatusHit], text: str, rules: MedicationRules) -> StatusHit:
    """The status a narrative leaves the drug in: the first, unless a later one is said to
    come after it ("discontinued and then restarted", "held, then resumed"); "restarted
    after being held" keeps "restarted"."""
    current = hits[0]
    for hit in hits[1:]:
        gap = text[current.end : hit.start]
        if rules.status_sequence.search(gap) and not rules.status_reverse.search(gap):
            current = hit
    return current


__all__ = [
    "link_attributes",
    "medication_fields",
]
