"""Workers assemble their own files' rows (issue 16): what crosses files still comes out as
one process gives it: restarts in later files, a tag's metadata met only in an earlier file,
damaged files, and the order of runs and files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tbtool
from tbtool.errors import DamagedFiles
from tbtool.ops.synth.generate import synth
from tbtool.proto import summary_pb2
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import iter_batches, read_tables
from tbtool.writer.file_writer import FileWriter


def _tensor_scalar(tag: str, x: float, with_metadata: bool) -> summary_pb2.Summary:
    summary = summary_pb2.Summary()
    value = summary.value.add(tag=tag)
    value.tensor.dtype = 1  # DT_FLOAT
    value.tensor.float_val.append(x)
    if with_metadata:
        value.metadata.plugin_data.plugin_name = "scalars"
    return summary


def _write(directory: Path, name: str, events: list[tuple[int, summary_pb2.Summary]]) -> None:
    tmp = directory / f"tmp-{name}"
    writer = FileWriter(str(tmp))
    for step, summary in events:
        writer.add_summary(summary, global_step=step, walltime=1.7e9 + step)
    writer.close()
    (written,) = tmp.iterdir()
    directory.mkdir(exist_ok=True)
    written.rename(directory / f"events.out.tfevents.{name}")
    tmp.rmdir()


@pytest.fixture(scope="module")
def metadata_earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run: the first file gives tag ``t`` its metadata (plugin ``scalars``); the second
    logs ``t`` as tensors without metadata, after simple values of another tag, so a worker
    reading the second file alone would classify them as ``tensor`` several chunks in."""
    run = tmp_path_factory.mktemp("meta") / "run"
    _write(run, "1000.a", [(s, _tensor_scalar("t", s, s == 0)) for s in range(50)])
    second = []
    for s in range(50, 3000):
        summary = summary_pb2.Summary()
        summary.value.add(tag="plain", simple_value=float(s))
        second.append((s, summary))
    second += [(s, _tensor_scalar("t", s, False)) for s in range(3000, 3100)]
    _write(run, "2000.b", second)
    return run


def test_metadata_only_in_an_earlier_file(metadata_earlier: Path) -> None:
    one = tbtool.read_scalars(metadata_earlier, jobs=1)
    assert set(one["tag"]) == {"t", "plain"}
    assert (one["tag"] == "t").sum() == 150  # the second file's tensors are scalars too
    for chunk_size in (4096, None):
        reader = LogReader(metadata_earlier)
        two = read_tables(reader, ["scalars", "tensors"], jobs=2, chunk_size=chunk_size)
        ref = read_tables(LogReader(metadata_earlier), ["scalars", "tensors"], jobs=1)
        assert two["scalars"].equals(ref["scalars"])
        assert two["tensors"].num_rows == ref["tensors"].num_rows == 0


def test_metadata_only_in_an_earlier_file_streamed(metadata_earlier: Path) -> None:
    def batches(jobs: int) -> list:
        reader = LogReader(metadata_earlier)
        out = iter_batches(reader, ["scalars", "tensors"], jobs=jobs, chunk_size=4096)
        return [(kind, batch.to_pydict()) for kind, batch in out]

    assert batches(2) == batches(1)


def _same(a, b) -> bool:
    """Equal tables, NaN equal to NaN (histogram sums of synth data hold NaNs)."""
    return a.schema == b.schema and repr(a.to_pylist()) == repr(b.to_pylist())


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Several runs crashed and resumed, TF2 style (metadata in every file, tensors)."""
    out = tmp_path_factory.mktemp("restarts") / "logdir"
    synth(out, runs=5, tags=3, steps=300, restart_at="40%", style="tf2",
          kinds="scalars,histograms,text")  # fmt: skip
    return str(out)


@pytest.mark.parametrize("jobs", [2, 3])
def test_restarts_across_files_and_order(restarted: str, jobs: int) -> None:
    files = sorted(Path(restarted).rglob("*tfevents*"))
    assert len(files) > len({f.parent for f in files})  # some run has several files
    kinds = ["scalars", "histograms", "text"]
    ref = read_tables(LogReader(restarted), kinds, jobs=1)
    got = read_tables(LogReader(restarted), kinds, jobs=jobs, chunk_size=4096)
    for kind in kinds:
        assert ref[kind].num_rows > 0
        assert _same(got[kind], ref[kind]), kind

    # Streamed, with the look-ahead for restarts forced (held rows over a tiny budget).
    def streamed(j: int) -> list:
        out = iter_batches(LogReader(restarted), kinds, jobs=j, chunk_size=4096, hold=1)
        return [(k, repr(b.to_pylist())) for k, b in out]

    assert streamed(jobs) == streamed(1)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("damaged") / "logdir"
    synth(out, runs=3, tags=2, steps=200, restart_at="50%", kinds="scalars", corrupt=["bitflip"])
    return str(out)


def test_damaged_files_report_as_one_process(damaged: str) -> None:
    def read(jobs: int):
        reader = LogReader(damaged, skip_corrupt=True)
        table = read_tables(reader, ["scalars"], jobs=jobs)["scalars"]
        return table, [str(p) for p in reader.problems], reader.file_status

    one, two = read(1), read(2)
    assert one[1] and one[1] == two[1]
    assert one[0].equals(two[0]) and one[2] == two[2]
    with pytest.raises(DamagedFiles) as first:
        read_tables(LogReader(damaged), ["scalars"], jobs=1)
    with pytest.raises(DamagedFiles) as second:
        read_tables(LogReader(damaged), ["scalars"], jobs=2)
    assert str(first.value) == str(second.value)


def test_a_worker_that_dies_leaves_its_files_to_the_main_process(restarted: str, monkeypatch):
    """A worker killed mid-read (out of memory, a signal): its files are read by the main
    process, from the chunk it stopped at, and the rows are the same."""
    import signal

    from tbtool.columnar import rows

    pools = []
    start = rows.AssemblyPool.__init__

    def keep(self, *args, **kwargs):
        start(self, *args, **kwargs)
        pools.append(self)

    monkeypatch.setattr(rows.AssemblyPool, "__init__", keep)
    kinds = ["scalars", "histograms", "text"]

    def streamed(jobs: int, kill: bool) -> list:
        out = []
        for kind, batch in iter_batches(LogReader(restarted), kinds, jobs=jobs, chunk_size=4096):
            out.append((kind, repr(batch.to_pylist())))
            if kill and len(out) == 2:
                os.kill(pools[-1]._processes[1].pid, signal.SIGKILL)
        return out

    assert streamed(2, kill=True) == streamed(1, kill=False)


@pytest.mark.parametrize("which", ["metadata_earlier", "restarted"])
def test_progress_counts_every_byte_once(which: str, request: pytest.FixtureRequest) -> None:
    """Bytes and files counted as one process counts them, a file read again by the main
    process (the metadata case) included."""
    from tbtool.columnar.walk import Progress

    path = str(request.getfixturevalue(which))
    counted = []
    for jobs in (1, 2):
        progress = Progress()
        for _ in iter_batches(LogReader(path), ["scalars"], jobs=jobs, chunk_size=4096,
                              progress=progress):  # fmt: skip
            pass
        counted.append((progress.files, progress.bytes, progress.files_total, progress.bytes_total))
    assert counted[0] == counted[1]
    assert counted[0][0] == counted[0][2] and counted[0][1] == counted[0][3] > 0
