"""Damaged files (fixtures/corrupt): every reader path names the file, offset and record."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

import tbtool
from tbtool.errors import (
    DamagedFiles,
    DataCrcMismatch,
    EventDecodeError,
    LengthCrcMismatch,
    RecordTooLarge,
    TbtoolError,
)
from tbtool.format.record import ReadState
from tbtool.runs.events import EventFileReader

CORRUPT = Path(__file__).resolve().parent.parent / "fixtures" / "corrupt"


@cache
def injected() -> dict[str, dict]:
    runs = json.loads((CORRUPT / "expected.json").read_text())["runs"]
    return {run: next(iter(d["files"].values()))["injected"] for run, d in runs.items()}


def event_file(run: str) -> str:
    (path,) = (CORRUPT / "logdir" / run).iterdir()
    return str(path)


ERRORS = {
    "data_crc_flip_decodable": DataCrcMismatch,
    "data_crc_flip_undecodable": DataCrcMismatch,
    "data_crc_footer_flip": DataCrcMismatch,
    "length_crc_flip": LengthCrcMismatch,
    "absurd_length": RecordTooLarge,
    "valid_crc_not_event": EventDecodeError,
    "trailing_zero_padding": LengthCrcMismatch,
}


@pytest.mark.parametrize("run", sorted(ERRORS))
def test_error_names_file_offset_and_record(run):
    facts = injected()[run]
    path = event_file(run)
    with EventFileReader(path) as reader:
        got = []
        with pytest.raises(ERRORS[run]) as info:
            for record in reader:
                got.append(record)
    assert len(got) == facts["intact_records_before"]
    err = info.value
    assert (err.file, err.offset, err.index) == (
        path,
        facts["record_offset"],
        facts["record_index"],
    )
    assert path in str(err) and f"byte offset {facts['record_offset']}" in str(err)


@pytest.mark.parametrize(
    "run",
    [
        "data_crc_flip_decodable",
        "data_crc_footer_flip",
        "valid_crc_not_event",
        "data_crc_flip_undecodable",
    ],
)
def test_record_local_damage_can_be_skipped(run):
    with EventFileReader(event_file(run), skip_corrupt=True) as reader:
        indices = [r.index for r in reader]
        assert reader.state is ReadState.CLEAN_EOF
    assert indices == [0, 1, 2, 4, 5]
    (problem,) = reader.problems
    assert problem.index == 3


def test_length_crc_failure_ends_the_file_when_skipping():
    with EventFileReader(event_file("length_crc_flip"), skip_corrupt=True) as reader:
        assert [r.index for r in reader] == [0, 1, 2]
        assert reader.state is ReadState.FAILED
    assert isinstance(reader.problems[0], LengthCrcMismatch)


@pytest.mark.parametrize(
    "run", ["truncated_mid_record", "truncated_in_header", "trailing_partial_junk"]
)
def test_truncated_tail_is_a_state_not_an_error(run):
    facts = injected()[run]
    with EventFileReader(event_file(run)) as reader:
        assert len(list(reader)) == facts["intact_records_before"]
        assert reader.state is ReadState.TRUNCATED
        assert reader.records.offset == facts["record_offset"]
        assert reader.records.pending_bytes == facts["file_size"] - facts["record_offset"]


def test_empty_file_has_no_events():
    with EventFileReader(event_file("empty")) as reader:
        assert list(reader) == []
        assert reader.state is ReadState.CLEAN_EOF


def test_garbage_is_an_error_at_offset_zero():
    with pytest.raises(TbtoolError) as info:
        list(EventFileReader(event_file("garbage")))
    assert info.value.offset == 0


def test_frames_raise_and_skip(tmp_path):
    with pytest.raises(DamagedFiles) as info:
        tbtool.read_scalars(CORRUPT / "logdir" / "data_crc_flip_decodable")
    (damage,) = info.value.files
    assert (damage.first.code, damage.offset, damage.index) == ("data-crc-mismatch", 122, 3)
    reader = tbtool.LogReader(CORRUPT / "logdir", runs=["^data_crc"], skip_corrupt=True)
    df = tbtool.read_scalars(reader)
    assert sorted(set(df.run)) == [
        "data_crc_flip_decodable",
        "data_crc_flip_undecodable",
        "data_crc_footer_flip",
    ]
    assert len(df) == 12  # the 4 intact loss values of each
    assert [p.offset for p in reader.problems] == [122, 122, 122]


def test_nonfinite_values_are_read_as_such():
    df = tbtool.read_scalars(CORRUPT / "logdir" / "nonfinite_scalars")
    values = df.value.tolist()
    assert values[0] != values[0] and values[1] == float("inf") and values[2] == float("-inf")
    assert values[3] != values[3] and values[4] == float("-inf")
