"""The ``clinnlp_medication_attributes`` spaCy component: strength, dose, route, frequency,
duration, form and status for each MEDICATION mention.

Why this module is thin: the work lives in :mod:`clinnlp.medications` (``rules``: the
compiled patterns of ``clinnlp/rules/medication_attributes.json``; ``finder``: attributes
found on the character text, with the value conventions; ``linking``: which drug each
attribute and status belongs to). This module only wraps that as a pipeline component and
registers the factory.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

from clinnlp.extensions import install_extensions
from clinnlp.medications.linking import link_attributes
from clinnlp.medications.rules import load_rules


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


__all__ = ["MedicationAttributes", "make_medication_attributes"]
