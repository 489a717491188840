"""clinnlp: clinical NLP extraction of diagnoses, medications and findings.

``import clinnlp`` is deliberately light: spaCy, torch and the models load only when
:func:`load` or :func:`extract` is first called.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("clinnlp")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from spacy.language import Language

    from clinnlp.schema import Record


def load(ner: str = "hybrid", model: str | None = None, **options: Any) -> "Language":
    """Build (or reuse) the clinical pipeline; see :func:`clinnlp.pipeline.load`."""
    from clinnlp.pipeline import load as _load

    return _load(ner=ner, model=model, **options)


def extract(text: str, doc_id: str = "doc", **options: Any) -> "Record":
    """Extract one structured record from one note; see :func:`clinnlp.pipeline.extract`."""
    from clinnlp.pipeline import extract as _extract

    return _extract(text, doc_id=doc_id, **options)


__all__ = ["__version__", "extract", "load"]
