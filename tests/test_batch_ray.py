"""--engine ray: a local Ray with 2 CPUs gives exactly the local engine's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinnlp.batch.engine import EngineSettings
from clinnlp.batch.run import BatchJob, run_batch

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'clinnlp[ray]'")

NOTE = "Patient has type 2 diabetes mellitus and hypertension. Started metformin 500 mg twice daily. Denies chest pain."


@pytest.mark.slow
def test_ray_engine_output_equals_the_local_engine(tmp_path: Path) -> None:
    from clinnlp.batch.ray_engine import run_batch_ray

    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(40):
        (notes / f"n{i:03d}.txt").write_text(f"Visit {i}. " + NOTE * (1 + i % 4), encoding="utf-8")
    (notes / "n999-empty.txt").write_text("", encoding="utf-8")
    settings = EngineSettings(ner="lexicon", device="cpu")
    local, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_batch(BatchJob(inputs=[str(notes)], out=str(local), settings=settings, window_docs=8))
    summary = run_batch_ray(BatchJob(inputs=[str(notes)], out=str(ray_out), settings=settings), num_cpus=2, actors=2)
    assert summary.documents == 40 and summary.errors == 1
    assert ray_out.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")
    errors = Path(str(ray_out) + ".errors.jsonl").read_text(encoding="utf-8")
    assert errors == Path(str(local) + ".errors.jsonl").read_text(encoding="utf-8")
