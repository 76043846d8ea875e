# Two commands work on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: venv test lint demo checkpoints clean

venv: $(STAMP)

# torch first (the local CPU build), then everything else with ranges that accept it.
$(STAMP): requirements.txt requirements/*.txt setup.py setup.cfg package.xml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q test

lint: venv
	$(PY) -m ruff check .

demo: venv
	$(VENV)/bin/iid-rdepth demo --out out/demo

# Reproduces the shipped checkpoints (long: see iid_rdepth_ros/checkpoints/*.yaml).
checkpoints: venv
	bash scripts/train_checkpoints.sh

clean:
	rm -rf build install log out .pytest_cache
