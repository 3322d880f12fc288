# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs vmlir (editable) with its test dependencies when that has not been done yet.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lit unit clean fuzz fuzz-ragged bench

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

# Differential fuzzing against jax.vmap: `make fuzz N=10000 SEED=3`.
N ?= 1000
SEED ?= 0
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.run --n $(N) --seed $(SEED)

# Ragged vmap fuzzing (loop equality + NaN padding never read): `make fuzz-ragged N=2000`.
fuzz-ragged: $(STAMP)
	$(PY) -m tests.fuzz.ragged --n $(N) --seed $(SEED)

# The benchmark suite: `make bench` (options: `make bench ARGS="--rounds 3 --only rbf_gram"`).
# Writes bench/results.md and bench/results.png.
bench: $(STAMP)
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/lit/**/Output
