"""tbtool clean: selections, plan-first safety, symlinks, non-event files, vanishing files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.format.record import RecordWriter
from tbtool.ops import clean
from tbtool.proto import event_pb2, summary_pb2

DAY = 86400.0
NOW = 1_800_000_000.0
runner = CliRunner()


def make_run(path: Path, *, newest: float, steps: int = 5, name: str = "events.out.tfevents.1.h"):
    path.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path / name) as w:
        w.write(
            event_pb2.Event(
                wall_time=newest - steps, file_version="brain.Event:2"
            ).SerializeToString()
        )
        for step in range(steps):
            value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0)
            w.write(
                event_pb2.Event(
                    wall_time=newest - steps + step + 1,
                    step=step,
                    summary=summary_pb2.Summary(value=[value]),
                ).SerializeToString()
            )
    return path


@pytest.fixture
def logdir(tmp_path):
    root = tmp_path / "logs"
    make_run(root / "exp" / "old", newest=NOW - 40 * DAY)
    make_run(root / "exp" / "older", newest=NOW - 50 * DAY)
    make_run(root / "exp" / "recent", newest=NOW - 1 * DAY)
    make_run(root / "short", newest=NOW - 60 * DAY, steps=2)
    make_run(root / "empty", newest=NOW - 60 * DAY, steps=0)
    (root / "exp" / "old" / "model.ckpt").write_bytes(b"weights")
    (root / "exp" / "old" / "projector_config.pbtxt").write_text("embeddings {}\n")
    emb = root / "exp" / "old" / "00000" / "default"
    emb.mkdir(parents=True)
    (emb / "tensors.tsv").write_text("1\t2\n")
    return root


def names(plan):
    return sorted(a.facts.run.name for a in plan.selected)


def test_selections_combine_with_and(logdir):
    assert names(clean.plan(logdir, older_than=30 * DAY, now=NOW)) == [
        "empty",
        "exp/old",
        "exp/older",
        "short",
    ]
    assert names(clean.plan(logdir, empty=True, now=NOW)) == ["empty"]
    assert names(clean.plan(logdir, min_steps=3, now=NOW)) == ["empty", "short"]
    assert names(clean.plan(logdir, older_than=30 * DAY, min_steps=3, now=NOW)) == [
        "empty",
        "short",
    ]
    assert names(clean.plan(logdir, keep_last=2, now=NOW)) == ["exp/older"]
    assert names(clean.plan(logdir, older_than=30 * DAY, runs=["^exp/"], now=NOW)) == [
        "exp/old",
        "exp/older",
    ]
    with pytest.raises(UsageError, match="nothing selects"):
        clean.plan(logdir)


def test_age_by_mtime(logdir):
    for path in logdir.rglob("events.out.tfevents*"):
        os.utime(path, (NOW, NOW))
    assert names(clean.plan(logdir, older_than=DAY, by="mtime", now=NOW + 2 * DAY)) == [
        "empty",
        "exp/old",
        "exp/older",
        "exp/recent",
        "short",
    ]
    assert names(clean.plan(logdir, older_than=DAY, by="mtime", now=NOW)) == []


def test_removes_event_and_projector_files_keeps_the_rest(logdir):
    plan = clean.plan(logdir, older_than=45 * DAY, runs=["exp"], now=NOW)
    assert names(plan) == ["exp/older"]
    plan = clean.plan(logdir, older_than=35 * DAY, runs=["^exp/old$"], now=NOW)
    (action,) = plan.selected
    assert sorted(Path(p).name for p in action.remove) == [
        "events.out.tfevents.1.h",
        "projector_config.pbtxt",
        "tensors.tsv",
    ]
    assert [Path(p).name for p in action.keep] == ["model.ckpt"]
    clean.apply(plan)
    assert (logdir / "exp" / "old" / "model.ckpt").read_bytes() == b"weights"
    assert not (logdir / "exp" / "old" / "00000").exists()  # emptied directories go
    everything = clean.plan(
        logdir, older_than=35 * DAY, runs=["^exp/old$"], now=NOW, all_files=True
    )
    assert everything.selected == []  # no event files left: it is no longer a run
    clean.apply(clean.plan(logdir, empty=True, now=NOW))
    assert not (logdir / "empty").exists()


def test_all_files_and_sub_runs_untouched(tmp_path):
    root = tmp_path / "logs"
    make_run(root, newest=NOW - 90 * DAY)  # the logdir itself is run "."
    make_run(root / "child", newest=NOW)
    (root / "config.yaml").write_text("lr: 1\n")
    plan = clean.plan(root, older_than=30 * DAY, all_files=True, now=NOW)
    assert names(plan) == ["."]
    clean.apply(plan)
    assert not (root / "config.yaml").exists()
    assert (root / "child" / "events.out.tfevents.1.h").exists()


def test_symlinks_are_never_followed(tmp_path):
    outside = make_run(tmp_path / "outside", newest=NOW - 90 * DAY)
    root = tmp_path / "logs"
    make_run(root / "run", newest=NOW - 90 * DAY)
    os.symlink(outside, root / "linked_dir")
    os.symlink(outside / "events.out.tfevents.1.h", root / "run" / "events.out.tfevents.2.h")
    plan = clean.plan(root, older_than=DAY, now=NOW)
    assert names(plan) == ["run"]  # linked_dir was not followed
    (action,) = plan.selected
    assert [Path(p).name for p in action.keep] == ["events.out.tfevents.2.h"]
    clean.apply(plan)
    assert (outside / "events.out.tfevents.1.h").exists()
    assert os.path.islink(root / "run" / "events.out.tfevents.2.h")


def test_vanishing_files_and_refused_roots(logdir, tmp_path):
    plan = clean.plan(logdir, older_than=30 * DAY, now=NOW)
    os.unlink(logdir / "short" / "events.out.tfevents.1.h")  # removed by someone else meanwhile
    clean.apply(plan)
    assert plan.errors == []
    with pytest.raises(UsageError, match="home directory"):
        clean.plan(os.path.expanduser("~"), empty=True)
    with pytest.raises(UsageError):
        clean.plan("/", empty=True)


def test_trash_moves_instead_of_deleting(logdir, tmp_path):
    plan = clean.plan(logdir, empty=True, now=NOW)
    with pytest.raises(UsageError, match="outside"):
        clean.apply(plan, trash=str(logdir / "trash"))
    clean.apply(plan, trash=str(tmp_path / "trash"))
    (moved,) = list((tmp_path / "trash").rglob("events.out.tfevents.1.h"))
    assert moved.parent.name == "empty"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_errors_are_reported_and_cleaning_goes_on(logdir):
    locked = logdir / "short"
    os.chmod(locked, 0o555)
    try:
        plan = clean.apply(clean.plan(logdir, older_than=30 * DAY, now=NOW))
    finally:
        os.chmod(locked, 0o755)
    assert len(plan.errors) == 1 and "short" in plan.errors[0]
    assert not (logdir / "exp" / "older").exists()


def test_cli_refuses_without_terminal_and_prints_json(logdir):
    before = sorted(str(p) for p in logdir.rglob("*"))
    refused = runner.invoke(app, ["clean", str(logdir), "--empty"])
    assert refused.exit_code == 1 and "empty" in refused.stdout
    assert sorted(str(p) for p in logdir.rglob("*")) == before
    dry = runner.invoke(app, ["clean", str(logdir), "--empty", "--dry-run", "--format", "json"])
    assert dry.exit_code == 0 and json.loads(dry.stdout)["runs"][0]["run"] == "empty"
    done = runner.invoke(app, ["clean", str(logdir), "--empty", "--yes"])
    assert done.exit_code == 0 and "removed 1 file(s)" in done.stdout
    assert not (logdir / "empty").exists()
    assert runner.invoke(app, ["clean", str(logdir), "--older-than", "soon"]).exit_code == 2


def test_json_after_removal_reports_the_bytes_freed(logdir):
    dry = runner.invoke(app, ["clean", str(logdir), "--empty", "--dry-run", "--format", "json"])
    done = runner.invoke(app, ["clean", str(logdir), "--empty", "--yes", "--format", "json"])
    assert done.exit_code == 0
    freed = json.loads(done.stdout)["bytes"]
    assert freed > 0 and freed == json.loads(dry.stdout)["bytes"]


def test_a_run_at_a_project_root_takes_only_its_own_files(tmp_path):
    """Issue 17: the run "." of a project directory must not take .git/ or src/ with it."""
    root = tmp_path / "project"
    make_run(root, newest=NOW - 90 * DAY)  # an event file at the top: the run is "."
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('hi')\n")
    (root / "src" / "tensors.tsv").write_text("1\t2\n")  # a projector name, not the layout
    (root / "notes.txt").write_text("mine\n")
    emb = root / "00003" / "default"
    emb.mkdir(parents=True)
    (emb / "tensors.tsv").write_text("1\t2\n")
    plan = clean.plan(root, older_than=30 * DAY, all_files=True, now=NOW)
    (action,) = plan.selected
    removed = sorted(os.path.relpath(p, root) for p in action.remove)
    assert removed == ["00003/default/tensors.tsv", "events.out.tfevents.1.h", "notes.txt"]
    clean.apply(plan)
    assert (root / ".git" / "HEAD").exists() and (root / "src" / "train.py").exists()
    assert (root / "src" / "tensors.tsv").exists()


def test_the_plan_lists_every_path_it_removes(logdir):
    from typer.testing import CliRunner

    from tbtool.cli import app

    out = (
        CliRunner()
        .invoke(
            app,
            ["clean", str(logdir), "--last-step-below", "100", "--run", "^exp/old$", "--dry-run"],
        )
        .output
    )
    for name in ("events.out.tfevents.1.h", "projector_config.pbtxt", "00000/default/tensors.tsv"):
        assert f"remove exp/old/{name}" in out, out
