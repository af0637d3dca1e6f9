"""The ``tbtool`` command line: a thin skin over the library (one module per command)."""

from __future__ import annotations

from tbtool.cli import check, dump, ls, merge, purge, validate  # noqa: F401 - registers the commands
from tbtool.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
