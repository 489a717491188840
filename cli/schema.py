"""``clinnlp schema``: print the JSON Schema every record validates against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from clinnlp.cli.app import app
from clinnlp.schema import record_json_schema


@app.command(epilog="Examples:\n\n  clinnlp schema > record.schema.json\n\n  clinnlp schema --out record.schema.json")
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the schema to this file.", dir_okay=False)] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of the records clinnlp writes."""
    text = json.dumps(record_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
