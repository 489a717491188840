"""Terminology linking: look terms up in the packaged lexicon's code systems."""

from __future__ import annotations

from clinnlp.linking.lookup import Candidate, known_systems, lookup

__all__ = ["Candidate", "known_systems", "lookup"]
