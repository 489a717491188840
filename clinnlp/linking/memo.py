"""A bounded least-recently-used memo for the linker's per-process caches.

Why by hand: ``functools.lru_cache`` wraps a function, while the linker fills its caches
in batches (a document batch's term embeddings at once) and reads them one key at a time.
Bounded, so ``clinnlp batch`` over millions of distinct notes keeps a constant peak memory
(the issue's 100 vs 10,000 documents within 10%); least-recently-used, so the terms that
recur across notes stay.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from clinnlp.errors import ConfigError

K = TypeVar("K")
V = TypeVar("V")


class LruMemo(Generic[K, V]):
    """At most ``size`` entries; storing one more drops the least recently used."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ConfigError(f"memo size must be at least 1, not {size}")
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
