"""Medication attributes: strength, dose, route, frequency, duration, form and status.

The patterns are data in ``clinnlp/rules/medication_attributes.json``; this module only
composes them and decides which drug each attribute belongs to. Attributes are found on
the character text (so ``500mg``, ``q4-6h`` and unicode spaces work whatever the
tokeniser did), then linked to MEDICATION mentions:

* an attribute between a drug and the next drug of the same sentence (a list item is a
  sentence) belongs to the first; when a clause break (``,``, ``;``, ``and``...) stands
  between them, what follows the last break belongs to the *next* drug, so in
  ``... inhaler, and stopped the salbutamol inhaler`` "stopped" is salbutamol's;
* attributes before the first drug of a sentence, after its last ``,``/``;`` (``1. 40 mg
  furosemide``), belong to that drug, but only fill what the text after it left empty;
* status comes from the same regions (the text after the drug first), from an allergies
  section (``allergic``), and is shared by coordinated drugs (``Continue ceftriaxone and
  azithromycin``).

Conventions (kept the same everywhere, tests pin them):

* **strength** is an amount in a mass/volume/unit measure (``500 mg``, ``20 units``,
  ``90 mcg``); **dose** is what is taken at once. A count of the form (``2 puffs``,
  ``1-2 tabs``) or a weight-, area- or time-based amount (``10 units/kg``,
  ``0.5 mg/kg/day``, ``100 mg/day``) is a dose only. When the text gives a strength and no
  separate dose, the dose is the strength (one unit of it is taken), so ``dose`` is always
  the amount per administration when the text says anything about it.
* **ranges** resolve to the maximum, the safety-relevant bound: ``1-2 tabs`` has value 2,
  ``q6-8h`` has 4 a day (every 6 hours); the text keeps the range.
* **frequency** ``per_day`` is None for PRN alone; ``as_needed`` is True with a PRN marker,
  False for a scheduled frequency without one (``q6h prn`` is 4 a day and as needed).
* **duration** text is the measure without its lead word (``7 days`` from ``for 7 days``
  or ``x 7 days``), as both MACCROBAT and PHEE annotate it; ``until follow-up`` has no value.
* **units** are normalised (``tabs`` -> ``tablet``, ``µg`` -> ``mcg``, ``mg per day`` ->
  ``mg/day``), routes and forms to the names in the rules file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from clinnlp.components.sections import read_rules_json, section_at
from clinnlp.errors import ResourceError
from clinnlp.extensions import MEDICATION, install_extensions

RULES_FILE = "medication_attributes.json"

#: The attribute types :func:`find_attribute_spans` reports.
ATTRIBUTE_TYPES = ("Dosage", "Route", "Frequency", "Duration", "Form")

_FLAGS = re.IGNORECASE
_START = r"(?<![A-Za-z0-9_])"
_END = r"(?![A-Za-z0-9_])"


@dataclass(frozen=True)
class Attribute:
    """One attribute found in the text; ``data`` holds its normalised value."""

    start: int
    end: int
    type: str
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class StatusHit:
    """A status word at ``[start, end)``."""

    start: int
    end: int
    status: str


@dataclass(frozen=True)
class MedicationRules:
    """The compiled contents of ``medication_attributes.json``."""

    number_words: dict[str, float | None]
    range_separator: re.Pattern[str]
    mass_units: dict[str, str]
    count_units: dict[str, str]
    per_units: dict[str, str]
    amount: re.Pattern[str]
    count_amount: re.Pattern[str]
    not_a_dose_after: re.Pattern[str]
    qualitative_dose: re.Pattern[str]
    route: re.Pattern[str]
    route_names: dict[str, str]
    route_case_sensitive: frozenset[str]
    route_blockers_before: re.Pattern[str]
    route_blockers_after: re.Pattern[str]
    form: re.Pattern[str]
    form_names: dict[str, str]
    form_from_count_unit: dict[str, str]
    fixed_frequencies: tuple[tuple[re.Pattern[str], float | None, bool], ...]
    interval_frequencies: tuple[re.Pattern[str], ...]
    times_frequencies: tuple[re.Pattern[str], ...]
    frequency_joiner: re.Pattern[str]
    duration: re.Pattern[str]
    duration_units: dict[str, str]
    duration_open: re.Pattern[str]
    status: tuple[tuple[re.Pattern[str], str], ...]
    allergy_sections: frozenset[str]
    route_weak: frozenset[str]
    weak_window: int
    clause_break: re.Pattern[str]
    max_before_chars: int
    conjunction_only: re.Pattern[str]


def _alternation(variants: Iterable[str]) -> str:
    """One regex alternation, longest variants first so ``tabs`` wins over ``tab``."""
    return "|".join(sorted(set(variants), key=lambda v: (-len(v), v)))


def _variant_map(groups: dict[str, list[str]]) -> tuple[str, list[tuple[re.Pattern[str], str]]]:
    """Alternation of all variants, and (full-match pattern, canonical name) to name a hit."""
    variants = [v for vs in groups.values() for v in vs]
    namers = [(re.compile(rf"(?:{v})", _FLAGS), name) for name, vs in groups.items() for v in vs]
    return _alternation(variants), namers


def _name_of(text: str, namers: Sequence[tuple[re.Pattern[str], str]]) -> str | None:
    """Canonical name of a matched variant (the first group whose variant matches fully)."""
    for pattern, name in namers:
        if pattern.fullmatch(text):
            return name
    return None


class _Namer(dict[str, str]):
    """Maps matched text to its canonical name, caching the regex look-up."""

    def __init__(self, namers: list[tuple[re.Pattern[str], str]]) -> None:
        super().__init__()
        self._namers = namers

    def __missing__(self, key: str) -> str:
        name = _name_of(" ".join(key.split()), self._namers) or key.lower()
        self[key] = name
        return name


@lru_cache(maxsize=1)
def load_rules() -> MedicationRules:
    """Compile the medication attribute rules once per process."""
    data = read_rules_json(RULES_FILE)
    try:
        return _compile(data)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc


def _compile(data: dict[str, Any]) -> MedicationRules:
    number = data["number"]
    words = {str(k).lower(): (None if v is None else float(v)) for k, v in data["number_words"].items()}
    word_alt = _alternation(re.escape(w) for w in words)
    num_w = rf"(?:{number}|(?<![A-Za-z]){word_alt}(?![A-Za-z]))"
    sep = data["range_separator"]
    num_range = rf"(?:{number})(?:{sep}(?:{number}))?"
    num_range_w = rf"{num_w}(?:{sep}{num_w})?"

    mass_alt, mass_namers = _variant_map(data["mass_units"])
    count_alt, count_namers = _variant_map(data["count_units"])
    per_alt, per_namers = _variant_map(data["per_units"])
    per = rf"(?:(?:{data['per_separator']})(?:{per_alt}){_END})"
    amount = re.compile(
        rf"(?<![A-Za-z0-9_.,/])(?P<num>{num_range})\s*(?P<unit>{mass_alt}){_END}(?P<per>{per}*)", _FLAGS
    )
    count_amount = re.compile(
        rf"(?<![A-Za-z0-9_.,/])(?P<num>{num_range_w})\s*(?P<unit>{count_alt}){_END}(?P<per>{per}*)", _FLAGS
    )

    route_alt, route_namers = _variant_map(data["routes"])
    form_alt, form_namers = _variant_map(data["forms"])

    def fill_num(pattern: str) -> str:
        return pattern.replace("NUM", num_w)

    fixed = tuple(
        (
            re.compile(rf"{_START}(?:{f['pattern']})(?![A-Za-z0-9_])", _FLAGS),
            None if f.get("per_day") is None else float(f["per_day"]),
            bool(f.get("as_needed", False)),
        )
        for f in data["frequencies"]
    )
    dur_alt, dur_namers = _variant_map(data["duration_units"])
    duration = re.compile(
        rf"(?:(?<![A-Za-z0-9_])(?P<lead>{data['duration_lead']})|(?<![A-Za-z0-9_.,/]))(?P<measure>(?P<num>{num_range_w})(?:(?<=\d)\s*-?\s*|\s*-\s*|\s+)(?P<unit>{dur_alt}){_END}['’]?)"
        rf"(?P<trail>{data['duration_trail']})?",
        _FLAGS,
    )
    return MedicationRules(
        number_words=words,
        range_separator=re.compile(sep, _FLAGS),
        mass_units=_Namer(mass_namers),
        count_units=_Namer(count_namers),
        per_units=_Namer(per_namers),
        amount=amount,
        count_amount=count_amount,
        not_a_dose_after=re.compile(data["not_a_dose_after"], _FLAGS),
        qualitative_dose=re.compile(rf"{_START}(?:{_alternation(data['qualitative_doses'])}){_END}", _FLAGS),
        route=re.compile(rf"{_START}(?:{route_alt})(?![A-Za-z0-9_])", _FLAGS),
        route_names=_Namer(route_namers),
        route_case_sensitive=frozenset(data["route_case_sensitive"]),
        route_blockers_before=re.compile(
            rf"(?:^|[^A-Za-z])(?:{_alternation(data['route_blockers_before'])})[\s.]*$", _FLAGS
        ),
        route_blockers_after=re.compile(rf"\s*(?:{_alternation(data['route_blockers_after'])}){_END}", _FLAGS),
        form=re.compile(rf"{_START}(?:{data['form_modifiers']})?(?P<form>{form_alt}){_END}", _FLAGS),
        form_names=_Namer(form_namers),
        form_from_count_unit=dict(data["form_from_count_unit"]),
        fixed_frequencies=fixed,
        interval_frequencies=tuple(re.compile(_START + fill_num(p), _FLAGS) for p in data["interval_frequencies"]),
        times_frequencies=tuple(re.compile(_START + fill_num(p), _FLAGS) for p in data["times_frequencies"]),
        frequency_joiner=re.compile(rf"(?:{data['frequency_joiner']})", _FLAGS),
        duration=duration,
        duration_units=_Namer(dur_namers),
        duration_open=re.compile(rf"{_START}(?:{_alternation(data['duration_open'])}){_END}", _FLAGS),
        status=tuple(
            (re.compile(rf"{_START}(?:{s['pattern']}){_END}", _FLAGS), str(s["status"])) for s in data["status"]
        ),
        allergy_sections=frozenset(data["allergy_sections"]),
        route_weak=frozenset(data["route_weak"]),
        weak_window=int(data["weak_window"]),
        clause_break=re.compile(data["clause_break"], _FLAGS),
        max_before_chars=int(data["max_before_chars"]),
        conjunction_only=re.compile(data["conjunction_only"], _FLAGS),
    )


# --------------------------------------------------------------------------- numbers


def parse_number(text: str, rules: MedicationRules | None = None) -> float | None:
    """``"1,250"`` -> 1250.0, ``"two"`` -> 2.0; None for words without a value (``several``)."""
    rules = rules or load_rules()
    text = text.strip().lower()
    if text in rules.number_words:
        return rules.number_words[text]
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def parse_range(text: str, rules: MedicationRules) -> tuple[float | None, float | None]:
    """(low, high) of ``"1-2"``, ``"1 to 2"`` or ``"5"``; a single number gives (n, n)."""
    parts = [p for p in rules.range_separator.split(text.strip()) if p]
    values = [parse_number(p, rules) for p in parts]
    known = [v for v in values if v is not None]
    if not known:
        return None, None
    return min(known), max(known)


# --------------------------------------------------------------------------- finders


def _amounts(text: str, rules: MedicationRules) -> list[Attribute]:
    """Numeric strengths and doses (``500 mg``, ``1-2 tabs``, ``0.5 mg/kg/day``)."""
    found: list[Attribute] = []
    for pattern, names in ((rules.amount, rules.mass_units), (rules.count_amount, rules.count_units)):
        for m in pattern.finditer(text):
            if rules.not_a_dose_after.match(text, m.end("unit")):
                continue
            unit = names[m.group("unit")]
            pers = [rules.per_units[p] for p in re.split(r"\s*/\s*|\s+per\s+", m.group("per"), flags=_FLAGS) if p.strip()]
            full_unit = "/".join([unit, *pers])
            _, high = parse_range(m.group("num"), rules)
            is_count = names is rules.count_units
            kind = "dose" if is_count or pers else "strength"
            quantity = {"text": m.group(0).strip(), "value": high, "unit": full_unit}
            found.append(Attribute(m.start(), m.start() + len(m.group(0).rstrip()), "Dosage",
                                   {"kind": kind, "quantity": quantity, "count_unit": unit if is_count else None}))
    for m in rules.qualitative_dose.finditer(text):
        found.append(Attribute(m.start(), m.end(), "Dosage",
                               {"kind": "qualitative", "quantity": {"text": m.group(0), "value": None, "unit": None}}))
    return found


def _routes(text: str, rules: MedicationRules) -> list[Attribute]:
    """Routes, without ``stage IV``, ``PR interval`` or lower-case ``it``/``im``."""
    found: list[Attribute] = []
    for m in rules.route.finditer(text):
        word = m.group(0)
        if word.upper() in rules.route_case_sensitive and word not in rules.route_case_sensitive:
            continue
        if rules.route_blockers_before.search(text[max(0, m.start() - 20) : m.start()]):
            continue
        if rules.route_blockers_after.match(text, m.end()):
            continue
        found.append(Attribute(m.start(), m.end(), "Route", {"route": rules.route_names[word]}))
    return found


def _forms(text: str, rules: MedicationRules) -> list[Attribute]:
    """Dose forms (``tablet``, ``HFA`` -> ``inhaler``, ``sustained-release tablets``)."""
    return [
        Attribute(m.start(), m.end(), "Form", {"form": rules.form_names[m.group("form")]})
        for m in rules.form.finditer(text)
    ]


def _interval_per_day(n: float, unit: str) -> float:
    unit = unit.lower()
    if unit.startswith("h"):
        return 24.0 / n
    if unit.startswith("w"):
        return 1.0 / (7.0 * n)
    if unit.startswith("m"):
        return 1.0 / (30.0 * n)
    return 1.0 / n


def _frequencies(text: str, rules: MedicationRules) -> list[Attribute]:
    """Frequencies with ``per_day`` and ``as_needed`` (merged later when adjacent)."""
    found = [_drop_full_stop(a) for a in _raw_frequencies(text, rules)]
    return found


def _drop_full_stop(attr: Attribute) -> Attribute:
    """``bid.`` at a sentence end: the optional dot of ``b.i.d.`` took the full stop."""
    text = attr.data["text"]
    if text.endswith(".") and "." not in text[:-1]:
        return Attribute(attr.start, attr.end - 1, attr.type, {**attr.data, "text": text[:-1]})
    return attr


def _raw_frequencies(text: str, rules: MedicationRules) -> list[Attribute]:
    found: list[Attribute] = []
    for pattern, per_day, as_needed in rules.fixed_frequencies:
        for m in pattern.finditer(text):
            found.append(Attribute(m.start(), m.end(), "Frequency",
                                   {"text": m.group(0), "per_day": per_day, "as_needed": as_needed}))
    for pattern in rules.interval_frequencies:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            values = [parse_number(groups[g], rules) for g in ("n", "m") if groups.get(g)] or [1.0]
            shortest = min((v for v in values if v), default=None)
            per_day = None if shortest is None else _interval_per_day(shortest, groups["unit"])
            found.append(Attribute(m.start(), m.end(), "Frequency",
                                   {"text": m.group(0), "per_day": per_day, "as_needed": False}))
    for pattern in rules.times_frequencies:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            words = {"once": 1.0, "twice": 2.0, "thrice": 3.0}
            values = [words.get(groups[g].lower()) or parse_number(groups[g], rules) for g in ("n", "m") if groups.get(g)]
            most = max((v for v in values if v), default=None)
            unit = groups["unit"].lower()
            divisor = 7.0 if unit.startswith("week") else 30.0 if unit.startswith("month") else 1.0
            per_day = None if most is None else most / divisor
            found.append(Attribute(m.start(), m.end(), "Frequency",
                                   {"text": m.group(0), "per_day": per_day, "as_needed": False}))
    return found


def _durations(text: str, rules: MedicationRules) -> list[Attribute]:
    """Durations with a lead or trailing word (``for 7 days``, ``x2 weeks``, ``10-day course``)."""
    found: list[Attribute] = []
    for m in rules.duration.finditer(text):
        if not (m.group("lead") or m.group("trail")):
            continue
        measure = m.group("measure").rstrip("'’ ")
        _, high = parse_range(m.group("num"), rules)
        unit = rules.duration_units[m.group("unit")]
        start = m.start("measure")
        found.append(Attribute(start, start + len(measure), "Duration",
                               {"text": measure, "value": high, "unit": unit}))
    for m in rules.duration_open.finditer(text):
        found.append(Attribute(m.start(), m.end(), "Duration", {"text": m.group(0), "value": None, "unit": None}))
    return found


_FINDERS: tuple[Callable[[str, MedicationRules], list[Attribute]], ...] = (
    _amounts, _routes, _forms, _frequencies, _durations,
)


def _resolve_overlaps(found: list[Attribute]) -> list[Attribute]:
    """Keep the longest of overlapping hits (then the earliest), in text order."""
    kept: list[Attribute] = []
    for attr in sorted(found, key=lambda a: (-(a.end - a.start), a.start)):
        if all(attr.end <= k.start or attr.start >= k.end for k in kept):
            kept.append(attr)
    return sorted(kept, key=lambda a: a.start)


def _merge_frequencies(text: str, attrs: list[Attribute], rules: MedicationRules) -> list[Attribute]:
    """Join adjacent frequencies (``q6h prn``, ``daily before breakfast``) into one."""
    merged: list[Attribute] = []
    for attr in attrs:
        prev = merged[-1] if merged else None
        if (
            prev is not None and prev.type == attr.type == "Frequency"
            and rules.frequency_joiner.fullmatch(text[prev.end : attr.start])
        ):
            per_day = prev.data["per_day"] if prev.data["per_day"] is not None else attr.data["per_day"]
            merged[-1] = Attribute(prev.start, attr.end, "Frequency", {
                "text": text[prev.start : attr.end],
                "per_day": per_day,
                "as_needed": prev.data["as_needed"] or attr.data["as_needed"],
            })
        else:
            merged.append(attr)
    return merged


def _is_weak(attr: Attribute, text: str, rules: MedicationRules) -> bool:
    if attr.type == "Form":
        return True
    return attr.type == "Route" and " ".join(text[attr.start : attr.end].split()) in rules.route_weak


def _drop_unanchored(text: str, attrs: list[Attribute], anchors: Sequence[tuple[int, int]],
                     rules: MedicationRules) -> list[Attribute]:
    """Drop weak attributes with no strong attribute or drug mention within the window."""
    strong = [(a.start, a.end) for a in attrs if not _is_weak(a, text, rules)]
    near = [*strong, *anchors]
    w = rules.weak_window
    return [
        a for a in attrs
        if not _is_weak(a, text, rules) or any(s - w <= a.end and a.start <= e + w for s, e in near)
    ]


def find_attributes(text: str, anchors: Sequence[tuple[int, int]] = ()) -> list[Attribute]:
    """Every attribute in ``text``, non-overlapping, in order, with normalised values.

    ``anchors`` are drug mention offsets; a weak attribute (a form, an ambiguous route
    abbreviation) is kept only near one of them or near a strong attribute.
    """
    rules = load_rules()
    found = [attr for finder in _FINDERS for attr in finder(text, rules)]
    found = _drop_unanchored(text, _resolve_overlaps(found), anchors, rules)
    return _merge_frequencies(text, found, rules)


def drug_anchors(doc: Doc) -> list[tuple[int, int]]:
    """Character offsets of the MEDICATION mentions of ``doc``."""
    return [(e.start_char, e.end_char) for e in doc.ents if e.label_ == MEDICATION]


def find_attribute_spans(doc: Doc | str) -> list[tuple[int, int, str]]:
    """Character spans ``(start, end, type)`` of every attribute in the note.

    Types are :data:`ATTRIBUTE_TYPES`. The whole text is searched (not only near
    recognised drugs), so the spans can be scored against corpora whose drug mentions the
    NER may miss; the component links the same attributes to drugs.
    """
    if isinstance(doc, str):
        return [(a.start, a.end, a.type) for a in find_attributes(doc)]
    return [(a.start, a.end, a.type) for a in find_attributes(doc.text, drug_anchors(doc))]


def find_statuses(text: str) -> list[StatusHit]:
    """Status words (the first status whose pattern matches a stretch wins it)."""
    hits: list[StatusHit] = []
    for pattern, status in load_rules().status:
        for m in pattern.finditer(text):
            if all(m.end() <= h.start or m.start() >= h.end for h in hits):
                hits.append(StatusHit(m.start(), m.end(), status))
    return sorted(hits, key=lambda h: h.start)


# --------------------------------------------------------------------------- linking


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


def _inside(items: Iterable[Any], region: tuple[int, int]) -> list[Any]:
    return [a for a in items if region[0] <= a.start and a.end <= region[1]]


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
        if "strength" in fields:
            fields["dose"] = dict(fields["strength"])
        elif qualitative is not None:
            fields["dose"] = qualitative
    if "form" not in fields and count_unit in rules.form_from_count_unit:
        fields["form"] = rules.form_from_count_unit[count_unit]
    return fields


def link_attributes(doc: Doc, attrs: Sequence[Attribute] | None = None) -> None:
    """Set ``span._.clinnlp_medication`` on every MEDICATION mention of ``doc``."""
    rules = load_rules()
    text = doc.text
    attrs = find_attributes(text, drug_anchors(doc)) if attrs is None else attrs
    statuses = find_statuses(text)
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
        sent_attrs = [a for a in attrs if sent_start <= a.start and a.end <= sent_end
                      and not any(s < a.end and a.start < e for s, e in drug_ranges)]
        previous_status: str | None = None
        for drug, region in zip(drugs, _regions(text, drugs, sent_start, sent_end, rules)):
            fields = {
                k: v for k, v in medication_fields(_inside(sent_attrs, region.after), _inside(sent_attrs, region.before), rules).items()
                if k in {"dose", "strength", "route", "frequency", "duration", "form"}
            }
            status, from_before = _status(drug, region, statuses, rules, sections, previous_status)
            if status is not None:
                fields["status"] = status
            previous_status = status if from_before else None
            drug._.clinnlp_medication = fields or None


def _status(drug: Span, region: _Regions, statuses: Sequence[StatusHit], rules: MedicationRules,
            sections: Sequence[Any], previous: str | None) -> tuple[str | None, bool]:
    """(status, whether it came from before the drug, so a coordinated drug may share it)."""
    if section_at(sections, drug.start_char) in rules.allergy_sections:
        return "allergic", False
    before = _inside(statuses, region.before)
    if before and before[-1].status == "allergic":
        return "allergic", True
    after = _inside(statuses, region.after)
    if after:
        return after[0].status, False
    if before:
        return before[-1].status, True
    if region.before_is_conjunction and previous is not None:
        return previous, True
    return None, False


class MedicationAttributes:
    """Fills ``span._.clinnlp_medication`` for each MEDICATION mention; runs after the NER."""

    def __init__(self, nlp: Language, name: str) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name
        load_rules()  # fail at pipeline build time, not on the first note

    def __call__(self, doc: Doc) -> Doc:
        link_attributes(doc)
        return doc


@Language.factory("clinnlp_medication_attributes")
def make_medication_attributes(nlp: Language, name: str) -> MedicationAttributes:
    """spaCy factory for :class:`MedicationAttributes`."""
    return MedicationAttributes(nlp, name)


__all__ = [
    "ATTRIBUTE_TYPES",
    "Attribute",
    "MedicationAttributes",
    "MedicationRules",
    "StatusHit",
    "find_attribute_spans",
    "find_attributes",
    "find_statuses",
    "link_attributes",
    "load_rules",
    "make_medication_attributes",
    "medication_fields",
    "parse_number",
    "parse_range",
]
