"""Benchmark: clinnlp's context rules against medspaCy's ConText on the same gold mentions.

Both systems judge exactly the same gold mentions (default types: MACCROBAT
``Disease_disorder`` and ``Sign_symptom``) of the same documents, so the figures compare
the assertion rules alone, not NER. medspaCy pins an older spaCy than clinnlp, so it runs
in its own virtual environment (``.venv-medspacy``, created on first use) through the
standalone :mod:`clinnlp.bench.medspacy_runner`, which talks to this module through JSONL.

Gold from BRAT ``POLARITY`` is mapped by :func:`clinnlp.assertion_eval.gold_assertion`:
negated = ``NEG`` (``MAYBE_NEG`` is *not* negated); uncertain = ``UNCERTAIN``,
``MAYBE_POS`` or ``MAYBE_NEG``. Only negated and uncertain are scored (MACCROBAT does not
annotate historical, hypothetical or family); how often each system sets those is reported.

Run: ``python -m clinnlp.bench.context_vs_medspacy [--venv .venv-medspacy] [--split dev]
[--types Disease_disorder,Sign_symptom]``; the table is also written as JSON to
``runs/bench/context_vs_medspacy.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language

from clinnlp.assertion_eval import DEFAULT_TYPES, RESOLVED_AS_HISTORICAL, SCORED_ATTRIBUTES, gold_assertion, layout_doc
from clinnlp.assertion_metrics import ASSERTION_ATTRIBUTES, score_assertions
from clinnlp.components.context import assert_spans
from clinnlp.readers.types import GoldDocument

RUNNER = Path(__file__).resolve().with_name("medspacy_runner.py")
DEFAULT_VENV = Path(".venv-medspacy")
#: The medspaCy release this benchmark was checked with (it brings spaCy 3.7.5).
MEDSPACY_SPEC = "medspacy==1.3.1"
DEFAULT_OUT = Path("runs/bench/context_vs_medspacy.json")
#: medspaCy's span attribute for each clinnlp assertion attribute.
MEDSPACY_ATTRIBUTES = {
    "negated": "is_negated",
    "uncertain": "is_uncertain",
    "historical": "is_historical",
    "hypothetical": "is_hypothetical",
    "family": "is_family",
}

Key = tuple[str, str]  # (doc_id, mention id)


@dataclass(frozen=True)
class Mention:
    """One gold mention to judge: where it is, its POLARITY and the gold assertion it maps to."""

    doc_id: str
    id: str
    start: int
    end: int
    label: str
    text: str
    polarity: str
    gold: dict[str, bool]

    @property
    def key(self) -> Key:
        """``(doc_id, id)``: how predictions are matched back to the mention."""
        return (self.doc_id, self.id)


def gold_mentions(docs: Iterable[GoldDocument], types: Sequence[str] | None) -> list[Mention]:
    """The gold mentions of ``types`` (None: all), in document order, with their mapped gold.

    A mention's id is its BRAT id (``T12``), else its index in the document; a
    discontinuous mention is judged over its outer bounds, as in :mod:`clinnlp.assertion_eval`.
    """
    wanted = set(types) if types else None
    mentions: list[Mention] = []
    for doc in docs:
        for index, span in enumerate(doc.spans):
            if wanted is None or span.label in wanted:
                mentions.append(
                    Mention(
                        doc_id=doc.doc_id,
                        id=span.id or f"#{index}",
                        start=span.start,
                        end=span.end,
                        label=span.label,
                        text=span.text,
                        polarity=span.attributes.get("POLARITY", ""),
                        gold=gold_assertion(span),
                    )
                )
    return mentions


def export_mentions(docs: Sequence[GoldDocument], mentions: Sequence[Mention], path: Path) -> int:
    """Write the runner's input JSONL (one document a line, texts and mention char spans); returns lines written."""
    by_doc: dict[str, list[Mention]] = {}
    for mention in mentions:
        by_doc.setdefault(mention.doc_id, []).append(mention)
    lines = 0
    with path.open("w", encoding="utf-8") as out:
        for doc in docs:
            if doc.doc_id in by_doc:
                record = {
                    "doc_id": doc.doc_id,
                    "text": doc.text,
                    "mentions": [
                        {"id": m.id, "start": m.start, "end": m.end, "label": m.label, "polarity": m.polarity, "gold": m.gold}
                        for m in by_doc[doc.doc_id]
                    ],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                lines += 1
    return lines


def read_predictions(path: Path) -> dict[Key, dict[str, bool]]:
    """The runner's predictions of the mentions it judged, as clinnlp assertion dicts."""
    predictions: dict[Key, dict[str, bool]] = {}
    with path.open(encoding="utf-8") as src:
        for line in src:
            if line.strip():
                row = json.loads(line)
                if row.get("judged", True):
                    predictions[(row["doc_id"], row["id"])] = {a: bool(row.get(m, False)) for a, m in MEDSPACY_ATTRIBUTES.items()}
    return predictions


def ensure_medspacy_venv(venv: Path, spec: str = MEDSPACY_SPEC) -> Path:
    """The venv's python, creating the venv and installing ``spec`` first when medspaCy is missing."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import medspacy"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with {spec} (needs PyPI)...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec], check=True)
    return python


def run_medspacy(python: Path, mentions_path: Path, predictions_path: Path, targets: str = "group") -> dict[str, Any]:
    """Run the standalone runner with medspaCy's python; returns its metadata (versions, pipeline)."""
    meta_path = predictions_path.with_suffix(".meta.json")
    command = [str(python), str(RUNNER), str(mentions_path), str(predictions_path), "--targets", targets, "--meta", str(meta_path)]
    subprocess.run(command, check=True)
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta


def clinnlp_predictions(
    docs: Sequence[GoldDocument],
    mentions: Sequence[Mention],
    nlp: Language,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> dict[Key, dict[str, bool]]:
    """clinnlp's assertion of each mention it can place on tokens (layout components + :func:`assert_spans`)."""
    by_doc: dict[str, list[Mention]] = {}
    for mention in mentions:
        by_doc.setdefault(mention.doc_id, []).append(mention)
    predictions: dict[Key, dict[str, bool]] = {}
    for gold_doc in docs:
        wanted = by_doc.get(gold_doc.doc_id)
        if not wanted:
            continue
        doc = layout_doc(gold_doc.text, nlp)
        placed = [(m, doc.char_span(m.start, m.end, alignment_mode="expand")) for m in wanted]
        placed = [(m, s) for m, s in placed if s is not None and len(s)]
        for (mention, _), assertion in zip(placed, assert_spans(doc, [s for _, s in placed], aliases), strict=True):
            predictions[mention.key] = dict(assertion)
    return predictions


def compare(
    mentions: Sequence[Mention], systems: Mapping[str, Mapping[Key, Mapping[str, bool]]]
) -> dict[str, Any]:
    """Score every system on the mentions all of them judged; per system, negated/uncertain metrics and flag counts."""
    common = [m for m in mentions if all(m.key in preds for preds in systems.values())]
    report: dict[str, Any] = {
        "mentions": len(common),
        "gold_mentions": len(mentions),
        "unjudged": {name: sum(m.key not in preds for m in mentions) for name, preds in systems.items()},
        "gold_positives": {a: sum(m.gold[a] for m in common) for a in SCORED_ATTRIBUTES},
        "systems": {},
    }
    for name, preds in systems.items():
        metrics = score_assertions((m.gold, preds[m.key]) for m in common)
        report["systems"][name] = {
            "metrics": {a: metrics[a] for a in SCORED_ATTRIBUTES},
            "flagged": {a: sum(bool(preds[m.key].get(a)) for m in common) for a in ASSERTION_ATTRIBUTES},
        }
    return report


def format_table(report: Mapping[str, Any]) -> str:
    """A side-by-side text table of the report: one row per system and attribute."""
    lines = [
        f"{report['mentions']} mentions judged by every system (of {report['gold_mentions']} gold; "
        + ", ".join(f"{n} unjudged by {s}" for s, n in report["unjudged"].items())
        + ")",
        f"{'attribute':<10} {'system':<10} {'P':>6} {'R':>6} {'F1':>6} {'support':>8} {'tp':>5} {'fp':>5} {'fn':>5}",
    ]
    for attr in SCORED_ATTRIBUTES:
        for name, result in report["systems"].items():
            m = result["metrics"][attr]
            lines.append(
                f"{attr:<10} {name:<10} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} "
                f"{m['support']:>8} {m['tp']:>5} {m['fp']:>5} {m['fn']:>5}"
            )
    flagged = "; ".join(
        f"{name}: " + ", ".join(f"{a} {n}" for a, n in result["flagged"].items()) for name, result in report["systems"].items()
    )
    lines.append(f"mentions flagged (unscored attributes too): {flagged}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run both systems on the gold mentions of one MACCROBAT split; print and save the table."""
    import clinnlp
    from clinnlp.readers import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="medspaCy's virtual environment (created if missing)")
    parser.add_argument("--medspacy", default=MEDSPACY_SPEC, help="pip requirement installed into a new venv")
    parser.add_argument("--corpus", default="maccrobat", help="a corpus spec with POLARITY gold (load_corpus)")
    parser.add_argument("--split", default="dev", help="a split, or several joined by commas (train,dev: all 160 MACCROBAT documents)")
    parser.add_argument("--types", default=",".join(DEFAULT_TYPES), help="comma-separated gold types; 'all' for every type")
    parser.add_argument("--targets", choices=("group", "ents"), default="group", help="how medspaCy receives the mentions (see medspacy_runner)")
    parser.add_argument("--resolved-as-historical", action="store_true", help="clinnlp: score 'resolved' findings historical only, not negated")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    args = parser.parse_args(argv)

    types = None if args.types == "all" else tuple(t for t in args.types.split(",") if t)
    docs = [doc for split in args.split.split(",") for doc in load_corpus(args.corpus, split=split)]
    mentions = gold_mentions(docs, types)
    python = ensure_medspacy_venv(args.venv, args.medspacy)
    with tempfile.TemporaryDirectory(prefix="clinnlp-bench-") as tmp:
        mentions_path, predictions_path = Path(tmp) / "mentions.jsonl", Path(tmp) / "medspacy.jsonl"
        export_mentions(docs, mentions, mentions_path)
        started = time.perf_counter()
        meta = run_medspacy(python, mentions_path, predictions_path, args.targets)
        medspacy_seconds = time.perf_counter() - started
        medspacy = read_predictions(predictions_path)
    started = time.perf_counter()
    aliases = RESOLVED_AS_HISTORICAL if args.resolved_as_historical else None
    ours = clinnlp_predictions(docs, mentions, clinnlp.load(ner="lexicon"), aliases)
    clinnlp_seconds = time.perf_counter() - started

    report = compare(mentions, {"clinnlp": ours, "medspacy": medspacy})
    report["setup"] = {
        "corpus": args.corpus,
        "split": args.split,
        "documents": len({m.doc_id for m in mentions}),
        "types": list(types) if types else "all",
        "gold_mapping": "negated = NEG; uncertain = UNCERTAIN | MAYBE_POS | MAYBE_NEG (clinnlp.assertion_eval)",
        "clinnlp_aliases": aliases,
        "medspacy": meta,
        "seconds": {"clinnlp": round(clinnlp_seconds, 2), "medspacy": round(medspacy_seconds, 2)},
    }
    print(f"{args.corpus} {args.split}: {report['setup']['documents']} documents, types {args.types}")
    print(f"medspaCy {meta['medspacy']} (spaCy {meta['spacy']}, pipeline {', '.join(meta['pipeline'])}, targets {args.targets})")
    print(format_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
