"""Shared fixtures: the sample notes, a CLI runner, and a helper to write note files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
NOTES_DIR = REPO / "corpora" / "notes"


@pytest.fixture(scope="session")
def sample_notes() -> list[Path]:
    """The fictional notes shipped in corpora/notes (the demo's inputs)."""
    notes = sorted(NOTES_DIR.glob("*.txt"))
    assert notes, f"no sample notes in {NOTES_DIR}"
    return notes


@pytest.fixture()
def runner() -> CliRunner:
    """A Typer CLI runner with stderr kept apart from stdout."""
    return CliRunner()


@pytest.fixture()
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text or bytes to a file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


def _build_tiny_tokenizer(texts: Iterable[str], words: Iterable[str]) -> Any:
    """A WordPiece tokenizer that knows single characters and the given words, so most
    words split into several subwords (what window and label alignment must handle)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = sorted({c for t in texts for c in t.lower() if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Callable[[Iterable[str], Iterable[str]], Any]:
    """Build a tiny offline WordPiece tokenizer: ``tiny_tokenizer(texts, words)``."""
    return _build_tiny_tokenizer
