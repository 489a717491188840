"""Finding medication attributes in text: amounts, routes, forms, frequencies, durations, statuses.

Why a module of its own: finding is independent of which drug an attribute belongs to
(:mod:`clinnlp.medications.linking`), and the evaluation scores the found spans alone
(:func:`find_attribute_spans`). Search is on the character text, so ``500mg``, ``q4-6h``
and unicode spaces work whatever the tokeniser did.

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
  or ``x 7 days``), as both MACCROBAT and PHEE annotate it after ``for`` (MACCROBAT keeps
  ``over``/``during``/``approximately``; its scoring mapping adds them back);
  ``until follow-up`` has no value. A point in time is not a duration (``within 3 weeks
  of treatment``, ``3-month follow-up``).
* **units** are normalised (``tabs`` -> ``tablet``, ``µg`` -> ``mcg``, ``mg per day`` ->
  ``mg/day``), routes and forms to the names in the rules file.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from spacy.tokens import Doc

from clinnlp.extensions import MEDICATION
from clinnlp.medications.rules import (
    Attribute,
    MedicationRules,
    StatusHit,
    load_rules,
    parse_number,
    parse_range,
)


def _amounts(text: str, rules: MedicationRules) -> list[Attribute]:
    """Numeric strengths and doses (``500 mg``, ``1-2 tabs``, ``0.5 mg/kg/day``)."""
    found: list[Attribute] = []
    for pattern, names in ((rules.amount, rules.mass_units), (rules.count_amount, rules.count_units)):
        for m in pattern.finditer(text):
            if rules.not_a_dose_after.match(text, m.end("unit")):
                continue
            if rules.not_a_dose_before.search(text, max(0, m.start() - 30), m.start()):
                continue  # "max 4 g/day": a ceiling, not what is given
            unit = names[m.group("unit")]
            pers = [rules.per_units[p] for p in rules.per_separator.split(m.group("per")) if p.strip()]
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
    if unit.startswith("mi"):
        return 1440.0 / n
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
        if not m.group("lead") and rules.duration_blockers_before.search(text[max(0, m.start() - 20) : m.start()]):
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


_Hit = TypeVar("_Hit", Attribute, StatusHit)


def _keep_free(candidates: Iterable[_Hit]) -> list[_Hit]:
    """The candidates, in the order given, that overlap none kept before them, in text order.

    The kept hits never overlap, so sorted by start only the two neighbours of a new hit
    can clash with it (a long note has thousands of hits)."""
    kept: list[_Hit] = []  # sorted by start
    starts: list[int] = []
    for hit in candidates:
        at = bisect_left(starts, hit.start)
        if (at > 0 and kept[at - 1].end > hit.start) or (at < len(kept) and kept[at].start < hit.end):
            continue
        kept.insert(at, hit)
        starts.insert(at, hit.start)
    return kept


def _resolve_overlaps(found: list[Attribute]) -> list[Attribute]:
    """Keep the longest of overlapping hits (then the earliest), in text order."""
    return _keep_free(sorted(found, key=lambda a: (-(a.end - a.start), a.start)))


def _merge_frequencies(text: str, attrs: list[Attribute], rules: MedicationRules) -> list[Attribute]:
    """Join adjacent frequencies (``q6h prn``, ``daily before breakfast``) into one; a dose
    count between them (``q5min x3 prn``: the joiner's ``count``) caps ``per_day``."""
    merged: list[Attribute] = []
    for attr in attrs:
        prev = merged[-1] if merged else None
        if (
            prev is not None and prev.type == attr.type == "Frequency"
            and (joined := rules.frequency_joiner.fullmatch(text, prev.end, attr.start)) is not None
        ):
            per_day = prev.data["per_day"] if prev.data["per_day"] is not None else attr.data["per_day"]
            if joined.group("count") is not None and per_day is not None:
                per_day = min(per_day, float(joined.group("count")))  # "q5min x3 prn": 3 doses, not 288
            merged[-1] = Attribute(prev.start, attr.end, "Frequency", {
                "text": text[prev.start : attr.end],
                "per_day": per_day,
                "as_needed": prev.data["as_needed"] or attr.data["as_needed"],
            })
        else:
            merged.append(attr)
    return merged


def _is_weak(attr: Attribute, text: str, rules: MedicationRules) -> bool:
    """Forms, and routes listed as weak in any case (``Intraperitoneal`` as ``intraperitoneal``)."""
    if attr.type == "Form":
        return True
    return attr.type == "Route" and " ".join(text[attr.start : attr.end].split()).lower() in rules.route_weak


def _drop_unanchored(text: str, attrs: list[Attribute], anchors: Sequence[tuple[int, int]],
                     rules: MedicationRules) -> list[Attribute]:
    """Drop weak attributes with no strong attribute or drug mention within the window."""
    # a percent is no anchor: "44.9%" or "10%" of a results sentence must not keep "PV", "PR"
    strong = [(a.start, a.end) for a in attrs if not _is_weak(a, text, rules) and not _is_percent(a)]
    near = sorted([*strong, *anchors])
    starts = [s for s, _ in near]
    longest = max((e - s for s, e in near), default=0)
    w = rules.weak_window

    def anchored(a: Attribute) -> bool:
        # only ranges starting in [a.start - w - longest, a.end + w] can come within w of a
        lo, hi = bisect_left(starts, a.start - w - longest), bisect_right(starts, a.end + w)
        return any(s - w <= a.end and a.start <= e + w for s, e in near[lo:hi])

    forms = [(a.start, a.end) for a in attrs if a.type == "Form"]
    close = sorted([*anchors, *forms])

    def percent_anchored(a: Attribute) -> bool:
        """A percent strength only right by a drug or a form, with nothing but spaces between:
        "lidocaine 1%", "0.1% cream"; not "23.8% for the antithrombin group"."""
        w = rules.percent_window
        for s, e in close:
            if s - w <= a.end and a.start <= e + w:
                gap = text[a.end : s] if a.end <= s else text[e : a.start] if e <= a.start else ""
                if not gap.strip():
                    return True
        return False

    return [
        a for a in attrs
        if (not _is_weak(a, text, rules) or anchored(a)) and (not _is_percent(a) or percent_anchored(a))
    ]


def _is_percent(attr: Attribute) -> bool:
    return attr.type == "Dosage" and str(attr.data.get("quantity", {}).get("unit", "")).startswith("%")


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

    Types are :data:`~clinnlp.medications.rules.ATTRIBUTE_TYPES`. The whole text is searched (not only near
    recognised drugs), so the spans can be scored against corpora whose drug mentions the
    NER may miss; the component links the same attributes to drugs.
    """
    if isinstance(doc, str):
        return [(a.start, a.end, a.type) for a in find_attributes(doc)]
    return [(a.start, a.end, a.type) for a in find_attributes(doc.text, drug_anchors(doc))]


def find_statuses(text: str) -> list[StatusHit]:
    """Status words (the first status whose pattern matches a stretch wins it)."""
    return _keep_free(
        StatusHit(m.start(), m.end(), status) for pattern, status in load_rules().status for m in pattern.finditer(text)
    )


__all__ = [
    "drug_anchors",
    "find_attribute_spans",
    "find_attributes",
    "find_statuses",
]
