"""The errors vmlir raises on purpose. Anything else escaping is a bug in vmlir."""


class VmlirError(Exception):
    """Base of every error vmlir reports to a user.

    A plain Exception, so that `import vmlir` and a disk-cache hit import nothing of xDSL;
    `vmlir-opt` turns it into xDSL's DiagnosticException, so `--verify-diagnostics` prints
    it and goes on with the next `// -----` chunk, as it does for verifier errors.
    """


class VmlirUnsupportedError(VmlirError, NotImplementedError):
    """A construct vmlir does not handle (yet): the message names it and where it came from."""


class VmlirAxisError(VmlirError, ValueError):
    """An axis specification that does not fit the program (a ValueError, as in jax.vmap)."""
