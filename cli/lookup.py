"""``clinnlp lookup``: find the codes a clinical term maps to in the packaged lexicon."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from clinnlp.cli.app import app

EXAMPLES = (
    "Examples:\n\n"
    '  clinnlp lookup CHF\n\n'
    '  clinnlp lookup "congestive heart failure" --system ICD-10-CM\n\n'
    '  clinnlp lookup "congestive hart failure" --top 5   (misspellings match fuzzily)'
)


@app.command(epilog=EXAMPLES)
def lookup(
    term: Annotated[str, typer.Argument(metavar="TERM", help="The term to look up, e.g. 'CHF' or 'congestive heart failure'.")],
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            "-s",
            help="Only codes of this system (case-insensitive): ICD-10-CM, SNOMED CT, UMLS, MeSH, DOID, HPO, LOINC, DrugBank.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Show at most this many codes.")] = 10,
) -> None:
    """Look a term up in the packaged lexicon: exact, then case/plural-folded, then fuzzy matches."""
    from clinnlp.linking.lookup import lookup as run_lookup

    if not term.strip():
        raise typer.BadParameter("the term is empty", param_hint="TERM")
    candidates = run_lookup(term, system=system, top=top)
    if not candidates:
        where = f" in {system}" if system else ""
        typer.echo(f"clinnlp: no codes found for {term!r}{where}", err=True)
        raise typer.Exit(1)
    table = Table(title=f"codes for {term!r}" + (f" ({system})" if system else ""))
    for column in ("rank", "system", "code", "display", "score", "matched term", "how"):
        table.add_column(column, overflow="fold", justify="right" if column in ("rank", "score") else "left")
    for rank, c in enumerate(candidates, start=1):
        table.add_row(str(rank), c.system, c.code, c.display or "-", f"{c.score:.3f}", c.matched_term, c.how)
    Console().print(table)
