"""A human-readable terminal view of a record: the note with mentions highlighted, then a table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from clinnlp.schema import Assertion, Finding, Medication, Mention, Quantity, Record, duration_phrase

#: Highlight style per mention type; also used for the legend.
STYLES: dict[str, str] = {
    "diagnosis": "bold white on red",
    "medication": "bold black on green",
    "finding": "bold black on cyan",
}


def _assertion_text(assertion: Assertion) -> str:
    flags = [name for name, value in assertion.model_dump().items() if value]
    return ", ".join(flags) or "present"


def _codes_text(mention: Mention) -> str:
    """The first two codes; the JSON output has them all."""
    shown = " ".join(f"{c.system}:{c.code}" for c in mention.codes[:2])
    return shown + (f" +{len(mention.codes) - 2}" if len(mention.codes) > 2 else "")


def _quantity_text(quantity: Quantity | None) -> str:
    if quantity is None:
        return ""
    if quantity.value is None:
        return quantity.text
    value = f"{quantity.value:g}"
    return f"{value} {quantity.unit}" if quantity.unit else value


def _details_text(mention: Mention) -> str:
    """What a reader checks first: a drug's strength, dose, route, frequency, duration and
    status; a finding's kind, value and flag."""
    parts: list[str] = []
    if isinstance(mention, Medication):
        strength, dose = _quantity_text(mention.strength), _quantity_text(mention.dose)
        parts = [strength, dose if dose != strength else "", mention.route or "", mention.form or ""]
        if mention.frequency is not None:
            f = mention.frequency
            parts.append(f"{f.per_day:g}/day" if f.per_day is not None else f.text)
            if f.as_needed:
                parts.append("as needed")
        if mention.duration is not None:
            parts.append(duration_phrase(_quantity_text(mention.duration)))
        parts.append(mention.status or "")
    elif isinstance(mention, Finding):
        parts = [mention.kind if mention.kind != "other" else "", _quantity_text(mention.value)]
        if mention.interpretation:
            parts.append(f"({mention.interpretation})")
    return " · ".join(p for p in parts if p)


def _typed_mentions(record: Record) -> list[tuple[str, Mention]]:
    typed: list[tuple[str, Mention]] = [("diagnosis", m) for m in record.diagnoses]
    typed += [("medication", m) for m in record.medications]
    typed += [("finding", m) for m in record.findings]
    return sorted(typed, key=lambda item: (item[1].start, item[1].end))


def render_record(record: Record, text: str, console: Console) -> None:
    """Print the note with highlighted mentions and a table of mentions with their context."""
    mentions = _typed_mentions(record)
    body = Text(text)
    for kind, mention in mentions:
        body.stylize(STYLES[kind], mention.start, mention.end)
    legend = Text("  ").join(Text(f" {kind} ", style=style) for kind, style in STYLES.items())
    # a rule, not a panel: the note keeps its own line breaks at full terminal width
    console.rule(Text(record.doc_id, style="bold"), align="left")
    console.print(legend)
    console.print(body)

    table = Table(title=f"{len(mentions)} mentions", show_lines=False, expand=True)
    table.add_column("type", no_wrap=True)
    table.add_column("text", ratio=3, overflow="fold")
    table.add_column("offsets", no_wrap=True)
    table.add_column("section", ratio=2, overflow="fold")
    table.add_column("assertion", ratio=2, min_width=10, overflow="fold")
    table.add_column("details", ratio=3, overflow="fold")
    table.add_column("codes", ratio=3, overflow="fold")
    table.add_column("conf.", no_wrap=True, justify="right")
    for kind, mention in mentions:
        table.add_row(
            Text(kind, style=STYLES[kind]),
            mention.text,
            f"{mention.start}-{mention.end}",
            mention.section or "",
            _assertion_text(mention.assertion),
            _details_text(mention),
            _codes_text(mention),
            f"{mention.confidence:.2f}",
        )
    console.print(table)
