"""``clinnlp extract``: one note in, one structured record out."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from clinnlp.cli.app import app, fail
from clinnlp.errors import InputError
from clinnlp.output import OutputFormat, write_fhir, write_json, write_jsonl, write_omop
from clinnlp.schema import Record

#: Width of ``--format table`` written to a file or a pipe, where no terminal gives one.
TABLE_FILE_WIDTH = 160

EXAMPLES = """
Examples:

  clinnlp extract note.txt                      # one JSON record on stdout

  clinnlp extract a.txt b.txt --format jsonl    # one record per line

  cat note.txt | clinnlp extract -              # read the note from stdin

  clinnlp extract note.txt --format table       # highlighted view for people

  clinnlp extract notes/*.txt --out records.json

  clinnlp extract note.txt --format fhir        # a FHIR R4 Bundle per note

  clinnlp extract a.txt b.txt --format omop     # OMOP NOTE_NLP rows, JSON lines
"""



def _write(records: list[Record], texts: list[str], fmt: OutputFormat, stream: TextIO, several: bool) -> None:
    if fmt is OutputFormat.json:
        if records:
            write_json(records, stream, as_array=several)
    elif fmt is OutputFormat.jsonl:
        write_jsonl(records, stream)
    elif fmt is OutputFormat.fhir:
        if records:
            write_fhir(records, texts, stream, as_array=several)
    elif fmt is OutputFormat.omop:
        write_omop(records, texts, stream)
    else:
        from clinnlp.render import render_record

        tty = stream.isatty() if stream is sys.stdout else False
        # a table written to a file or a pipe has no terminal width: 160 columns, not rich's 80
        # (which wraps each cell to a few letters), unless $COLUMNS says otherwise
        width = None if tty or os.environ.get("COLUMNS") else TABLE_FILE_WIDTH
        console = Console(file=stream, force_terminal=tty, width=width)
        for record, text in zip(records, texts):
            render_record(record, text, console)


def _file_mode(path: Path) -> int:
    """The mode a plain ``open`` would give ``path`` (its own if it exists, else 0o666 less the
    umask): ``mkstemp`` makes 0o600 files, which surprises people sharing a folder."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_atomically(path: Path, records: list[Record], texts: list[str], fmt: OutputFormat, several: bool) -> None:
    """Write to a temporary file beside ``path`` and rename, so a crash never leaves half a file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    except OSError as exc:
        raise InputError(f"{path}: cannot write there ({exc.strerror or exc}); nothing was written") from None
    try:
        os.chmod(tmp, _file_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            _write(records, texts, fmt, stream, several)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_out(out: Path, inputs: list[str]) -> None:
    """Refuse, before any work, an ``--out`` that cannot be written or that is an input note."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.exists():
        raise typer.BadParameter(f"folder {str(folder)!r} does not exist", param_hint="'--out'")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"folder {str(folder)!r} is not writable", param_hint="'--out'")
    target = out.resolve()
    if any(name != "-" and Path(name).resolve() == target for name in inputs):
        raise typer.BadParameter(f"{str(out)!r} is also an input note; write the records to another file", param_hint="'--out'")


@app.command(epilog=EXAMPLES)
def extract(
    inputs: Annotated[
        list[str],
        typer.Argument(metavar="NOTE", help="Note files (UTF-8 text), or '-' to read one note from standard input.", show_default=False),
    ],
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", case_sensitive=False, help="json: one object (an array for several inputs); jsonl: one per line; table: a view for people; fhir: one FHIR R4 Bundle per note (an array for several inputs); omop: OMOP CDM NOTE_NLP rows as JSON lines."),
    ] = OutputFormat.json,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here instead of standard output.", dir_okay=False, writable=True),
    ] = None,
    ner: Annotated[
        str,
        typer.Option("--ner", help="NER back-end: hybrid (the fine-tuned model, then the lexicon), transformer, or lexicon (dictionary matching, no model, fastest)."),
    ] = "hybrid",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="NER model: a packaged name (see 'clinnlp models'), a model folder, or a hub id."),
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Kind of text: clinical (notes; the default) or literature (PubMed abstracts: adds the model's BC5CDR chemical and disease tagger). Picks which of the model's taggers become mentions.")] = None,
) -> int:
    """Extract a structured record (diagnoses, medications, findings) from each note.

    Inputs that cannot be read (missing, a folder, empty, binary, not UTF-8) are reported
    on stderr, one line each; the others are still processed and written, and the exit
    code is 1 when any input failed.

    Offsets are character offsets into the note's text as decoded: a UTF-8 byte-order mark
    at the start of a file is not part of it, so offsets count from the character after it.
    """
    from clinnlp.pipeline import NER_BACKENDS, check_options
    from clinnlp.runner import extract_inputs

    if ner not in NER_BACKENDS:
        raise typer.BadParameter(f"{ner!r} is not one of {', '.join(map(repr, NER_BACKENDS))}", param_hint="'--ner'")
    check_options(ner, domain=domain, model=model)
    if out is not None:
        _check_out(out, inputs)

    records: list[Record] = []
    texts: list[str] = []
    failures = 0
    outcomes = extract_inputs(inputs, ner=ner, model=model, domain=domain)
    if len(inputs) > 3 and sys.stderr.isatty():
        from rich.progress import track

        outcomes = track(outcomes, total=len(inputs), description="extracting", console=Console(stderr=True), transient=True)
    for outcome in outcomes:
        if outcome.error is not None:
            fail(str(outcome.error))
            failures += 1
        elif outcome.record is not None and outcome.note is not None:
            records.append(outcome.record)
            texts.append(outcome.note.text)

    several = len(inputs) > 1
    if out is None:
        _write(records, texts, fmt, sys.stdout, several)
    elif records:
        _write_atomically(out, records, texts, fmt, several)
    return 1 if failures else 0
