# lit configuration: every .mlir / .test file under tests/lit is a test; RUN lines use
# vmlir-opt, vmlir-translate and filecheck from the Python environment running lit.
import os
import sys

import lit.formats

config.name = "vmlir"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["Inputs", "lit.cfg.py"]
bin_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
# JAX prints a warning on CPU-only machines; keep test output to what is checked.
config.environment["JAX_PLATFORMS"] = os.environ.get("JAX_PLATFORMS", "cpu")
config.environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
