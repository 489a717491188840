"""Values of labs and vitals: ``BP 140/90 mmHg``, ``Hb 9.2 g/dL (L)``, ``troponin < 0.01``.

For each FINDING mention whose kind is lab or vital (``span._.clinnlp_finding_kind``), or
whose LOINC code is listed under ``value_loinc`` (left ventricular ejection fraction),
reads the value written right after the name, allowing a short link (``:``, ``=``,
``was``, ``of``, ``is``...), then an optional unit and an interpretation flag. The
patterns are data in ``clinnlp/rules/finding_values.json``.

Conventions:

* ``value.text`` is the value as written, comparator included (``< 0.01``, ``1,250``,
  ``140/90``); ``value.value`` the number (``1250.0``, ``0.01``); ``value.comparator``
  the bound, if any (``<``, ``<=``, ``>``, ``>=``); ``value.unit`` the
  normalised unit (``C`` -> ``°C``) or None when the note gives none (``HR 112``).
* a compound value (blood pressure ``140/90``) has ``value`` None: one number cannot
  hold both, and the systolic alone would mislead a consumer comparing values.
* ``interpretation`` is one of ``low``, ``high``, ``critical low``, ``critical high``,
  ``critical``, ``normal``, ``abnormal``, from a flag after the value (``(L)``, ``H``, ``low``,
  ``(LL)``, ``HH``, ``critically high``, ``(critical)``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from clinnlp.rule_files import read_rules_json
from clinnlp.errors import ResourceError
from clinnlp.extensions import FINDING, install_extensions

RULES_FILE = "finding_values.json"
_FLAGS = re.IGNORECASE
_WORD_ONLY = re.compile(r"\s*(?:was|is|were|are|remained|remains)\s+(?=[a-z])", _FLAGS)


@dataclass(frozen=True)
class FindingValueRules:
    """The compiled contents of ``finding_values.json``."""

    kinds: frozenset[str]
    value_loinc: frozenset[str]
    max_gap_chars: int
    value: re.Pattern[str]
    comparator_names: list[tuple[re.Pattern[str], str]]
    unit_names: list[tuple[re.Pattern[str], str]]
    interpretation: re.Pattern[str]
    interpretation_names: list[tuple[re.Pattern[str], str]]
    case_sensitive_flags: dict[str, str]
    link_flags: dict[str, str]


def _alternation(variants: list[str]) -> str:
    return "|".join(sorted(set(variants), key=lambda v: (-len(v), v)))


def _namers(groups: dict[str, list[str]]) -> tuple[str, list[tuple[re.Pattern[str], str]]]:
    variants = [v for vs in groups.values() for v in vs]
    return _alternation(variants), [(re.compile(v, _FLAGS), n) for n, vs in groups.items() for v in vs]


def _name(text: str, namers: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, name in namers:
        if pattern.fullmatch(text):
            return name
    return None


@lru_cache(maxsize=1)
def load_rules() -> FindingValueRules:
    """Compile the finding value rules once per process."""
    data = read_rules_json(RULES_FILE)
    try:
        comp_alt, comp_names = _namers(data["comparators"])
        unit_alt, unit_names = _namers(data["units"])
        interp_alt, interp_names = _namers(data["interpretations"])
        flags = dict(data["interpretations_case_sensitive"])
        value = re.compile(
            rf"(?P<link>{data['link'].replace('LINK_FLAG', _alternation(list(data['link_flag'])))})"
            rf"(?P<text>(?:(?P<comp>{comp_alt})\s*)?(?:(?P<compound>{data['compound']})|(?P<num>{data['number']})))"
            rf"(?![\d.,]\d)"
            rf"(?:\s*(?P<unit>{unit_alt})(?![A-Za-z0-9]))?",
            _FLAGS,
        )
        interpretation = re.compile(
            rf"[\s,]*(?:(?P<flag>{interp_alt})(?![A-Za-z])|(?-i:(?P<cs>{_alternation(list(flags))}))(?![A-Za-z]))",
            _FLAGS,
        )
        return FindingValueRules(
            kinds=frozenset(data["kinds"]),
            value_loinc=frozenset(data.get("value_loinc", [])),
            max_gap_chars=int(data["max_gap_chars"]),
            value=value,
            comparator_names=comp_names,
            unit_names=unit_names,
            interpretation=interpretation,
            interpretation_names=interp_names,
            case_sensitive_flags=flags,
            link_flags=dict(data["link_flag"]),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc


def read_value(text: str, pos: int, rules: FindingValueRules | None = None) -> dict[str, Any] | None:
    """The value written at ``text[pos:]`` (just after a finding's name), or None.

    Returns ``{"value": {"text", "value", "unit"}, "interpretation": str}`` with
    ``interpretation`` only when the note flags the value; ``{"interpretation": ...}``
    alone for a flag in words without a number (``TSH was normal``).
    """
    rules = rules or load_rules()
    m = rules.value.match(text, pos)
    if m is None or len(m.group("link")) > rules.max_gap_chars:
        word = _WORD_ONLY.match(text, pos)  # "TSH was normal": a flag without a value
        flag = rules.interpretation.match(text, word.end()) if word else None
        if flag is not None and flag.group("flag") is not None and flag.group("flag")[0].isalpha():
            return {"interpretation": _name(flag.group("flag"), rules.interpretation_names)}
        return None
    if m.group("link") and not m.group("link").strip() and "\n\n" in m.group("link"):
        return None  # a blank line: the number belongs to something else
    number: float | None = None
    if m.group("num") is not None:
        number = float(m.group("num").replace(",", ""))
        if not math.isfinite(number):
            number = None  # hundreds of digits overflow to inf, which JSON cannot hold
    unit = _name(" ".join(m.group("unit").split()), rules.unit_names) if m.group("unit") else None
    if unit == "degrees" and number is not None:
        # "T 101.2 degrees": a body temperature says its scale by its size (35-42 °C, 95-108 °F)
        unit = "°F" if number >= 86 else "°C" if number <= 45 else unit
    result: dict[str, Any] = {"value": {"text": m.group("text"), "value": number, "unit": unit}}
    if m.group("comp"):
        result["value"]["comparator"] = _name(" ".join(m.group("comp").split()), rules.comparator_names)
    flag = rules.interpretation.match(text, m.end())
    if flag is not None:
        if flag.group("flag") is not None:
            result["interpretation"] = _name(flag.group("flag"), rules.interpretation_names)
        else:
            result["interpretation"] = rules.case_sensitive_flags[flag.group("cs")]
    else:  # "saturation low at 91%": the flag is in the link
        words = m.group("link").lower().split()
        linked = [rules.link_flags[w] for w, nxt in zip(words, words[1:]) if w in rules.link_flags and nxt == "at"]
        if linked:
            result["interpretation"] = linked[-1]
    return result


def is_measurable(span: Span, rules: FindingValueRules | None = None) -> bool:
    """A lab or vital, or a finding with a LOINC code listed under ``value_loinc`` (LVEF)."""
    rules = rules or load_rules()
    if span._.clinnlp_finding_kind in rules.kinds:
        return True
    return any(c.get("system") == "LOINC" and c.get("code") in rules.value_loinc for c in span._.clinnlp_codes or [])


def set_finding_value(span: Span, rules: FindingValueRules | None = None, text: str | None = None) -> None:
    """Set ``span._.clinnlp_finding_value`` for a lab or vital mention followed by a value.

    ``text`` is ``span.doc.text`` when the caller has it: spaCy rebuilds ``doc.text`` from
    every token on each access, which made a long note's labs quadratic."""
    rules = rules or load_rules()
    if span.label_ != FINDING or not is_measurable(span, rules):
        return
    found = read_value(span.doc.text if text is None else text, span.end_char, rules)
    if found is not None:
        span._.clinnlp_finding_value = found


class FindingValues:
    """Fills ``span._.clinnlp_finding_value`` on lab and vital mentions; runs after the NER."""

    def __init__(self, nlp: Language, name: str) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name
        self.rules = load_rules()  # fail at pipeline build time, not on the first note

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        for ent in doc.ents:
            set_finding_value(ent, self.rules, text)
        return doc


@Language.factory("clinnlp_finding_values")
def make_finding_values(nlp: Language, name: str) -> FindingValues:
    """spaCy factory for :class:`FindingValues`."""
    return FindingValues(nlp, name)


__all__ = ["FindingValueRules", "FindingValues", "is_measurable", "load_rules", "make_finding_values", "read_value", "set_finding_value"]
