"""Named corpora and generic formats behind one call, :func:`load_corpus`.

A spec is ``NAME`` (a corpus card: its files are found under the corpora root) or
``NAME:PATH`` (a card or a generic format read from PATH). The root is the
``CLINNLP_CORPORA`` environment variable, else ``../shared/corpora`` from the current
directory, which is where the shared data sits beside a checkout. Test splits are held
back from the shared data, so the cards only know ``train`` and ``dev``.

Label maps (corpus type -> clinnlp type, plus the types each corpus is evaluated on)
are data, in ``corpora/label_maps/<name>.json`` of the source tree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from clinnlp.errors import ConfigError, InputError, ResourceError
from clinnlp.readers.ade import read_ade
from clinnlp.readers.brat import SPLITS_FILE, read_brat
from clinnlp.readers.iob import read_iob
from clinnlp.readers.phee import read_phee
from clinnlp.readers.pubtator import read_pubtator
from clinnlp.readers.types import GoldDocument

ROOT_ENV = "CLINNLP_CORPORA"
LABEL_MAP_DIR = Path(__file__).resolve().parents[2] / "corpora" / "label_maps"
CLINNLP_TYPES = ("DIAGNOSIS", "MEDICATION", "FINDING")

# A reader takes a file or folder and a split (used only where the folder holds several).
Reader = Callable[[Path, str | None], list[GoldDocument]]


def _has_splits(path: Path) -> bool:
    """A BRAT folder cut into splits by a ``splits.json`` inside it or beside it."""
    return path.is_dir() and any((p / SPLITS_FILE).is_file() for p in (path, path.parent))


def _brat(path: Path, split: str | None) -> list[GoldDocument]:
    return read_brat(path, split=split if _has_splits(path) else None)


def _ade(path: Path, split: str | None) -> list[GoldDocument]:
    return read_ade(path, split=split if path.is_dir() else None)


FORMATS: dict[str, Reader] = {
    "pubtator": lambda path, split: read_pubtator(path),
    "iob": lambda path, split: read_iob(path),
    "brat": _brat,
    "phee": lambda path, split: read_phee(path),
    "ade": _ade,
}


@dataclass(frozen=True)
class CorpusCard:
    """How to read one shared corpus: its format, where each split lives, its label map."""

    name: str
    format: str
    splits: Mapping[str, str]  # split -> path under the corpora root
    label_map: str
    description: str
    #: the pipeline's kind of text for it (see ``--domain``): abstracts are literature
    domain: str = "clinical"


CARDS: dict[str, CorpusCard] = {
    card.name: card
    for card in (
        CorpusCard(
            "bc5cdr",
            "pubtator",
            {"train": "bc5cdr/pubtator/train.pubtator", "dev": "bc5cdr/pubtator/dev.pubtator"},
            "bc5cdr",
            "BioCreative V CDR: Chemical and Disease mentions in PubMed abstracts",
            "literature",
        ),
        CorpusCard(
            "ncbi-disease",
            "iob",
            {"train": "ncbi-disease/iob/train.tsv", "dev": "ncbi-disease/iob/devel.tsv"},
            "ncbi-disease",
            "NCBI disease corpus: Disease mentions in PubMed abstracts (tokenised)",
            "literature",
        ),
        CorpusCard(
            "maccrobat",
            "brat",
            {"train": "maccrobat/brat", "dev": "maccrobat/brat"},
            "maccrobat",
            "MACCROBAT 2020: 41 entity types in clinical case reports (splits.json)",
        ),
        CorpusCard(
            "phee",
            "phee",
            {"train": "phee/json/train.json", "dev": "phee/json/dev.json"},
            "phee",
            "PHEE: pharmacovigilance events in case-report sentences",
        ),
        CorpusCard(
            "ade",
            "ade",
            {"train": "ade", "dev": "ade"},
            "ade",
            "ADE corpus v2: drugs, adverse effects and doses in case-report sentences",
        ),
    )
}


def corpus_domain(name: str) -> str | None:
    """The kind of text of a ``--data`` corpus name: its card's, ``literature`` for the
    ``pubtator`` format (PubMed abstracts), else None (the pipeline's default)."""
    if name in CARDS:
        return CARDS[name].domain
    return "literature" if name == "pubtator" else None


def split_title(specs: Iterable[str], split: str) -> str:
    """`` (dev)`` for titles when a spec is read by split: a corpus card, or a BRAT folder
    with a ``splits.json``; other generic specs (``pubtator:FILE``) read the whole path,
    so naming a split there would say something untrue."""
    def by_split(spec: str) -> bool:
        name, _, given = spec.partition(":")
        return name in CARDS or (name == "brat" and bool(given) and _has_splits(Path(given).expanduser()))

    return f" ({split})" if any(by_split(spec) for spec in specs) else ""


def corpus_names() -> list[str]:
    """Every name a spec may start with: the corpus cards, then the generic formats."""
    return [*CARDS, *(f for f in FORMATS if f not in CARDS)]


def default_root() -> Path:
    """``$CLINNLP_CORPORA``, else ``../shared/corpora`` relative to the current directory."""
    env = os.environ.get(ROOT_ENV)
    return Path(env) if env else Path.cwd().parent / "shared" / "corpora"


def load_corpus(spec: str, split: str = "dev", root: Path | None = None) -> list[GoldDocument]:
    """Read the documents a spec names (``bc5cdr``, ``bc5cdr:/path/dev.pubtator``, ``brat:/dir``...)."""
    name, sep, given = spec.partition(":")
    name = name.lower() if name.lower() in CARDS or name.lower() in FORMATS else name  # "NCBI-disease"
    if name not in CARDS and name not in FORMATS:
        raise ConfigError(f"unknown corpus {name!r}; known: {', '.join(corpus_names())}")
    card = CARDS.get(name)
    reader = FORMATS[card.format if card else name]
    if card is not None and split not in card.splits:
        held = " (test splits are held back from the shared corpora)" if split == "test" else ""
        raise ConfigError(f"{name} has no split {split!r}{held}; use one of {', '.join(card.splits)}")
    if sep and given:
        path = Path(given).expanduser()
        if card is not None and path.is_dir():
            # a folder holding the split's file (bc5cdr:/data/pubtator -> .../dev.pubtator)
            inside = path / Path(card.splits[split]).name
            if inside.is_file():
                path = inside
    elif card is not None:
        path = (root if root is not None else default_root()) / card.splits[split]
    else:
        raise ConfigError(f"the generic format {name!r} needs a path: {name}:PATH")
    if not path.exists():
        if sep and given:
            raise InputError(f"{path}: no such file or folder")
        raise InputError(_missing_under_root(name, path, root))
    fmt = card.format if card else name
    if card is not None and card.format == "brat" and path.is_dir():
        docs = read_brat(path, split=split)  # a card's split must come from its splits.json
    else:
        docs = reader(path, split)
    if not docs:
        # an empty or wrong file would otherwise pass as a corpus of 0 documents
        kind = "folder" if path.is_dir() else "file"
        raise InputError(f"no documents found in {path}; is it a {fmt} {kind}?")
    return docs


def _missing_under_root(name: str, path: Path, root: Path | None) -> str:
    """Why a card's file is missing: which root was used, where it came from, how to change it.

    The default root is relative to the current folder, so running from elsewhere is
    the usual cause; the message says so rather than only printing a resolved path.
    """
    if root is not None:
        used, source = root, "given with --root"
    elif os.environ.get(ROOT_ENV):
        used, source = Path(os.environ[ROOT_ENV]), f"from ${ROOT_ENV}"
    else:
        used = default_root()
        source = f"the default ../shared/corpora, relative to the current folder {Path.cwd()}"
    state = "has no such file" if used.is_dir() else "does not exist"
    move = "run from the project folder, " if root is None and not os.environ.get(ROOT_ENV) else ""
    return (
        f"{name}: no such file or folder {path}; the corpora root {used} ({source}) {state}. "
        f"To use another root, {move}pass --root DIR (corpora_root=DIR for clinnlp train) or set ${ROOT_ENV}; or give the path as {name}:PATH"
    )


@dataclass(frozen=True)
class LabelMap:
    """A corpus's types mapped to clinnlp types (None: ignored), and the types it is scored on."""

    corpus: str
    mapping: Mapping[str, str | None]
    eval_types: tuple[str, ...]


def load_label_map(name: str, directory: Path | None = None) -> LabelMap:
    """Read ``corpora/label_maps/<name>.json`` (``name`` is a card name)."""
    if name not in CARDS:
        raise ConfigError(f"no label map for {name!r}; known: {', '.join(CARDS)}")
    path = (directory or LABEL_MAP_DIR) / f"{CARDS[name].label_map}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mapping = data["label_map"]
        eval_types = tuple(data["evaluation"]["types"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResourceError(f"{path}: missing or not a label map ({exc})") from None
    bad = {t for t in mapping.values() if t is not None and t not in CLINNLP_TYPES}
    if bad:
        raise ResourceError(f"{path}: {sorted(bad)} are not clinnlp types ({', '.join(CLINNLP_TYPES)})")
    return LabelMap(corpus=name, mapping=dict(mapping), eval_types=eval_types)


def apply_label_map(docs: Iterable[GoldDocument], label_map: LabelMap) -> list[GoldDocument]:
    """Relabel spans to clinnlp types and drop the ignored ones; an unmapped label is an error."""
    result = []
    for doc in docs:
        spans = []
        for span in doc.spans:
            if span.label not in label_map.mapping:
                raise ConfigError(
                    f"{doc.doc_id}: label {span.label!r} is not in the {label_map.corpus} label map"
                )
            target = label_map.mapping[span.label]
            if target is not None:
                spans.append(replace(span, label=target, attributes=dict(span.attributes)))
        result.append(replace(doc, spans=tuple(spans)))
    return result
