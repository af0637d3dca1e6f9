"""The writer's files and life cycle: names, first events, purge_step, flush/close/reopen,
errors of the writer thread, back-pressure, threads, processes, interpreter exit, crashes."""

from __future__ import annotations

import errno
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from writer_support import event_files, events, payloads, summary_values

from tbtool.format.record import ReadState, RecordReader
from tbtool.proto import event_pb2, summary_pb2
from tbtool.reading.log_reader import LogReader
from tbtool.writer import (
    EventWriteError,
    FileWriter,
    SummaryWriter,
    WriterClosedError,
    WriterForkedError,
)
from tbtool.writer import file_names as event_file_module

REPO = Path(__file__).resolve().parent.parent
NAME = re.compile(r"events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)(.*)$")


def scalars(path) -> list[tuple[str, int, float]]:
    return [(v.tag, e.step, v.simple_value) for e, v in summary_values(path)]


def test_file_name_and_first_event(tmp_path):
    before = time.time()
    with SummaryWriter(tmp_path, filename_suffix=".sfx") as w:
        path = w.file_writer.path
    (name,) = [p.name for p in tmp_path.iterdir()]
    assert os.path.basename(path) == name
    secs, host, pid, _counter, suffix = NAME.match(name).groups()
    assert before - 1 <= int(secs) <= time.time()
    assert (host, int(pid), suffix) == (socket.gethostname(), os.getpid(), ".sfx")
    (first,) = events(tmp_path)
    assert first.file_version == "brain.Event:2"
    assert first.source_metadata.writer == "tbtool.writer"
    assert first.step == 0 and before <= first.wall_time <= time.time()


def test_counter_is_process_wide_and_names_never_collide(tmp_path):
    writers = [FileWriter(tmp_path) for _ in range(3)]
    counters = [int(NAME.match(os.path.basename(w.path)).group(4)) for w in writers]
    assert counters == sorted(counters) and len(set(counters)) == 3
    # A name that exists already is never reused (nor truncated): the next counter is taken.
    upcoming = event_file_module.event_file_name(
        str(tmp_path), "", next(event_file_module._counter) + 1
    )
    Path(upcoming).write_bytes(b"keep")
    w = FileWriter(tmp_path)
    assert w.path != upcoming and Path(upcoming).read_bytes() == b"keep"
    for writer in [*writers, w]:
        writer.close()


def test_new_files_sort_after_existing_ones(tmp_path, monkeypatch):
    """Readers order files by name; within one second torch's names can sort against
    creation order (counter "10" < "9", or a smaller pid as text). Ours never do."""
    import itertools

    monkeypatch.setattr(event_file_module, "_counter", itertools.count(9))
    first, second = FileWriter(tmp_path), FileWriter(tmp_path)
    names = [os.path.basename(first.path), os.path.basename(second.path)]
    assert names == sorted(names)
    assert names[0].endswith(".9") and names[1].endswith(".10")
    future = int(time.time()) + 100
    (tmp_path / f"events.out.tfevents.{future:010d}.zzz").write_bytes(b"")
    third = FileWriter(tmp_path)
    assert NAME.match(os.path.basename(third.path)).group(1) == f"{future + 1:010d}"
    for w in (first, second, third):
        w.close()


def test_purge_step_events_only_in_the_main_file(tmp_path):
    w = SummaryWriter(tmp_path, purge_step=7)
    w.add_scalars("m", {"a": 1.0}, 8)
    w.add_scalar("x", 1.0, 8)
    w.close()
    first, version, start, scalar = events(tmp_path)
    assert first.file_version == "brain.Event:2" and first.HasField("source_metadata")
    assert (version.step, version.file_version) == (7, "brain.Event:2")
    assert not version.HasField("source_metadata")
    assert (start.step, start.session_log.status) == (7, event_pb2.SessionLog.START)
    assert start.wall_time == version.wall_time
    assert scalar.summary.value[0].tag == "x"
    assert len(events(tmp_path / "m_a")) == 2  # file_version + the value: no purge events
    w.add_scalar("x", 2.0, 9)  # logging after close: a new file, without the purge events
    w.close()
    second = event_files(tmp_path)[1]
    assert [e.WhichOneof("what") for e in events(second)] == ["file_version", "summary"]


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as w:
        logdir = w.get_logdir()
    assert re.fullmatch(
        r"runs/[A-Z][a-z]{2}\d\d_\d\d-\d\d-\d\d_" + re.escape(socket.gethostname()) + "_lr0.1",
        logdir,
    )
    assert len(event_files(tmp_path / logdir)) == 1
    with SummaryWriter(tmp_path / "given", comment="ignored") as w:
        assert w.get_logdir() == tmp_path / "given"  # returned as given (a Path here)


def test_events_reach_the_file_without_flush(tmp_path):
    w = SummaryWriter(tmp_path, flush_secs=1000)
    w.add_scalar("loss", 1.0, 1)
    deadline = time.monotonic() + 5
    while len(payloads(w.file_writer.path)) < 2:
        assert time.monotonic() < deadline, "the writer thread did not write the event"
        time.sleep(0.01)
    w.close()


def test_flush_writes_everything_queued(tmp_path):
    w = SummaryWriter(tmp_path)
    for i in range(5000):
        w.add_scalar("loss", float(i), i)
    w.add_histogram("h", [1.0, 2.0], 1)
    w.flush()
    assert len(payloads(w.file_writer.path)) == 5002
    w.close()


def test_close_and_after(tmp_path):
    w = SummaryWriter(tmp_path)
    w.add_scalar("a", 1.0, 0)
    first = w.file_writer.path
    w.close()
    assert w.file_writer is None and w.all_writers is None
    w.close()  # a second close does nothing
    w.flush()  # nor does flush on a closed writer
    assert scalars(first) == [("a", 0, 1.0)]
    w.add_scalar("a", 2.0, 1)  # like torch: a new file, next counter
    second = w.file_writer.path
    w.close()
    assert second != first and scalars(second) == [("a", 1, 2.0)]
    with SummaryWriter(tmp_path / "ctx") as w:
        w.add_text("t", "x")
    assert w.file_writer is None


def test_file_writer_api(tmp_path):
    from tensorboard.compat.proto import event_pb2 as tb_event_pb2
    from tensorboard.compat.proto import summary_pb2 as tb_summary_pb2

    fw = FileWriter(tmp_path, max_queue=5, flush_secs=10, filename_suffix=".x")
    assert fw.get_logdir() == str(tmp_path) and fw.path.endswith(".x")
    fw.add_event(event_pb2.Event(file_version="custom"), step=3, walltime=5.0)
    tb_summary = tb_summary_pb2.Summary(
        value=[tb_summary_pb2.Summary.Value(tag="a", simple_value=2)]
    )
    fw.add_summary(tb_summary, global_step=4, walltime=6.0)
    fw.add_summary(
        summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="b", simple_value=3)]), 5
    )
    fw.add_event(tb_event_pb2.Event(summary=tb_summary), 6)
    with pytest.raises(TypeError, match="summary"):
        fw.add_summary(event_pb2.Event())
    with pytest.raises(TypeError, match="event"):
        fw.add_event("not an event")
    fw.close()
    _, custom, a, b, again = events(fw.path)
    assert (custom.file_version, custom.step, custom.wall_time) == ("custom", 3, 5.0)
    assert (a.step, a.wall_time, a.summary.value[0].simple_value) == (4, 6.0, 2.0)
    assert (b.step, b.summary.value[0].tag) == (5, "b")
    assert again.step == 6
    with pytest.raises(WriterClosedError):
        fw.add_event(event_pb2.Event())
    with pytest.raises(OSError):  # torch raises IOError here too
        fw.flush()
    old = fw.path
    fw.reopen()  # broken in torch (AttributeError); here: a new file
    fw.add_summary(tb_summary, 7)
    fw.close()
    assert fw.path != old and [e.step for e in events(fw.path)] == [0, 7]


def test_get_file_writer_accepts_tensorboard_protos(tmp_path):
    # Third-party code calls the private _get_file_writer().add_summary(...) of torch's writer.
    from tensorboard.compat.proto import summary_pb2 as tb_summary_pb2

    with SummaryWriter(tmp_path) as w:
        summary = tb_summary_pb2.Summary(
            value=[tb_summary_pb2.Summary.Value(tag="a", simple_value=1)]
        )
        w._get_file_writer().add_summary(summary, 3)
    assert scalars(tmp_path) == [("a", 3, 1.0)]


class _FailingFile:
    """Stands in for the event file: writes fail like a full disk."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()


def test_writer_thread_errors_surface_in_the_caller(tmp_path):
    w = SummaryWriter(tmp_path)
    events_writer = w._events
    events_writer._file = _FailingFile(events_writer._file)
    w.add_scalar("loss", 1.0, 1)  # queued; the writer thread fails on it
    with pytest.raises(EventWriteError, match="No space left") as raised:
        w.flush()
    assert isinstance(raised.value, OSError) and raised.value.file == events_writer.path
    with pytest.raises(EventWriteError):  # every later call too, until close()
        w.add_scalar("loss", 2.0, 2)
    with pytest.raises(EventWriteError):
        w.add_histogram("h", [1.0], 2)
    with pytest.raises(EventWriteError):
        w.close()
    w.add_scalar("loss", 3.0, 3)  # after close: a new, healthy file
    w.close()
    assert scalars(event_files(tmp_path)[-1]) == [("loss", 3, 3.0)]


def test_deleted_log_dir_is_reported(tmp_path):
    w = SummaryWriter(tmp_path / "run")
    w.add_scalar("loss", 1.0, 1)
    w.flush()
    shutil.rmtree(tmp_path / "run")
    w.add_scalar("loss", 2.0, 2)
    with pytest.raises(EventWriteError, match="deleted"):
        w.flush()
    with pytest.raises(EventWriteError):
        w.close()


def test_back_pressure_bounds_memory(tmp_path, monkeypatch):
    w = SummaryWriter(tmp_path)
    ev = w._events
    gate = threading.Event()
    real_write = ev._write

    def slow_write(data):
        gate.wait()
        real_write(data)

    monkeypatch.setattr(ev, "_write", slow_write)
    monkeypatch.setattr(ev, "_max_items", 100)
    monkeypatch.setattr(ev, "_max_bytes", 50_000)
    done = threading.Event()
    high_water = []

    def produce():
        for i in range(2000):
            w.add_scalar("loss", float(i), i)
            high_water.append(len(ev._queue))
        for i in range(40):
            w.add_text("t", "x" * 2000, i)  # large payloads: bounded by bytes
            high_water.append(ev._big_bytes)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    assert not done.is_set(), "the producer should be waiting for the slow disk"
    assert max(high_water) <= 101
    gate.set()
    producer.join(10)
    assert done.is_set()
    w.close()
    assert len(payloads(event_files(tmp_path)[0])) == 1 + 2000 + 40


def test_threads_share_a_writer(tmp_path):
    w = SummaryWriter(tmp_path)

    def log(thread):
        for step in range(2000):
            w.add_scalar(f"t{thread}", float(step), step)
            if step % 500 == 0:
                w.add_histogram(f"h{thread}", [1.0, 2.0, float(step)], step)
                w.add_scalars("group", {f"k{thread}": 1.0}, step)

    threads = [threading.Thread(target=log, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    by_thread: dict[str, list[int]] = {}
    for tag, step, value in scalars(tmp_path):
        if tag.startswith("h"):
            continue
        by_thread.setdefault(tag, []).append(step)
        assert value == step
    assert sorted(by_thread) == [f"t{t}" for t in range(6)]
    assert all(steps == list(range(2000)) for steps in by_thread.values())
    assert sorted(os.listdir(tmp_path / "group_k0")) and len(os.listdir(tmp_path)) == 1 + 6


def _pool_worker(args):
    logdir, index = args
    with SummaryWriter(logdir) as w:
        for step in range(200):
            w.add_scalar("loss", float(index), step)
        return os.path.basename(w.file_writer.path)


def test_process_pool_into_one_logdir(tmp_path):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        names = pool.map(_pool_worker, [(str(tmp_path), i) for i in range(8)])
    assert len(set(names)) == 8 and sorted(os.listdir(tmp_path)) == sorted(names)
    values = [v for v in LogReader(tmp_path).values(["scalar"])]
    assert len(values) == 8 * 200
    for path in event_files(tmp_path):
        assert len({v for _, _, v in scalars(path)}) == 1


def _use_inherited(writer, queue):
    try:
        writer.add_scalar("loss", 1.0, 1)
        queue.put("no error")
    except WriterForkedError as e:
        queue.put(f"WriterForkedError: {e}")


def test_forked_child_cannot_write_through_the_parents_writer(tmp_path):
    w = SummaryWriter(tmp_path)
    w.add_scalar("loss", 0.0, 0)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_use_inherited, args=(w, queue))
    child.start()
    child.join(20)
    assert queue.get(timeout=5).startswith("WriterForkedError")
    w.add_scalar("loss", 2.0, 2)  # the parent is unaffected
    w.close()
    assert scalars(tmp_path) == [("loss", 0, 0.0), ("loss", 2, 2.0)]


def _run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, **kwargs
    )


def test_interpreter_exit_flushes_unclosed_writers(tmp_path):
    code = (
        "from tbtool.writer import SummaryWriter\n"
        f"w = SummaryWriter({str(tmp_path)!r})\n"
        "for i in range(20000): w.add_scalar('loss', float(i), i)\n"
        "w.add_scalars('m', {'a': 1.0}, 1)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert len(payloads(event_files(tmp_path)[0])) == 20001
    assert len(payloads(event_files(tmp_path / "m_a")[0])) == 2


def test_a_killed_process_leaves_whole_records(tmp_path):
    code = (
        "import sys\n"
        "from tbtool.writer import SummaryWriter\n"
        f"w = SummaryWriter({str(tmp_path)!r})\n"
        "print('ready', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    w.add_scalar('loss', float(i), i); w.add_text('t', 'x' * (i % 3000), i); i += 1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    (path,) = event_files(tmp_path)
    with RecordReader(path) as reader:
        records = list(reader)  # raises on any CRC error
        assert reader.state in (ReadState.CLEAN_EOF, ReadState.TRUNCATED)
    assert len(records) > 100
    for record in records:
        event_pb2.Event.FromString(record.payload)


def test_flush_secs_is_the_fsync_interval(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    w = SummaryWriter(tmp_path / "often", flush_secs=0)
    w.add_scalar("x", 1.0, 1)
    deadline = time.monotonic() + 5
    while not synced:
        assert time.monotonic() < deadline, "flush_secs=0 should fsync after each batch"
        time.sleep(0.01)
    w.close()
    synced.clear()
    w = SummaryWriter(tmp_path / "rarely", flush_secs=3600)
    w.add_scalar("x", 1.0, 1)
    w.flush()
    assert not synced  # flush() hands data to the OS; fsync waits for flush_secs or close()
    w.close()
    assert len(synced) == 1
