"""Read notes from files or streams, refusing anything that is not clinical text.

Each check raises :class:`clinnlp.errors.InputError` naming the input and the problem,
so a caller processing many inputs can report the bad ones and go on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from clinnlp.errors import InputError

#: Larger inputs are refused rather than read whole into memory by ``extract``.
MAX_NOTE_BYTES = 50 * 1024 * 1024
STDIN_NAME = "-"


def identity_key(doc_id: str, text_sha256: str) -> str:
    """The string a note's export ids (FHIR UUIDs, OMOP note_id) derive from: its doc id, but
    for a note read from standard input, whose doc id is always ``-``, also its text's hash,
    so two different piped notes never share ids (a PUT or upsert by id would overwrite)."""
    return doc_id if doc_id != STDIN_NAME else f"{STDIN_NAME}#{text_sha256}"


@dataclass(frozen=True)
class Note:
    """One input note: its id (the path as given, or ``-``) and its decoded text."""

    doc_id: str
    text: str


def decode_note(data: bytes, name: str) -> str:
    """Decode UTF-8 note bytes (a leading BOM is dropped), rejecting binary, empty or invalid text."""
    if not data.strip():
        raise InputError(f"{name}: the note is empty")
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise InputError(f"{name}: looks like a binary file (NUL byte at offset {offset}); expected UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"{name}: not UTF-8 text (invalid byte 0x{bad} at offset {exc.start}); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    if not text.strip():
        raise InputError(f"{name}: the note is empty")
    return text


def read_note(path: Path | str) -> Note:
    """Read one note from a path, with a clear error for every way it can fail."""
    name = str(path)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if path.is_dir():
        raise InputError(f"{name}: is a directory; expected a text file (use 'clinnlp batch' for folders)")
    try:
        size = path.stat().st_size
        if size > MAX_NOTE_BYTES:
            raise InputError(f"{name}: {size} bytes is larger than the {MAX_NOTE_BYTES}-byte limit for one note")
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    return Note(doc_id=name, text=decode_note(data, name))


def read_stream(stream: BinaryIO, name: str = STDIN_NAME) -> Note:
    """Read one note from a binary stream such as standard input."""
    data = stream.read(MAX_NOTE_BYTES + 1)
    if len(data) > MAX_NOTE_BYTES:
        raise InputError(f"{name}: larger than the {MAX_NOTE_BYTES}-byte limit for one note")
    return Note(doc_id=name, text=decode_note(data, name))
