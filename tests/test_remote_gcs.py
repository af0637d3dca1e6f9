"""Remote logdirs on Google Cloud Storage: the commands against ``gs://`` URLs served by a
GCS emulator on loopback (gcs_server.py), each compared with the same command on the local
copy. What test_remote_s3.py checks for S3, for the other object store tbtool names an
extra for, on committed fixtures (a restart, tensorboardX and Keras runs, damaged files)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("gcsfs")

import remote_support
from gcs_server import EmulatorUnavailable, gcs_emulator
from remote_support import (
    check_folder_markers,
    check_readers_equal,
    cli,
    keys,
    keys_of_local,
    upload_dir,
)

import tbtool
from tbtool import storage
from tbtool.storage.remote_file import RemoteFile

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: Fixture logdirs uploaded together, one sub-directory each.
LOGDIRS = ("torch_purge", "tbx_all", "keras_fit")
CR_REASON = (
    "gcp-storage-emulator drops the last byte of a multipart upload when it is \\r "
    "(an emulator bug; real GCS and the S3 tests keep it)"
)


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            endpoint = stack.enter_context(gcs_emulator())
        except EmulatorUnavailable as e:
            pytest.skip(f"no GCS emulator: {e}")
        yield endpoint


def new_bucket() -> str:
    return remote_support.new_bucket("gs")


def copy_fixtures(root: Path, names: tuple[str, ...]) -> Path:
    """Fixture logdirs below ``root`` with fresh modification times (as uploads get)."""
    for name in names:
        shutil.copytree(FIXTURES / name / "logdir", root / name, copy_function=shutil.copyfile)
    return root


@pytest.fixture(scope="module")
def local_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_fixtures(tmp_path_factory.mktemp("logdir"), LOGDIRS)


@pytest.fixture(scope="module")
def logdir(gcs: str, local_logdir: Path) -> str:
    """The local logdir uploaded once, read-only for the tests that use it."""
    return copy_of(local_logdir)


@pytest.fixture(scope="module")
def trailing_cr_lost(gcs: str) -> bool:
    """Does the emulator drop an uploaded object's final carriage return? It decodes
    multipart uploads (gcsfs's uploads below 5 MiB) with Python's email parser, which takes
    a last ``\\r`` for part of the line break before the closing boundary; GCS keeps it."""
    url = new_bucket() + "/probe"
    storage.write_bytes(url, b"probe\r")
    return storage.read_bytes(url) != b"probe\r"


def copy_of(local: Path) -> str:
    return upload_dir(local, new_bucket() + "/runs")


def json_of(*args: object) -> Any:
    result = cli(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def neutral_paths(data: Any, top: str) -> Any:
    """``data`` with the logdir's name at the start of every string replaced by
    ``<logdir>``, so a remote command's output compares with the local one's."""
    if isinstance(data, dict):
        return {k: neutral_paths(v, top) for k, v in data.items()}
    if isinstance(data, list):
        return [neutral_paths(v, top) for v in data]
    if isinstance(data, str) and data.startswith(top):
        return "<logdir>" + data[len(top) :]
    return data


# -- the storage layer -------------------------------------------------------------------------
def test_listing_stat_and_ranged_reads(logdir: str, local_logdir: Path) -> None:
    sizes = {storage.relative(u, logdir): i.size for u, i in storage.list_files(logdir).items()}
    assert sizes == {k: (local_logdir / k).stat().st_size for k in keys_of_local(local_logdir)}
    assert "emb%2ftwo" in storage.listdir(f"{logdir}/tbx_all/00001")  # a quoted-looking key
    assert storage.isdir(f"{logdir}/tbx_all") and not storage.isfile(f"{logdir}/tbx_all")
    assert not storage.isdir(f"{logdir}/tbx_al")  # a prefix of a name is no directory
    name = next(k for k in keys(logdir) if k.startswith("torch_purge/events"))
    url, data = storage.join(logdir, name), (local_logdir / name).read_bytes()
    info = storage.stat(url, fresh=True)
    assert info.size == len(data)
    assert info.mtime is not None and abs(info.mtime - time.time()) < 120  # the upload time
    assert storage.fetch(url, 10, 50) == data[10:50]
    assert storage.fetch(url, len(data) - 5, len(data) + 100) == data[-5:]
    with RemoteFile(url, block_size=64) as f:  # many small ranged reads, read ahead
        assert f.read(7) == data[:7]
        f.seek(100)
        assert f.read(300) == data[100:400]
        f.seek(-20, io.SEEK_END)
        assert f.read() == data[-20:]
        f.seek(0)
        assert f.readall() == data


def test_an_object_ending_in_a_carriage_return(gcs: str, trailing_cr_lost: bool) -> None:
    if trailing_cr_lost:
        pytest.skip(CR_REASON)
    url = new_bucket() + "/events.out.tfevents.1.cr"
    storage.write_bytes(url, b"\x00" * 10 + b"\r")
    assert storage.read_bytes(url) == b"\x00" * 10 + b"\r"


def test_folder_markers_are_directories(gcs: str, tmp_path: Path) -> None:
    local = shutil.copytree(FIXTURES / "keras_fit" / "logdir", tmp_path / "logdir")
    check_folder_markers(new_bucket(), local, tmp_path)


# -- reading -----------------------------------------------------------------------------------
def test_read_functions_equal_the_local_logdir(logdir: str, local_logdir: Path) -> None:
    check_readers_equal(logdir, local_logdir)


def test_ls_and_dump(logdir: str, local_logdir: Path) -> None:
    listing = json_of("ls", logdir)
    assert listing["runs"] and all(
        f["path"].startswith(logdir + "/") for r in listing["runs"] for f in r["files"]
    )
    local = json_of("ls", local_logdir)
    assert neutral_paths(listing, logdir) == neutral_paths(local, str(local_logdir))
    # The CLI in a new process reaches the emulator through the environment alone.
    proc = subprocess.run(
        [sys.executable, "-m", "tbtool", "ls", logdir, "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == listing
    dump = cli("dump", logdir, "--format", "jsonl", "--run", "^torch_purge$")
    assert dump.exit_code == 0, dump.output
    expected = cli("dump", local_logdir, "--format", "jsonl", "--run", "^torch_purge$")
    lines = [json.loads(line) for line in dump.stdout.splitlines()]
    assert lines[0]["file"].startswith(f"{logdir}/torch_purge/events.out.tfevents.")
    local_lines = [json.loads(line) for line in expected.stdout.splitlines()]
    assert neutral_paths(lines, logdir) == neutral_paths(local_lines, str(local_logdir))
    missing = cli("ls", logdir + "/nothing-here")
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_validate_equals_the_local_report(
    logdir: str, local_logdir: Path, tmp_path: Path, trailing_cr_lost: bool
) -> None:
    report = json_of("validate", logdir)
    assert report["files"] == 9
    assert neutral_paths(report, logdir) == neutral_paths(
        json_of("validate", local_logdir), str(local_logdir)
    )
    # Damaged files: the same findings at the same offsets, and a truncated object is
    # "modified 0 s ago" (its mtime comes from the listing, as a local file's from stat).
    local = copy_fixtures(tmp_path, ("corrupt",)) / "corrupt"
    if trailing_cr_lost:  # truncated_mid_record ends in \r: compared only on a real server
        for path in list(local.rglob("*tfevents*")):
            if path.read_bytes().endswith(b"\r"):
                shutil.rmtree(path.parent)
    url = copy_of(local)
    remote_report, local_report = json_of("validate", url), json_of("validate", local)
    assert {f["code"] for f in remote_report["findings"]} >= {
        "data-crc-mismatch", "truncated-record", "record-too-large", "trailing-bytes"
    }  # fmt: skip
    for report in (remote_report, local_report):
        for f in report["findings"]:
            if f["code"] == "truncated-record":
                assert "may still be being written" in f["message"], f
                f["message"] = f["message"].split("; modified")[0]
    assert neutral_paths(remote_report, url) == neutral_paths(local_report, str(local))


# -- export ------------------------------------------------------------------------------------
def test_export_parquet_to_gcs(logdir: str, local_logdir: Path, tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    bucket = new_bucket()
    result = cli("export", logdir, "-o", f"{bucket}/scalars.parquet")
    assert result.exit_code == 0, result.output
    assert cli("export", local_logdir, "-o", tmp_path / "scalars.parquet").exit_code == 0
    fs, key = storage.filesystem(f"{bucket}/scalars.parquet")
    with fs.open(key, "rb") as f:
        remote = pq.read_table(f)
    assert remote.equals(pq.read_table(tmp_path / "scalars.parquet"))
    # --partition-by run, written straight to gs://
    out = f"{bucket}/exports/scalars"
    result = cli("export", logdir, "-o", out, "--partition-by", "run")
    assert result.exit_code == 0, result.output
    local_out = tmp_path / "partitioned"
    assert cli("export", local_logdir, "-o", local_out, "--partition-by", "run").exit_code == 0
    assert keys(out) == keys_of_local(local_out)

    def frame(source: str, filesystem: Any = None) -> pd.DataFrame:
        data = ds.dataset(source, filesystem=filesystem, format="parquet", partitioning="hive")
        table = data.to_table().to_pandas()
        table["run"] = table["run"].astype(str)
        return table.sort_values(["run", "tag", "step", "wall_time"], ignore_index=True)

    pd.testing.assert_frame_equal(frame(storage.filesystem(out)[1], fs), frame(str(local_out)))
    again = cli("export", logdir, "-o", out, "--partition-by", "run")
    assert again.exit_code == 2 and "--overwrite" in again.output


# -- rewriting ---------------------------------------------------------------------------------
def test_merge_to_gcs(logdir: str, local_logdir: Path, tmp_path: Path) -> None:
    out = new_bucket() + "/merged"
    result = cli("merge", logdir, "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    local_out = tmp_path / "merged"
    assert cli("merge", local_logdir, "-o", local_out).exit_code == 0
    names, local_names = keys(out), keys_of_local(local_out)
    assert len(names) == len(local_names) and not any(".tbtool-tmp" in k for k in names)
    assert [os.path.dirname(k) for k in names] == [os.path.dirname(k) for k in local_names]
    for read in (tbtool.read_scalars, tbtool.read_histograms, tbtool.read_hparams):
        assert read(out).equals(read(str(local_out))), read.__name__
    again = cli("merge", logdir, "-o", out)
    assert again.exit_code == 2 and "already holds event files" in again.output


def test_purge_restarts_keeps_a_backup(gcs: str, local_logdir: Path, tmp_path: Path) -> None:
    url = copy_of(local_logdir)
    before = {k: storage.read_bytes(storage.join(url, k)) for k in keys(url) if "tfevents" in k}
    result = cli("purge", url, "--restarts", "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["rewritten"]
    local = shutil.copytree(local_logdir, tmp_path / "local")
    assert cli("purge", local, "--restarts", "--yes").exit_code == 0
    remote_values = tbtool.read_scalars(url, purge=False)
    assert remote_values.equals(tbtool.read_scalars(str(local), purge=False))
    assert remote_values.equals(tbtool.read_scalars(url))  # restarts now in the data itself
    names = keys(url)
    assert not any(".tbtool-tmp" in k for k in names)
    (backup,) = [k for k in names if k.startswith(".tbtool-backups/purge-")]
    with tarfile.open(fileobj=io.BytesIO(storage.read_bytes(storage.join(url, backup)))) as tar:
        archived = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert set(archived) == {storage.relative(p, url) for p in plan["rewritten"]}
    assert all(archived[k] == before[k] for k in archived)


def test_clean_removes_objects(gcs: str, local_logdir: Path, tmp_path: Path) -> None:
    url = copy_of(local_logdir)
    select = ("--run", "^keras_fit/", "--last-step-below", "100")
    result = cli("clean", url, *select, "--dry-run")
    assert result.exit_code == 0 and keys(url) == keys_of_local(local_logdir)
    result = cli("clean", url, *select, "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    local = shutil.copytree(local_logdir, tmp_path / "local")
    assert cli("clean", local, *select, "--yes").exit_code == 0
    assert keys(url) == keys_of_local(local)
    assert not any(k.startswith("keras_fit/") for k in keys(url))
    # --trash in another bucket: objects move by server-side copy, then delete.
    trash, local_trash = new_bucket() + "/trash", tmp_path / "trash"
    select = ("--run", "^torch_purge$", "--last-step-below", "100", "--yes")
    assert cli("clean", url, *select, "--trash", trash).exit_code == 0
    assert cli("clean", local, *select, "--trash", local_trash).exit_code == 0
    assert keys(url) == keys_of_local(local)

    def trashed(names: list[str]) -> list[str]:  # below a clean-<UTC time>/ directory
        assert all(n.startswith("clean-") for n in names)
        return [n.split("/", 1)[1] for n in names]

    assert trashed(keys(trash)) == trashed(keys_of_local(local_trash))
    assert len(keys(trash)) == 2


# -- writing -----------------------------------------------------------------------------------
def write_run(log_dir: str) -> None:
    """The same calls, with fixed wall times, for a local and a gs:// run."""
    rng = np.random.default_rng(1)
    with tbtool.SummaryWriter(log_dir, flush_secs=0.05) as w:
        for i in range(30):
            w.add_scalar("loss", 1 / (1 + i), i, walltime=1000.0 + i)
            if i % 10 == 0:
                w.add_histogram("w", rng.normal(size=50), i, walltime=1000.0 + i)
                w.add_text("note", f"step {i}", i, walltime=1000.0 + i)
                time.sleep(0.06)  # flush_secs passes: an upload happens meanwhile
        w.add_image("img", np.zeros((3, 4, 5), dtype=np.uint8), 0, walltime=2000.0)


def test_summary_writer_to_gcs(gcs: str, tmp_path: Path) -> None:
    url = new_bucket() + "/run"
    write_run(url)
    write_run(str(tmp_path / "run"))
    (name,) = keys(url)
    assert name.startswith("events.out.tfevents.")
    for read in (tbtool.read_scalars, tbtool.read_histograms, tbtool.read_text, tbtool.read_images):
        remote, local = read(url), read(str(tmp_path / "run"))
        assert len(remote) and remote.equals(local), read.__name__
    with pytest.raises(tbtool.TbtoolError, match="no-such-bucket-here"):
        tbtool.SummaryWriter("gs://no-such-bucket-here/runs/x")
