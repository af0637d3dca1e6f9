"""The ``tbtool`` command line: a thin skin over the library (one module per command).

Command modules are imported when their command runs (:class:`tbtool.cli.app.LazyCommands`),
so start-up costs only what the command in hand needs.
"""

from __future__ import annotations

from tbtool.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
