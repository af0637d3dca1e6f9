"""report and plot write one file: never over an input (an event file, the logdir itself, a
directory holding it), while a file beside the runs (``logs/report.html``) is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.ops.plot import plot
from tbtool.ops.synth.generate import synth

runner = CliRunner()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    synth(root, runs=2, tags=2, steps=20, kinds=["scalar"], seed=1)
    return root


def _event_file(logdir: Path) -> Path:
    return next(logdir.rglob("*tfevents*"))


def test_report_refuses_an_event_file_of_its_input_even_with_overwrite(logdir: Path) -> None:
    target = _event_file(logdir)
    before = target.read_bytes()
    result = runner.invoke(app, ["report", str(logdir), "-o", str(target), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert "overlaps input" in result.output
    assert target.read_bytes() == before


def test_report_refuses_the_input_directory_and_a_directory_above_it(logdir: Path) -> None:
    for target in (logdir, logdir.parent):
        result = runner.invoke(app, ["report", str(logdir), "-o", str(target), "--overwrite"])
        assert result.exit_code == 2, result.output
        assert "overlaps input" in result.output


def test_plot_refuses_its_inputs_whatever_the_format(logdir: Path) -> None:
    target = _event_file(logdir)
    before = target.read_bytes()
    for out in (target, logdir, logdir.parent):
        with pytest.raises(UsageError, match="overlaps input"):
            plot(logdir, out, format="png", overwrite=True)
    assert target.read_bytes() == before


@pytest.mark.parametrize("command,name", [("report", "report.html"), ("plot", "loss.png")])
def test_a_file_beside_the_runs_is_allowed(tmp_path: Path, command: str, name: str) -> None:
    root = tmp_path / "logs"
    synth(root, runs=1, tags=1, steps=10, kinds=["scalar"], seed=2)
    result = runner.invoke(app, [command, str(root), "-o", str(root / name)])
    assert result.exit_code == 0, result.output
    assert (root / name).stat().st_size > 0


def test_an_event_file_name_inside_a_run_is_refused(logdir: Path) -> None:
    run = _event_file(logdir).parent
    target = run / "events.out.tfevents.123.host.png"
    result = runner.invoke(app, ["plot", str(logdir), "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert not target.exists()
