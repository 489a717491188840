"""``clinnlp models``: list the NER models available without a download."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from clinnlp.cli.app import app


@app.command(epilog="Examples:\n\n  clinnlp models\n\n  clinnlp extract note.txt --model ner-default")
def models() -> None:
    """List the packaged NER models, their base encoder and heads (label sets)."""
    from clinnlp.model_registry import DEFAULT_MODEL, packaged_models

    table = Table(title="packaged NER models (any model folder or hub id also works with --model)")
    for column in ("name", "base", "heads", "weights", "path"):
        table.add_column(column, overflow="fold")
    for info in packaged_models():
        heads = ", ".join(f"{h} ({len(types)} type{'s' if len(types) != 1 else ''})" for h, types in info.heads.items())
        name = info.name + (" (default)" if info.name == DEFAULT_MODEL else "")
        table.add_row(name, info.base, heads, "LoRA adapter" if info.lora else "full encoder", str(info.path))
    Console().print(table)
    if not table.row_count:
        typer.echo("no packaged models found", err=True)
