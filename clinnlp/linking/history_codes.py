"""ICD-10-CM "history of" codes for historical mentions of acute events (``rules/history_codes.json``).

Why: "history of MI" linked by its words is I21.9, acute myocardial infarction, which an
EHR would file as a current heart attack; ICD-10-CM's code for it is I25.2, old myocardial
infarction. Only acute events are mapped, and only for a mention that is historical and
neither negated, hypothetical nor about a relative; the other systems' codes are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from clinnlp.errors import ResourceError
from clinnlp.rule_files import read_rules_json

RULES_FILE = "history_codes.json"
ICD = "ICD-10-CM"


@lru_cache(maxsize=1)
def _prefixes() -> dict[str, tuple[str, str] | None]:
    data = read_rules_json(RULES_FILE)
    try:
        return {k: (None if v is None else (str(v[0]), str(v[1]))) for k, v in data["prefixes"].items()}
    except (KeyError, TypeError, IndexError) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc


def history_code(code: str) -> tuple[str, str] | None:
    """The (code, display) of the history of the event ``code`` names, or None."""
    prefixes = _prefixes()
    for length in range(len(code), 2, -1):
        if code[:length] in prefixes:
            return prefixes[code[:length]]  # the longest prefix wins, and may map to nothing
    return None


def with_history_codes(codes: list[dict[str, Any]], assertion: Mapping[str, bool]) -> list[dict[str, Any]]:
    """``codes`` with an acute event's ICD-10-CM code replaced by its history code, when the
    mention is historical (and not negated, hypothetical or family); else ``codes`` as given."""
    if not assertion.get("historical") or any(assertion.get(a) for a in ("negated", "hypothetical", "family")):
        return codes
    out = []
    for code in codes:
        mapped = history_code(str(code["code"])) if code.get("system") == ICD else None
        out.append({**code, "code": mapped[0], "display": mapped[1]} if mapped else code)
    return out


__all__ = ["history_code", "with_history_codes"]
