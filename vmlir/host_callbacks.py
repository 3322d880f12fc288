"""Names shared by the frontend, the batching rules and the runtime for custom calls that
call back into Python (jax.debug.print, jax.pure_callback, io_callback). No imports: the
passes must not pull in jax, the runtime must not pull in xDSL."""

PYTHON_CALLBACK_TARGETS = frozenset(
    {
        "xla_ffi_python_cpu_callback",
        "xla_ffi_python_gpu_callback",
        "xla_python_cpu_callback",
        "xla_python_gpu_callback",
    }
)
"""custom_call targets that call back into Python: the call carries an index into the host
callbacks of the computation that contains it."""

HOST_CALLBACK_ATTR = "vmlir.host_callback"
"""Names the Python callback of such a call (vmlir/jaxmlir.py), from the per-example
lowering until our program is embedded into the computation that runs it."""
