# Two set-up commands: `make demo` and `make test`. Both work on a machine with only python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
WARM   := $(VENV)/.warm

.PHONY: demo test validate bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Every extra: the suite tests the plots and the PyMC models (binfer.bayes) too.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev,plot,bayes]"
	touch $(STAMP)

# Compile the numba kernels once, ahead (~20 s; numba caches them in __pycache__ next to the
# modules), so that no demo, test or benchmark waits for them; redone when a source changes.
$(WARM): $(STAMP) $(wildcard binfer/core/*.py) binfer/homogeneity/_exact.py
	$(PY) -m binfer.core._warmup
	touch $(WARM)

demo: $(STAMP) $(WARM)
	$(PY) examples/quickstart.py

test: $(STAMP) $(WARM)
	$(PY) -m pytest -q -m "not slow" binfer tests README.md

validate: $(STAMP) $(WARM)
	$(PY) -m pytest -q -m slow tests

bench: $(STAMP) $(WARM)
	$(PY) benchmarks/bench_pmf.py

lint: $(STAMP)
	$(VENV)/bin/ruff check binfer tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
