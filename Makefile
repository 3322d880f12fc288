# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs vmlir (editable) with its test dependencies when that has not been done yet.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lit unit clean fuzz fuzz-ragged bench latency sweep op-coverage

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "vmlir needs Python >= 3.11 (found " + sys.version.split()[0] + ")"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m vmlir.examples.demo

lit: $(STAMP)
	$(VENV)/bin/lit -sv tests/lit

unit: $(STAMP)
	$(PY) -m pytest -q -n auto tests/unit

test: lit unit

# Differential fuzzing against jax.vmap: `make fuzz N=10000 SEED=3`; `EXTRA=1` also
# generates gather/scatter/sort/control flow...; `WIDTHS=1` runs divergent loops at
# 512-4096 examples under every divergence strategy instead (tests/fuzz/widths.py). Then
# the same programs differentiated (jax.grad through vmlir vs through jax.vmap), GRAD_N.
# JOBS processes check the programs (default: one per CPU).
N ?= 1000
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
GRAD_N ?= $(N)
SEED ?= 0
EXTRA ?=
WIDTHS ?=
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.run --n $(N) --seed $(SEED) $(if $(EXTRA),--extra) $(if $(WIDTHS),--widths,--jobs $(JOBS))
	$(if $(WIDTHS),,$(PY) -m tests.fuzz.run --grad --n $(GRAD_N) --seed $(SEED) --jobs $(JOBS) $(if $(EXTRA),--extra))

# The API sweep (tests/sweep): the public JAX API under vmlir.vmap vs jax.vmap, with
# float32/int32 inputs, then float64/int64 (jax_enable_x64); writes docs/api-coverage.md,
# then runs every linear-algebra configuration of tests/unit/test_linalg.py. Fails on a
# mismatch, a crash, or under 99% of the pairs jax.vmap batches working.
sweep: $(STAMP)
	@mkdir -p build
	$(PY) -m tests.sweep run --json build/sweep-float32.json; a=$$?; \
	$(PY) -m tests.sweep run --x64 --json build/sweep-x64.json; b=$$?; \
	$(PY) -m tests.sweep docs build/sweep-float32.json build/sweep-x64.json --min-share 99 && \
	VMLIR_SWEEP=full $(PY) -m pytest -q -n auto tests/unit/test_linalg.py && test $$a -eq 0 && test $$b -eq 0

# Ragged vmap fuzzing (loop equality + NaN padding never read): `make fuzz-ragged N=2000`;
# `LAYOUT=refill`: programs that all hold a scan, run on persistent lanes.
# The test columns of docs/op-coverage.md: the unit suite run recording the batching rules
# each test file runs (tests/unit/conftest.py), then the doc rewritten from the record.
op-coverage: $(STAMP)
	@mkdir -p build && rm -f build/op-coverage.jsonl
	VMLIR_OP_COVERAGE=$(CURDIR)/build/op-coverage.jsonl $(PY) -m pytest -q -n auto tests/unit; \
	$(PY) tests/unit/op_coverage.py build/op-coverage.jsonl

fuzz-ragged: $(STAMP)
	$(PY) -m tests.fuzz.ragged --n $(N) --seed $(SEED) $(if $(LAYOUT),--layout $(LAYOUT))

# The benchmark suite: `make bench` (options: `make bench ARGS="--rounds 3 --only rbf_gram"`).
# Writes bench/results.md and bench/results.png, and (after a full run) the README's numbers.
bench: $(STAMP)
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.run $(ARGS)

# Compile latency only (bench/latency.py; docs/latency.md): `make latency ARGS="--only mandelbrot"`.
latency: $(STAMP)
	$(PY) -m bench.latency $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/lit/**/Output
