"""Reading with several processes gives exactly what one process gives (issue 9)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tbtool
from tbtool.columnar import parallel
from tbtool.ops.export import export
from tbtool.ops.synth.generate import synth


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Four runs, one of them crashed and resumed (two files and a restart to honour)."""
    out = tmp_path_factory.mktemp("parallel") / "logdir"
    synth(out, runs=4, tags=3, steps=200, restart_at="50%", kinds="scalars,histograms,text")
    return str(out)


@pytest.mark.parametrize("purge", [True, False])
def test_read_scalars_jobs_1_and_2_agree(multi_run: str, purge: bool) -> None:
    one = tbtool.read_scalars(multi_run, jobs=1, purge=purge)
    two = tbtool.read_scalars(multi_run, jobs=2, purge=purge)
    assert len(one) > 0
    assert one.equals(two)


def test_read_histograms_jobs_1_and_2_agree(multi_run: str) -> None:
    one = tbtool.read_table(multi_run, "histograms", jobs=1)
    two = tbtool.read_table(multi_run, "histograms", jobs=2)
    assert one.num_rows > 0 and one.equals(two)


def test_export_jobs_1_and_2_agree(multi_run: str, tmp_path) -> None:
    kinds = ["scalars", "histograms", "text"]
    one = export(multi_run, str(tmp_path / "one"), kinds=kinds, jobs=1)
    two = export(multi_run, str(tmp_path / "two"), kinds=kinds, jobs=2)
    assert one.rows == two.rows and one.rows["scalars"] > 0
    for kind in kinds:
        assert pq.read_table(one.paths[kind]).equals(pq.read_table(two.paths[kind]))


def test_jobs_0_keeps_a_core_for_the_main_process_within_the_memory_budget(
    multi_run: str, monkeypatch, tmp_path: Path
) -> None:
    files = [str(p) for p in sorted(Path(multi_run).rglob("*tfevents*"))]
    assert len(files) >= 3
    assert parallel.auto_jobs(files, None) == parallel.DEFAULT_JOBS == 1  # library calls
    assert parallel.auto_jobs(files, 3) == 3
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    assert parallel.auto_jobs(files, 0) == 1  # far below MIN_PARALLEL_BYTES
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1)
    assert parallel.auto_jobs(files, 0) == min(7, len(files))
    assert parallel.auto_jobs(files[:1], 0) == 1
    # 2 cores: one worker beside the main process is no parallel reading (measured: 2 lost)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    assert parallel.auto_jobs(files, 0) == 1
    monkeypatch.setattr(parallel, "usable_cores", lambda: 3)
    assert parallel.auto_jobs(files, 0) == 2
    # no more workers than the main process can hold the handed-over indexes of
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    largest = max(os.path.getsize(f) for f in files)
    held = parallel.INDEX_BYTES_PER_FILE_BYTE * largest
    monkeypatch.setattr(parallel, "PARALLEL_MEMORY_BUDGET", int(2 * held) + 1)
    assert parallel.auto_jobs(files, 0) == 2
    monkeypatch.setattr(parallel, "PARALLEL_MEMORY_BUDGET", int(2 * held) - 1)
    assert parallel.auto_jobs(files, 0) == 1  # whole-file indexes would not stay bounded
    # rows in flight (table reads) do not grow with the files: a chunk's worth per message
    from tbtool.columnar.parallel import IN_FLIGHT
    from tbtool.columnar.scan import DEFAULT_CHUNK_SIZE

    per_worker = parallel.ROW_BYTES_PER_FILE_BYTE * min(largest, DEFAULT_CHUNK_SIZE)
    per_worker *= IN_FLIGHT + 1
    monkeypatch.setattr(parallel, "PARALLEL_MEMORY_BUDGET", int(3 * per_worker) + 1)
    assert parallel.auto_jobs(files, 0, rows=True) == min(3, len(files))
    big = tmp_path / "big"
    big.mkdir()
    for i, f in enumerate(files[:3]):  # files far larger than a chunk: the same bound
        (big / f"events.out.tfevents.{i}.h").write_bytes(Path(f).read_bytes())
        with open(big / f"events.out.tfevents.{i}.h", "ab") as out:
            out.truncate(64 << 20)
    bigs = [str(p) for p in sorted(big.iterdir())]
    chunk_bound = parallel.ROW_BYTES_PER_FILE_BYTE * DEFAULT_CHUNK_SIZE * (IN_FLIGHT + 1)
    monkeypatch.setattr(parallel, "PARALLEL_MEMORY_BUDGET", int(3 * chunk_bound) + 1)
    assert parallel.auto_jobs(bigs, 0, rows=True) == 3
    assert parallel.auto_jobs(bigs, 0) == 1  # 64 MB indexes would not fit
    monkeypatch.setattr(parallel, "PARALLEL_MEMORY_BUDGET", 32 << 20)
    assert parallel.auto_jobs([*files[:-1], "s3://bucket/run/" + Path(files[-1]).name], 0) == 1
    # every core gives the same frame as one process
    assert tbtool.read_scalars(multi_run, jobs=0).equals(tbtool.read_scalars(multi_run, jobs=1))


@pytest.mark.parametrize("pure_python", [False, True])
def test_restart_search_matches_the_per_record_scan(
    multi_run: str, monkeypatch: pytest.MonkeyPatch, pure_python: bool
) -> None:
    """The look-ahead restart search (C skim or pure-Python framing, decoding only records
    that may hold a session_log) finds exactly the restarts a per-record read finds, at the
    same record indexes and offsets."""
    from tbtool.columnar import restarts
    from tbtool.format.record import RecordReader
    from tbtool.runs import purge

    if pure_python:
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1")
    files = sorted(str(p) for p in Path(multi_run).rglob("*tfevents*"))
    found = 0
    for path in files:
        with RecordReader(path) as records:
            slow = [
                purge.Restart((5, r.index), step, r.offset)
                for r in records
                if (step := restarts._start_event(r.payload)) is not None
            ]
        assert restarts.restarts_in_file(path, 5) == slow
        found += len(slow)
    assert found >= 1  # the resumed run's START
