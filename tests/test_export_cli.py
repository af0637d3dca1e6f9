"""``tbtool export``: options, outputs on stdout and disk, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tbtool
from tbtool.cli import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def logdir(name: str) -> str:
    return str(FIXTURES / name / "logdir")


def test_csv_and_jsonl_on_stdout():
    result = run_cli("export", logdir("torch_purge"), "-o", "-")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    want = tbtool.read_scalars(logdir("torch_purge"))
    assert list(frame.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert list(frame.value) == list(want.value)
    result = run_cli(
        "export", logdir("torch_purge"), "-o", "-", "--format", "jsonl", "--tag", "loss"
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["tag"] for r in rows} == {"loss"} and len(rows) == 8
    assert result.stderr == ""  # quiet when writing to stdout


def test_format_from_extension_and_summary(tmp_path):
    out = tmp_path / "s.jsonl"
    result = run_cli("export", logdir("torch_all"), "-o", out, "--kind", "text")
    assert result.exit_code == 0, result.output
    assert "exported 2 text" in result.stderr
    assert [json.loads(x)["tag"] for x in out.read_text().splitlines()] == ["text/text_summary"] * 2
    quiet = run_cli("export", logdir("torch_all"), "-o", tmp_path / "q.parquet", "-q")
    assert quiet.stderr == "" and pq.read_table(tmp_path / "q.parquet").num_rows


def test_all_kinds_to_a_directory(tmp_path):
    result = run_cli("export", logdir("tf2_all"), "-o", tmp_path / "out", "--kind", "all")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(
        [f"{k}.parquet" for k in tbtool.columnar.table_rows.TABLE_KINDS] + ["images", "audio"]
    )


def test_options_reach_the_export(tmp_path):
    out = tmp_path / "w.csv"
    result = run_cli(
        "export", logdir("torch_purge"), "-o", out, "--wide", "--steps", "2:6", "--no-purge"
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert sorted(set(frame.step)) == [2, 3, 4, 5]
    assert frame.loss.iloc[-1] == 1005.0  # without purge the resumed value is the last
    out = tmp_path / "h.parquet"
    run_cli("export", logdir("torch_all"), "-o", out, "--kind", "histograms", "--explode")
    assert "bucket" in pq.read_table(out).column_names
    out = tmp_path / "hp.csv"
    run_cli("export", logdir("tf2_all"), "-o", out, "--kind", "hparams", "--metric-agg", "min")
    assert list(pd.read_csv(out).run) == ["session_0", "session_1"]
    ds = tmp_path / "ds"
    result = run_cli("export", logdir("tbx_all"), "-o", ds, "--partition-by", "run", "-j", "2")
    assert result.exit_code == 0, result.output
    assert any(p.name.startswith("run=") for p in ds.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "-", "--format", "parquet"],
        ["-o", "-", "--kind", "images"],
        ["-o", "x.csv", "--partition-by", "run"],
        ["-o", "x.csv", "--partition-by", "tag"],
        ["-o", "x.csv", "--kind", "nonsense"],
        ["-o", "x.csv", "--steps", "a:b"],
        ["-o", "x.csv", "--run", "("],
    ],
)
def test_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", logdir("torch_all"), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("tbtool: error:") or "Usage" in result.stderr


def test_nothing_matched_exits_1(tmp_path):
    result = run_cli("export", logdir("torch_all"), "-o", tmp_path / "x.csv", "--tag", "none*")
    assert result.exit_code == 1
    assert "nothing matched" in result.stderr
    assert not (tmp_path / "x.csv").exists()  # nothing written (test_export_safety.py)


def test_corrupt_input_exit_2_and_skip_corrupt(tmp_path):
    bad = FIXTURES / "corrupt" / "logdir" / "data_crc_flip_decodable"
    result = run_cli("export", bad, "-o", tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "data CRC mismatch" in result.stderr and "byte offset 122" in result.stderr
    result = run_cli("export", bad, "-o", tmp_path / "x.csv", "--skip-corrupt")
    assert result.exit_code == 0
    assert "warning: skipped" in result.stderr
    assert len(pd.read_csv(tmp_path / "x.csv")) == 4


def test_piped_stdout_has_no_progress_bar(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tbtool.cli", "export", logdir("torch_all"), "-o", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named tbtool.cli.__main__" in proc.stderr:
        code = "from tbtool.cli import main; main()"
        proc = subprocess.run(
            [sys.executable, "-c", code, "export", logdir("torch_all"), "-o", "-"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout.startswith('"run","tag"')
