"""Must-show check: ``clinnlp batch`` killed with ``kill -9`` half-way, then run again.

Builds N notes (MTSamples transcriptions when the shared corpora are present, else
synthetic ones) as a folder of ``.txt``, starts ``clinnlp batch --ner lexicon`` in a
subprocess, sends SIGKILL once about half the records are written, runs the same command
again, and checks the output: exactly N records, no duplicate ids, ids equal to the inputs.

    python -m clinnlp.bench.batch_resume --notes 2000 --workdir /tmp/resume-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MTSAMPLES = "mtsamples/mtsamples.jsonl"
SYNTHETIC = (
    "HISTORY OF PRESENT ILLNESS: {i}-year-old with type 2 diabetes mellitus and hypertension, "
    "presenting with chest pain and shortness of breath. Denies fever. "
    "MEDICATIONS: metformin 500 mg po bid, lisinopril 10 mg daily. "
    "ASSESSMENT: community-acquired pneumonia; started ceftriaxone 1 g IV daily.\n"
)


def _corpora_root() -> Path:
    from clinnlp.readers.registry import default_root

    return default_root()


def make_notes(folder: Path, count: int, *, long: bool = False) -> Path:
    """``count`` notes as ``folder/NNN/note-NNNNN.txt``: MTSamples texts cycled, else synthetic."""
    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    source = _corpora_root() / MTSAMPLES
    if source.is_file():
        with source.open(encoding="utf-8") as handle:
            for line in handle:
                text = json.loads(line).get("text") or ""
                if text.strip():
                    texts.append(text)
                if len(texts) >= count:
                    break
    if not texts:
        texts = [SYNTHETIC.format(i=20 + i % 70) * (6 if long else 1) for i in range(min(count, 97))]
    for i in range(count):
        sub = folder / f"{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"note-{i:05d}.txt").write_text(texts[i % len(texts)], encoding="utf-8")
    return folder


def check_output(notes: Path, out: Path) -> dict[str, Any]:
    """Records, unique ids, and whether the ids are exactly the input files (in input order)."""
    ids = [json.loads(line)["doc_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    inputs = sorted(p.relative_to(notes).as_posix() for p in notes.rglob("*.txt"))
    return {
        "inputs": len(inputs),
        "records": len(ids),
        "unique_ids": len(set(ids)),
        "ids_match_inputs": ids == inputs,
    }


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def run(notes_count: int, workdir: Path, ner: str = "lexicon", window_docs: int = 256) -> dict[str, Any]:
    """The whole check; returns what it saw (and prints it)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    notes = make_notes(workdir / "notes", notes_count)
    out = workdir / "records.jsonl"
    command = [
        sys.executable, "-c", "from clinnlp.cli.main import run; run()",
        "batch", str(notes), "--out", str(out), "--ner", ner, "--device", "cpu", "--no-progress",
        "--window-docs", str(window_docs),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and _count_lines(out) < notes_count // 2:
        time.sleep(0.05)
    killed_at = _count_lines(out)
    was_running = proc.poll() is None
    if was_running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    size = out.stat().st_size if out.exists() else 0
    torn = size > 0 and out.read_bytes()[-1:] != b"\n"
    print(f"first run: SIGKILL sent={was_running} after {time.perf_counter() - started:.1f}s; "
          f"{killed_at} complete lines on disk, torn last line={torn}")  # fmt: skip
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    print(f"second run: exit {second.returncode}; {second.stderr.strip().splitlines()[-1] if second.stderr.strip() else ''}")
    report = {"killed": was_running, "lines_at_kill": killed_at, "torn_last_line": torn, **check_output(notes, out)}
    print(json.dumps(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=2000, help="how many notes (default 2000)")
    parser.add_argument("--workdir", type=Path, default=Path("out/batch-resume-check"))
    parser.add_argument("--ner", default="lexicon", help="NER back-end of the runs (default lexicon: fast)")
    parser.add_argument("--window-docs", type=int, default=256, help="clinnlp batch --window-docs (small: records trickle out)")
    args = parser.parse_args(argv)
    report = run(args.notes, args.workdir, args.ner, args.window_docs)
    ok = report["records"] == report["unique_ids"] == args.notes and report["ids_match_inputs"]
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
