"""The ``tbtool`` command line: a thin skin over the library (one module per command)."""

from __future__ import annotations

# Importing a command module registers its command on the app.
from tbtool.cli import (  # noqa: F401
    check,
    clean,
    diff,
    dump,
    export,
    html_report,
    ls,
    merge,
    plot,
    purge,
    summary,
    synth,
    validate,
    watch,
)
from tbtool.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
