"""Transformer token-classification NER: windows, a multi-head model, prediction.

Submodules import torch and transformers; this package file imports nothing heavy,
so ``import clinnlp.ner`` stays cheap. Use ``clinnlp.ner.predict.NerPredictor`` to tag
texts with a saved model and :mod:`clinnlp.training` to train one.
"""

from __future__ import annotations

from clinnlp.ner.labels import BUILTIN_HEADS, Head, get_head

__all__ = ["BUILTIN_HEADS", "Head", "get_head"]
