"""``clinnlp batch``: whole note archives in, one record per note out, resumable."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from clinnlp.cli.app import app, fail

EXAMPLES = """
Examples:

  clinnlp batch notes/ --out records.jsonl                 # a folder tree of .txt (id = relative path)

  clinnlp batch NOTEEVENTS.csv --out notes.parquet          # MIMIC-III: ROW_ID id, TEXT text

  clinnlp batch notes.jsonl --id-field note_id --text-field body --out records.jsonl

  clinnlp batch bc5cdr.pubtator --out abstracts.jsonl --ner lexicon

  cat notes.jsonl | clinnlp batch - --out records.jsonl

  clinnlp batch notes/ --out records.jsonl --device cuda --batch-tokens 32768

  clinnlp batch notes/ --out records.jsonl --engine ray --ray-address auto

A folder's document ids are paths relative to that folder, so two folders given side by
side can hold the same id (the second is reported as a duplicate); give their common
parent folder instead.

Run the same command again after a crash or kill: it skips the ids already in the output
and appends the rest; nothing is duplicated. A done note whose text has changed since its
record was written is not skipped silently: it is listed in OUTPUT.errors.jsonl (its record
is stale; write to a new --out to redo it). Documents listed in OUTPUT.errors.jsonl are
tried again (fix them, or raise --max-doc-bytes, and re-run); a re-run must keep the --ner,
--model and --domain the output was made with.

Beside OUTPUT: OUTPUT.errors.jsonl ({"doc_id", "reason"} per document that could not be
processed) and OUTPUT.summary.json (counts, mentions per type, time, peak memory). For a
database URL they go beside a SQLite file (x.db.errors.jsonl), else into the current folder
as clinnlp-batch-DATABASE.errors.jsonl / .summary.json.
"""


@app.command(epilog=EXAMPLES)
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(metavar="INPUT", 
            help="Folders of .txt notes, .jsonl, .csv (MIMIC NOTEEVENTS too), .pubtator files, or '-' for JSONL on stdin.",
            show_default=False,
        ),
    ],
    out: Annotated[
        str,
        typer.Option("--out", "-o", help="Output: .jsonl (one record per line), .parquet, .ndjson/.fhir.json (FHIR), or a database URL (sqlite:///x.db, postgresql://...).", show_default=False),
    ],
    input_format: Annotated[
        str | None,
        typer.Option("--input-format", help="Force the input format: folder, jsonl, csv, pubtator, omop-note (INPUT is then a database URL). Default: from the suffix."),
    ] = None,
    id_field: Annotated[str, typer.Option(help="JSONL key / CSV column of the document id. CSV: left at 'id', a MIMIC ROW_ID or note_id column is used when there is no 'id'.")] = "id",
    text_field: Annotated[str, typer.Option(help="JSONL key / CSV column of the note text. CSV: left at 'text', a MIMIC TEXT column is used.")] = "text",
    query: Annotated[str | None, typer.Option(help="omop-note input: an SQL query or table name instead of the NOTE table.")] = None,
    ner: Annotated[str, typer.Option(help="NER back-end: hybrid, transformer, or lexicon (no model, fastest).")] = "hybrid",
    model: Annotated[str | None, typer.Option("--model", "-m", help="NER model: packaged name, folder or hub id.")] = None,
    domain: Annotated[str | None, typer.Option(help="Kind of text: clinical (notes) or literature (PubMed abstracts: adds the model's BC5CDR chemical and disease tagger). Picks which of the model's taggers become mentions. Default: literature when every INPUT is PubTator, else clinical.")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU when torch sees one), cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on GPUs and on CPUs with AVX-512 BF16, else fp32), fp32, bf16, or int8 (CPU: dynamic int8 Linear layers; within 0.1 F1 point of fp32).")] = "auto",
    batch_tokens: Annotated[int, typer.Option(help="Token budget of one forward pass (rows x longest window). 0: by device (1024 on CPU, where small passes stay in cache; 16384 on a GPU, larger until memory runs out).", min=0)] = 0,
    window_docs: Annotated[int, typer.Option(help="Documents read ahead and sorted by length together (less padding; memory grows with it).", min=1)] = 256,
    workers: Annotated[int, typer.Option(help="Pipeline processes, each with its own model (1 = one process, with reading and writing overlapped in threads).", min=1)] = 1,
    max_doc_bytes: Annotated[int, typer.Option(help="Documents larger than this (UTF-8 bytes) go to the errors file.", min=1)] = 1_000_000,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first document that cannot be processed (records before it are kept).")] = False,
    engine: Annotated[str, typer.Option(help="local, or ray (Ray Data actors; pip install 'clinnlp[ray]').")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).")] = None,
) -> int:
    """Extract records from whole note archives, streaming, resumable, one record per note in input order.

    Bad documents (empty, binary, not UTF-8, over --max-doc-bytes) are listed in
    OUTPUT.errors.jsonl and the run goes on; the exit code is 0 when all went through,
    2 when some documents failed, 1 when the run itself failed.
    """
    from clinnlp.batch.engine import EngineSettings
    from clinnlp.batch.progress import BatchProgress, summary_table
    from clinnlp.batch.protocols import SourceOptions
    from clinnlp.batch.run import BatchAborted, BatchJob, run_batch
    from clinnlp.errors import ConfigError

    settings = EngineSettings(
        ner=ner,
        model=model,
        device=device,
        precision=precision,
        batch_tokens=batch_tokens,
        max_doc_bytes=max_doc_bytes,
        domain=domain,
    )
    job = BatchJob(
        inputs=inputs,
        out=out,
        settings=settings,
        options=SourceOptions(id_field=id_field, text_field=text_field, query=query),
        input_format=input_format,
        workers=workers,
        fail_fast=fail_fast,
        window_docs=window_docs,
    )
    show = sys.stderr.isatty() if progress is None else progress
    console = Console(stderr=True)
    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {engine!r}; allowed: local, ray")
    try:
        if engine == "ray":
            from clinnlp.batch.ray_engine import run_batch_ray

            summary = run_batch_ray(job, address=ray_address)
        elif show:
            with BatchProgress(console) as bar:
                summary = run_batch(job, progress=bar)
        else:
            summary = run_batch(job)
    except BatchAborted as exc:
        fail(f"stopped at the first bad document: {exc}")
        return 2  # a document failed, as without --fail-fast; 1 is for a run that failed itself
    data = summary.as_dict()
    if show:
        console.print(summary_table(data))
    else:
        typer.echo(json.dumps({k: data[k] for k in ("documents", "skipped_already_done", "errors", "seconds")}), err=True)
    return 2 if summary.errors else 0
