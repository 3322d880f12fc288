"""The parts of the random program generator; `tests.fuzz.progen` is its interface."""
