"""Restarts (SessionLog START) found exactly, whatever their field order: by the look-ahead
search (``restarts.restarts_in_file``, C skim or pure Python) and by the batch path's one scan,
which finds them in the chunks it reads and holds back output a later START may erase.

The oracle reads every record with the per-record reader and decodes it with protobuf.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow as pa
import pytest
from google.protobuf.message import DecodeError

import tbtool
from tbtool.columnar import native, restarts
from tbtool.columnar import walk as walk_module
from tbtool.columnar.table_rows import TABLE_KINDS
from tbtool.errors import DataCrcMismatch, RecordError
from tbtool.format.record import RecordReader, encode_record
from tbtool.proto import event_pb2, summary_pb2
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import iter_batches, read_tables
from tbtool.runs import purge

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")
DECODERS = ["python", pytest.param("c", marks=needs_c)]


def _write(path: Path, events: list[event_pb2.Event | bytes]) -> str:
    payloads = [e if isinstance(e, bytes) else e.SerializeToString() for e in events]
    path.write_bytes(b"".join(encode_record(p) for p in payloads))
    return str(path)


def _start(step: int, wall_time: float = 1.0) -> event_pb2.Event:
    log = event_pb2.SessionLog(status=event_pb2.SessionLog.START, msg="resumed")
    return event_pb2.Event(wall_time=wall_time, step=step, session_log=log)


def _scalar(step: int, value: float, tag: str = "x") -> event_pb2.Event:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return event_pb2.Event(wall_time=1.5, step=step, summary=summary)


def _key(field: int, wire_type: int, padded: bool = False) -> bytes:
    key = field << 3 | wire_type
    return bytes([key | 0x80, 0x80, 0x00]) if padded else bytes([key])


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


def _out_of_order_start(step: int, padded: bool = False) -> bytes:
    """A START event written against protobuf's field order: session_log first, its
    ``msg`` before ``status``, then step and wall_time; optionally with padded keys."""
    log = _key(2, 2) + b"\x02hi" + _key(1, 0) + b"\x01"  # msg, then status = START
    event = _key(7, 2, padded) + bytes([len(log)]) + log
    event += _key(2, 0) + _varint(step) + _key(1, 1) + struct.pack("<d", 3.0)
    assert event_pb2.Event.FromString(event).session_log.status == event_pb2.SessionLog.START
    return event


def _oracle(path: str, number: int = 0) -> list[purge.Restart]:
    """Every record read one at a time (those with a bad payload CRC passed over, as
    ``skip_corrupt`` does; framing damage ends the file) and decoded with protobuf."""
    found = []
    with RecordReader(path) as records:
        while True:
            try:
                record = records.read()
            except DataCrcMismatch:
                continue
            except RecordError:
                break
            if record is None:
                break
            try:
                event = event_pb2.Event.FromString(record.payload)
            except DecodeError:
                continue
            step = purge.start_step(event)
            if step is not None:
                found.append(purge.Restart((number, record.index), step, record.offset))
    return found


def _use(decoder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if decoder == "python" else "0")


@pytest.mark.parametrize("decoder", DECODERS)
def test_every_fixture_file_gives_the_oracles_restarts(decoder, monkeypatch):
    _use(decoder, monkeypatch)
    files = sorted(str(p) for p in FIXTURES.rglob("*tfevents*") if p.is_file())
    found = 0
    for path in files:
        want = _oracle(path, 3)
        assert restarts.restarts_in_file(path, 3) == want, path
        found += len(want)
    assert found >= 2  # fixtures with real restarts are among them


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("padded", [False, True])
def test_a_start_in_any_field_order_is_found(tmp_path, decoder, padded, monkeypatch):
    _use(decoder, monkeypatch)
    events = [_scalar(s, s) for s in range(6)] + [_out_of_order_start(3, padded)]
    path = _write(tmp_path / "events.out.tfevents.1", [*events, _scalar(3, 30.0)])
    (restart,) = restarts.restarts_in_file(path, 0)
    assert restart.step == 3 and restart.position == (0, 6)
    assert restart == _oracle(path)[0]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("padded", [False, True])
def test_every_engine_honours_an_out_of_order_start(tmp_path, decoder, padded, monkeypatch):
    """Used to be missed by the byte-pattern prefilter of the batch path (issue 16)."""
    _use(decoder, monkeypatch)
    events = [_scalar(s, s) for s in range(6)] + [_out_of_order_start(3, padded)]
    _write(tmp_path / "events.out.tfevents.1", [*events, _scalar(3, 30.0)])
    want = [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0)]
    for engine in ("auto", "events"):
        frame = tbtool.read_scalars(tmp_path, engine=engine)
        assert list(zip(frame.step, frame.value, strict=True)) == want, engine


@pytest.mark.parametrize("decoder", DECODERS)
def test_float_bytes_that_look_like_a_start_are_not_one(tmp_path, decoder, monkeypatch):
    _use(decoder, monkeypatch)
    value = struct.unpack("<f", b"\x3a\x02\x08\x01")[0]  # the START pattern, as a float
    path = _write(tmp_path / "events.out.tfevents.1", [_scalar(i, value) for i in range(50)])
    assert restarts.restarts_in_file(path, 0) == []


@pytest.mark.parametrize("decoder", DECODERS)
def test_search_from_an_offset_counts_records_from_there(tmp_path, decoder, monkeypatch):
    _use(decoder, monkeypatch)
    events = [_scalar(0, 0), _start(7), _scalar(1, 1), _scalar(2, 2), _start(1)]
    path = _write(tmp_path / "events.out.tfevents.1", events)
    everything = restarts.restarts_in_file(path, 2)
    assert [r.position for r in everything] == [(2, 1), (2, 4)]
    offset = everything[0].offset
    record = Path(path).read_bytes()[offset : offset + 8]
    after = offset + 16 + int.from_bytes(record, "little")  # the record after the first START
    assert restarts.restarts_in_file(path, 2, offset=after, index=2) == everything[1:]


@pytest.mark.parametrize("decoder", DECODERS)
def test_damage_ends_the_search_where_it_ends_reading(tmp_path, decoder, monkeypatch):
    _use(decoder, monkeypatch)
    good = [encode_record(e.SerializeToString()) for e in (_scalar(0, 0), _start(5))]
    bad_payload = bytearray(encode_record(_start(1).SerializeToString()))
    bad_payload[-5] ^= 0xFF  # payload CRC broken: skipped, restarts nothing
    bad_length = bytearray(encode_record(_start(2).SerializeToString()))
    bad_length[9] ^= 0xFF  # length CRC broken: reading (and the search) ends here
    tail = encode_record(_start(3).SerializeToString())
    path = tmp_path / "events.out.tfevents.1"
    path.write_bytes(b"".join([*good, bytes(bad_payload), *good, bytes(bad_length), tail]))
    found = restarts.restarts_in_file(str(path), 0)
    assert [(r.position, r.step) for r in found] == [((0, 1), 5), ((0, 4), 5)]
    assert found == _oracle(str(path))


# -- the one scan and held-back output ---------------------------------------------------------
def _restart_logdir(root: Path) -> Path:
    """Two runs: one START in the middle of a file (erasing rows of earlier chunks), one
    in a second file erasing rows of the first; both out of order."""
    a = root / "a"
    a.mkdir(parents=True)
    first = [_scalar(s, s, tag) for s in range(400) for tag in ("x", "y")]
    second = [_scalar(s, 1000 + s, tag) for s in range(150, 300) for tag in ("x", "y")]
    _write(a / "events.out.tfevents.1", [*first, _out_of_order_start(150), *second])
    b = root / "b"
    b.mkdir()
    _write(b / "events.out.tfevents.1", [_scalar(s, s) for s in range(300)])
    _write(b / "events.out.tfevents.2", [_out_of_order_start(100, padded=True), _scalar(100, 7)])
    return root


@pytest.mark.parametrize("decoder", DECODERS)
def test_held_output_equals_the_events_engine_at_any_budget(tmp_path, decoder, monkeypatch):
    """Restarts met in later chunks erase rows of earlier ones: whether the read holds the
    whole run (``hold=None``, the DataFrame readers), a little (and then looks ahead), or
    nothing, the rows are the events engine's."""
    _use(decoder, monkeypatch)
    logdir = _restart_logdir(tmp_path)
    want = read_tables(LogReader(logdir), ["scalars"], engine="events")["scalars"]
    assert want.num_rows == 2 * 150 + 2 * 150 + 100 + 1
    for hold in (None, 0, 2048, 1 << 30):
        batches = [
            b for _, b in iter_batches(LogReader(logdir), ["scalars"], chunk_size=1024, hold=hold)
        ]
        got = pa.Table.from_batches(batches)
        assert got.to_pylist() == want.to_pylist(), hold


@pytest.mark.parametrize("decoder", DECODERS)
def test_held_blocks_equal_the_events_engine(tmp_path, decoder, monkeypatch):
    """The same for the column blocks of ls, dump and check (``LogReader.values``)."""
    _use(decoder, monkeypatch)
    logdir = _restart_logdir(tmp_path)
    want = [v.to_json() for v in LogReader(logdir).values(engine="events")]
    for budget in (0, 4096, 1 << 30):
        monkeypatch.setattr(walk_module, "HOLD_BYTES", budget)
        monkeypatch.setattr("tbtool.reading.reader.HOLD_BYTES", budget, raising=False)
        got = [v.to_json() for v in LogReader(logdir).values()]
        assert got == want, budget


def test_a_small_budget_looks_ahead_once_per_run(tmp_path, monkeypatch):
    """Past the budget the walk looks ahead over the rest of the run once; a run that fits
    is read once (no look-ahead)."""
    logdir = _restart_logdir(tmp_path)
    calls = []
    real = walk_module.restarts_in_file

    def counted(path, number, **where):
        calls.append((Path(path).parent.name, number, where))
        return real(path, number, **where)

    monkeypatch.setattr(walk_module, "restarts_in_file", counted)
    rows = sum(b.num_rows for _, b in iter_batches(LogReader(logdir), ["scalars"], hold=None))
    assert calls == [] and rows == 701
    list(iter_batches(LogReader(logdir), ["scalars"], chunk_size=1024, hold=0))
    assert {run for run, _, _ in calls} == {"a", "b"}
    first = [where for run, number, where in calls if run == "a"]
    assert len(first) == 1 and first[0]["offset"] > 0  # from where the read had got to


def test_every_kind_keeps_what_the_events_engine_keeps():
    kinds = list(TABLE_KINDS)
    for fixture in ("tf1_legacy", "tbx_purge", "torch_purge", "tbx_all"):
        logdir = FIXTURES / fixture / "logdir"
        want = read_tables(LogReader(logdir), kinds, engine="events")
        for hold in (None, 0):
            got = dict.fromkeys(kinds, 0)
            for kind, batch in iter_batches(LogReader(logdir), kinds, chunk_size=512, hold=hold):
                got[kind] += batch.num_rows
            assert got == {k: t.num_rows for k, t in want.items()}, (fixture, hold)
