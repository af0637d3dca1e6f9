"""The package's version, in a module of its own so that every layer may print it
(``tbtool --version``, synth's manifest) without importing the public API above them.
Keep it equal to ``version`` in pyproject.toml (a test compares them)."""

__version__ = "0.1.0"
