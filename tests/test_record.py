"""TFRecord framing: CRC vectors, exact error offsets, resumable reads, round trips."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbtool.errors import DataCrcMismatch, LengthCrcMismatch, RecordTooLarge
from tbtool.format.masked_crc import crc32c, mask, masked_crc32c, unmask
from tbtool.format.record import (
    HEADER_SIZE,
    RECORD_OVERHEAD,
    ReadState,
    RecordReader,
    RecordWriter,
    encode_record,
    read_records,
)

# format.md §1.3: first record of a TF2 file.
TF2_FIRST_PAYLOAD = bytes.fromhex("0900008038 99d6d741".replace(" ", "")) + b"\x1a\x0dbrain.Event:2"
TF2_FIRST_RECORD = (
    bytes.fromhex("1800000000000000")
    + bytes.fromhex("a37f4b22")
    + TF2_FIRST_PAYLOAD
    + bytes.fromhex("124b36ab")
)


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA


def test_masked_crc_vectors():
    assert masked_crc32c(b"\x1a\x11CRC test, one two") == 0x5794D08A
    assert masked_crc32c(struct.pack("<Q", 24)) == 0x224B7FA3
    assert masked_crc32c(TF2_FIRST_PAYLOAD) == 0xAB364B12


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_unmask_inverts_mask(crc):
    assert unmask(mask(crc)) == crc


def test_encode_matches_tf2_vector():
    assert encode_record(TF2_FIRST_PAYLOAD) == TF2_FIRST_RECORD
    (record,) = read_records(TF2_FIRST_RECORD)
    assert record.payload == TF2_FIRST_PAYLOAD
    assert (record.offset, record.index, record.end) == (0, 0, len(TF2_FIRST_RECORD))


def _file(*payloads: bytes) -> bytes:
    return b"".join(encode_record(p) for p in payloads)


PAYLOADS = [b"first", b"second record", b"", b"x" * 300]


def _offsets(payloads):
    offsets, pos = [], 0
    for p in payloads:
        offsets.append(pos)
        pos += RECORD_OVERHEAD + len(p)
    return offsets


def test_offsets_and_indices():
    data = _file(*PAYLOADS)
    records = list(read_records(data))
    assert [r.payload for r in records] == PAYLOADS
    assert [r.offset for r in records] == _offsets(PAYLOADS)
    assert [r.index for r in records] == [0, 1, 2, 3]


def test_clean_eof_state():
    reader = RecordReader(_file(*PAYLOADS))
    assert len(list(reader)) == 4
    assert reader.state is ReadState.CLEAN_EOF
    assert reader.pending_bytes == 0


def test_empty_source_is_clean_eof():
    reader = RecordReader(b"")
    assert reader.read() is None
    assert reader.state is ReadState.CLEAN_EOF


@pytest.mark.parametrize("cut", [1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 3, 21])
def test_truncated_tail(cut):
    data = _file(*PAYLOADS[:2])
    last = _offsets(PAYLOADS[:2])[1]
    reader = RecordReader(data[: last + cut])
    assert [r.payload for r in reader] == [PAYLOADS[0]]
    assert reader.state is ReadState.TRUNCATED
    assert reader.pending_bytes == cut
    assert reader.offset == last and reader.index == 1


def test_length_crc_mismatch_at_exact_offset():
    data = bytearray(_file(*PAYLOADS))
    bad = _offsets(PAYLOADS)[2]
    data[bad] ^= 0x01  # flip a bit of the third record's length
    reader = RecordReader(bytes(data), name="f.tfevents")
    assert reader.read().index == 0
    assert reader.read().index == 1
    with pytest.raises(LengthCrcMismatch) as info:
        reader.read()
    err = info.value
    assert (err.file, err.offset, err.index) == ("f.tfevents", bad, 2)
    assert "f.tfevents" in str(err) and f"byte offset {bad}" in str(err)
    assert reader.state is ReadState.FAILED
    with pytest.raises(LengthCrcMismatch):  # fatal: stays failed
        reader.read()


def test_length_crc_field_flip_is_length_crc_mismatch():
    data = bytearray(_file(*PAYLOADS))
    data[_offsets(PAYLOADS)[1] + 9] ^= 0x80
    with pytest.raises(LengthCrcMismatch) as info:
        list(read_records(bytes(data)))
    assert info.value.offset == _offsets(PAYLOADS)[1]


@pytest.mark.parametrize("where", ["payload", "footer"])
def test_data_crc_mismatch_is_record_local(where):
    data = bytearray(_file(*PAYLOADS))
    start = _offsets(PAYLOADS)[1]
    pos = start + HEADER_SIZE + (2 if where == "payload" else len(PAYLOADS[1]))
    data[pos] ^= 0x10
    reader = RecordReader(bytes(data))
    assert reader.read().payload == PAYLOADS[0]
    with pytest.raises(DataCrcMismatch) as info:
        reader.read()
    assert (info.value.offset, info.value.index) == (start, 1)
    assert len(info.value.payload) == len(PAYLOADS[1])
    # The reader continues with the next record.
    assert [r.payload for r in reader] == PAYLOADS[2:]
    assert reader.state is ReadState.CLEAN_EOF


def test_data_crc_check_can_be_disabled():
    data = bytearray(_file(*PAYLOADS))
    data[_offsets(PAYLOADS)[1] + HEADER_SIZE] ^= 0x10
    payloads = [r.payload for r in read_records(bytes(data), check_data_crc=False)]
    assert len(payloads) == 4 and payloads[1] != PAYLOADS[1]


def test_absurd_length():
    header = struct.pack("<Q", 1 << 40)
    data = _file(b"ok") + header + struct.pack("<I", masked_crc32c(header)) + b"junk"
    reader = RecordReader(data, max_record_length=1 << 31)
    assert reader.read().payload == b"ok"
    with pytest.raises(RecordTooLarge) as info:
        reader.read()
    assert info.value.offset == RECORD_OVERHEAD + 2 and info.value.index == 1


def test_resumes_when_a_file_grows(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    full = _file(*PAYLOADS)
    cut = _offsets(PAYLOADS)[2] + 5
    path.write_bytes(full[:cut])
    with RecordReader(path, chunk_size=7) as reader:
        assert [r.payload for r in reader] == PAYLOADS[:2]
        assert reader.state is ReadState.TRUNCATED
        assert reader.read() is None  # nothing new yet
        with open(path, "ab") as f:
            f.write(full[cut:])
        assert [r.payload for r in reader] == PAYLOADS[2:]
        assert reader.state is ReadState.CLEAN_EOF
        with RecordWriter(path, append=True) as writer:
            writer.write(b"later")
        assert [(r.payload, r.index) for r in reader] == [(b"later", 4)]


def test_start_at_offset(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(_file(*PAYLOADS))
    start = _offsets(PAYLOADS)[2]
    records = list(read_records(path, offset=start, index=2))
    assert [(r.payload, r.offset, r.index) for r in records] == [
        (PAYLOADS[2], start, 2),
        (PAYLOADS[3], _offsets(PAYLOADS)[3], 3),
    ]
    # Same from bytes and from an open file.
    assert [r.offset for r in read_records(_file(*PAYLOADS), offset=start)] == [
        start,
        _offsets(PAYLOADS)[3],
    ]
    with open(path, "rb") as f:
        assert [r.payload for r in read_records(f, offset=start)] == PAYLOADS[2:]


def test_open_binary_file_source():
    stream = io.BytesIO(_file(*PAYLOADS))
    stream.name = "stream.tfevents"
    reader = RecordReader(stream)
    assert reader.name == "stream.tfevents"
    assert [r.payload for r in reader] == PAYLOADS
    reader.close()
    assert not stream.closed  # the caller owns it


def test_writer_offsets(tmp_path):
    path = tmp_path / "w"
    with RecordWriter(path) as writer:
        offsets = [writer.write(p) for p in PAYLOADS]
    assert offsets == _offsets(PAYLOADS)
    assert path.read_bytes() == _file(*PAYLOADS)


@settings(max_examples=200)
@given(
    payloads=st.lists(st.binary(max_size=2000), max_size=20),
    chunk=st.integers(min_value=1, max_value=5000),
)
def test_round_trip(payloads, chunk):
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    for p in payloads:
        writer.write(p)
    data = buf.getvalue()
    reader = RecordReader(io.BytesIO(data), chunk_size=chunk)
    records = list(reader)
    assert [r.payload for r in records] == payloads
    assert [r.offset for r in records] == _offsets(payloads)
    assert reader.state is ReadState.CLEAN_EOF


@given(payloads=st.lists(st.binary(max_size=200), min_size=1, max_size=10), data=st.data())
def test_any_truncation_is_a_prefix_and_truncated_state(payloads, data):
    full = _file(*payloads)
    cut = data.draw(st.integers(min_value=0, max_value=len(full)))
    reader = RecordReader(full[:cut])
    got = [r.payload for r in reader]
    assert got == payloads[: len(got)]
    boundary = sum(RECORD_OVERHEAD + len(p) for p in got)
    assert reader.offset == boundary
    expected = ReadState.CLEAN_EOF if cut == boundary else ReadState.TRUNCATED
    assert reader.state is expected
