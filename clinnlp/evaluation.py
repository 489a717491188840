"""Score the full pipeline against annotated corpora (what ``clinnlp evaluate`` wraps).

The pipeline runs on each document's raw text, never on gold tokens, so the figures
include sentence splitting, tokenisation and window merging errors, as a user would see.

Two ways to compare, chosen per corpus:

* the model has a head trained on that corpus (``bc5cdr``, ``ncbi-disease``,
  ``maccrobat``) and the back-end is ``transformer``: that head alone runs and its
  mentions keep the corpus's own types, scored on the corpus's evaluation types; this is
  the setting comparable with published figures;
* otherwise (a generic format, or ``--ner lexicon``/``hybrid``): gold types are mapped to
  clinnlp types with the label map and compared with the pipeline's clinnlp labels.

Where the gold mentions carry concept ids (PubTator's MeSH ids, as in BC5CDR), the result
gains a ``normalization`` block (see :mod:`clinnlp.normalization_eval`): mention accuracy
of the linker on the gold spans, and document-level concept precision/recall/F1 of the
full pipeline, per type.

Where the gold carries assertion annotations (BRAT ``POLARITY`` attributes), the result
gains an ``assertion`` block (per attribute precision, recall, f1, support): on the
predicted mentions that strictly match a gold mention, or, with ``gold_spans``, on every
gold mention itself, so NER errors do not blur it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinnlp.assertion_eval import SCORED_ATTRIBUTES, assertion_cases, gold_assertion
from clinnlp.assertion_metrics import score_assertions
from clinnlp.errors import ConfigError, ResourceError
from clinnlp.metrics import score_mentions
from clinnlp.normalization_eval import (
    Concepts,
    document_concept_scores,
    gold_concepts,
    gold_span_cases,
    has_concept_ids,
    mention_accuracy,
)
from clinnlp.readers.registry import (
    CARDS,
    CLINNLP_TYPES,
    LabelMap,
    apply_label_map,
    corpus_domain,
    load_corpus,
    load_label_map,
)
from clinnlp.readers.types import GoldDocument

#: Corpus card -> the model head trained on it.
CARD_HEADS = {"bc5cdr": "bc5cdr", "ncbi-disease": "ncbi", "maccrobat": "maccrobat"}

Progress = Callable[[int], None]
#: The code system corpora with concept ids are scored in (PubTator corpora use MeSH).
CONCEPT_SYSTEM = "MeSH"


@dataclass(frozen=True)
class DataSpec:
    """One ``--data`` value: the spec string, its corpus name, and the label map to use."""

    spec: str
    name: str
    label_map: LabelMap | None


def read_label_map_file(path: Path) -> LabelMap:
    """A label map JSON in the ``corpora/label_maps`` shape: ``{"label_map": {...}, "evaluation": {"types": [...]}}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mapping = dict(data["label_map"])
        types = tuple(data.get("evaluation", {}).get("types") or [t for t in mapping.values() if t])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a label map ({exc}); expected {{\"label_map\": {{TYPE: clinnlp type}}}}") from None
    bad = sorted({str(v) for v in mapping.values() if v is not None and v not in CLINNLP_TYPES})
    if bad:
        raise ConfigError(f"{path}: {bad[0]!r} is not a clinnlp type; map each type to one of {', '.join(CLINNLP_TYPES)} or null")
    return LabelMap(corpus=path.stem, mapping=mapping, eval_types=types)


def parse_data(spec: str, label_map_file: Path | None) -> DataSpec:
    """Resolve a ``--data`` spec and its label map (the card's own, or ``--label-map``)."""
    name = spec.partition(":")[0]
    if label_map_file is not None:
        return DataSpec(spec, name, read_label_map_file(label_map_file))
    if name in CARDS:
        return DataSpec(spec, name, load_label_map(name))
    return DataSpec(spec, name, None)


AssertionPair = tuple[dict[str, bool], dict[str, bool]]
#: A strictly matched mention: its gold corpus type, gold and predicted assertions.
MatchedAssertion = tuple[str, dict[str, bool], dict[str, bool]]


def has_assertions(docs: Sequence[GoldDocument]) -> bool:
    """Whether the gold annotates assertion (BRAT ``POLARITY`` attributes)."""
    return any("POLARITY" in s.attributes for d in docs for s in d.spans)


@dataclass
class _Predictions:
    """What one pass of the pipeline over a corpus gives the scorers."""

    examples: list[tuple[str, list[tuple[int, int, str]], list[tuple[int, int, str]]]]
    pairs: list[MatchedAssertion]
    concepts: dict[str, Concepts]
    abbreviations: list[dict[str, str]]


def _examples(
    docs: Sequence[GoldDocument],
    nlp: Any,
    native: bool,
    progress: Progress | None,
    relabel: Mapping[str, str | None] | None = None,
) -> _Predictions:
    """NER examples per document, (gold, predicted) assertions of strictly matched mentions,
    the (type, MeSH id) concepts of the predicted mentions and each document's abbreviations.

    ``relabel`` maps native labels (a custom head's corpus types) to the gold's mapped types,
    before matching, so assertions and concepts are scored on the same mentions as NER; a
    label it maps to nothing is dropped."""
    from clinnlp.components.linker import abbreviation_map, long_forms_for

    # the linker links a custom head's mentions under no label (their types are the corpus's
    # own); mapped here, they are linked as the pipeline links a mention of that clinnlp type
    linker = nlp.get_pipe("clinnlp_linker").linker if relabel is not None and "clinnlp_linker" in nlp.pipe_names else None
    examples = []
    pairs: list[MatchedAssertion] = []
    concepts: dict[str, Concepts] = {}
    abbreviations: list[dict[str, str]] = []
    for gold_doc, doc in zip(docs, nlp.pipe((d.text for d in docs), batch_size=16)):
        predicted = []
        asserted: dict[tuple[int, int, str], dict[str, bool]] = {}
        found: Concepts = set()
        abbreviation = abbreviation_map(doc)
        for ent in doc.ents:
            label = ent._.clinnlp_native_label.split(":", 1)[1] if native and ent._.clinnlp_native_label else ent.label_
            if relabel is not None:
                mapped = relabel.get(label)
                if not mapped:
                    continue
                label = mapped
            predicted.append((ent.start_char, ent.end_char, label))
            asserted[(ent.start_char, ent.end_char, label)] = dict(ent._.clinnlp_assertion or {})
            codes = ent._.clinnlp_codes or []
            if linker is not None and not codes:
                codes = linker.link(ent.text, label, long_forms_for(ent.text, abbreviation))
            mesh = next((c["code"] for c in codes if c["system"] == CONCEPT_SYSTEM), None)
            if mesh is not None:
                found.add((label, mesh))
        concepts[gold_doc.doc_id] = found
        abbreviations.append(abbreviation)
        gold = [(s.start, s.end, s.label) for s in gold_doc.spans]
        for span in gold_doc.spans:
            match = asserted.get((span.start, span.end, span.label))
            if match is not None:
                pairs.append((span.label, gold_assertion(span), match))
        examples.append((gold_doc.doc_id, gold, predicted))
        if progress is not None:
            progress(1)
    return _Predictions(examples, pairs, concepts, abbreviations)


def custom_head(heads: Mapping[str, Sequence[str]], label_map: LabelMap) -> str | None:
    """The model's head trained on a corpus's own types (not a built-in head such as bc5cdr or
    ncbi): the first whose types include one the label map maps, or None."""
    from clinnlp.ner.labels import BUILTIN_HEADS

    mapped = {t for t, v in label_map.mapping.items() if v}
    return next((name for name, types in heads.items() if name not in BUILTIN_HEADS and mapped & set(types)), None)


def evaluate(
    data: Sequence[DataSpec],
    *,
    model: str | None = None,
    ner: str = "transformer",
    domain: str | None = None,
    split: str = "dev",
    root: Path | None = None,
    device: str = "cpu",
    max_docs: int = 0,
    gold_spans: bool = False,
    assertion_types: Sequence[str] | None = None,
    on_corpus: Callable[[str, int], Progress | None] | None = None,
    head: str | None = None,
) -> dict[str, Any]:
    """Metrics in the ``metrics.json`` shape over all ``data``; with several corpora, types
    are prefixed with the corpus name (``bc5cdr/Disease``; ``brat-2/...`` for a second
    ``brat:`` folder) so they stay apart.

    ``head`` names the model head that tags a corpus given with a label map (default: the
    first custom head whose types the map names; see :func:`custom_head`).

    ``assertion_types`` limits the assertion block to gold mentions of those types (the
    corpus's own with ``gold_spans`` or a model head of the corpus, else clinnlp types);
    None scores every gold mention. ``domain`` (clinical, literature) is the pipeline's kind of
    text where mentions are scored in clinnlp types; None takes each corpus's own (PubMed
    abstracts: literature; see :func:`clinnlp.readers.registry.corpus_domain`)."""
    from clinnlp.model_registry import resolve_model
    from clinnlp.pipeline import load

    if not data:
        raise ConfigError("give at least one --data CORPUS[:PATH]")
    heads = resolve_model(model).heads if ner in ("transformer", "hybrid") else {}
    if head is not None and (ner != "transformer" or head not in heads):
        known = f"the model's heads: {', '.join(heads)}" if heads else "--head needs --ner transformer"
        raise ConfigError(f"--head {head!r}: not a head to score with; {known}")
    all_examples: list[Any] = []
    assertion_pairs: list[AssertionPair] = []
    assertion_data = False
    assertion_known: set[str] = set()
    types: list[str] = []
    per_corpus: dict[str, Any] = {}
    normalization: dict[str, dict[str, Any]] = {"mention_accuracy": {}, "mention_counts": {}, "document_concepts": {}}
    labels = _corpus_labels([item.name for item in data])
    for index, item in enumerate(data):
        docs = load_corpus(item.spec, split=split, root=root)
        if max_docs:
            docs = docs[:max_docs]
        label_map = item.label_map
        if label_map is None:
            raise ConfigError(f"{item.spec}: a generic format needs --label-map FILE mapping its types to clinnlp types")
        raw_docs = docs
        head = CARD_HEADS.get(item.name)
        native = ner == "transformer" and head is not None and head in heads
        custom = (head or custom_head(heads, label_map)) if ner == "transformer" and not native else None
        if native and head is not None:
            nlp = load(ner="transformer", model=model, heads=(head,), native_labels=True, device=device)
            eval_types = list(label_map.eval_types)
        elif custom is not None:
            # a model trained on this corpus's own types: its head tags them, and the label map
            # turns gold and predictions alike into clinnlp types
            nlp = load(ner="transformer", model=model, heads=(custom,), native_labels=True, device=device)
            docs = apply_label_map(docs, label_map)
            eval_types = sorted({t for t in label_map.mapping.values() if t})
        else:
            docs = apply_label_map(docs, label_map)
            eval_types = sorted({t for t in label_map.mapping.values() if t})
            nlp = load(ner=ner, model=model, device=device, domain=domain or corpus_domain(item.name))
        progress = on_corpus(item.spec, len(docs)) if on_corpus else None
        run = _examples(docs, nlp, native or custom is not None, progress, label_map.mapping if custom is not None else None)
        examples, pairs = run.examples, run.pairs
        prefix = f"{labels[index]}/" if len(data) > 1 else ""
        if has_concept_ids(docs) and "clinnlp_linker" in nlp.pipe_names:
            _score_normalization(docs, run, nlp, dict(label_map.mapping) if native else None, prefix, normalization)
        if has_assertions(raw_docs):
            assertion_data = True
            wanted = set(assertion_types) if assertion_types else None
            # gold spans keep the corpus's own types; matched mentions are in the scored types
            assertion_known |= {s.label for d in raw_docs for s in d.spans} if gold_spans else set(eval_types)
            if gold_spans:
                assertion_pairs += _gold_span_pairs(raw_docs, nlp, wanted)
            else:
                assertion_pairs += [(g, p) for label, g, p in pairs if wanted is None or label in wanted]
        per_corpus[item.spec] = score_mentions(examples, types=eval_types)
        all_examples += [(f"{labels[index]}:{d}", _prefixed(g, prefix), _prefixed(p, prefix)) for d, g, p in examples]
        types += [prefix + t for t in eval_types]
    result = score_mentions(all_examples, types=types)
    if not result["docs"]:
        raise ResourceError("the data held no documents to score")
    if normalization["document_concepts"]:
        result["normalization"] = normalization
    if assertion_data and assertion_types and not set(assertion_types) & assertion_known:
        mode = "the corpus's own types, with --gold-spans" if gold_spans else "the scored types, without --gold-spans"
        raise ConfigError(
            f"--assertion-types {', '.join(assertion_types)}: no mention of these types to score; "
            f"types here ({mode}): {', '.join(sorted(assertion_known)) or 'none'}"
        )
    if assertion_data:
        scores = score_assertions(assertion_pairs)
        result["assertion"] = {
            attr: {key: scores[attr][key] for key in ("precision", "recall", "f1", "support")} for attr in SCORED_ATTRIBUTES
        }
    return result


def _score_normalization(
    docs: Sequence[GoldDocument],
    run: _Predictions,
    nlp: Any,
    native_map: dict[str, str | None] | None,
    prefix: str,
    into: dict[str, dict[str, Any]],
) -> None:
    """Add mention accuracy (gold spans) and document concept scores of one corpus to ``into``."""
    types = sorted({span.label for doc in docs for span in doc.spans})
    label_of = {t: native_map.get(t) or "" for t in types} if native_map is not None else {t: t for t in types}
    linker = nlp.get_pipe("clinnlp_linker").linker
    cases = gold_span_cases(docs, run.abbreviations, linker, label_of, CONCEPT_SYSTEM)
    accuracy, counts = mention_accuracy(cases)
    gold = {doc.doc_id: gold_concepts(doc) for doc in docs}
    scores = document_concept_scores(gold, run.concepts, types)
    for type_ in types:
        if type_ in accuracy:
            into["mention_accuracy"][prefix + type_] = accuracy[type_]
            into["mention_counts"][prefix + type_] = counts[type_]
        into["document_concepts"][prefix + type_] = scores[type_]


def _gold_span_pairs(docs: Sequence[GoldDocument], nlp: Any, wanted: set[str] | None) -> list[AssertionPair]:
    """(gold, predicted) assertions of every gold mention, the context rules run on the gold spans."""
    cases = assertion_cases(docs, nlp, sorted(wanted) if wanted else None)
    return [(case.gold, case.predicted) for case in cases]


def _corpus_labels(names: Sequence[str]) -> list[str]:
    """Each ``--data``'s prefix in the scores: its corpus name, ``-2``, ``-3``... added to a
    name given again (two ``brat:`` folders), so their figures stay apart."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return labels


def _prefixed(spans: list[tuple[int, int, str]], prefix: str) -> list[tuple[int, int, str]]:
    return [(s, e, prefix + t) for s, e, t in spans]
