"""Names of clinnlp's code systems in FHIR (URIs) and OMOP (vocabulary ids), from a rules file.

The table is data (``clinnlp/rules/code_systems.json``) so a site can add a system without code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

from clinnlp.errors import ResourceError

RULES_FILE = "code_systems.json"
UNKNOWN_SYSTEM_PREFIX = "urn:clinnlp:codesystem:"


def read_export_rules(name: str) -> dict[str, Any]:
    """Read one packaged rules file used by the exports.

    Hand-written rather than reusing ``clinnlp.components.sections.read_rules_json`` because
    that module imports spaCy, and the exports (database sink, OMOP source) must not.
    """
    try:
        data = json.loads(files("clinnlp").joinpath("rules", name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResourceError(f"cannot read rules file clinnlp/rules/{name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ResourceError(f"rules file clinnlp/rules/{name} must hold a JSON object")
    return data


@lru_cache(maxsize=1)
def _systems() -> dict[str, dict[str, Any]]:
    systems = read_export_rules(RULES_FILE).get("systems")
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
