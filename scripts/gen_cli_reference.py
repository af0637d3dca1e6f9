"""Regenerate docs/reference.md, the CLI reference, from the typer app itself.

python scripts/gen_cli_reference.py          # write docs/reference.md
python scripts/gen_cli_reference.py --check  # exit 1 if it is stale (tests do this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.cli.app import COMMANDS

TARGET = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env=ENV, prog_name="tbtool")
    if result.exit_code != 0:
        raise SystemExit(f"tbtool {' '.join(args)} --help failed: {result.output}")
    return result.stdout.rstrip() + "\n"


def reference() -> str:
    # COMMANDS, not the click group's commands: those are loaded only when first run.
    commands = list(COMMANDS)  # in workflow order, as `tbtool --help` lists them
    parts = [
        "# CLI reference\n",
        "Generated from the code by `python scripts/gen_cli_reference.py`; a test fails when "
        "this page is stale. Exit codes for every command: `0` success, `1` the command ran "
        "and found problems, `2` usage error or unreadable input.\n",
        "## tbtool\n",
        f"```text\n{help_text()}```\n",
    ]
    for name in commands:
        parts.append(f"## tbtool {name}\n")
        parts.append(f"```text\n{help_text(name)}```\n")
    return "\n".join(parts)


def main() -> None:
    text = reference()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python scripts/gen_cli_reference.py")
            raise SystemExit(1)
        return
    TARGET.write_text(text)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
