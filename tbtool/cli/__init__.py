"""The ``tbtool`` command line: a thin skin over the library (one module per command).

Command modules are imported when their command runs (:class:`tbtool.cli.app.LazyCommands`),
so start-up costs only what the command in hand needs.

- ``app``: the typer application, global options, how errors reach the user.
- ``command``: usage and help in the words a user types.
- one module per command: ``ls``, ``dump``, ``summary``, ``diff``, ``watch``, ``validate``,
  ``check``, ``export``, ``html_report`` (``tbtool report``), ``plot``, ``merge``,
  ``purge``, ``clean``, ``synth``.
- ``report``: findings as text, JSON, JUnit XML or Markdown; ``progress``: the progress
  display of reading commands.
"""

from __future__ import annotations

from tbtool.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
