"""Run discovery and file order (contract.md "run", format.md §5.4 and §6)."""

from __future__ import annotations

import os

import pytest

from tbtool.errors import PathError, UsageError
from tbtool.runs.logdir import discover, find_runs, tag_matcher


def touch(path, data=b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_runs_are_dirs_directly_holding_event_files(tmp_path):
    touch(tmp_path / "events.out.tfevents.1.host")
    touch(tmp_path / "a" / "events.out.tfevents.2.host")
    touch(tmp_path / "a" / "b" / "c" / "events.out.tfevents.3.host")
    touch(tmp_path / "empty" / "notes.txt")
    touch(tmp_path / "x" / "y" / "model.ckpt")
    runs = find_runs(tmp_path)
    assert [r.name for r in runs] == [".", "a", "a/b/c"]
    assert runs[2].directory == str(tmp_path / "a" / "b" / "c")


def test_files_in_lexicographic_basename_order(tmp_path):
    # Counter "10" sorts before "2" (string order, format.md §5.4).
    names = [
        "events.out.tfevents.1700000001.host.99.2",
        "events.out.tfevents.1700000001.host.99.10",
        "events.out.tfevents.1700000000.host.99.0",
        "events.out.tfevents.1700000001.host.99.1.v2",
    ]
    for n in names:
        touch(tmp_path / n)
    (run,) = find_runs(tmp_path)
    assert [os.path.basename(f) for f in run.files] == sorted(names)
    assert os.path.basename(run.files[0]) == "events.out.tfevents.1700000000.host.99.0"
    assert os.path.basename(run.files[1]).endswith(".99.1.v2")
    assert os.path.basename(run.files[2]).endswith(".99.10")


def test_profile_empty_makes_a_run_but_is_not_read(tmp_path):
    touch(tmp_path / "prof" / "events.out.tfevents.1.host.profile-empty")
    (run,) = find_runs(tmp_path)
    assert run.name == "prof" and run.files == ()


def test_path_may_be_a_run_or_a_file(tmp_path):
    f = touch(tmp_path / "r" / "events.out.tfevents.1.h")
    assert [(r.name, r.files) for r in find_runs(tmp_path / "r")] == [(".", (str(f),))]
    # A file named explicitly is read whatever its name.
    g = touch(tmp_path / "copy.bin")
    assert find_runs(g)[0].files == (str(g),)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(PathError) as info:
        find_runs(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_symlinked_dirs_followed_once(tmp_path):
    touch(tmp_path / "real" / "events.out.tfevents.1.h")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path, tmp_path / "real" / "loop")  # a cycle
    names = [r.name for r in find_runs(tmp_path)]
    assert names == ["real"] or names == ["link"]


def test_several_paths_prefix_names_and_run_filter(tmp_path):
    touch(tmp_path / "one" / "events.out.tfevents.1.h")
    touch(tmp_path / "two" / "sub" / "events.out.tfevents.1.h")
    runs = discover([str(tmp_path / "one"), str(tmp_path / "two")])
    assert [r.name for r in runs] == [str(tmp_path / "one"), str(tmp_path / "two") + "/sub"]
    assert [r.name for r in discover(str(tmp_path), ["^tw"])] == ["two/sub"]
    assert [r.name for r in discover(str(tmp_path), ["nomatch", "one"])] == ["one"]
    with pytest.raises(UsageError):
        discover(str(tmp_path), ["("])


def test_tag_globs():
    ok = tag_matcher(["loss*", "*/acc"])
    assert ok("loss") and ok("loss/train") and ok("val/acc")
    assert not ok("accuracy")
    assert tag_matcher([])("anything")
