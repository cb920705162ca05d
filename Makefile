# SlicerMedLabel — two commands for a fresh machine:  make demo  |  make test
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint venv clean

venv: $(STAMP)

# torch==2.13.0 is the CPU wheel on the machines' local disk (see pyproject.toml for why it is pinned).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[ml,slicer,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/medlabel demo -o output/demo --force

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf output .pytest_cache
