"""Sentence embeddings of short terms with the pipeline's encoder (all-MiniLM-L6-v2).

The linker re-ranks fuzzy candidates by the cosine between the mention's embedding and
each candidate term's, so ``kidney failure`` can beat the trigram-closer ``kidney
fibrosis`` for ``renal failure``. Embeddings are mean-pooled and L2-normalised as the
sentence-transformers model was trained; term embeddings are cached per process, so a
term is encoded once however many mentions it competes for. torch and transformers are
imported only when the first embedding is asked for.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from clinnlp.linking.memo import LruMemo

#: Longest term, in word pieces, that is embedded (terms are short; this bounds the cost).
MAX_LENGTH = 32
#: Terms per forward pass (after sorting by length, so a batch pads little).
BATCH_SIZE = 64
#: At most this many term embeddings are cached (384 floats each: ~1.6 kB with the key;
#: 32 MB in all), least recently used dropped first.
CACHE_SIZE = 20_000


class TermEncoder:
    """Encodes short texts into unit vectors, caching each text's vector."""

    def __init__(self, base: str = "minilm", precision: str = "fp32", device: str = "cpu") -> None:
        from clinnlp.ner.precision import check_precision

        self.base = base
        self.device = device  # cpu, cuda, cuda:N or auto; resolved when the model loads
        self.precision = check_precision(precision, "cpu" if device == "cpu" else "cuda")
        self._torch_device: Any = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: LruMemo[str, np.ndarray] = LruMemo(CACHE_SIZE)

    def _load(self) -> None:
        from clinnlp.ner.model import _load_encoder, load_tokenizer, resolve_base

        resolved = resolve_base(self.base)
        self._tokenizer = load_tokenizer(resolved.location)
        from clinnlp.ner.precision import apply_precision
        from clinnlp.ner.predict import resolve_device

        self._torch_device = resolve_device(self.device)
        model = _load_encoder(resolved.location).eval().to(self._torch_device)
        self._model = apply_precision(model, self.precision, self._torch_device.type)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors ``(len(texts), dim)``; cached texts are not re-encoded."""
        known: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            vector = self._cache.get(text)
            if vector is None:
                missing.append(text)
            else:
                known[text] = vector
        if missing:
            if self._model is None:
                self._load()
            import torch

            encoded = self._tokenizer(missing, truncation=True, max_length=MAX_LENGTH)["input_ids"]
            order = sorted(range(len(missing)), key=lambda k: len(encoded[k]))
            vectors: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(missing)
            # on a GPU bf16 runs under autocast (as the NER does); on CPU the weights are cast
            on_gpu = self._torch_device.type == "cuda" and self.precision == "bf16"
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else nullcontext()
            with torch.inference_mode(), autocast:
                # Length-sorted batches: most terms are a few word pieces, and padding them
                # all to the longest of a document's hundreds of terms cost 4x the compute.
                for at in range(0, len(order), BATCH_SIZE):
                    rows = order[at : at + BATCH_SIZE]
                    batch = self._tokenizer.pad({"input_ids": [encoded[k] for k in rows]}, return_tensors="pt")
                    batch = {key: value.to(self._torch_device) for key, value in batch.items()}
                    hidden = self._model(**batch).last_hidden_state.float()
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    for k, vector in zip(rows, pooled.cpu().numpy()):
                        vectors[k] = vector
            for text, vector in zip(missing, vectors):
                known[text] = self._cache[text] = vector
        # read from ``known``, not the cache: a batch larger than the cache evicts some of it
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)
