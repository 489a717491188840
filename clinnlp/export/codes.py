"""Names of clinnlp's code systems in FHIR (URIs) and OMOP (vocabulary ids), from a rules file.

The table is data (``clinnlp/rules/code_systems.json``) so a site can add a system without code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from clinnlp.errors import ResourceError
from clinnlp.rule_files import read_rules_json

RULES_FILE = "code_systems.json"
UNKNOWN_SYSTEM_PREFIX = "urn:clinnlp:codesystem:"


@lru_cache(maxsize=1)
def _systems() -> dict[str, dict[str, Any]]:
    systems = read_rules_json(RULES_FILE).get("systems")
    if not isinstance(systems, dict):
        raise ResourceError(f"clinnlp/rules/{RULES_FILE} must hold a 'systems' object")
    return systems


def fhir_system(system: str) -> str:
    """The FHIR ``Coding.system`` URI of a clinnlp system (``ICD-10-CM`` -> its HL7 URI)."""
    entry = _systems().get(system)
    if entry and entry.get("fhir"):
        return str(entry["fhir"])
    return UNKNOWN_SYSTEM_PREFIX + "".join(c if c.isalnum() or c in "-." else "-" for c in system)


def omop_vocabulary(system: str) -> str | None:
    """The OMOP ``vocabulary_id`` of a clinnlp system, or None where OMOP has no such vocabulary."""
    entry = _systems().get(system)
    value = entry.get("omop_vocabulary_id") if entry else None
    return str(value) if value else None
