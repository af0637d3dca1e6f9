"""tbtool.storage, remote reads and spooled copies, through fsspec's in-memory and local
filesystems (no server: the S3 tests are in test_remote_s3.py)."""

from __future__ import annotations

import uuid

import fsspec
import pytest

import tbtool
from tbtool import storage
from tbtool.errors import PathError, UsageError
from tbtool.format.record import ReadState, RecordReader, encode_record
from tbtool.reading.log_reader import LogReader
from tbtool.runs.logdir import find_runs
from tbtool.storage import MissingDependency, filesystems, spool
from tbtool.storage.remote_file import RemoteFile


@pytest.fixture
def memory_root():
    root = f"/t-{uuid.uuid4().hex[:8]}"
    yield f"memory://{root.lstrip('/')}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _local_logdir(tmp_path):
    with tbtool.SummaryWriter(tmp_path / "a") as w:
        for i in range(30):
            w.add_scalar("x", i, i)
    with tbtool.SummaryWriter(tmp_path / "a", purge_step=20) as w:
        for i in range(20, 25):
            w.add_scalar("x", -i, i)
    with tbtool.SummaryWriter(tmp_path / "b" / "c") as w:
        w.add_text("t", "hello", 1)
        w.add_scalar("y", 1.5, 1)
    return tmp_path


def test_urls_and_names():
    assert storage.is_url("s3://b/k") and storage.is_url("simplecache::s3://b/k")
    assert storage.is_url("file:///tmp/x") and storage.is_url("memory://x")
    assert (
        not storage.is_url("runs/exp1")
        and not storage.is_url("C:\\runs")
        and not (storage.is_url("weird:name/x"))
    )
    assert storage.protocol("simplecache::s3://b/k") == "s3"
    assert storage.join("s3://b/runs/", "a", "f") == "s3://b/runs/a/f"
    assert storage.join("memory://", "a") == "memory://a"
    assert storage.parent("s3://b/runs/a") == "s3://b/runs"
    assert storage.parent("s3://b") == "s3://"
    assert storage.basename("s3://b/runs/a/") == "a"
    assert storage.relative("s3://b/runs/a/f", "s3://b/runs/") == "a/f"
    assert storage.relative("s3://b/runs", "s3://b/runs/") == "."
    assert storage.inside("s3://b/runs/a", "s3://b/runs")
    assert not storage.inside("s3://b/runs2/a", "s3://b/runs")


def test_missing_extra_names_it(monkeypatch):
    def no_package(url):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(filesystems, "_resolve", no_package)
    with pytest.raises(MissingDependency, match=r"pip install 'tbtool\[s3\]'"):
        tbtool.read_scalars("s3://bucket/runs")
    with pytest.raises(MissingDependency, match=r"pip install 'tbtool\[gcs\]'"):
        tbtool.SummaryWriter("gs://bucket/runs/x")


def test_unknown_protocol_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown URL protocol 'nosuchfs'"):
        tbtool.read_scalars("nosuchfs://bucket/runs")


def test_memory_logdir_reads_like_the_local_one(tmp_path, memory_root):
    local = _local_logdir(tmp_path)
    fsspec.filesystem("memory").put(str(local), memory_root.split("://")[1], recursive=True)
    runs = find_runs(memory_root)
    assert [r.name for r in runs] == ["a", "b/c"]
    assert all(f.startswith(memory_root + "/") for r in runs for f in r.files)
    for engine in ("auto", "events"):
        remote = tbtool.read_scalars(memory_root, engine=engine)
        expected = tbtool.read_scalars(str(local), engine=engine)
        assert remote.equals(expected)
    assert tbtool.read_text(memory_root)["text"].tolist() == ["hello"]
    # one object named explicitly (a run named after its directory, as a local file's); a
    # missing prefix
    (single,) = find_runs(runs[1].files[0])
    assert single.name == "c" and single.files == runs[1].files
    with pytest.raises(PathError, match="no such file"):
        find_runs(memory_root + "/nothing")


def test_file_urls(tmp_path):
    local = _local_logdir(tmp_path)
    assert tbtool.read_scalars(f"file://{local}").equals(tbtool.read_scalars(str(local)))


def test_remote_file_reads_ranges_and_follows_growth(memory_root):
    url = storage.join(memory_root, "events.out.tfevents.1")
    records = [encode_record(b"x" * n) for n in (10, 300_000, 20)]
    storage.write_bytes(url, b"".join(records[:2]) + records[2][:5])
    with RemoteFile(url, block_size=64 << 10) as f:
        f.seek(len(records[0]))
        assert f.read(4) == records[1][:4]
        f.seek(0)
        assert f.read() == b"".join(records[:2]) + records[2][:5]
    reader = RecordReader(url)
    assert [len(r.payload) for r in reader] == [10, 300_000]
    assert reader.state is ReadState.TRUNCATED
    storage.write_bytes(url, b"".join(records))  # the object is replaced by a longer one
    assert [len(r.payload) for r in reader] == [20]
    assert reader.state is ReadState.CLEAN_EOF
    reader.close()


def test_spool_fetches_each_object_once_for_two_passes(tmp_path, memory_root, monkeypatch):
    local = _local_logdir(tmp_path)
    fsspec.filesystem("memory").put(str(local), memory_root.split("://")[1], recursive=True)
    downloads, ranged = [], []
    real_download, real_fetch = spool._download, storage.fetch
    monkeypatch.setattr(spool, "_download", lambda *a: downloads.append(a[0]) or real_download(*a))
    monkeypatch.setattr(filesystems, "fetch", lambda *a: ranged.append(a[0]) or real_fetch(*a))
    files = [f for r in find_runs(memory_root) for f in r.files]
    assert len(tbtool.read_scalars(memory_root)) == 20 + 5 + 1
    assert sorted(downloads) == sorted(files) and not ranged
    downloads.clear()
    assert len(list(LogReader(memory_root).values())) > 0
    assert sorted(downloads) == sorted(files)
    assert not spool._spool.copies and spool._spool.held == 0  # all released
    # Without purge there is one pass: ranged reads, no copies.
    downloads.clear()
    tbtool.read_scalars(memory_root, purge=False)
    assert not downloads and ranged


def test_dask_without_the_extra_names_it(monkeypatch):
    import sys

    import tbtool.dask

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(MissingDependency, match=r"pip install 'tbtool\[dask\]'"):
        tbtool.dask.read_scalars("memory://nothing")


def test_spool_drops_a_copy_while_the_interpreter_exits(tmp_path, monkeypatch):
    """A download that finishes after a failed command began exiting: no new threads can
    start then, so the copy is deleted in place instead of a traceback on stderr."""
    from concurrent.futures import ThreadPoolExecutor

    closed = ThreadPoolExecutor(max_workers=1)
    closed.shutdown()
    monkeypatch.setattr(spool, "_unlink_pool", closed)
    local = tmp_path / "copy"
    local.write_bytes(b"data")
    spool._Spool()._drop(spool._Copy("memory://b/f", 4, state="ready", local=str(local)))
    assert not local.exists()
