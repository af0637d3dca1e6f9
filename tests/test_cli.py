"""``tbtool ls`` and ``tbtool dump``: options, output formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.format.record import RecordWriter, encode_record
from tbtool.proto import event_pb2, summary_pb2
from tbtool.reading.log_reader import LogReader

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WRITER_FIXTURES = sorted(
    d.name for d in FIXTURES.iterdir() if (d / "expected.json").exists() and d.name != "corrupt"
)
runner = CliRunner()


def run_cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def logdir(name: str) -> str:
    return str(FIXTURES / name / "logdir")


@pytest.mark.parametrize("name", WRITER_FIXTURES)
def test_ls_and_dump_work_on_every_fixture(name):
    ls = run_cli("ls", logdir(name))
    assert ls.exit_code == 0, ls.output
    listing = json.loads(run_cli("ls", logdir(name), "--format", "json").stdout)
    assert listing["runs"]
    dump = run_cli("dump", logdir(name), "--format", "jsonl")
    assert dump.exit_code == 0, dump.output
    lines = [json.loads(line) for line in dump.stdout.splitlines()]
    assert lines and all(
        {"run", "file", "offset", "index", "step", "kind"} <= set(x) for x in lines
    )
    assert run_cli("dump", logdir(name)).exit_code == 0
    assert run_cli("dump", logdir(name), "--raw").exit_code == 0


def test_ls_shows_kinds_counts_and_last_values():
    out = run_cli("ls", logdir("torch_purge")).stdout
    assert "1 restart(s)" in out
    assert "loss" in out and "steps 0..7  8 value(s)  last 1007" in out
    data = json.loads(run_cli("ls", logdir("torch_purge"), "--format", "json").stdout)
    (run,) = data["runs"]
    scalars = {t["tag"]: t for t in run["tags"]["scalar"]}
    assert scalars["other"]["max_step"] == 4 and scalars["other"]["count"] == 5
    raw = json.loads(run_cli("ls", logdir("torch_purge"), "--format", "json", "--no-purge").stdout)
    assert {t["tag"]: t["count"] for t in raw["runs"][0]["tags"]["scalar"]}["other"] == 10
    assert [f["events"] for f in run["files"]] == [31, 9]


def test_ls_tag_filter_keeps_restarts_and_writers():
    full = json.loads(run_cli("ls", logdir("torch_purge"), "--format", "json").stdout)["runs"][0]
    args = ("ls", logdir("torch_purge"), "--format", "json", "--tag", "other")
    (run,) = json.loads(run_cli(*args).stdout)["runs"]
    assert [t["tag"] for t in run["tags"]["scalar"]] == ["other"]
    assert run["restarts"] == full["restarts"] == 1
    assert [f["writer"] for f in run["files"]] == [f["writer"] for f in full["files"]]
    assert all(f["writer"] for f in run["files"])
    assert run["last_wall_time"] <= full["last_wall_time"]


def test_dump_jsonl_values_and_filters():
    out = run_cli(
        "dump",
        logdir("torch_all"),
        "--format",
        "jsonl",
        "--kind",
        "scalar",
        "--tag",
        "scalar/default",
        "--steps",
        "1:3",
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["tag"], r["step"], r["kind"]) for r in rows] == [
        ("scalar/default", 1, "scalar"),
        ("scalar/default", 2, "scalar"),
    ]
    assert isinstance(rows[0]["value"], float) and rows[0]["offset"] > 0
    hist = json.loads(
        run_cli("dump", logdir("torch_all"), "--format", "jsonl", "--tag", "hist/constant").stdout
    )
    assert hist["value"] == [[3.0, 3.0, 10.0]]
    text = run_cli("dump", logdir("torch_all"), "--format", "jsonl", "--kind", "text").stdout
    assert json.loads(text.splitlines()[0])["value"] == ["hello *markdown*"]
    runs = run_cli(
        "dump", logdir("torch_all"), "--format", "jsonl", "--run", "^losses_", "--kind", "scalar"
    ).stdout
    assert {json.loads(x)["run"] for x in runs.splitlines()} == {"losses_train", "losses_val"}


def test_dump_non_summary_events_carry_their_fields():
    out = run_cli(
        "dump",
        logdir("tf1_legacy"),
        "--format",
        "jsonl",
        "--kind",
        "session_log",
        "--kind",
        "file_version",
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["file_version"] == "brain.Event:2"
    statuses = [r["session_log"]["status"] for r in rows[1:]]
    assert statuses == ["START", "CHECKPOINT", "START", "CHECKPOINT", "STOP"]


def test_dump_nan_is_strict_json():
    out = run_cli(
        "dump",
        str(FIXTURES / "corrupt" / "logdir" / "nonfinite_scalars"),
        "--format",
        "jsonl",
        "--kind",
        "scalar",
    ).stdout
    assert [json.loads(x)["value"] for x in out.splitlines()][:3] == [
        "NaN",
        "Infinity",
        "-Infinity",
    ]


def test_dump_raw_text_and_json():
    text = run_cli("dump", logdir("torch_purge"), "--raw", "--steps", "5").stdout
    assert "session_log {\n  status: START\n}" in text and "# run .  file " in text
    rows = [
        json.loads(x)
        for x in run_cli(
            "dump", logdir("torch_purge"), "--raw", "--format", "jsonl"
        ).stdout.splitlines()
    ]
    assert rows[0]["event"]["file_version"] == "brain.Event:2"
    assert len(rows) == 40


def test_usage_errors_exit_2():
    assert run_cli("dump", logdir("torch_all"), "--kind", "nope").exit_code == 2
    assert run_cli("dump", logdir("torch_all"), "--steps", "x:y").exit_code == 2
    assert run_cli("ls", logdir("torch_all"), "--run", "(").exit_code == 2
    assert run_cli("ls").exit_code == 2
    assert run_cli("dump", logdir("torch_all"), "--raw", "--kind", "scalar").exit_code == 2
    assert run_cli("nope").exit_code == 2


def cli_subprocess(*args: str, **kw):
    return subprocess.run(
        [sys.executable, "-m", "tbtool", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        **kw,
    )


def test_corrupt_input_one_line_error_exit_2(tmp_path):
    path = FIXTURES / "corrupt" / "logdir" / "length_crc_flip"
    result = cli_subprocess("dump", path)
    assert result.returncode == 2
    assert len(result.stdout.splitlines()) == 3  # the values before the damage
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith("tbtool: error: ") and "events.out.tfevents" in error
    assert "byte offset 122" in error and "(length-crc-mismatch)" in error
    assert "--skip-corrupt" in hint and "tbtool validate" in hint
    assert "Traceback" not in result.stderr
    debug = cli_subprocess("--debug", "export", path, "-o", tmp_path / "out.csv")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_path_exit_2():
    result = cli_subprocess("ls", "/no/such/dir")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "/no/such/dir" in result.stderr


def test_skip_corrupt_warns_and_succeeds():
    result = cli_subprocess("ls", FIXTURES / "corrupt" / "logdir", "--skip-corrupt")
    assert result.returncode == 0
    assert "warning: skipped" in result.stderr and "byte offset 122" in result.stderr


def test_version():
    result = cli_subprocess("--version")
    assert result.returncode == 0 and result.stdout.startswith("tbtool ")


# -- following growing files ------------------------------------------------------------------
def _event(**fields) -> bytes:
    return event_pb2.Event(**fields).SerializeToString()


def _scalar_event(step: int) -> bytes:
    value = summary_pb2.Summary.Value(tag="loss", simple_value=float(step))
    return _event(wall_time=1.0 + step, step=step, summary=summary_pb2.Summary(value=[value]))


def _append_slowly(path: Path, steps: range, pause: float) -> None:
    """A writer thread: appends records in two halves, like a process flushing mid-record."""
    for step in steps:
        data = encode_record(_scalar_event(step))
        with open(path, "ab") as f:
            f.write(data[:7])
            f.flush()
            time.sleep(pause)
            f.write(data[7:])
            f.flush()


def test_follow_reads_a_file_while_a_thread_appends(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    with RecordWriter(path) as w:
        w.write(_event(wall_time=1.0, file_version="brain.Event:2"))
    writer = threading.Thread(target=_append_slowly, args=(path, range(20), 0.005))
    seen: list[int] = []
    deadline = time.monotonic() + 30
    reader = LogReader(str(tmp_path))
    writer.start()
    for item in reader.follow(poll_interval=0.01, stop=lambda: time.monotonic() > deadline):
        if item is None:
            if len(seen) == 20:
                break
            continue
        _, record = item
        if record.event.HasField("summary"):
            seen.append(record.event.step)
    writer.join()
    assert seen == list(range(20))
    assert reader.problems == []


def test_dump_follow_cli_sees_appended_values(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    with RecordWriter(path) as w:
        w.write(_event(wall_time=1.0, file_version="brain.Event:2"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tbtool",
            "dump",
            str(tmp_path),
            "--follow",
            "--interval",
            "0.05",
            "--format",
            "jsonl",
            "--kind",
            "scalar",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        writer = threading.Thread(target=_append_slowly, args=(path, range(5), 0.01))
        writer.start()
        steps = []
        for line in proc.stdout:
            steps.append(json.loads(line)["step"])
            if len(steps) == 5:
                break
        writer.join()
        assert steps == [0, 1, 2, 3, 4]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
