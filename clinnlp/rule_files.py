"""Read the packaged rules files (``clinnlp/rules/*.json``).

Its own small module so that modules without spaCy (the exports, the database sink) can
read rules without importing a pipeline component.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from clinnlp.errors import ResourceError


def read_rules_json(name: str) -> dict[str, Any]:
    """Read one packaged rules file (clinnlp/rules/NAME), turning any failure into a ResourceError."""
    try:
        data = json.loads(files("clinnlp").joinpath("rules", name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResourceError(f"cannot read rules file clinnlp/rules/{name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ResourceError(f"rules file clinnlp/rules/{name} must hold a JSON object")
    return data
