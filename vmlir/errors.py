"""The errors vmlir raises on purpose. Anything else escaping is a bug in vmlir."""


class VmlirError(Exception):
    """Base of every error vmlir reports to a user."""


class VmlirUnsupportedError(VmlirError, NotImplementedError):
    """A construct vmlir does not handle (yet): the message names it and where it came from."""
