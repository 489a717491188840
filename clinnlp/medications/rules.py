"""Medication attribute rules: the value types and the compiled ``medication_attributes.json``.

Why a module of its own: the regexes are data (``clinnlp/rules/medication_attributes.json``)
and compiling them is a separate concern from using them. Everything that reads the
rules (:mod:`clinnlp.medications.finder`, :mod:`clinnlp.medications.linking`) takes a
:class:`MedicationRules` from :func:`load_rules`, compiled once per process, and the small
value types (:class:`Attribute`, :class:`StatusHit`) live here so both can share them
without importing each other. :func:`parse_number` and :func:`parse_range` turn the
matched number text into values (a range resolves to both bounds; callers take the
maximum, the safety-relevant one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from clinnlp.rule_files import read_rules_json
from clinnlp.errors import ResourceError

RULES_FILE = "medication_attributes.json"

#: The attribute types :func:`clinnlp.medications.finder.find_attribute_spans` reports.
ATTRIBUTE_TYPES = ("Dosage", "Route", "Frequency", "Duration", "Form")

FLAGS = re.IGNORECASE
_FLAGS = FLAGS
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
    per_separator: re.Pattern[str]
    amount: re.Pattern[str]
    count_amount: re.Pattern[str]
    not_a_dose_after: re.Pattern[str]
    not_a_dose_before: re.Pattern[str]
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
    duration_blockers_before: re.Pattern[str]
    status: tuple[tuple[re.Pattern[str], str], ...]
    allergy_sections: frozenset[str]
    route_weak: frozenset[str]
    weak_window: int
    status_sequence: re.Pattern[str]
    status_reverse: re.Pattern[str]
    percent_window: int
    clause_break: re.Pattern[str]
    max_before_chars: int
    conjunction_only: re.Pattern[str]
    continuation_filler: re.Pattern[str]


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
        rf"(?:(?<![A-Za-z0-9_])(?P<lead>{data['duration_lead']})|(?<![A-Za-z0-9_.,/]))(?P<measure>(?P<num>{num_range_w})(?:(?<=\d)\s*-?\s*|\s*-\s*|\s+)(?:{data['duration_between']})?(?P<unit>{dur_alt}){_END}['’]?)"
        rf"(?P<trail>{data['duration_trail']})?",
        _FLAGS,
    )
    return MedicationRules(
        number_words=words,
        range_separator=re.compile(sep, _FLAGS),
        mass_units=_Namer(mass_namers),
        count_units=_Namer(count_namers),
        per_units=_Namer(per_namers),
        per_separator=re.compile(data["per_separator"], _FLAGS),
        amount=amount,
        count_amount=count_amount,
        not_a_dose_after=re.compile(data["not_a_dose_after"], _FLAGS),
        not_a_dose_before=re.compile(data["not_a_dose_before"], _FLAGS),
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
        duration_blockers_before=re.compile(data["duration_blockers_before"], _FLAGS),
        status=tuple(
            (re.compile(rf"{_START}(?:{s['pattern']}){_END}", _FLAGS), str(s["status"])) for s in data["status"]
        ),
        allergy_sections=frozenset(data["allergy_sections"]),
        route_weak=frozenset(w.lower() for w in data["route_weak"]),
        weak_window=int(data["weak_window"]),
        status_sequence=re.compile(data["status_sequence"], _FLAGS),
        status_reverse=re.compile(data["status_reverse"], _FLAGS),
        percent_window=int(data["percent_window"]),
        clause_break=re.compile(data["clause_break"], _FLAGS),
        max_before_chars=int(data["max_before_chars"]),
        conjunction_only=re.compile(data["conjunction_only"], _FLAGS),
        continuation_filler=re.compile(data["continuation_filler"], _FLAGS),
    )


def parse_number(text: str, rules: MedicationRules | None = None) -> float | None:
    """``"1,250"`` -> 1250.0, ``"two"`` -> 2.0; None for words without a value (``several``)."""
    rules = rules or load_rules()
    text = text.strip().lower()
    if text in rules.number_words:
        return rules.number_words[text]
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # 400 nines overflow to inf, which JSON cannot hold


def parse_range(text: str, rules: MedicationRules) -> tuple[float | None, float | None]:
    """(low, high) of ``"1-2"``, ``"1 to 2"`` or ``"5"``; a single number gives (n, n)."""
    parts = [p for p in rules.range_separator.split(text.strip()) if p]
    values = [parse_number(p, rules) for p in parts]
    known = [v for v in values if v is not None]
    if not known:
        return None, None
    return min(known), max(known)


__all__ = [
    "ATTRIBUTE_TYPES",
    "FLAGS",
    "RULES_FILE",
    "Attribute",
    "MedicationRules",
    "StatusHit",
    "load_rules",
    "parse_number",
    "parse_range",
]
