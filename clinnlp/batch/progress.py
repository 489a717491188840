"""The live view of a batch run: a rich progress bar, and the closing summary table."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text


class _RateColumn(ProgressColumn):
    """documents/s and tokens/s since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("")
        docs = task.completed / elapsed
        tokens = task.fields.get("tokens", 0) / elapsed
        return Text(f"{docs:,.1f} docs/s  {tokens:,.0f} tok/s", style="progress.data.speed")


class BatchProgress:
    """Starts with an unknown total (a spinner-like bar), then shows ETA once one is known."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None
        self.tokens = 0

    def __enter__(self) -> BatchProgress:
        self.progress.start()
        self.task = self.progress.add_task("batch", total=None, tokens=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, total: int | None) -> None:
        """Called once the model is loaded and the inputs are open: the rates start here."""
        self.progress.reset(self.task, total=total, tokens=0)

    def advance(self, docs: int, tokens: int) -> None:
        self.tokens += tokens
        self.progress.update(self.task, advance=docs, tokens=self.tokens)


def summary_table(summary: dict[str, Any]) -> Table:
    """The closing summary (the same figures as ``OUTPUT.summary.json``)."""
    table = Table(title="clinnlp batch", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("documents written", f"{summary['documents']:,}")
    table.add_row("already done (skipped)", f"{summary['skipped_already_done']:,}")
    table.add_row("errors", f"{summary['errors']:,}")
    for name, count in summary["mentions"].items():
        table.add_row(f"mentions: {name}", f"{count:,}")
    table.add_row("time", time.strftime("%H:%M:%S", time.gmtime(summary["seconds"])) + f" ({summary['seconds']:.1f} s)")
    table.add_row("model loading", f"{summary['load_seconds']:.1f} s")
    table.add_row("documents/s", f"{summary['documents_per_second']:,.2f}")
    table.add_row("tokens/s", f"{summary['tokens_per_second']:,.0f}")
    table.add_row("peak memory", f"{summary['peak_rss_mb']:,.0f} MB")
    return table
