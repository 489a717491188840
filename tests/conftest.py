"""Shared fixtures: the sample notes, a CLI runner, and a helper to write note files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
