"""Run medspaCy's ConText (default rules) on given mentions; executed by medspaCy's own venv.

Imports only the standard library, spaCy and medspaCy (never clinnlp), because medspaCy
pins an older spaCy than clinnlp and lives in a separate virtual environment. Reads the
mentions JSONL written by :mod:`clinnlp.bench.context_vs_medspacy` (one document a line:
``{"doc_id", "text", "mentions": [{"id", "start", "end", "label"}]}``) and writes one
prediction a line: ``{"doc_id", "id", "judged", "is_negated", "is_uncertain",
"is_historical", "is_hypothetical", "is_family"}``.

Pipeline: ``medspacy.load()`` with its default components (medspaCy tokenizer, PyRuSH
sentence splitter, target matcher with no rules, ConText with its default rules). The gold
mentions are set as the targets between the sentence splitter and ConText, each widened to
token bounds (``char_span(..., alignment_mode="expand")``):

* ``--targets group`` (default): ConText reads a span group, so overlapping gold mentions
  are all judged (medspaCy's ``input_span_type="group"``, otherwise identical);
* ``--targets ents``: ``doc.ents``; overlapping mentions cannot all be entities, so
  ``spacy.util.filter_spans`` keeps the longest and the others come back ``judged: false``.

Usage: ``python medspacy_runner.py MENTIONS.jsonl PREDICTIONS.jsonl [--targets group|ents] [--meta META.json]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

ATTRIBUTES = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")
SPAN_GROUP = "gold_mentions"


def _quiet_pyrush() -> None:
    """PyRuSH logs every token at DEBUG through loguru; silence it (it also costs time)."""
    try:
        from loguru import logger
    except ImportError:
        return
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger("PyRuSH").setLevel(logging.WARNING)


def build_pipeline(targets: str) -> Any:
    """``medspacy.load()`` with default components; ConText reads ``targets`` (``group`` or ``ents``)."""
    import medspacy

    nlp = medspacy.load()
    if targets == "group":
        nlp.replace_pipe(
            "medspacy_context",
            "medspacy_context",
            config={"input_span_type": "group", "span_group_name": SPAN_GROUP},
        )
    return nlp


def judge_document(nlp: Any, record: dict[str, Any], targets: str) -> list[dict[str, Any]]:
    """Predictions for the mentions of one document record, in the record's order."""
    from spacy.util import filter_spans

    doc = nlp.make_doc(record["text"])
    before_context = [(name, proc) for name, proc in nlp.pipeline]
    names = [name for name, _ in before_context]
    context_at = names.index("medspacy_context")
    for _, proc in before_context[:context_at]:
        doc = proc(doc)
    spans: list[Any] = []
    for mention in record["mentions"]:
        span = doc.char_span(mention["start"], mention["end"], label=mention["label"], alignment_mode="expand")
        spans.append(span if span is not None and len(span) else None)
    if targets == "group":
        doc.spans[SPAN_GROUP] = [s for s in spans if s is not None]
        judged = [s is not None for s in spans]
    else:
        kept = filter_spans([s for s in spans if s is not None])
        doc.ents = kept
        keys = {(s.start, s.end, s.label_) for s in kept}
        judged = [s is not None and (s.start, s.end, s.label_) in keys for s in spans]
    for _, proc in before_context[context_at:]:
        doc = proc(doc)
    out: list[dict[str, Any]] = []
    for mention, span, ok in zip(record["mentions"], spans, judged):
        row: dict[str, Any] = {"doc_id": record["doc_id"], "id": mention["id"], "judged": ok}
        # span extensions live in doc.user_data keyed by offsets and label, so our Span objects read ConText's values
        target = span if ok else None
        for attr in ATTRIBUTES:
            row[attr] = bool(getattr(target._, attr)) if target is not None else False
        out.append(row)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Read mentions, run ConText, write predictions (and versions to ``--meta``)."""
    parser = argparse.ArgumentParser(description="medspaCy ConText on given mentions")
    parser.add_argument("mentions", type=Path)
    parser.add_argument("predictions", type=Path)
    parser.add_argument("--targets", choices=("group", "ents"), default="group")
    parser.add_argument("--meta", type=Path, default=None, help="write versions and pipeline here (JSON)")
    args = parser.parse_args(argv)
    _quiet_pyrush()
    nlp = build_pipeline(args.targets)
    count = 0
    with args.mentions.open(encoding="utf-8") as src, args.predictions.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.strip():
                for row in judge_document(nlp, json.loads(line), args.targets):
                    dst.write(json.dumps(row) + "\n")
                    count += 1
    if args.meta is not None:
        meta = {
            "medspacy": version("medspacy"),
            "spacy": version("spacy"),
            "pipeline": nlp.pipe_names,
            "tokenizer": type(nlp.tokenizer).__name__,
            "targets": args.targets,
            "mentions": count,
        }
        args.meta.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
