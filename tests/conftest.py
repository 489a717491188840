"""Shared fixtures: the sample notes, a CLI runner, a helper to write note files, a tiny
PubTator abstract, and databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
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


#: One BC5CDR-style abstract with Chemical and Disease mentions and their MeSH ids.
TINY_PUBTATOR = (
    "1|t|Cisplatin-induced renal failure.\n"
    "1|a|Renal failure developed after cisplatin; aspirin did not cause hypertension.\n"
    "1\t0\t9\tCisplatin\tChemical\tD002945\n"
    "1\t18\t31\trenal failure\tDisease\tD051437\n"
    "1\t33\t46\tRenal failure\tDisease\tD051437\n"
    "1\t63\t72\tcisplatin\tChemical\tD002945\n"
    "1\t74\t81\taspirin\tChemical\tD001241\n"
    "1\t96\t108\thypertension\tDisease\tD006973\n\n"
)


@pytest.fixture()
def tiny_pubtator(write_file: Callable[[str, str | bytes], Path]) -> Path:
    """:data:`TINY_PUBTATOR` written to ``tiny.pubtator`` under tmp_path."""
    return write_file("tiny.pubtator", TINY_PUBTATOR)


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


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server, dropped afterwards.

    The server comes from CLINNLP_TEST_POSTGRES_URL, which ``make test`` sets by starting one
    with ``.ci/with-postgres``; without it the test skips with the reason that script gave.
    """
    base = os.environ.get("CLINNLP_TEST_POSTGRES_URL")
    if not base:
        pytest.skip(
            os.environ.get("CLINNLP_TEST_POSTGRES_SKIP")
            or "no PostgreSQL server: run `make test` (it starts one with .ci/with-postgres) or set CLINNLP_TEST_POSTGRES_URL"
        )
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"clinnlp_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend: a SQLite file (always) and PostgreSQL (when a server runs)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nlp.db'}"
    return str(request.getfixturevalue("postgres_url"))
