"""Is peak memory independent of corpus size? ``clinnlp batch`` on 100 vs 10,000 notes.

Writes two JSONL corpora (the same MTSamples notes cycled, ids made unique), runs the same
``clinnlp batch`` command on each in a fresh process and prints the peak RSS each run
reports in its ``OUTPUT.summary.json`` (``ru_maxrss``), and their ratio (target: within 10%).

    python -m clinnlp.bench.batch_memory --sizes 100,10000 --ner lexicon
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def write_corpus(path: Path, count: int, root: Path, pool: int) -> None:
    """``count`` notes cycling over the first ``pool`` MTSamples notes (0 = all of them)."""
    texts: list[str] = []
    with (root / "mtsamples" / "mtsamples.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("text") or ""
            if text.strip():
                texts.append(text)
            if pool and len(texts) >= pool:
                break
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({"id": f"note-{i:06d}", "text": texts[i % len(texts)]}) + "\n")


def main(argv: list[str] | None = None) -> int:
    from clinnlp.readers.registry import default_root

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--ner", default="lexicon")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pool", type=int, default=100,
                        help="every corpus cycles over the first POOL notes (default 100), so only the count differs; "
                        "0 = all MTSamples (then longer notes also enter the larger corpus)")  # fmt: skip
    args = parser.parse_args(argv)
    root = default_root()
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="clinnlp-mem-") as tmp:
        for size in map(int, args.sizes.split(",")):
            corpus, out = Path(tmp) / f"notes-{size}.jsonl", Path(tmp) / f"out-{size}.jsonl"
            write_corpus(corpus, size, root, args.pool)
            command = [sys.executable, "-c", "from clinnlp.cli.main import run; run()", "batch", str(corpus),
                       "--out", str(out), "--ner", args.ner, "--device", args.device, "--no-progress"]  # fmt: skip
            subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True)
            summary = json.loads(Path(str(out) + ".summary.json").read_text(encoding="utf-8"))
            peaks[size] = summary["peak_rss_mb"]
            print(f"{size:>7} notes: {summary['documents']} records, {summary['seconds']:.0f} s, peak RSS {peaks[size]:.0f} MB", flush=True)
    small, large = peaks[min(peaks)], peaks[max(peaks)]
    print(f"peak RSS ratio {max(peaks)} / {min(peaks)} notes: {large / small:.3f} ({100 * (large / small - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
