"""MeSH terms learnt from the BC5CDR *training* mentions (``clinnlp/resources/mesh_bc5cdr.tsv.gz``).

The packaged lexicon carries MeSH ids only where the Disease Ontology cross-references
one, and none for chemicals (the MeSH drug list's id column is the pharmacological class,
not the drug). BC5CDR's training split annotates 9,385 chemical and disease mentions with
their MeSH ids, which is the only openly licensed name -> MeSH map at hand, so the linker
adds those names as terms of their own.

Only the **train** split is read: the dev split is where the linker is measured and the
test split is held back, so neither may leak into a resource. Mentions with id ``-1``
(no concept), composite mentions (``id|id``) and one-character names are skipped.
All-capital short forms (``PD``, ``5-FU``, ``GABA``) are kept as *case-sensitive* names
(flag ``c``) so ``pd`` in running text never matches; the linker also looks a short form
up through its definition in the same document, which wins when found. Each row is one (folded
name, label, MeSH id) with its count; a name annotated with several ids keeps them all,
so the linker can score each by its share.

Rebuild (about 2 s)::

    python -m clinnlp.lexicon.mesh --train ../shared/corpora/bc5cdr/pubtator/train.pubtator \
        --out clinnlp/resources/mesh_bc5cdr.tsv.gz
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from clinnlp.errors import InputError
from clinnlp.lexicon import FLAG_CASE_SENSITIVE, exact_key, folded_key
from clinnlp.lexicon.tsv_resource import packaged_resource, read_gzip_tsv, write_gzip_tsv
from clinnlp.readers.types import GoldDocument

RESOURCE_NAME = "mesh_bc5cdr.tsv.gz"
FORMAT_MAGIC = "#clinnlp-mesh"
FORMAT_VERSION = "2"
COLUMNS = ("key", "surface", "label", "mesh", "count", "flags")
REBUILD_HINT = (
    "rebuild it with `python -m clinnlp.lexicon.mesh --train ../shared/corpora/bc5cdr/pubtator/train.pubtator "
    "--out clinnlp/resources/mesh_bc5cdr.tsv.gz`"
)


@dataclass(frozen=True)
class MeshTerm:
    """One name annotated with one MeSH id ``count`` times in BC5CDR train."""

    key: tuple[str, ...]
    surface: str
    label: str
    mesh: str
    count: int
    case_sensitive: bool = False


def _is_acronym(text: str) -> bool:
    """A short form such as ``PD`` or ``HCC``: ambiguous out of its abstract, so not a name."""
    return len(text) <= 6 and not any(ch.islower() for ch in text)


def build_rows(train: Path) -> list[tuple[str, str, str, str, int, str]]:
    """Rows (key, surface, label, mesh id, count, flags), sorted, from a PubTator *train* file."""
    from clinnlp.readers.pubtator import read_pubtator

    if "dev" in train.name or "test" in train.name:
        raise InputError(f"{train}: MeSH terms are built from the training split only, not {train.name}")
    return rows_from_docs(read_pubtator(train))


def rows_from_docs(docs: Sequence[GoldDocument]) -> list[tuple[str, str, str, str, int, str]]:
    """Rows from already-read documents (the cross-fold bench builds one per held-out fold)."""
    import spacy

    from clinnlp.readers.registry import load_label_map

    labels = load_label_map("bc5cdr").mapping  # corpora/label_maps/bc5cdr.json: Chemical, Disease
    tokenizer = spacy.blank("en").tokenizer
    counts: Counter[tuple[str, str, str, str]] = Counter()
    surfaces: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for doc in docs:
        for span in doc.spans:
            label = labels.get(span.label)
            if label is None or len(span.concept_ids) != 1 or span.attributes.get("composite"):
                continue
            if len(span.text.strip()) < 2:
                continue
            tokens = [t.text for t in tokenizer(span.text) if not t.is_space]
            flags = FLAG_CASE_SENSITIVE if _is_acronym(span.text) else ""
            key = " ".join(exact_key(tokens) if flags else folded_key(tokens))
            if not key:
                continue
            counts[(key, label, span.concept_ids[0], flags)] += 1
            surfaces[(key, label, flags)][span.text] += 1
    rows = []
    for (key, label, mesh, flags), n in counts.items():
        surface = surfaces[(key, label, flags)].most_common(1)[0][0]
        rows.append((key, surface, label, mesh, n, flags))
    return sorted(rows)


def write_rows(rows: list[tuple[str, str, str, str, int, str]], out: Path) -> None:
    """Write a deterministic gzip TSV (mtime 0, sorted rows)."""
    write_gzip_tsv(out, FORMAT_MAGIC, FORMAT_VERSION, COLUMNS, rows)


def packaged_path() -> Path:
    """Filesystem path of the MeSH resource shipped in ``clinnlp/resources``."""
    return packaged_resource(RESOURCE_NAME)


@lru_cache(maxsize=2)
def load_mesh_terms(path: str | None = None) -> tuple[MeshTerm, ...]:
    """The MeSH terms at ``path`` (default: packaged); :class:`ResourceError` if unreadable."""
    source = Path(path) if path else packaged_path()
    rows = read_gzip_tsv(source, FORMAT_MAGIC, FORMAT_VERSION, "MeSH resource", REBUILD_HINT)
    return tuple(
        MeshTerm(tuple(key.split(" ")), surface, label, mesh, int(count), FLAG_CASE_SENSITIVE in flags)
        for key, surface, label, mesh, count, flags in rows
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: build the resource from a BC5CDR train PubTator file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="BC5CDR train.pubtator")
    parser.add_argument("--out", type=Path, default=packaged_path())
    args = parser.parse_args(argv)
    rows = build_rows(args.train)
    write_rows(rows, args.out)
    print(f"wrote {len(rows)} rows ({len({r[3] for r in rows})} MeSH ids) to {args.out}")


if __name__ == "__main__":
    main()
