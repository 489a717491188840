"""Assemble the clinical spaCy pipeline and run it on one note."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import spacy
from spacy.language import Language

from clinnlp.errors import ConfigError, InputError
from clinnlp.extensions import install_extensions
from clinnlp.schema import Record

#: Components that give each mention its clinical context, after the NER, in order.
CONTEXT_COMPONENTS = ("clinnlp_context", "clinnlp_medication_attributes", "clinnlp_finding_values")

#: NER back-ends ``load`` accepts, each the spaCy factories it adds, in order.
#: ``hybrid`` runs the fine-tuned model, then lets the lexicon add terms the model missed
#: and win exact ties (the lexicon knows codes and finding kinds).
NER_BACKENDS: dict[str, tuple[str, ...]] = {
    "hybrid": ("clinnlp_transformer_ner", "clinnlp_lexicon_ner"),
    "transformer": ("clinnlp_transformer_ner",),
    "lexicon": ("clinnlp_lexicon_ner",),
}
DEFAULT_NER = "hybrid"
DEVICES = ("cpu", "cuda", "auto")


def _register_factories() -> None:
    """Import the component modules so their ``@Language.factory`` decorators run."""
    import clinnlp.components.abbreviations  # noqa: F401
    import clinnlp.components.context  # noqa: F401
    import clinnlp.components.finding_values  # noqa: F401
    import clinnlp.components.lexicon_ner  # noqa: F401
    import clinnlp.components.linker  # noqa: F401
    import clinnlp.components.medication_attributes  # noqa: F401
    import clinnlp.components.record_builder  # noqa: F401
    import clinnlp.components.sections  # noqa: F401
    import clinnlp.components.sentences  # noqa: F401
    import clinnlp.components.transformer_ner  # noqa: F401

    # scispaCy's detector runs an empty matcher on notes without abbreviation definitions;
    # spaCy then warns (W036) once per process, which is noise on a user's terminal.
    warnings.filterwarnings("ignore", message=r".*\[W036\]", module="scispacy")


def _split_glued_commas(nlp: Language) -> None:
    """Split ``word,Word`` into three tokens.

    Notes whose line breaks were flattened to commas (as in MTSamples) glue a heading to
    the previous word (``up.,MEDICATIONS``); without this infix the NER and the section
    rules would see one opaque token.
    """
    from spacy.util import compile_infix_regex

    infixes = [*nlp.Defaults.infixes, r"(?<=[A-Za-z0-9.:)\]]),(?=[A-Za-z#(\[])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


def check_options(ner: str, device: str = "cpu", domain: str | None = None, model: str | None = None) -> None:
    """Raise :class:`ConfigError` naming the allowed values for a bad option (a ``model``
    with the lexicon back-end, which has none, is one: it would be silently ignored)."""
    if domain is not None:
        from clinnlp.components.transformer_ner import domain_rules

        domain_rules(domain)
    if not isinstance(ner, str) or ner not in NER_BACKENDS:
        raise ConfigError(f"unknown NER back-end {ner!r}; allowed: {', '.join(NER_BACKENDS)}")
    if not isinstance(device, str) or (device not in DEVICES and not device.startswith("cuda:")):
        raise ConfigError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}, cuda:N")
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"model must be a name, a folder or a hub id (a str), not {type(model).__name__}")
    if model is not None and ner == "lexicon":
        raise ConfigError("a model (--model) is for the transformer and hybrid back-ends; the lexicon back-end (--ner lexicon) uses none")


def load(
    ner: str = DEFAULT_NER,
    model: str | None = None,
    heads: tuple[str, ...] | list[str] | None = None,
    native_labels: bool = False,
    device: str = "cpu",
    linker: bool = True,
    precision: str = "fp32",
    batch_tokens: int | None = None,
    batch_size: int = 16,
    domain: str | None = None,
) -> Language:
    """Return the clinical pipeline, built once per option set and cached.

    Components, in order: section detector, clinical sentence splitter, scispaCy's
    abbreviation detector, the NER back-end(s) named by ``ner``, the entity linker (codes
    on every mention; ``linker=False`` leaves only the lexicon's own codes), assertion
    (ConText), medication attributes, finding values, and the record builder.
    ``model``/``heads``/``native_labels``/``device``/``precision``/``batch_tokens``/``batch_size``
    and ``domain`` (the kind of text: clinical notes, the default, or literature) configure
    the transformer NER; ``device`` and ``precision`` also set the linker's term encoder.
    Bad options raise :class:`ConfigError` naming what is allowed, before anything loads.
    """
    from clinnlp.ner.precision import PRECISIONS

    check_options(ner, device, domain, model)
    if isinstance(heads, str) or (heads is not None and not all(isinstance(h, str) for h in heads)):
        raise ConfigError(f"heads must be a list of head names, not {heads!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    for name, value in (("batch_size", batch_size), ("batch_tokens", batch_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
    return _build(_Options(ner, model, tuple(heads) if heads is not None else None, bool(native_labels), device,
                           bool(linker), precision, batch_tokens, batch_size, domain))


@dataclass(frozen=True)
class _Options:
    """One validated option set of :func:`load`: hashable, so built pipelines are cached by it."""

    ner: str
    model: str | None
    heads: tuple[str, ...] | None
    native_labels: bool
    device: str
    linker: bool
    precision: str
    batch_tokens: int | None
    batch_size: int
    domain: str | None


@lru_cache(maxsize=4)
def _build(o: _Options) -> Language:
    """Build the pipeline for one option set; see :func:`load`."""
    _register_factories()
    install_extensions()
    nlp = spacy.blank("en")
    _split_glued_commas(nlp)
    nlp.add_pipe("clinnlp_sections")
    nlp.add_pipe("clinnlp_sentences")
    nlp.add_pipe("clinnlp_abbreviations")
    for factory in NER_BACKENDS[o.ner]:
        config: dict[str, Any] = {}
        if factory == "clinnlp_transformer_ner":
            config = {
                "model": o.model,
                "heads": list(o.heads) if o.heads else None,
                "native_labels": o.native_labels,
                "device": o.device,
                "precision": o.precision,
                "batch_tokens": o.batch_tokens,
                "batch_size": o.batch_size,
                "domain": o.domain,
            }
        nlp.add_pipe(factory, config=config)
    if o.linker:
        # the linker's term encoder runs on the NER's device and in its numeric mode (on a
        # GPU the rest of the pipeline is CPU-bound, so the encoder should not add to it)
        transformer = o.ner != "lexicon"
        nlp.add_pipe(
            "clinnlp_linker",
            config={"precision": o.precision if transformer else "fp32", "device": o.device if transformer else "cpu"},
        )
    for factory in CONTEXT_COMPONENTS:
        nlp.add_pipe(factory)
    nlp.add_pipe("clinnlp_record")
    return nlp


def extract(
    text: str, doc_id: str = "doc", *, ner: str = DEFAULT_NER, model: str | None = None, domain: str | None = None
) -> Record:
    """Run the pipeline on one note and return its record.

    Raises :class:`InputError` for text that is not a note (not a string, or blank),
    because an empty record for an empty input would hide an upstream problem.
    """
    if not isinstance(doc_id, str) or not doc_id:
        raise InputError(f"doc_id must be a non-empty str, not {doc_id!r}")
    if not isinstance(text, str):
        raise InputError(f"{doc_id}: expected note text as str, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{doc_id}: the note is empty")
    nlp = load(ner=ner, model=model, domain=domain)
    doc = nlp.make_doc(text)
    doc._.clinnlp_doc_id = doc_id
    doc = nlp(doc)
    record: Record = doc._.clinnlp_record
    return record
