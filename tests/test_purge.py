"""Purge semantics (contract.md) on hand-built runs: several restarts, kinds, files."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import tbtool
from tbtool.columnar.restarts import find_restarts
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2
from tbtool.runs.purge import PurgeFilter, Restart

START = event_pb2.SessionLog.START


def scalar(step: int, value: float, tag: str = "loss") -> bytes:
    v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    return event_pb2.Event(
        step=step, wall_time=1.0, summary=summary_pb2.Summary(value=[v])
    ).SerializeToString()


def start(step: int, msg: str = "", checkpoint: str = "") -> bytes:
    log = event_pb2.SessionLog(status=START, msg=msg, checkpoint_path=checkpoint)
    return event_pb2.Event(step=step, wall_time=1.0, session_log=log).SerializeToString()


def write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(file_version="brain.Event:2").SerializeToString())
        for r in records:
            w.write(r)


def steps_and_values(path, **kw):
    df = tbtool.read_scalars(path, **kw)
    return [(int(s), float(v)) for s, v in zip(df.step, df.value, strict=True)]


def test_later_restart_with_smaller_step_purges_earlier_resumed_values(tmp_path):
    records = [scalar(s, s) for s in range(10)]
    records += [start(5)] + [scalar(s, 100 + s) for s in range(5, 8)]
    records += [start(3)] + [scalar(s, 200 + s) for s in range(3, 5)]
    write(tmp_path / "events.out.tfevents.1.h", records)
    assert steps_and_values(tmp_path) == [(0, 0), (1, 1), (2, 2), (3, 203), (4, 204)]
    assert len(steps_and_values(tmp_path, purge=False)) == 15


def test_restart_applies_across_files_in_read_order(tmp_path):
    write(tmp_path / "events.out.tfevents.1.h", [scalar(s, s) for s in range(6)])
    write(tmp_path / "events.out.tfevents.2.h", [start(2), scalar(2, 50)])
    assert steps_and_values(tmp_path) == [(0, 0), (1, 1), (2, 50)]


def test_restart_does_not_touch_other_runs(tmp_path):
    write(tmp_path / "a" / "events.out.tfevents.1.h", [scalar(s, s) for s in range(4)])
    write(tmp_path / "b" / "events.out.tfevents.1.h", [scalar(s, s) for s in range(4)] + [start(0)])
    df = tbtool.read_scalars(tmp_path)
    assert list(df.run) == ["a"] * 4


def test_filter_positions_and_kinds():
    f = PurgeFilter([Restart((0, 10), 5), Restart((1, 3), 2)])
    assert f.keeps((0, 5), 1) and not f.keeps((0, 5), 2)  # the later START at step 2 wins
    assert f.keeps((0, 11), 1) and not f.keeps((0, 11), 4)  # only the START at 2 follows
    assert f.keeps((1, 4), 0) and f.keeps((1, 4), 100)  # after every restart
    assert f.keeps((0, 5), 9, "graph") and f.keeps((0, 5), 9, "run_metadata")
    assert not f.keeps((0, 5), 9, "histogram")
    assert not PurgeFilter([]) and PurgeFilter([]).keeps((0, 0), 99)


def test_filter_takes_restarts_as_they_are_met():
    f = PurgeFilter()
    assert not f and f.keeps((0, 5), 9)
    assert f.add([Restart((0, 10), 5)]) == [Restart((0, 10), 5)]
    assert not f.keeps((0, 5), 9) and f.keeps((0, 5), 4)
    assert f.add([Restart((0, 10), 5), Restart((1, 3), 2)]) == [Restart((1, 3), 2)]  # by position
    assert not f.keeps((0, 5), 2) and f.keeps((1, 4), 100)
    assert f.restarts == [Restart((0, 10), 5), Restart((1, 3), 2)]


@settings(max_examples=50)
@given(
    step=st.integers(min_value=0, max_value=2**62),
    msg=st.text(max_size=300),
    checkpoint=st.text(max_size=300),
)
def test_restart_search_never_misses_a_start(tmp_path_factory, step, msg, checkpoint):
    path = tmp_path_factory.mktemp("p") / "events.out.tfevents.1.h"
    write(path, [scalar(1, 1.0), start(step, msg, checkpoint), scalar(2, 2.0)])
    assert [r.step for r in find_restarts([str(path)])] == [step]


def test_restart_search_finds_none_without_restarts(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    stop = event_pb2.Event(session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.STOP))
    write(path, [scalar(s, s * 0.5) for s in range(100)] + [stop.SerializeToString()])
    assert find_restarts([str(path)]) == []
    (tmp_path / "empty").write_bytes(b"")
    assert find_restarts([str(tmp_path / "empty")]) == []
