# Two set-up commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLINNLP := $(VENV)/bin/clinnlp
NOTES := $(sort $(wildcard corpora/notes/*.txt))

.PHONY: run test test-all venv lexicon bench-context bench-linker clean

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

# Slow tests too (training runs, full-corpus checks).
test-all: $(VENV)/.installed
	bash .ci/with-postgres $(PY) -m pytest -q -m "slow or not slow"

# Rebuild the packaged lexicon from ../shared/corpora (needs the shared data).
lexicon: $(VENV)/.installed
	$(PY) -m clinnlp.lexicon.build --shared ../shared/corpora --out clinnlp/resources/lexicon.tsv.gz
	$(PY) -m clinnlp.lexicon.mesh --train ../shared/corpora/bc5cdr/pubtator/train.pubtator --out clinnlp/resources/mesh_bc5cdr.tsv.gz

# Linker mention accuracy on BC5CDR dev gold spans, with and without embedding re-ranking.
bench-linker: $(VENV)/.installed
	$(PY) -m clinnlp.bench.linker_eval --data ../shared/corpora/bc5cdr/pubtator/dev.pubtator

# clinnlp's context rules vs medspaCy's ConText on MACCROBAT dev gold mentions
# (creates .venv-medspacy with medspacy==1.3.1 on first run; needs PyPI then).
bench-context: $(VENV)/.installed
	$(PY) -m clinnlp.bench.context_vs_medspacy --venv .venv-medspacy --split dev

clean:
	rm -rf $(VENV) out .pytest_cache
