"""Assemble the clinical spaCy pipeline and run it on one note."""

from __future__ import annotations

import warnings
from functools import lru_cache

import spacy
from spacy.language import Language

from clinnlp.errors import ConfigError, InputError
from clinnlp.extensions import install_extensions
from clinnlp.schema import Record

#: NER back-ends ``load`` accepts, mapped to their spaCy factory names.
NER_FACTORIES: dict[str, str] = {"lexicon": "clinnlp_lexicon_ner"}


def _register_factories() -> None:
    """Import the component modules so their ``@Language.factory`` decorators run."""
    import scispacy.abbreviation  # noqa: F401  registers "abbreviation_detector"

    # scispaCy's detector runs an empty matcher on notes without abbreviation definitions;
    # spaCy then warns (W036) once per process, which is noise on a user's terminal.
    warnings.filterwarnings("ignore", message=r".*\[W036\]", module="scispacy")

    import clinnlp.components.lexicon_ner  # noqa: F401
    import clinnlp.components.record_builder  # noqa: F401
    import clinnlp.components.sections  # noqa: F401
    import clinnlp.components.sentences  # noqa: F401


def _split_glued_commas(nlp: Language) -> None:
    """Split ``word,Word`` into three tokens.

    Notes whose line breaks were flattened to commas (as in MTSamples) glue a heading to
    the previous word (``up.,MEDICATIONS``); without this infix the NER and the section
    rules would see one opaque token.
    """
    from spacy.util import compile_infix_regex

    infixes = [*nlp.Defaults.infixes, r"(?<=[A-Za-z0-9.:)\]]),(?=[A-Za-z#(\[])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


@lru_cache(maxsize=4)
def load(ner: str = "lexicon") -> Language:
    """Return the clinical pipeline, built once per option set and cached.

    Components, in order: section detector, clinical sentence splitter, scispaCy's
    abbreviation detector, the NER back-end named by ``ner``, and the record builder.
    """
    if ner not in NER_FACTORIES:
        allowed = ", ".join(sorted(NER_FACTORIES))
        raise ConfigError(f"unknown NER back-end {ner!r}; allowed: {allowed}")
    _register_factories()
    install_extensions()
    nlp = spacy.blank("en")
    _split_glued_commas(nlp)
    nlp.add_pipe("clinnlp_sections")
    nlp.add_pipe("clinnlp_sentences")
    nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe(NER_FACTORIES[ner])
    nlp.add_pipe("clinnlp_record")
    return nlp


def extract(text: str, doc_id: str = "doc", *, ner: str = "lexicon") -> Record:
    """Run the pipeline on one note and return its record.

    Raises :class:`InputError` for text that is not a note (not a string, or blank),
    because an empty record for an empty input would hide an upstream problem.
    """
    if not isinstance(text, str):
        raise InputError(f"{doc_id}: expected note text as str, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{doc_id}: the note is empty")
    nlp = load(ner=ner)
    doc = nlp.make_doc(text)
    doc._.clinnlp_doc_id = doc_id
    doc = nlp(doc)
    record: Record = doc._.clinnlp_record
    return record
