"""Reading notes: every kind of bad input gets a clear InputError naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clinnlp.errors import InputError
from clinnlp.inputs import read_note


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"\xff\xfe\x00", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
    ],
)
def test_bad_content(write_file: Callable[[str, str | bytes], Path], content: bytes, message: str) -> None:
    path = write_file("bad.txt", content)
    with pytest.raises(InputError, match=message) as info:
        read_note(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_note(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_note(tmp_path)


def test_bom_is_dropped(write_file: Callable[[str, str | bytes], Path]) -> None:
    note = read_note(write_file("bom.txt", b"\xef\xbb\xbfHTN"))
    assert note.text == "HTN"
