"""One damaged file never hides the good runs beside it (issue 17, item 4).

A logdir of good runs plus a file that is not an event file at all, a file damaged in the
middle and the truncated last record of a live run: every reading command shows all that can
be read, names each damaged file in validate's words with its byte offset and a hint, and
exits non-zero (export and the library refuse instead); the truncated tail stays a normal
state. Real files throughout: synth runs and the damaged fixtures.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tbtool
from tbtool.cli import app
from tbtool.errors import DamagedFiles
from tbtool.ops.synth.generate import synth
from tbtool.ops.validate import validate
from tbtool.reading.log_reader import LogReader
from tbtool.runs.damage import TOLERATED, classify, damaged_files

CORRUPT = Path(__file__).resolve().parent.parent / "fixtures" / "corrupt" / "logdir"
NOT_EVENTS = "not an event file: its first bytes are not a TFRecord header"
runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _copy(run: str, to: Path) -> Path:
    (source,) = (CORRUPT / run).iterdir()
    to.mkdir(parents=True)
    return Path(shutil.copy(source, to / source.name))


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """good/run0, good/run1 (synth), junk (text under an event file name), middle (a length
    CRC flipped at byte 122: 3 good records, then nothing readable), live (a record cut in
    the middle: still being written)."""
    root = tmp_path_factory.mktemp("damaged")
    synth(root / "good", runs=2, steps=40, kinds="scalars,histograms")
    (root / "junk").mkdir()
    (root / "junk" / "events.out.tfevents.1.host").write_text("hello world junk\n")
    _copy("length_crc_flip", root / "middle")
    _copy("truncated_mid_record", root / "live")
    return root


@pytest.fixture(scope="module")
def good_only(logdir, tmp_path_factory) -> Path:
    """The same logdir without the two damaged files: what a reader can get from it."""
    root = tmp_path_factory.mktemp("good_only")
    for name in ("good", "live", "middle"):
        shutil.copytree(logdir / name, root / name)
    middle = next((root / "middle").iterdir())
    middle.write_bytes(middle.read_bytes()[:122])  # the 3 records before the damage
    return root


def _files(logdir: Path) -> dict[str, str]:
    return {name: str(next((logdir / name).iterdir())) for name in ("junk", "middle", "live")}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tbtool: error: ")]


def _assert_named(stderr: str, logdir: Path) -> None:
    """Both damaged files named once each, in validate's words, with byte offsets; the live
    run's truncated tail not named; then the hint."""
    files = _files(logdir)
    errors = _errors(stderr)
    assert len(errors) == 2, stderr
    junk = next(e for e in errors if files["junk"] in e)
    middle = next(e for e in errors if files["middle"] in e)
    assert "byte offset 0" in junk and NOT_EVENTS in junk and "(not-event-file)" in junk
    assert "byte offset 122" in middle and "(length-crc-mismatch)" in middle
    assert files["live"] not in stderr
    (hint,) = [line for line in stderr.splitlines() if line.startswith("tbtool: hint: ")]
    assert "--skip-corrupt" in hint and "tbtool validate" in hint


# -- the reading commands -----------------------------------------------------------------------
def test_ls_lists_every_good_run_and_names_the_damaged_files(logdir):
    result = run_cli("ls", logdir)
    assert result.exit_code == 2
    for run in ("good/run0", "good/run1", "junk", "middle", "live"):
        assert any(line.startswith(run) for line in result.stdout.splitlines()), run
    assert "truncated tail" in result.stdout  # the live run: noted, not an error
    assert f"damaged at byte offset 0: {NOT_EVENTS} (not-event-file)" in result.stdout
    _assert_named(result.stderr, logdir)


def test_ls_json_says_what_is_wrong_with_each_file(logdir):
    result = run_cli("ls", logdir, "--format", "json")
    assert result.exit_code == 2
    files = {
        f["path"]: f for run in json.loads(result.stdout)["runs"] for f in run["files"]
    }  # fmt: skip
    paths = _files(logdir)
    assert files[paths["junk"]]["damage"]["code"] == "not-event-file"
    assert files[paths["middle"]]["damage"]["offset"] == 122
    assert files[paths["middle"]]["events"] == 3
    assert files[paths["live"]]["damage"] is None
    assert files[paths["live"]]["state"] == "truncated"


def test_skip_corrupt_accepts_the_damage_and_exits_0(logdir):
    result = run_cli("ls", logdir, "--skip-corrupt")
    assert result.exit_code == 0
    warnings = [x for x in result.stderr.splitlines() if x.startswith("tbtool: warning: skipped")]
    assert len(warnings) == 2 and not _errors(result.stderr)
    assert any(NOT_EVENTS in w for w in warnings)


def test_dump_prints_every_readable_value_then_fails(logdir, good_only):
    result = run_cli("dump", logdir, "--format", "jsonl")
    assert result.exit_code == 2
    want = run_cli("dump", good_only, "--format", "jsonl")
    assert want.exit_code == 0, want.output

    def key(line: str) -> tuple:
        v = json.loads(line)
        return v["run"], v["tag"], v["step"], v["kind"]

    assert sorted(map(key, result.stdout.splitlines())) == sorted(
        map(key, want.stdout.splitlines())
    )
    _assert_named(result.stderr, logdir)


def test_dump_raw_goes_on_past_the_damage(logdir):
    result = run_cli("dump", logdir, "--raw", "--run", "junk|middle")
    assert result.exit_code == 2
    assert result.stdout.count("# run middle") == 3
    _assert_named(result.stderr, logdir)


def test_summary_has_a_row_per_readable_run(logdir):
    result = run_cli("summary", logdir, "--format", "csv", "-q")
    assert result.exit_code == 2
    rows = result.stdout.splitlines()[1:]
    assert [r.split(",")[0] for r in rows if r.startswith("good/")] == [
        "good/run0-sgd-lr0.003",
        "good/run1-adamw-lr0.01",
    ]
    _assert_named(result.stderr, logdir)


def test_diff_compares_what_it_can_and_fails(logdir):
    result = run_cli("diff", logdir, logdir, "-q")
    assert result.exit_code == 2
    _assert_named(result.stderr, logdir)
    assert "and 1 more" not in result.stderr  # one file read by both sides: named once


def test_check_fails_the_gate_with_validate_codes(logdir):
    result = run_cli("check", logdir, "--require-tag", "loss/*", "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    files = _files(logdir)
    got = {(f["code"], f["file"], f["offset"], f["severity"]) for f in findings}
    assert got == {
        ("not-event-file", files["junk"], 0, "error"),
        ("length-crc-mismatch", files["middle"], 122, "error"),
    }


# -- export refuses, unless told to skip --------------------------------------------------------
def test_export_refuses_naming_every_damaged_file(logdir, tmp_path):
    result = run_cli("export", logdir, "-o", tmp_path / "out.csv", "-q")
    assert result.exit_code == 2
    _assert_named(result.stderr, logdir)
    assert "exported" not in result.stderr


def test_export_skip_corrupt_exports_the_rest_and_says_what_it_skipped(logdir, good_only, tmp_path):
    out, want = tmp_path / "out.csv", tmp_path / "want.csv"
    result = run_cli("export", logdir, "-o", out, "--skip-corrupt")
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.stderr.splitlines() if x.startswith("tbtool: warning: skipped")]
    assert len(warnings) == 2 and any(NOT_EVENTS in w for w in warnings)
    assert run_cli("export", good_only, "-o", want).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(want))


# -- the library ------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["batch", "events"])
def test_library_raises_after_reading_naming_every_damaged_file(logdir, engine):
    with pytest.raises(DamagedFiles) as info:
        tbtool.read_scalars(logdir, engine=engine)
    files = _files(logdir)
    assert [(d.file, d.first.code, d.offset) for d in info.value.files] == [
        (files["junk"], "not-event-file", 0),
        (files["middle"], "length-crc-mismatch", 122),
    ]
    assert NOT_EVENTS in str(info.value) and "skip_corrupt=True" in str(info.value)


def test_both_paths_raise_the_same_error(logdir):
    def outcome(engine: str) -> str:
        try:
            list(LogReader(logdir).values(engine=engine))
        except DamagedFiles as e:
            return str(e)
        return "no error"

    assert outcome("batch") == outcome("events") != "no error"


@pytest.mark.parametrize("engine", ["batch", "events"])
def test_library_skip_corrupt_returns_everything_readable(logdir, good_only, engine):
    reader = LogReader(logdir, skip_corrupt=True)
    got = tbtool.read_scalars(reader, engine=engine)
    want = tbtool.read_scalars(good_only, engine=engine)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    assert [d.first.code for d in reader.damage()] == ["not-event-file", "length-crc-mismatch"]


def test_every_damaged_fixture_is_named_as_validate_names_it():
    """The reading commands' words for a damaged file are validate's (one classification)."""
    for run in sorted(p.name for p in CORRUPT.iterdir()):
        reader = LogReader(CORRUPT / run, skip_corrupt=True)
        list(reader.values())
        findings = {
            (f.code, f.message, f.offset)
            for f in validate(CORRUPT / run).findings
            if f.offset is not None
        }
        for damage in reader.damage():
            first = damage.first
            assert (first.code, first.message, first.offset) in findings, run


def test_zero_padding_is_noted_not_a_failure():
    path = CORRUPT / "trailing_zero_padding"
    (damage,) = damaged_files(_read(path))
    assert damage.first.code in TOLERATED and damage.tolerated
    result = run_cli("ls", path)
    assert result.exit_code == 0 and "zero bytes after the last record" in result.stdout
    assert run_cli("dump", path).exit_code == 0
    tbtool.read_scalars(path)  # no error: nothing readable was lost


def _read(path: Path) -> list:
    reader = LogReader(path, skip_corrupt=True)
    list(reader.values())
    return reader.problems


def test_classify_tells_the_three_situations_apart(logdir):
    files = _files(logdir)
    reader = LogReader(logdir, skip_corrupt=True)
    list(reader.events())
    codes = {p.file: classify(p).code for p in reader.problems}
    assert codes == {files["junk"]: "not-event-file", files["middle"]: "length-crc-mismatch"}
    assert reader.file_status[files["live"]].state.value == "truncated"


@pytest.mark.parametrize(("command", "name"), [("plot", "chart.png"), ("report", "report.html")])
def test_plot_and_report_refuse_and_write_nothing(logdir, tmp_path, command, name):
    out = tmp_path / name
    result = run_cli(command, logdir, "-o", out, "-q")
    assert result.exit_code == 2
    _assert_named(result.stderr, logdir)
    assert not out.exists()
    result = run_cli(command, logdir, "-o", out, "-q", "--skip-corrupt")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_watch_once_shows_the_good_runs_and_fails(logdir):
    result = runner.invoke(app, ["watch", str(logdir), "--once"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "good/run0-sgd-lr0.003" in result.stdout
    _assert_named(result.stderr, logdir)
    assert run_cli("watch", logdir, "--once", "--skip-corrupt").exit_code == 0


def test_dump_follow_names_a_damaged_file_when_met_and_once(logdir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tbtool", "dump", str(logdir), "--follow", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    seen = ""  # damaged files are named while following, before any Ctrl-C
    while time.monotonic() < deadline and len(_errors(seen)) < 2:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert NOT_EVENTS in seen and "good/run1" in out
    _assert_named(seen + err, logdir)  # and not named again at the end
