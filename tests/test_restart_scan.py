"""The quick test for restarts: never misses a real SessionLog START, and does not send files
whose float bytes happen to look like one to a second, full scan (issue 9)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tbtool import purge
from tbtool.proto import event_pb2, summary_pb2
from tbtool.record import encode_record


def _write(path: Path, events: list[event_pb2.Event]) -> str:
    path.write_bytes(b"".join(encode_record(e.SerializeToString()) for e in events))
    return str(path)


def _start(step: int, wall_time: float) -> event_pb2.Event:
    log = event_pb2.SessionLog(status=event_pb2.SessionLog.START, msg="resumed")
    return event_pb2.Event(wall_time=wall_time, step=step, session_log=log)


def _scalar(step: int, value: float) -> event_pb2.Event:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="x", simple_value=value)])
    return event_pb2.Event(wall_time=1.5, step=step, summary=summary)


@pytest.mark.parametrize(
    ("step", "wall_time"), [(0, 0.0), (7, 0.0), (0, 1.25), (300, 1.7e9), (-5, 2.0)]
)
@pytest.mark.parametrize("first", [True, False])
def test_a_real_start_is_always_seen(tmp_path: Path, step: int, wall_time: float, first: bool):
    events = [_start(step, wall_time)] if first else [_scalar(1, 0.5), _start(step, wall_time)]
    path = _write(tmp_path / "events.out.tfevents.1", events)
    assert purge.may_hold_a_start(path)
    for chunk_size in (3, 16, 1 << 20):
        assert purge.may_hold_a_start_streamed(path, chunk_size=chunk_size)
    (restart,) = purge.restarts_in_file(path, 0)
    assert restart.step == step


def test_float_bytes_that_look_like_a_start_are_not_one(tmp_path: Path) -> None:
    value = struct.unpack("<f", b"\x3a\x02\x08\x01")[0]  # the START pattern, as a float
    path = _write(tmp_path / "events.out.tfevents.1", [_scalar(i, value) for i in range(50)])
    assert purge._START_PATTERN.search(Path(path).read_bytes())  # the bare pattern matches
    assert not purge.may_hold_a_start(path)
    assert not purge.may_hold_a_start_streamed(path, chunk_size=7)
    assert purge.restarts_in_file(path, 0) == []
