"""Entry point of the ``clinnlp`` command: the app with its global options and commands."""

from __future__ import annotations

from typing import Annotated

import typer

from clinnlp import __version__
from clinnlp.cli import batch as _batch  # noqa: F401  registers the command
from clinnlp.cli import corpus as _corpus  # noqa: F401  registers the command
from clinnlp.cli import evaluate as _evaluate  # noqa: F401  registers the command
from clinnlp.cli import extract as _extract  # noqa: F401  registers the command
from clinnlp.cli import lookup as _lookup  # noqa: F401  registers the command
from clinnlp.cli import models as _models  # noqa: F401  registers the command
from clinnlp.cli import schema as _schema  # noqa: F401  registers the command
from clinnlp.cli import train as _train  # noqa: F401  registers the command
from clinnlp.cli.app import app


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"clinnlp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """Extract diagnoses, medications and findings from clinical notes into structured records.

    Everything runs locally: no note text leaves this machine or is written to a log.
    """


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
