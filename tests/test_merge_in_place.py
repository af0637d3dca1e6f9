"""merge --in-place: one clean file per run where it lives, with the rewrite safety rules."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from test_rewrite import copy_fixture, ours, runner, sorted_series, write_run
from viewers import python_loader_scalars, rustboard_scalars

import tbtool
from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.ops import merge_in_place
from tbtool.ops.rewrite import BACKUP_DIR
from tbtool.ops.validate import validate
from tbtool.runs.logdir import find_runs

TORCH_RESUMED = {
    "loss": [(s, 10.0 - s) for s in range(5)] + [(s, 1000.0 + s) for s in (5, 6, 7)],
    "loss_new_style": [(s, 20.0 - s) for s in range(5)] + [(s, 2000.0 + s) for s in (5, 6, 7)],
    "other": [(s, 100.0 + s) for s in range(5)],
}


def event_files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if "tfevents" in p.name}


def test_torch_resume_becomes_one_file_every_viewer_agrees_with(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    originals = event_files(logdir)
    assert len(originals) == 2
    plan = merge_in_place.plan(logdir)
    (item,) = plan.changing
    assert item.run.dropped_by_restarts > 0
    merge_in_place.apply(plan)
    after = event_files(logdir)
    assert list(after) == [next(iter(originals))]  # the first file's name, now the whole run
    assert plan.replaced == [str(logdir / next(iter(originals)))] and len(plan.removed) == 1
    assert ours(logdir)["."] == TORCH_RESUMED
    assert ours(tbtool.LogReader(logdir, purge=False))["."] == TORCH_RESUMED
    assert sorted_series(python_loader_scalars(str(logdir)))["."] == TORCH_RESUMED
    assert sorted_series(rustboard_scalars(str(logdir)))["."] == TORCH_RESUMED
    codes = {f.code for f in validate(logdir).findings}
    assert "restart" not in codes and validate(logdir).count("error") == 0
    # the backup restores the original files byte for byte
    for name in after:
        (logdir / name).unlink()
    with tarfile.open(plan.backups[0]) as tar:
        tar.extractall(logdir, filter="data")
    assert event_files(logdir) == originals


def test_clean_single_file_runs_are_left_alone(tmp_path):
    write_run(tmp_path / "a" / "events.out.tfevents.1.h", range(5))
    write_run(tmp_path / "b" / "events.out.tfevents.1.h", range(3))
    write_run(tmp_path / "b" / "events.out.tfevents.2.h", range(3, 6), value_offset=3)
    before_a = event_files(tmp_path / "a")
    plan = merge_in_place.plan(tmp_path)
    assert [(i.run.name, i.changes) for i in plan.runs] == [("a", False), ("b", True)]
    merge_in_place.apply(plan, keep_backup=False)
    assert event_files(tmp_path / "a") == before_a
    assert list(event_files(tmp_path / "b")) == ["events.out.tfevents.1.h"]
    assert ours(tmp_path)["b"]["loss"] == [(s, float(s)) for s in range(6)]
    assert not (tmp_path / BACKUP_DIR).exists()


def test_stopped_between_replace_and_delete_is_repaired_by_running_again(tmp_path, monkeypatch):
    logdir = copy_fixture("torch_purge", tmp_path)

    def stopped(path: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(merge_in_place, "remove_verified", stopped)
    with pytest.raises(KeyboardInterrupt):
        merge_in_place.apply(merge_in_place.plan(logdir))
    assert len(event_files(logdir)) == 2  # the merged first file plus the second original
    assert ours(logdir)["."] == TORCH_RESUMED  # no value lost or doubled for a reader
    monkeypatch.undo()
    merge_in_place.apply(merge_in_place.plan(logdir))
    assert len(event_files(logdir)) == 1
    assert sorted_series(rustboard_scalars(str(logdir)))["."] == TORCH_RESUMED


def test_duplicates_from_copied_files_are_dropped(tmp_path):
    write_run(tmp_path / "events.out.tfevents.1.h", range(4))
    (tmp_path / "events.out.tfevents.2.h").write_bytes(
        (tmp_path / "events.out.tfevents.1.h").read_bytes()
    )
    plan = merge_in_place.apply(merge_in_place.plan(tmp_path, rule=None))
    assert plan.runs[0].run.duplicates == 4  # file_versions are replaced by one, not counted
    assert ours(tmp_path)["."]["loss"] == [(s, float(s)) for s in range(4)]


def test_refuses_damaged_growing_changed_and_escaping_runs(tmp_path):
    broken = copy_fixture("corrupt", tmp_path)
    with pytest.raises(UsageError, match=r"bytes \d+\.\.\d+.*-o salvages"):
        merge_in_place.plan(broken / "data_crc_flip_decodable")
    with pytest.raises(UsageError, match="still being written"):
        merge_in_place.plan(broken / "truncated_mid_record")
    run = tmp_path / "growing"
    write_run(run / "events.out.tfevents.1.h", range(3))
    write_run(run / "events.out.tfevents.2.h", range(3, 6))
    plan = merge_in_place.plan(run)
    write_run(run / "events.out.tfevents.2.h", range(3, 9))  # the writer went on after the plan
    before = event_files(run)
    with pytest.raises(merge_in_place.SourceChanged, match="changed since the plan"):
        merge_in_place.apply(plan)
    assert event_files(run) == before
    outside = tmp_path / "outside" / "events.out.tfevents.1.h"
    write_run(outside, range(3))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "events.out.tfevents.1.h").symlink_to(outside)
    with pytest.raises(UsageError, match="symlink"):
        merge_in_place.plan(linked)


def test_cli_in_place_plan_confirmation_and_json(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    before = event_files(logdir)
    dry = runner.invoke(app, ["merge", str(logdir), "--in-place", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 file(s) to replace by 1" in dry.stdout
    refused = runner.invoke(app, ["merge", str(logdir), "--in-place"])  # no terminal, no --yes
    assert refused.exit_code == 1 and event_files(logdir) == before
    both = runner.invoke(app, ["merge", str(logdir), "--in-place", "-o", str(tmp_path / "o")])
    assert both.exit_code == 2 and "exactly one of -o DIR or --in-place" in both.output
    assert runner.invoke(app, ["merge", str(logdir)]).exit_code == 2
    sorted_ = runner.invoke(app, ["merge", str(logdir), "--in-place", "--sort", "step"])
    assert sorted_.exit_code == 2
    done = runner.invoke(app, ["merge", str(logdir), "--in-place", "--yes", "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert len(result["replaced"]) == 1 and len(result["removed"]) == 1 and result["backups"]
    assert [len(r.files) for r in find_runs(logdir)] == [1]


def test_cli_dry_run_of_a_merge_into_out_writes_nothing(tmp_path):
    logdir = copy_fixture("torch_purge", tmp_path)
    out = tmp_path / "merged"
    dry = runner.invoke(app, ["merge", str(logdir), "-o", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 file(s)" in dry.stdout and not out.exists()
    args = ["merge", str(logdir), "-o", str(out), "--dry-run", "--format", "json"]
    planned = json.loads(runner.invoke(app, args).stdout)
    assert [len(r["sources"]) for r in planned["runs"]] == [2] and not out.exists()
    assert runner.invoke(app, ["merge", str(logdir), "-o", str(out), "--yes"]).exit_code == 2
