"""The API sweep: the public JAX API under vmlir.vmap, against jax.vmap.

    python -m tests.sweep run [--x64] [--sample K] [--json FILE]   # one mode
    python -m tests.sweep docs FILE...                             # docs/api-coverage.md

`make sweep` runs both modes (float32/int32, then float64/int64 with jax_enable_x64) and
writes docs/api-coverage.md; `make test` runs a sample (tests/unit/test_sweep.py).
Modules: catalog (what is swept, with which inputs), overrides (explicit cases),
linalg_cases (matrices for the linear-algebra modules), runner (grouped runs and
comparison), report (the summary and the coverage page).
"""
