"""A human-readable evaluation report beside ``metrics.json``: a Markdown table and a bar chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(metrics: dict[str, Any], out_json: Path, title: str) -> list[Path]:
    """Write ``<stem>.md`` (tables) and ``<stem>.png`` (per-type F1 bars) next to ``out_json``."""
    written = [_markdown(metrics, out_json.with_suffix(".md"), title)]
    chart = _chart(metrics, out_json.with_suffix(".png"), title)
    if chart is not None:
        written.append(chart)
    return written


def _markdown(metrics: dict[str, Any], path: Path, title: str) -> Path:
    lines = [f"# {title}", "", f"Documents: {metrics['docs']}", ""]
    for view in ("strict", "lenient"):
        lines += [f"## {view}", "", "| type | precision | recall | F1 | tp | fp | fn |", "|---|---|---|---|---|---|---|"]
        rows = [("**micro**", metrics[view]["micro"]), *metrics[view]["by_type"].items()]
        for name, m in rows:
            lines.append(
                f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['tp']} | {m['fp']} | {m['fn']} |"
            )
        lines.append("")
    if "assertion" in metrics:
        lines += ["## assertion", "", "| attribute | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for attr, m in metrics["assertion"].items():
            lines.append(f"| {attr} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |")
        lines.append("")
    if "normalization" in metrics:
        block = metrics["normalization"]
        lines += [
            "## normalization",
            "",
            "| type | mention accuracy (gold spans) | document concepts P | R | F1 |",
            "|---|---|---|---|---|",
        ]
        for type_, m in block["document_concepts"].items():
            accuracy = block["mention_accuracy"].get(type_)
            shown = f"{accuracy:.4f}" if accuracy is not None else "-"
            lines.append(f"| {type_} | {shown} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} |")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _chart(metrics: dict[str, Any], path: Path, title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(metrics["strict"]["by_type"])
    strict = [metrics["strict"]["by_type"][n]["f1"] for n in names]
    lenient = [metrics["lenient"]["by_type"].get(n, {}).get("f1", 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 2), 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], strict, width=0.4, label="strict F1")
    ax.bar([x + 0.2 for x in xs], lenient, width=0.4, label="lenient F1")
    ax.set_xticks(list(xs), names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
