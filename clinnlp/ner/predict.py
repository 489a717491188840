"""Tag raw texts with a saved multi-head NER model.

All windows of all texts are batched together, sorted by length so that dynamic
padding wastes little, and run under ``torch.inference_mode``; per-token probabilities
are merged back per document (most-central window wins) and decoded into character
spans. Importable without spaCy or pydantic, so it runs wherever torch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clinnlp.errors import ConfigError
from clinnlp.ner.labels import Head
from clinnlp.ner.model import MultiHeadTokenClassifier
from clinnlp.ner.precision import apply_precision, check_precision
from clinnlp.ner.windows import (
    PredictedSpan,
    SpecialTokens,
    Window,
    decode_probs,
    encode_texts,
    make_windows,
    merge_windows,
)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` padded to the longest sequence, and the matching attention mask."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a config error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but torch sees no GPU")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}")
    return torch.device(device)


def predict_documents(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    head: Head,
    *,
    max_length: int,
    stride: int,
    batch_size: int = 32,
    device: torch.device | None = None,
) -> list[list[PredictedSpan]]:
    """Spans per text from ``model`` (a :class:`MultiHeadTokenClassifier`, possibly wrapped)
    for one head; see :func:`predict_heads`."""
    return predict_heads(
        model, tokenizer, texts, [head], max_length=max_length, stride=stride, batch_size=batch_size, device=device
    )[head.name]


def predict_heads(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    heads: Sequence[Head],
    *,
    max_length: int,
    stride: int,
    batch_size: int = 32,
    device: torch.device | None = None,
    batch_tokens: int | None = None,
    constrained: bool = True,
) -> dict[str, list[list[PredictedSpan]]]:
    """Spans per head, per text; the encoder runs once per window for all heads.

    The caller sets train/eval mode; this only turns off autograd. On CUDA the forward
    pass runs under bf16/fp16 autocast; the softmax is always taken in float32. With ``batch_tokens``, a forward pass takes as many length-sorted
    windows as fit ``rows x longest <= batch_tokens`` (at least one) instead of
    ``batch_size``: short windows then share a pass, long ones do not blow the memory.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
    core: Any = getattr(model, "module", model)  # unwrap DDP/accelerate wrappers
    device = device or next(model.parameters()).device
    special = SpecialTokens.of(tokenizer)
    docs = encode_texts(tokenizer, texts)
    windows: list[Window] = []
    for index, doc in enumerate(docs):
        windows.extend(make_windows(doc, index, special, max_length, stride))
    order = sorted(range(len(windows)), key=lambda k: -len(windows[k].input_ids))
    scores: dict[str, list[np.ndarray | None]] = {h.name: [None] * len(windows) for h in heads}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    autocast: AbstractContextManager[Any] = nullcontext()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        autocast = torch.autocast("cuda", dtype=dtype)
    lead = len(special.prefix)
    with torch.inference_mode(), autocast:
        for chunk in _chunks([len(windows[k].input_ids) for k in order], order, batch_size, batch_tokens):
            ids, mask = pad_batch([windows[k].input_ids for k in chunk], pad_id)
            hidden = core.encoder(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            for head in heads:
                probs = torch.softmax(core.heads[head.name](hidden).float(), dim=-1).cpu().numpy()
                for row, k in enumerate(chunk):
                    w = windows[k]
                    scores[head.name][k] = probs[row, lead : lead + (w.end - w.start)]
    results: dict[str, list[list[PredictedSpan]]] = {}
    for head in heads:
        per_doc: list[list[tuple[tuple[int, int], np.ndarray]]] = [[] for _ in docs]
        for w, s in zip(windows, scores[head.name]):
            if s is not None:
                per_doc[w.doc].append(((w.start, w.end), s))
        spans: list[list[PredictedSpan]] = []
        for doc, parts in zip(docs, per_doc):
            if not parts:
                spans.append([])
                continue
            merged = merge_windows(len(doc), [b for b, _ in parts], [s for _, s in parts])
            spans.append(decode_probs(doc, merged, head, constrained=constrained))
        results[head.name] = spans
    return results


def _chunks(lengths: list[int], order: list[int], batch_size: int, batch_tokens: int | None) -> list[list[int]]:
    """Split length-sorted (longest first) window indices into forward-pass batches."""
    if batch_tokens is None:
        return [order[at : at + batch_size] for at in range(0, len(order), batch_size)]
    chunks: list[list[int]] = []
    current: list[int] = []
    width = 0
    for length, k in zip(lengths, order):
        if current and (len(current) + 1) * max(width, length) > batch_tokens:
            chunks.append(current)
            current, width = [], 0
        current.append(k)
        width = max(width, length)
    if current:
        chunks.append(current)
    return chunks




class NerPredictor:
    """A saved model folder, loaded once, tagging batches of texts with one of its heads."""

    def __init__(
        self,
        model_dir: str | Path,
        device: str = "auto",
        *,
        batch_size: int = 32,
        base: str | None = None,
        check_base: bool = True,
        batch_tokens: int | None = None,
        precision: str = "fp32",
    ) -> None:
        self.device = resolve_device(device)
        check_precision(precision, self.device.type)
        self.model, self.tokenizer = MultiHeadTokenClassifier.load(model_dir, base=base, check_base=check_base)
        merge = getattr(self.model.encoder, "merge_and_unload", None)
        if merge is not None:  # fold LoRA into the base weights: same outputs, no adapter overhead
            self.model.encoder = merge()
        self.model = apply_precision(self.model.to(self.device).eval(), precision, self.device.type)
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens

    @property
    def heads(self) -> dict[str, Head]:
        return self.model.head_objects

    def predict_heads(
        self, texts: list[str], heads: Sequence[str], *, constrained: bool = True
    ) -> dict[str, list[list[PredictedSpan]]]:
        """Like :meth:`predict` for several heads at once, sharing one encoder pass;
        ``constrained=False`` decodes by per-word argmax (see :func:`decode_probs`)."""
        known = self.heads
        missing = [h for h in heads if h not in known]
        if missing:
            raise ConfigError(f"model has no head {missing[0]!r}; heads: {', '.join(known)}")
        return predict_heads(
            self.model,
            self.tokenizer,
            texts,
            [known[h] for h in heads],
            max_length=self.model.config.max_length,
            stride=self.model.config.stride,
            batch_size=self.batch_size,
            device=self.device,
            batch_tokens=self.batch_tokens,
            constrained=constrained,
        )

    def predict(self, texts: list[str], head: str) -> list[list[PredictedSpan]]:
        """``(start, end, label, score)`` per mention, per text; score is the mean max-softmax
        probability over the first subwords of the mention's words."""
        heads = self.heads
        if head not in heads:
            raise ConfigError(f"model has no head {head!r}; heads: {', '.join(heads)}")
        return self.predict_heads(texts, [head])[head]
