"""Readers for annotated corpora, all yielding :class:`GoldDocument` with character spans.

One module per format (PubTator, IOB, BRAT, PHEE, ADE); :func:`load_corpus` reads a
shared corpus by name (``bc5cdr``, ``ncbi-disease``, ``maccrobat``, ``phee``, ``ade``) or
any file in a generic format (``pubtator:PATH``, ``iob:PATH``, ``brat:PATH``). Nothing
here imports torch or datasets; :func:`clinnlp.readers.to_hf.to_hf_dataset` does, lazily.
"""

from __future__ import annotations

from clinnlp.readers.ade import read_ade
from clinnlp.readers.brat import read_brat, read_brat_document
from clinnlp.readers.iob import read_iob
from clinnlp.readers.phee import read_phee
from clinnlp.readers.pubtator import read_pubtator
from clinnlp.readers.registry import (
    CARDS,
    LabelMap,
    apply_label_map,
    corpus_names,
    default_root,
    load_corpus,
    load_label_map,
)
from clinnlp.readers.stats import corpus_stats
from clinnlp.readers.types import GoldDocument, GoldSpan

__all__ = [
    "CARDS",
    "GoldDocument",
    "GoldSpan",
    "LabelMap",
    "apply_label_map",
    "corpus_names",
    "corpus_stats",
    "default_root",
    "load_corpus",
    "load_label_map",
    "read_ade",
    "read_brat",
    "read_brat_document",
    "read_iob",
    "read_phee",
    "read_pubtator",
]
