"""The packaged resources' file shape: a gzip TSV with a ``magic<TAB>version`` line, a
column line, then rows; written deterministically (gzip mtime 0, rows as given, sorted
by the caller) so a rebuild gives a byte-identical file and a clean git diff."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from clinnlp.errors import ResourceError


def packaged_resource(name: str) -> Path:
    """Filesystem path of a file shipped in ``clinnlp/resources``."""
    return Path(str(resources.files("clinnlp") / "resources" / name))


def write_gzip_tsv(out: Path, magic: str, version: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write ``rows`` under the header lines."""
    buffer = io.StringIO()
    buffer.write(f"{magic}\t{version}\n" + "\t".join(columns) + "\n")
    for row in rows:
        buffer.write("\t".join(str(c) for c in row) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(buffer.getvalue().encode("utf-8"))


def read_gzip_tsv(source: Path, magic: str, version: str, what: str, hint: str) -> list[list[str]]:
    """The data rows, split on tabs; :class:`ResourceError` naming ``what`` and how to rebuild
    it (``hint``) when the file is missing, corrupt or of another format or version."""
    try:
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ResourceError(f"{what} {source} is missing or corrupt ({exc}); {hint}") from None
    if not lines or lines[0].split("\t")[:2] != [magic, version]:
        raise ResourceError(f"{source} is not a clinnlp {what} v{version}; {hint}")
    return [line.split("\t") for line in lines[2:] if line]
