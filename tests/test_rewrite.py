"""purge and merge: every viewer shows the truth afterwards, and nothing is ever lost."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from viewers import python_loader_scalars, rustboard_scalars

import tbtool
from tbtool.cli import app
from tbtool.errors import TruncatedRecord, UsageError
from tbtool.format.record import RecordWriter
from tbtool.ops import purge_steps
from tbtool.ops.merge import merge
from tbtool.ops.rewrite import BACKUP_DIR, TMP_PREFIX
from tbtool.ops.validate import validate
from tbtool.proto import event_pb2, summary_pb2
from tbtool.runs.logdir import find_runs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
runner = CliRunner()


def copy_fixture(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name / "logdir", target)
    return target


def ours(logdir) -> dict:
    df = tbtool.read_scalars(logdir)
    out: dict = {}
    for run, tag, step, value in zip(df.run, df.tag, df.step, df.value, strict=True):
        out.setdefault(run, {}).setdefault(tag, []).append((int(step), float(value)))
    return out


def sorted_series(series: dict) -> dict:
    return {
        run: {tag: sorted(points) for tag, points in tags.items()} for run, tags in series.items()
    }


def test_materialized_torch_resume_looks_the_same_in_every_viewer(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    before = rustboard_scalars(str(logdir))
    assert [s for s, _ in before["."]["other"]] == list(range(10))  # rustboard: not purged
    plan = purge_steps.plan(logdir, restarts="start")
    assert plan.dropped == 15
    purge_steps.apply(plan, restarts="start")
    expected = {
        "loss": [(s, 10.0 - s) for s in range(5)] + [(s, 1000.0 + s) for s in (5, 6, 7)],
        "loss_new_style": [(s, 20.0 - s) for s in range(5)] + [(s, 2000.0 + s) for s in (5, 6, 7)],
        "other": [(s, 100.0 + s) for s in range(5)],
    }
    assert ours(logdir)["."] == expected
    assert ours(tbtool.LogReader(logdir, purge=False))["."] == expected  # no purge needed now
    assert sorted_series(python_loader_scalars(str(logdir)))["."] == expected
    assert sorted_series(rustboard_scalars(str(logdir)))["."] == expected
    assert validate(logdir).count("error") == 0
    (archive,) = plan.backups
    assert os.path.dirname(archive) == str(logdir / BACKUP_DIR)


def test_tf1_restart_and_rewind_rule(tmp_path):
    logdir = copy_fixture("tf1_legacy", tmp_path)
    purge_steps.apply(purge_steps.plan(logdir, restarts="start"), restarts="start")
    steps = sorted_series(python_loader_scalars(str(logdir)))["."]["loss"]
    assert [s for s, _ in steps] == list(range(8))
    # rewind on hand-made steps 0,1,2,2,3,1,4 keeps what rustboard shows: 0, 1 (new), 4
    run = tmp_path / "rewind"
    write_run(run / "events.out.tfevents.1.h", [0, 1, 2, 2, 3, 1, 4])
    shown = rustboard_scalars(str(run))["."]["loss"]
    purge_steps.apply(purge_steps.plan(run, restarts="rewind"), restarts="rewind")
    assert (
        ours(tbtool.LogReader(run, purge=False))["."]["loss"]
        == shown
        == [(0, 0.0), (1, 5.0), (4, 6.0)]
    )


def write_run(
    path: Path, steps, *, tag: str = "loss", start: int | None = None, value_offset: float = 0.0
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        if start is not None:
            log = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            w.write(event_pb2.Event(step=start, wall_time=1.0, session_log=log).SerializeToString())
        for i, step in enumerate(steps):
            value = summary_pb2.Summary.Value(tag=tag, simple_value=value_offset + i)
            w.write(
                event_pb2.Event(
                    step=step, wall_time=2.0 + i, summary=summary_pb2.Summary(value=[value])
                ).SerializeToString()
            )


def test_multiple_starts_across_files(tmp_path):
    write_run(tmp_path / "events.out.tfevents.1.h", range(10))
    write_run(tmp_path / "events.out.tfevents.2.h", range(6, 9), start=6, value_offset=100)
    write_run(tmp_path / "events.out.tfevents.3.h", range(3, 5), start=3, value_offset=200)
    plan = purge_steps.plan(tmp_path, restarts="start")
    assert [f.dropped_values for r in plan.runs for f in r.files] == [7, 3, 0]
    purge_steps.apply(plan, restarts="start")
    assert sorted_series(rustboard_scalars(str(tmp_path)))["."]["loss"] == [
        (0, 0.0),
        (1, 1.0),
        (2, 2.0),
        (3, 200.0),
        (4, 201.0),
    ]


def test_purge_step_with_tags_keeps_graphs_and_hparams(tmp_path):
    logdir = copy_fixture("torch_all", tmp_path)
    plan = purge_steps.plan(logdir, step=1, tags=["scalar/*"])
    dropped = {t.tag: t.dropped for r in plan.runs for t in r.tags.values() if t.dropped}
    assert dropped == {"scalar/default": 4, "scalar/new_style": 4, "scalar/new_style_double": 4}
    everything = purge_steps.plan(logdir, step=0)
    purge_steps.apply(everything, step=0, keep_backup=False)
    kinds = {v.kind for v in tbtool.LogReader(logdir).values()}
    assert kinds == {"graph", "run_metadata", "hparams", "custom_scalars", "file_version"}
    assert not (logdir / BACKUP_DIR).exists()
    # add_scalars sub-runs were purged too (they are runs of the logdir)
    assert tbtool.read_scalars(logdir).empty


def test_purge_refuses_damaged_growing_and_escaping_files(tmp_path):
    broken = copy_fixture("corrupt", tmp_path)
    with pytest.raises(tbtool.TbtoolError) as info:
        purge_steps.plan(broken / "length_crc_flip", step=0)
    assert "byte offset 122" in str(info.value)
    with pytest.raises(UsageError, match="still being written"):
        purge_steps.plan(broken / "truncated_mid_record", step=0)
    outside = tmp_path / "outside"
    write_run(outside / "events.out.tfevents.1.h", range(3))
    link_run = tmp_path / "linked" / "run"
    link_run.mkdir(parents=True)
    os.symlink(outside / "events.out.tfevents.1.h", link_run / "events.out.tfevents.1.h")
    with pytest.raises(UsageError, match="symlink"):
        purge_steps.plan(tmp_path / "linked", step=0)
    assert TruncatedRecord  # the reader's type for complete-file requirements exists


def test_backup_restores_the_original_bytes(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    originals = {p.name: p.read_bytes() for p in logdir.iterdir() if p.is_file()}
    plan = purge_steps.apply(purge_steps.plan(logdir, step=3), step=3)
    assert {p.name: p.read_bytes() for p in logdir.iterdir() if p.is_file()} != originals
    with tarfile.open(plan.backups[0]) as tar:
        tar.extractall(logdir, filter="data")
    assert {p.name: p.read_bytes() for p in logdir.iterdir() if p.is_file()} == originals


def test_cli_plan_confirmation_and_json(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    before = {p: p.read_bytes() for p in logdir.iterdir() if p.is_file()}
    dry = runner.invoke(app, ["purge", str(logdir), "--step", "5", "--dry-run"])
    assert dry.exit_code == 0 and "loss: drop 8, keep 5" in dry.stdout
    refused = runner.invoke(app, ["purge", str(logdir), "--step", "5"])  # no terminal, no --yes
    assert refused.exit_code == 1
    assert {p: p.read_bytes() for p in logdir.iterdir() if p.is_file()} == before
    done = runner.invoke(app, ["purge", str(logdir), "--step", "5", "--yes", "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["dropped"] == 21 and len(result["rewritten"]) == 2 and result["backups"]
    assert (
        runner.invoke(app, ["purge", str(logdir)]).exit_code == 2
    )  # neither --step nor --restarts


def _slow_purge(path: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tbtool", "purge", path, "--step", "60000", "--yes", "--no-backup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_mid_write_leaves_the_original(tmp_path):
    run = tmp_path / "big"
    path = run / "events.out.tfevents.1.h"
    write_run(path, range(120_000))
    original = path.read_bytes()
    killed = False
    for _attempt in range(5):  # on a busy machine the purge can finish before it is caught
        proc = _slow_purge(str(run))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmps = [p for p in run.iterdir() if p.name.startswith(TMP_PREFIX)]
            if tmps and tmps[0].stat().st_size > 0:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.001)
        proc.wait()
        if killed:
            break
        path.write_bytes(original)  # it finished: put the original back and try again
    assert killed, "purge finished before it could be interrupted, five times"
    assert path.read_bytes() == original  # old data intact; only a stray temp file remains
    assert [p.name for p in run.iterdir() if "tfevents" in p.name] == [path.name]
    # a second run completes the job and is not confused by the stray temp file
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tbtool",
            "purge",
            str(run),
            "--step",
            "60000",
            "--yes",
            "--no-backup",
        ],
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0
    assert len(tbtool.read_scalars(run)) == 60_000


# -- merge ------------------------------------------------------------------------------------
def _log_in_process(args) -> None:
    logdir, worker = args
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(logdir) as w:
        for step in range(worker * 10, worker * 10 + 10):
            w.add_scalar("loss", float(step), step)
            w.add_scalar(f"worker{worker}/only", float(worker), step)


def test_merge_runs_written_in_parallel_by_several_processes(tmp_path):
    pytest.importorskip("torch")
    logdir = tmp_path / "parallel"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.map(_log_in_process, [(str(logdir), w) for w in range(3)])
    (run,) = find_runs(logdir)
    assert len(run.files) == 3
    result = merge([logdir], tmp_path / "merged", sort_by_step=True)
    assert len(result.runs) == 1
    merged = ours(tmp_path / "merged")["."]
    assert [s for s, _ in merged["loss"]] == list(range(30))
    assert {t for t in merged} == {"loss", "worker0/only", "worker1/only", "worker2/only"}
    assert len(find_runs(tmp_path / "merged")[0].files) == 1
    # (sorting by step interleaves the workers' clocks: wall-time warnings, no errors)
    assert validate(tmp_path / "merged").count("error") == 0
    assert (
        sorted_series(python_loader_scalars(str(tmp_path / "merged")))["."]["loss"]
        == (merged["loss"])
    )


def test_merge_salvages_corrupt_runs_and_drops_duplicates(tmp_path):
    corrupt = FIXTURES / "corrupt" / "logdir"
    result = merge(
        [corrupt / "length_crc_flip", corrupt / "truncated_mid_record"],
        tmp_path / "out",
        layout="sub-run",
    )
    by_name = {r.name: r for r in result.runs}
    assert set(by_name) == {"length_crc_flip", "truncated_mid_record"}
    salvaged = by_name["length_crc_flip"]
    assert [(s.start, s.end, s.reason) for s in salvaged.skipped] == [
        (122, 164, "length CRC mismatch")
    ]
    values = ours(tmp_path / "out")
    assert [s for s, _ in values["length_crc_flip"]["loss"]] == [0, 1, 3, 4]
    assert by_name["truncated_mid_record"].skipped[0].reason == "truncated final record"
    assert validate(tmp_path / "out").count("error") == 0
    dup = merge(
        [FIXTURES / "torch_purge" / "logdir", FIXTURES / "torch_purge" / "logdir"],
        tmp_path / "dup",
        rule=None,
    )
    # 40 records per copy, 3 of them file_version events (torch's purge_step writes a second
    # one): the other 37 come twice
    assert dup.runs[0].duplicates == 37 and dup.runs[0].records_out == 1 + 37


def test_merge_layouts_and_refusals(tmp_path):
    a, b = FIXTURES / "torch_purge" / "logdir", FIXTURES / "tbx_purge" / "logdir"
    prefixed = merge([a, b], tmp_path / "p", layout="tag-prefix")
    assert len(prefixed.runs) == 1
    tags = set(tbtool.read_scalars(tmp_path / "p").tag)
    assert {"logdir/loss", "logdir_2/loss"} <= tags
    with pytest.raises(UsageError, match="overlaps"):
        merge([a], a / "sub")
    with pytest.raises(UsageError, match="already holds event files"):
        merge([a], tmp_path / "p")
    cli = runner.invoke(app, ["merge", str(a), "-o", str(tmp_path / "cli"), "--format", "json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["runs"][0]["dropped_by_restarts"] == 15
