"""Label sets ("heads") of the transformer NER, kept as data.

Corpora disagree on what a type means (BC5CDR's ``Disease`` covers symptoms that
MACCROBAT files under ``Sign_symptom``), so the model learns one head per label set
and each head keeps its corpus's own types. A head is just a name and an ordered
tuple of entity types; its BIO tag list is derived, so the tag order saved with a
model is reproducible from the types alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from clinnlp.errors import ConfigError

#: Mentions whose score (mean token probability) is under this are dropped by the pipeline
#: (``min_score`` of ``clinnlp_transformer_ner``; chosen on dev, see the model card).
DEFAULT_MIN_SCORE = 0.7

OUTSIDE = "O"


@dataclass(frozen=True)
class Head:
    """One label set: a head name and its entity types, in a fixed order."""

    name: str
    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.name or "." in self.name:
            raise ConfigError(f"head name {self.name!r} must be non-empty and contain no '.'")
        if not self.types:
            raise ConfigError(f"head {self.name!r} has no entity types")
        if len(set(self.types)) != len(self.types):
            raise ConfigError(f"head {self.name!r} lists a type twice: {list(self.types)}")
        for t in self.types:
            if not t or t == OUTSIDE or any(c.isspace() for c in t):
                raise ConfigError(f"head {self.name!r}: {t!r} is not a usable entity type")

    @property
    def tags(self) -> tuple[str, ...]:
        """``("O", "B-T1", "I-T1", "B-T2", ...)``: tag id ``i`` is ``tags[i]``."""
        return (OUTSIDE, *(f"{p}-{t}" for t in self.types for p in ("B", "I")))

    @property
    def num_tags(self) -> int:
        return 1 + 2 * len(self.types)

    def tag_id(self, tag: str) -> int:
        """The id of ``O``/``B-X``/``I-X``; an unknown tag is a config error."""
        try:
            return self.tags.index(tag)
        except ValueError:
            raise ConfigError(f"head {self.name!r} has no tag {tag!r}") from None

    def begin_id(self, entity_type: str) -> int:
        return 1 + 2 * self.types.index(entity_type)

    def parse(self, tag_id: int) -> tuple[str, str | None]:
        """``(prefix, type)`` for a tag id: ``("O", None)``, ``("B", "Disease")``..."""
        if tag_id == 0:
            return OUTSIDE, None
        index, inside = divmod(tag_id - 1, 2)
        return ("I" if inside else "B"), self.types[index]


# Each corpus's own types, as its published evaluation uses them. MACCROBAT keeps the
# clinically useful types with enough training mentions; the others (Coreference,
# Detailed_description, Biological_structure...) overlap these and would compete for
# the same tokens in a flat BIO scheme.
BUILTIN_HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        Head("bc5cdr", ("Chemical", "Disease")),
        Head("ncbi", ("Disease",)),
        Head(
            "maccrobat",
            (
                "Disease_disorder",
                "Sign_symptom",
                "Medication",
                "Dosage",
                "Frequency",
                "Duration",
                "Administration",
                "Lab_value",
                "Diagnostic_procedure",
                "Therapeutic_procedure",
                "Severity",
                "History",
                "Date",
                "Age",
                "Sex",
            ),
        ),
    )
}


def get_head(name: str, types: Iterable[str] | None = None) -> Head:
    """A built-in head by name, or a custom one when ``types`` are given."""
    if types is not None:
        return Head(name, tuple(types))
    if name not in BUILTIN_HEADS:
        raise ConfigError(
            f"unknown head {name!r}; built-in heads: {', '.join(BUILTIN_HEADS)} "
            "(or give the head's types explicitly)"
        )
    return BUILTIN_HEADS[name]


def heads_from_mapping(mapping: Mapping[str, Iterable[str]]) -> dict[str, Head]:
    """Heads from ``{name: [types]}``, the form saved in a model's ``config.json``."""
    return {name: Head(name, tuple(types)) for name, types in mapping.items()}
