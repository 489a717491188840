"""``clinnlp train``: fine-tune the transformer NER from a TOML config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clinnlp.cli.app import app

EXAMPLES = """
Examples:

  clinnlp train --config training/configs/default.toml

  clinnlp train --config training/configs/default.toml --output runs/mine epochs=3 lr=5e-4

  clinnlp train --config training/configs/default.toml corpora=bc5cdr max_train_docs=100
"""


@app.command(epilog=EXAMPLES)
def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="TOML training config (see training/configs/).", exists=True, dir_okay=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run folder (overrides the config's output).", file_okay=False)] = None,
    overrides: Annotated[list[str] | None, typer.Argument(metavar="KEY=VALUE", help="key=value settings that override the config, dotted for tables (lora.r=8).", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Train into a run folder that already holds files, replacing its best/ and last/ (refused otherwise).")] = False,
) -> None:
    """Fine-tune the multi-head NER on the corpora the config names, with early stopping on dev.

    The run folder gets best/ and last/ checkpoints (safetensors), metrics.jsonl and
    learning_curves.png. Runs on CPU, or on one GPU with bf16 where supported.
    """
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    from clinnlp.ner.labels import DEFAULT_MIN_SCORE
    from clinnlp.training.config import load_config
    from clinnlp.training.trainer import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False, console=Console(stderr=True))])

    settings = list(overrides or [])
    if output is not None:
        settings.append(f"output={output}")
    if overwrite:
        settings.append("overwrite=true")
    result = run_training(load_config(config, settings))
    typer.echo(
        f"best dev F1 {result.best_f1:.4f} (epoch {result.best_epoch}; {result.best_f1_min_score:.4f} without the "
        f"mentions under the {DEFAULT_MIN_SCORE} score cut-off that extract and evaluate apply); model in {result.best_dir}"
    )
