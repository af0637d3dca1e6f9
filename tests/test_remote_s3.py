"""Remote logdirs against a real S3-compatible server on loopback (moto's server mode, see
s3_server.py): every command that reads, export straight to s3://, merge / purge / clean
with their safety steps, the writer, and ``dump --follow`` on a growing object."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest

pytest.importorskip("moto")
pytest.importorskip("s3fs")

import remote_support
from remote_support import (
    check_folder_markers,
    check_readers_equal,
    cli,
    keys,
    upload_dir,
    write_logdir,
)
from s3_server import moto_s3

import tbtool
from tbtool import storage
from tbtool.format.record import ReadState, RecordReader
from tbtool.reading.log_reader import LogReader


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as endpoint:
        yield endpoint


def new_bucket() -> str:
    return remote_support.new_bucket("s3")


@pytest.fixture(scope="module")
def local_logdir(tmp_path_factory):
    return write_logdir(tmp_path_factory.mktemp("logdir"))


@pytest.fixture(scope="module")
def logdir(s3, local_logdir) -> str:
    """The local logdir uploaded once, read-only for the tests that use it."""
    return upload_dir(local_logdir, new_bucket() + "/runs")


def copy_of(local_logdir) -> str:
    return upload_dir(local_logdir, new_bucket() + "/runs")


# -- reading -----------------------------------------------------------------------------------
def test_read_functions_equal_the_local_logdir(logdir, local_logdir):
    check_readers_equal(logdir, local_logdir)
    events = tbtool.read_scalars(logdir, engine="events")
    assert events.equals(tbtool.read_scalars(str(local_logdir), engine="events"))
    assert sorted(tbtool.read_scalars(logdir)["run"].unique()) == [
        "eval/sub",
        "eval/sub/hp",
        "train",
    ]


def test_ls_and_dump(logdir, local_logdir):
    out = cli("ls", logdir, "--format", "json")
    assert out.exit_code == 0, out.output
    listing = json.loads(out.stdout)
    local = json.loads(cli("ls", local_logdir, "--format", "json").stdout)

    def summary(data):
        return [
            (r["run"], len(r["files"]), json.dumps(r["tags"], sort_keys=True)) for r in data["runs"]
        ]

    assert summary(listing) == summary(local)
    assert all(f["path"].startswith(logdir) for r in listing["runs"] for f in r["files"])
    assert all(f["size"] > 0 for r in listing["runs"] for f in r["files"])
    assert "train" in cli("ls", logdir).stdout
    dump = cli("dump", logdir, "--format", "jsonl", "--run", "^train$")
    assert dump.exit_code == 0, dump.output
    lines = [json.loads(line) for line in dump.stdout.splitlines()]
    expected = [
        json.loads(line)
        for line in cli(
            "dump", local_logdir, "--format", "jsonl", "--run", "^train$"
        ).stdout.splitlines()
    ]
    assert lines[0]["file"].startswith(logdir + "/train/events.out.tfevents.")
    for line in lines + expected:
        line["file"] = os.path.basename(line["file"])
    assert lines == expected
    missing = cli("ls", logdir + "/nothing-here")
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_validate_and_check(s3, local_logdir, logdir):
    report = cli("validate", logdir, "--format", "json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["files"] == 4
    # A damaged copy: a flipped payload byte, and a truncated tail.
    bucket = new_bucket()
    data = bytearray((local_logdir / "eval" / "sub").glob("*tfevents*").__next__().read_bytes())
    second = 16 + int.from_bytes(data[:8], "little")  # the second record
    data[second + 12 + 2] ^= 0xFF  # a byte of its payload
    storage.write_bytes(f"{bucket}/bad/events.out.tfevents.1.h", bytes(data) + b"\x05\x00")
    report = cli("validate", f"{bucket}/bad", "--format", "json")
    assert report.exit_code == 1
    findings = json.loads(report.stdout)["findings"]
    assert {f["code"] for f in findings} >= {"data-crc-mismatch", "truncated-record"}
    assert all(f["file"] == f"{bucket}/bad/events.out.tfevents.1.h" for f in findings)
    ok = cli("check", logdir, "--require-tag", "loss", "--min-steps", "50", "--no-nan")
    assert ok.exit_code == 0, ok.output
    failed = cli("check", logdir, "--require-tag", "nope")
    assert failed.exit_code == 1


def test_folder_markers_are_directories(s3, local_logdir, tmp_path):
    check_folder_markers(new_bucket(), local_logdir, tmp_path)


# -- export ------------------------------------------------------------------------------------
def test_export_partitioned_parquet_straight_to_s3(logdir, local_logdir):
    import pyarrow.dataset as ds

    out = new_bucket() + "/exports/scalars"
    result = cli("export", logdir, "-o", out, "--partition-by", "run")
    assert result.exit_code == 0, result.output
    assert any(k.startswith("run=train/part-0.parquet") for k in keys(out))
    fs, key = storage.filesystem(out)
    table = ds.dataset(key, filesystem=fs, format="parquet", partitioning="hive").to_table()
    frame = table.to_pandas().sort_values(["run", "tag", "step"], ignore_index=True)
    expected = tbtool.read_scalars(str(local_logdir))
    expected = expected.sort_values(["run", "tag", "step"], ignore_index=True)
    assert frame["value"].tolist() == expected["value"].tolist()
    assert frame["run"].astype(str).tolist() == expected["run"].astype(str).tolist()
    again = cli("export", logdir, "-o", out, "--partition-by", "run")
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert cli("export", logdir, "-o", out, "--partition-by", "run", "--overwrite").exit_code == 0


def test_export_files_and_media_to_s3(logdir, local_logdir, tmp_path):
    import pyarrow.parquet as pq

    bucket = new_bucket()
    result = cli("export", logdir, "-o", f"{bucket}/one.parquet", "--kind", "histograms")
    assert result.exit_code == 0, result.output
    fs, key = storage.filesystem(f"{bucket}/one.parquet")
    with fs.open(key, "rb") as f:
        table = pq.read_table(f)
    assert table.num_rows == len(tbtool.read_histograms(str(local_logdir)))
    result = cli("export", logdir, "-o", f"{bucket}/all/", "--kind", "all", "--format", "csv")
    assert result.exit_code == 0, result.output
    names = keys(f"{bucket}/all")
    assert {"scalars.csv", "images.csv", "hparams.csv", "text.csv"} <= set(names)
    assert any(n.startswith("images/train/img/0_0.") for n in names)
    local = tmp_path / "all"
    assert cli("export", local_logdir, "-o", f"{local}/", "--kind", "all", "--format", "csv")
    assert storage.read_bytes(f"{bucket}/all/scalars.csv") == (local / "scalars.csv").read_bytes()


def test_export_to_s3_refuses_inputs_and_existing_objects(logdir, local_logdir):
    bucket = new_bucket()
    overlap = cli("export", logdir, "-o", f"{logdir}/train/scalars.parquet")
    assert overlap.exit_code == 2 and "overlaps input" in overlap.stderr
    assert cli("export", local_logdir, "-o", f"{bucket}/one.parquet").exit_code == 0
    before = storage.read_bytes(f"{bucket}/one.parquet")
    again = cli("export", local_logdir, "-o", f"{bucket}/one.parquet", "--run", "eval")
    assert again.exit_code == 2
    assert (
        again.stderr
        == f"tbtool: error: {bucket}/one.parquet exists; add --overwrite to replace it\n"
    )
    assert storage.read_bytes(f"{bucket}/one.parquet") == before
    nothing = cli("export", local_logdir, "-o", f"{bucket}/none/", "--kind", "all", "--tag", "x")
    assert nothing.exit_code == 1 and keys(bucket) == ["one.parquet"]


def test_export_overwrite_on_s3_replaces_only_its_entries(s3, local_logdir):
    import pyarrow.parquet as pq

    bucket = new_bucket()
    out = f"{bucket}/all"
    storage.write_bytes(f"{out}/notes.txt", b"mine")
    assert cli("export", local_logdir, "-o", out, "--kind", "all").exit_code == 0
    assert any(k.startswith("images/train/img/") for k in keys(out))
    again = cli("export", local_logdir, "-o", out, "--kind", "all", "--run", "eval")
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    result = cli("export", local_logdir, "-o", out, "--kind", "all", "--run", "eval", "--overwrite")
    assert result.exit_code == 0, result.output
    names = keys(out)  # the old run's images went with the images table they belonged to
    assert not any(k.startswith("images/") for k in names)
    assert "notes.txt" in names and not any(".tbtool-tmp" in k for k in names)
    fs, key = storage.filesystem(f"{out}/scalars.parquet")
    with fs.open(key, "rb") as f:
        assert set(pq.read_table(f).column("run").to_pylist()) == {"eval/sub", "eval/sub/hp"}


def test_killed_export_to_s3_uploads_nothing(s3, tmp_path):
    """Everything is staged locally and uploaded at the end: kill -9 while writing leaves
    the bucket as it was."""
    from tbtool.ops.synth.generate import synth

    logs = tmp_path / "logs"
    synth(logs, runs=4, tags=50, steps=10_000, kinds="scalars,images")
    out = new_bucket() + "/all"
    storage.write_bytes(f"{out}/scalars.parquet", b"old")
    staging = tmp_path / "tmp"
    staging.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tbtool", "export", str(logs), "-o", out, "--kind", "all",
         "--overwrite", "-q", "-j", "1"],
        env={**os.environ, "TMPDIR": str(staging)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.is_file() and p.stat().st_size for p in staging.rglob("*")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert keys(out) == ["scalars.parquet"]
    assert storage.read_bytes(f"{out}/scalars.parquet") == b"old"


# -- rewriting ---------------------------------------------------------------------------------
def test_merge_from_and_to_s3(logdir, local_logdir):
    out = new_bucket() + "/merged"
    result = cli("merge", f"{logdir}/train", "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert len([k for k in keys(out) if "tfevents" in k]) == 1
    assert not any(".tbtool-tmp" in k for k in keys(out))
    merged = tbtool.read_scalars(out)
    original = tbtool.read_scalars(str(local_logdir / "train"))
    assert merged.drop(columns="run").equals(original.drop(columns="run"))
    again = cli("merge", f"{logdir}/train", "-o", out)
    assert again.exit_code == 2 and "already holds event files" in again.output
    overlap = cli("merge", logdir, "-o", f"{logdir}/train/out")
    assert overlap.exit_code == 2 and "overlaps" in overlap.output


def test_purge_rewrites_objects_safely_with_a_backup(s3, local_logdir, tmp_path):
    url = copy_of(local_logdir)
    before = {k: storage.read_bytes(storage.join(url, k)) for k in keys(url) if "tfevents" in k}
    result = cli("purge", url, "--step", "10", "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dropped"] > 0 and plan["rewritten"]
    scalars = tbtool.read_scalars(url, purge=False)
    assert scalars["step"].max() < 10
    names = keys(url)
    assert not any(".tbtool-tmp" in k for k in names)
    (backup,) = [k for k in names if k.startswith(".tbtool-backups/purge-")]
    with tarfile.open(fileobj=io.BytesIO(storage.read_bytes(storage.join(url, backup)))) as tar:
        archived = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    rewritten = {storage.relative(p, url) for p in plan["rewritten"]}
    assert set(archived) == rewritten
    assert all(archived[k] == before[k] for k in archived)
    # --restarts on a fresh copy: materializes the START of the second file.
    url = copy_of(local_logdir)
    result = cli("purge", url, "--restarts", "--yes", "--no-backup")
    assert result.exit_code == 0, result.output
    assert tbtool.read_scalars(url, purge=False).equals(tbtool.read_scalars(url))


def test_clean_removes_objects(s3, local_logdir, tmp_path):
    url = copy_of(local_logdir)
    result = cli("clean", url, "--run", "^eval/sub$", "--min-steps", "100", "--dry-run")
    assert result.exit_code == 0 and keys(url) == keys(copy_of(local_logdir))
    result = cli(
        "clean", url, "--run", "^eval/sub$", "--min-steps", "100", "--yes", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    names = keys(url)
    assert not any(k.startswith("eval/sub/events") for k in names)
    assert any(k.startswith("eval/sub/hp/events") for k in names)  # a sub-run stays
    assert "eval/notes.txt" in names and any(k.startswith("train/") for k in names)
    # --trash moves instead of deleting (here to a local directory).
    trash = tmp_path / "trash"
    result = cli("clean", url, "--run", "^train$", "--min-steps", "100", "--yes", "--trash", trash)
    assert result.exit_code == 0, result.output
    assert not any(k.startswith("train/") for k in keys(url))
    assert len(list(trash.rglob("*tfevents*"))) == 2


# -- writing -----------------------------------------------------------------------------------
def test_writer_uploads_whole_objects(s3, tmp_path):
    url = new_bucket() + "/runs/exp"
    seen_states: list[ReadState] = []
    stop = threading.Event()

    def watch():  # every version a reader sees ends at a record boundary
        while not stop.is_set():
            for f in storage.list_files(url) if storage.isdir(url) else {}:
                if "tfevents" not in f:
                    continue
                with RecordReader(f) as reader:
                    for _ in reader:
                        pass
                    seen_states.append(reader.state)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        w = tbtool.SummaryWriter(url, flush_secs=0.05)
        (first,) = storage.list_files(url)  # visible as soon as it is created
        assert first == w.file_writer.path and first.startswith(url + "/events.out.tfevents.")
        local = w.file_writer.event_writer.local_path
        for i in range(200):
            w.add_scalar("loss", i, i)
            w.add_histogram("h", np.arange(10) + i, i)
            if i % 50 == 0:
                time.sleep(0.1)  # flush_secs passes: uploads happen meanwhile
        w.flush()
        assert len(tbtool.read_scalars(url)) == 200
        w.add_scalars("pair", {"a": 1, "b": 2}, 0)
        w.add_hparams({"lr": 0.1}, {"m": 1.0}, run_name="hp")
        w.add_embedding(np.eye(3), metadata=["a", "b", "c"], tag="emb")
        w.close()
    finally:
        stop.set()
        watcher.join()
    assert not os.path.exists(local)  # the staging file is gone after the last upload
    assert seen_states and all(s is ReadState.CLEAN_EOF for s in seen_states)
    frame = tbtool.read_scalars(url)
    assert sorted(frame["run"].unique()) == [".", "hp", "pair_a", "pair_b"]
    assert len(frame[frame["run"] == "."]) == 200
    assert len(tbtool.read_histograms(url)) == 200
    names = keys(url)
    assert "projector_config.pbtxt" in names and "00000/emb/tensors.tsv" in names
    # A second writer's file sorts after the first one's.
    with tbtool.SummaryWriter(url) as w2:
        w2.add_scalar("loss", -1, 300)
        second = w2.file_writer.path
    files = LogReader(url).runs[0].files
    assert len(files) == 2 and files == (first, second)


def test_writer_errors_are_clear(s3):
    with pytest.raises(tbtool.TbtoolError, match="no-such-bucket-here"):
        tbtool.SummaryWriter("s3://no-such-bucket-here/runs/x")


def test_follow_a_growing_object(s3):
    url = new_bucket() + "/live"
    w = tbtool.SummaryWriter(url, flush_secs=3600)
    w.add_scalar("loss", 0.0, 0)
    w.flush()
    reader = LogReader(url)
    seen: list[int] = []
    rounds = 0

    def stop() -> bool:
        nonlocal rounds
        rounds += 1
        if rounds <= 3:  # the file grows between polls
            w.add_scalar("loss", float(rounds), rounds)
            w.flush()
        return rounds > 4

    for item in reader.follow(poll_interval=0.01, stop=stop):
        if item is not None and item[1].event.HasField("summary"):
            seen.append(item[1].event.step)
    assert seen == [0, 1, 2, 3]
    # The CLI: dump --follow prints new values as the object grows.
    proc = subprocess.Popen(
        [sys.executable, "-m", "tbtool", "dump", url, "--follow", "--interval", "0.05",
         "--format", "jsonl", "--kind", "scalar"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = [json.loads(proc.stdout.readline()) for _ in range(4)]
        w.add_scalar("loss", 42.0, 42)
        w.flush()
        lines.append(json.loads(proc.stdout.readline()))
    finally:
        proc.kill()
        proc.wait()
        w.close()
    assert [x["step"] for x in lines] == [0, 1, 2, 3, 42]
