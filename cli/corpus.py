"""``clinnlp corpus``: look at annotated corpora before training or evaluating on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from clinnlp.cli.app import app

corpus_app = typer.Typer(help="Inspect annotated corpora (BC5CDR, NCBI-disease, MACCROBAT, PHEE, ADE, or generic formats).")
app.add_typer(corpus_app, name="corpus")

EXAMPLES = """
Examples:

  clinnlp corpus stats bc5cdr --split train          # a corpus card, from ../shared/corpora

  clinnlp corpus stats ncbi-disease:/data/ncbi/devel.tsv

  clinnlp corpus stats brat:/data/my_notes --json   # any BRAT folder
"""


@corpus_app.command(epilog=EXAMPLES)
def stats(
    spec: Annotated[str, typer.Argument(metavar="CORPUS[:PATH]", help="CORPUS or CORPUS:PATH; CORPUS is a card name (bc5cdr, ncbi-disease, maccrobat, phee, ade) or a format (pubtator, iob, brat).")],
    split: Annotated[str, typer.Option(help="Split of a corpus card: train or dev (test splits are held back). A BRAT folder with a splits.json (inside it or beside it, as MACCROBAT's) is cut by it too; other formats with a path (pubtator:FILE) read the whole path.")] = "dev",
    root: Annotated[Path | None, typer.Option(help="Folder holding the shared corpora (default: $CLINNLP_CORPORA or ../shared/corpora).", file_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print documents, characters and mention counts per type of a corpus."""
    from clinnlp.readers.registry import load_corpus, split_title
    from clinnlp.readers.stats import corpus_stats

    result = corpus_stats(load_corpus(spec, split=split, root=root))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"{spec}{split_title([spec], split)}", caption=f"{result['docs']} documents, {result['chars']} characters")
    table.add_column("type")
    table.add_column("mentions", justify="right")
    by_type: dict[str, int] = result["spans_by_type"]  # type: ignore[assignment]
    for label, count in by_type.items():
        table.add_row(label, str(count))
    table.add_row("[bold]all[/bold]", f"[bold]{result['spans']}[/bold]")
    Console().print(table)
