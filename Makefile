# Two commands work on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
# TensorRT Python bindings (no libraries, no GPU needed) whose API test/export/
# test_tensorrt_build_api.py checks our code against: JetPack 6's 10.3, the first and latest
# strongly typed 10.x, and 11 (what `pip install tensorrt` gives). cu12 and cu13 builds both
# install `tensorrt_bindings`, so each version gets its own --target directory.
TRT_BINDINGS := 10.3=tensorrt-cu12-bindings==10.3.0 10.12=tensorrt-cu12-bindings==10.12.0.36 \
                10.16=tensorrt-cu12-bindings==10.16.1.11 11.4=tensorrt-cu13-bindings==11.4.0.106
TRT_STAMP := $(VENV)/trt-bindings/.installed

.PHONY: venv test lint demo checkpoints clean

venv: $(STAMP) $(TRT_STAMP)

# torch first (the local CPU build), then everything else with ranges that accept it.
$(STAMP): requirements.txt requirements/*.txt setup.py setup.cfg package.xml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

$(TRT_STAMP): Makefile | $(STAMP)
	rm -rf $(VENV)/trt-bindings
	for spec in $(TRT_BINDINGS); do \
	  $(PY) -m pip install -q --no-deps --target $(VENV)/trt-bindings/$${spec%%=*} $${spec#*=} \
	    || exit 1; \
	done
	touch $(TRT_STAMP)

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
