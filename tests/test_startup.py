"""Start-up cost: ``import tbtool`` and the CLI's ``--help``/``--version``/``ls`` must not
import the heavy stacks they do not use (pandas, pyarrow), and the lazy imports that keep it
so must not change the public API or the CLI's behaviour (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import tbtool
from tbtool.cli import app
from tbtool.cli.app import COMMAND_MODULES, COMMANDS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HEAVY = ("pandas", "pyarrow")

# Runs ``code`` (which may exit) and prints, as the last line, which HEAVY modules and which
# command modules (tbtool.cli.<command>) it imported.
_PROBE = """
import json, sys
try:
    exec(sys.argv[1])
except SystemExit:
    pass
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
commands = sorted(m for m in sys.modules if m in {commands!r})
print("\\n" + json.dumps({{"heavy": heavy, "commands": commands}}))
"""


def imported_by(code: str) -> dict[str, list[str]]:
    """The heavy and command modules a fresh interpreter has imported after running ``code``."""
    modules = {f"tbtool.cli.{COMMAND_MODULES.get(name, name)}" for name in COMMANDS}
    probe = _PROBE.format(heavy=set(HEAVY), commands=modules)
    proc = subprocess.run(
        [sys.executable, "-c", probe, code], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(*args: str) -> str:
    return f"from tbtool.cli import main; sys.argv = ['tbtool', *{list(args)!r}]; main()"


def test_import_tbtool_imports_no_pandas_or_pyarrow():
    assert imported_by("import tbtool; tbtool.__version__; tbtool.TbtoolError")["heavy"] == []


@pytest.mark.parametrize("args", [["--help"], ["--version"], []], ids=["help", "version", "bare"])
def test_cli_start_up_imports_no_pandas_pyarrow_or_commands(args):
    found = imported_by(cli(*args))
    assert found == {"heavy": [], "commands": []}


def test_ls_of_a_small_logdir_imports_no_pandas_and_no_other_command():
    found = imported_by(cli("ls", str(FIXTURES / "torch_all" / "logdir")))
    assert not [m for m in found["heavy"] if m.split(".")[0] == "pandas"]
    assert found["commands"] == ["tbtool.cli.ls"]


def test_asking_for_a_dataframe_reader_imports_pandas():
    # The lazy attribute really resolves to the reader (and so imports what it needs).
    assert "pandas" in imported_by("import tbtool; tbtool.read_scalars")["heavy"]


def test_public_api_unchanged():
    namespace: dict[str, object] = {}
    exec("from tbtool import *", namespace)
    exported = {name for name in namespace if name != "__builtins__"}
    assert exported == set(tbtool.__all__)
    assert sorted(tbtool.__all__) == [
        "DamagedFiles", "FileWriter", "LogReader", "SummaryWriter", "TbtoolError", "__version__",
        "read_audio", "read_histograms", "read_hparams", "read_images", "read_pr_curves",
        "read_scalars", "read_table", "read_tensors", "read_text", "summarize",
    ]  # fmt: skip
    from tbtool import writer
    from tbtool.reading import frames, log_reader

    assert tbtool.read_scalars is frames.read_scalars
    assert tbtool.read_table is frames.read_table
    assert tbtool.LogReader is log_reader.LogReader
    assert tbtool.SummaryWriter is writer.SummaryWriter
    assert tbtool.FileWriter is writer.FileWriter
    assert set(tbtool.__all__) <= set(dir(tbtool))
    with pytest.raises(AttributeError, match="no attribute 'read_nothing'"):
        tbtool.read_nothing  # noqa: B018


def test_command_summaries_match_the_commands():
    # Load every command (as running it would) and compare what --help lists without loading.
    for name in COMMANDS:
        __import__(f"tbtool.cli.{COMMAND_MODULES.get(name, name)}")
    commands = typer.main.get_group(app).commands
    assert set(commands) == set(COMMANDS)
    for name, text in COMMANDS.items():
        # One line, shown whole in the listing and first in the command's own help.
        assert "\n" not in text and len(text) <= 66, name
        assert commands[name].get_short_help_str(40) == text
        assert commands[name].help.startswith(text)


def test_help_lists_every_command_in_order():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line]
    assert listed == list(COMMANDS)


def test_command_help_and_typo_suggestion():
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0 and "--jobs" in result.output
    result = runner.invoke(app, ["lss"])
    assert result.exit_code == 2
    assert result.output == (
        "tbtool: error: no such command 'lss'. Did you mean 'ls'? (see 'tbtool --help')\n"
    )
