"""The transformer NER slot: a fine-tuned multi-head token classifier as a spaCy component.

Each head keeps its training corpus's own types; ``clinnlp/rules/transformer_labels.json``
says which of those types become clinnlp mentions, so changing the mapping needs no code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, minibatch

from clinnlp.components.sections import HEADING_SPANS_KEY
from clinnlp.components.token_split import split_at
from clinnlp.rule_files import read_rules_json
from clinnlp.errors import ConfigError
from clinnlp.extensions import FINDING, install_extensions
from clinnlp.model_registry import resolve_model
from clinnlp.ner.labels import BUILTIN_HEADS, DEFAULT_MIN_SCORE

if TYPE_CHECKING:  # the model code (and torch) is loaded with the first model, not here
    from clinnlp.ner.windows import PredictedSpan

LABELS_FILE = "transformer_labels.json"


@lru_cache(maxsize=1)
def label_rules() -> dict[str, Any]:
    """The packaged head-type -> clinnlp-label mapping and head priority."""
    return read_rules_json(LABELS_FILE)


def default_domain() -> str:
    """The kind of text assumed when none is given (``clinical``)."""
    return str(label_rules()["default_domain"])


def domain_rules(domain: str | None) -> dict[str, Any]:
    """One domain's ``priority`` and ``emit`` (None: the default domain)."""
    name = domain or default_domain()
    known = label_rules()["domains"]
    if name not in known:
        raise ConfigError(f"unknown domain {name!r}; allowed: {', '.join(known)}")
    return dict(known[name])


@lru_cache(maxsize=1)
def rejected_text() -> re.Pattern[str]:
    """One pattern for the packaged ``reject_text`` list: mention texts never emitted as clinnlp labels."""
    patterns = label_rules().get("reject_text", {}).get("patterns", [])
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{LABELS_FILE}: a reject_text pattern is not a regular expression: {exc}") from None


@lru_cache(maxsize=1)
def trailing_words() -> frozenset[str]:
    """Words a mention never ends with, as written (``edge_words`` in the label rules)."""
    return frozenset(label_rules().get("edge_words", {}).get("trailing", []))


@lru_cache(maxsize=4)
def _predictor(model_path: str, device: str, precision: str = "fp32", batch_tokens: int | None = None) -> Any:
    """One loaded model per (folder, device, numeric mode) per process; loading costs seconds."""
    from clinnlp.ner.predict import NerPredictor

    return NerPredictor(model_path, device=device, precision=precision, batch_tokens=batch_tokens)


class TransformerNER:
    """Puts the model's mentions into ``doc.ents`` with source, confidence and native label."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        *,
        model: str | None,
        heads: list[str] | None,
        native_labels: bool,
        device: str,
        batch_size: int,
        min_score: float,
        precision: str = "fp32",
        batch_tokens: int | None = None,
        domain: str | None = None,
    ) -> None:
        install_extensions()
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"{name}: min_score must be in [0, 1], not {min_score}")
        for option, value in (("batch_size", batch_size), ("batch_tokens", batch_tokens)):
            if value is not None and value < 1:
                raise ConfigError(f"{name}: {option} must be at least 1, not {value}")
        self.min_score = min_score
        self.name = name
        self.info = resolve_model(model)
        self.domain = domain or default_domain()
        rules = domain_rules(self.domain)
        # a custom head (trained on a user's corpus) maps its types with the labels its
        # training config gave, saved with the model; it comes after the built-in heads
        custom = {h: labels for h, labels in self.info.labels.items() if h in self.info.heads and h not in BUILTIN_HEADS}
        if heads:  # heads named explicitly: each emits every type it has a label for
            self.emitted = {head: frozenset(label_rules()["labels"].get(head, {}) or custom.get(head, {})) for head in heads}
        else:
            self.emitted = {head: frozenset(types) for head, types in rules["emit"].items()}
            self.emitted.update({head: frozenset(labels) for head, labels in custom.items()})
        wanted = heads or [
            *(h for h in rules["priority"] if h in self.info.heads and h in self.emitted),
            *(h for h in custom if h not in rules["priority"]),
        ]
        missing = [h for h in wanted if h not in self.info.heads]
        if missing:
            raise ConfigError(f"model {self.info.name!r} has no head {missing[0]!r}; heads: {', '.join(self.info.heads)}")
        if not wanted and not native_labels:
            described = "; ".join(f"{h}: {', '.join(t)}" for h, t in self.info.heads.items())
            raise ConfigError(
                f"model {self.info.name!r} has no head clinnlp can turn into records ({described}); give each custom "
                "corpus in its training config labels = {TYPE = \"DIAGNOSIS\" | \"MEDICATION\" | \"FINDING\"} and train "
                "again, or score it with clinnlp evaluate --label-map"
            )
        self.custom_labels = custom
        self.heads = wanted
        self.native_labels = native_labels
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.batch_tokens = batch_tokens
        self.model_id = self.info.name
        self.weights_sha256 = _adapter_sha(self.info.path)

    def _label(self, head: str, entity_type: str) -> tuple[str, str | None] | None:
        """(label, finding kind) for a head's type, or None when it is not emitted."""
        if self.native_labels:
            return entity_type, None
        if entity_type not in self.emitted.get(head, ()):
            return None
        rule = label_rules()["labels"].get(head, {}).get(entity_type)
        if rule is None:
            label = self.custom_labels.get(head, {}).get(entity_type)
            return (label, None) if label else None
        return rule["label"], rule.get("kind")

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Tag documents in batches, so windows of many notes share forward passes."""
        predictor = _predictor(str(self.info.path), self.device, self.precision, self.batch_tokens)
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            texts = [doc.text for doc in batch]
            per_head = predictor.predict_heads(texts, self.heads)
            for index, doc in enumerate(batch):
                headings = doc.user_data.get(HEADING_SPANS_KEY, [])
                kept = [
                    (head, found, mapped)
                    for head in self.heads
                    for found in per_head[head][index]
                    # "ALLERGIES:" is a heading, not a diagnosis
                    if not any(h_start < found.end and found.start < h_end for h_start, h_end in headings)
                    and found.score >= self.min_score
                    and (mapped := self._label(head, found.label)) is not None
                ]
                split_at(doc, (edge for _, found, _ in kept for edge in (found.start, found.end)))
                spans = [self._span(doc, head, found, *mapped) for head, found, mapped in kept]
                doc.ents = filter_spans([s for s in spans if s is not None] + list(doc.ents))
                yield doc

    def _span(self, doc: Doc, head: str, found: PredictedSpan, label: str, kind: str | None) -> Span | None:
        """The doc span of a head's mention under its clinnlp ``label``, or None if it falls away."""
        span = doc.char_span(found.start, found.end, label=label, alignment_mode="expand")
        if span is None:
            return None
        # the model sees windows, not sentences: a mention never runs past a sentence end
        first, last = span.start, span.end
        if doc.has_annotation("SENT_START"):
            last = next((i for i in range(first + 1, last) if doc[i].is_sent_start), last)
        # window/word decoding can start or end a span on punctuation ("-acquired"); trim it
        while first < last and (doc[first].is_punct or doc[first].is_space):
            first += 1
        trailing = trailing_words()  # lower-case only: "AT" (ataxia-telangiectasia) is a mention
        while last > first and (
            doc[last - 1].is_punct or doc[last - 1].is_space or (last - 1 > first and doc[last - 1].text in trailing)
        ):
            last -= 1
        if first == last:
            return None
        if not self.native_labels and rejected_text().fullmatch(doc[first:last].text):
            return None  # "twice", "prn", "SpO2 93": see reject_text in the label rules
        span = Span(doc, first, last, label=label)
        span._.clinnlp_source = self.name
        span._.clinnlp_confidence = round(float(found.score), 4)
        span._.clinnlp_codes = []
        span._.clinnlp_native_label = f"{head}:{found.label}"
        if label == FINDING:
            span._.clinnlp_finding_kind = kind or "other"
        return span


def _adapter_sha(path: Path) -> str | None:
    """sha256 of the model's trained weights file, for the record's provenance."""
    from clinnlp.ner.model import ADAPTER_FILE, ENCODER_DELTA_FILE, ENCODER_FILE, file_sha256

    for name in (ADAPTER_FILE, ENCODER_FILE, ENCODER_DELTA_FILE):
        if (path / name).is_file():
            return file_sha256(path / name)
    return None


@Language.factory(
    "clinnlp_transformer_ner",
    default_config={
        "model": None,
        "heads": None,
        "native_labels": False,
        "device": "cpu",
        "batch_size": 16,
        "min_score": DEFAULT_MIN_SCORE,
        "precision": "fp32",
        "batch_tokens": None,
        "domain": None,
    },
)
def make_transformer_ner(
    nlp: Language,
    name: str,
    model: str | None,
    heads: list[str] | None,
    native_labels: bool,
    device: str,
    batch_size: int,
    min_score: float,
    precision: str,
    batch_tokens: int | None,
    domain: str | None,
) -> TransformerNER:
    """spaCy factory: ``model`` is a packaged name, folder or hub id (None = the default model);
    ``heads`` picks heads in priority order, each emitting every type the label rules map (None =
    the domain's heads and types);
    ``native_labels`` keeps the corpus types (for evaluation) instead of clinnlp labels;
    mentions scoring under ``min_score`` (mean token probability) are dropped (0.7, chosen
    on dev: it raised strict F1 on BC5CDR, NCBI-disease and MACCROBAT alike; see the model card);
    ``precision`` (fp32, bf16, int8) and ``batch_tokens`` (token budget per forward pass)
    are the speed settings ``clinnlp batch`` exposes; ``domain`` (clinical, literature; None
    = clinical) picks which head types become mentions, per the label rules."""
    return TransformerNER(
        nlp,
        name,
        model=model,
        heads=heads,
        native_labels=native_labels,
        device=device,
        batch_size=batch_size,
        min_score=min_score,
        precision=precision,
        batch_tokens=batch_tokens,
        domain=domain,
    )


__all__ = ["TransformerNER", "make_transformer_ner"]
