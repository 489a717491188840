"""``clinnlp evaluate``: score a model and the full pipeline on annotated corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from clinnlp.cli.app import app

EXAMPLES = """
Examples:

  clinnlp evaluate --data bc5cdr --output runs/eval/bc5cdr.json

  clinnlp evaluate --model runs/my-model/best --data ncbi-disease --data bc5cdr --output m.json

  clinnlp evaluate --data brat:/data/my_notes --label-map my_map.json --ner hybrid --output m.json
"""


@app.command(epilog=EXAMPLES)
def evaluate(
    data: Annotated[list[str], typer.Option("--data", "-d", help="CORPUS or CORPUS:PATH (repeatable): a corpus card (bc5cdr, ncbi-disease, maccrobat, phee, ade) or a format (pubtator, iob, brat).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write metrics.json; a .md report and a .png chart go beside it.", dir_okay=False)],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Packaged model name, model folder or hub id (default: ner-default).")] = None,
    label_map: Annotated[Path | None, typer.Option("--label-map", help="JSON mapping the corpus's types to DIAGNOSIS/MEDICATION/FINDING (needed for generic formats).", exists=True, dir_okay=False)] = None,
    ner: Annotated[str, typer.Option("--ner", help="transformer (the model alone; comparable with published figures), hybrid or lexicon.")] = "transformer",
    domain: Annotated[str | None, typer.Option(help="With --ner hybrid or a generic format: the kind of text, clinical or literature, which picks the model taggers that become mentions. Default: each corpus's own (literature for bc5cdr, ncbi-disease and pubtator; clinical for the rest).")] = None,
    split: Annotated[str, typer.Option(help="Split of corpus cards: dev (default) or train. Test splits are held back. A BRAT folder with a splits.json (inside it or beside it, as MACCROBAT's) is cut by it too; other formats with a path (pubtator:FILE) read the whole path.")] = "dev",
    root: Annotated[Path | None, typer.Option(help="Folder of the shared corpora (default: $CLINNLP_CORPORA or ../shared/corpora).", file_okay=False)] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    max_docs: Annotated[int, typer.Option(help="Score only the first N documents of each corpus (0 = all); for quick checks.", min=0)] = 0,
    gold_spans: Annotated[bool, typer.Option("--gold-spans", help="Score assertion on the gold mentions themselves, so NER errors don't blur it.")] = False,
    head: Annotated[str | None, typer.Option(help="With --label-map: the model head trained on this corpus's types (default: the first custom head whose types the map names); see clinnlp models.")] = None,
    assertion_types: Annotated[str | None, typer.Option(help="Comma-separated types whose gold mentions the assertion block covers (default: all).")] = None,
) -> None:
    """Run the pipeline on each corpus's raw text and score its mentions (strict and lenient).

    metrics.json has the shape {"docs", "strict": {"micro", "by_type"}, "lenient": {...}}, each
    with precision, recall, f1, tp, fp and fn. Corpora with assertion annotations (BRAT
    POLARITY attributes, as in MACCROBAT) add an "assertion" block: per attribute precision,
    recall, f1 and support. Corpora whose mentions carry concept ids (BC5CDR's MeSH ids) add a
    "normalization" block: {"mention_accuracy": {TYPE: x}, "mention_counts": {...},
    "document_concepts": {TYPE: {"precision", "recall", "f1", "tp", "fp", "fn"}}}, i.e. the
    linker's accuracy on the gold spans and the BioCreative V CDR document-level concept scores
    of the full pipeline. A Markdown report and a per-type bar chart are written beside it.
    """
    from clinnlp.evaluation import evaluate as run_evaluation
    from clinnlp.evaluation import parse_data
    from clinnlp.pipeline import check_options
    from clinnlp.readers.registry import split_title
    from clinnlp.report import write_report

    check_options(ner, device, domain)
    specs = [parse_data(spec, label_map) for spec in data]
    output.parent.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    ) as bar:

        def on_corpus(spec: str, total: int):  # type: ignore[no-untyped-def]
            task = bar.add_task(spec, total=total)
            return lambda n: bar.advance(task, n)

        metrics = run_evaluation(
            specs,
            model=model,
            ner=ner,
            domain=domain,
            split=split,
            root=root,
            device=device,
            max_docs=max_docs,
            gold_spans=gold_spans,
            assertion_types=[t.strip() for t in assertion_types.split(",") if t.strip()] if assertion_types else None,
            head=head,
            on_corpus=on_corpus,
        )
    output.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    extra = write_report(metrics, output, f"clinnlp evaluate: {', '.join(data)}{split_title(data, split)}")

    table = Table(title=f"{metrics['docs']} documents{split_title(data, split)}")
    for column in ("type", "strict P", "strict R", "strict F1", "lenient F1"):
        table.add_column(column, justify="right" if column != "type" else "left")
    for name, m in [("micro", metrics["strict"]["micro"]), *metrics["strict"]["by_type"].items()]:
        lenient = metrics["lenient"]["micro"] if name == "micro" else metrics["lenient"]["by_type"].get(name, {})
        table.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", f"{lenient.get('f1', 0.0):.4f}")
    Console().print(table)
    normalization = metrics.get("normalization", {})
    for type_, m in normalization.get("document_concepts", {}).items():
        accuracy = normalization.get("mention_accuracy", {}).get(type_)
        shown = f"{accuracy:.4f}" if accuracy is not None else "-"
        typer.echo(f"normalization {type_}: mention accuracy {shown}; document concepts P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f}")
    for attr, m in metrics.get("assertion", {}).items():
        typer.echo(f"assertion {attr}: P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f} (support {m['support']})")
    typer.echo(f"wrote {output} and {', '.join(str(p) for p in extra)}")
