"""The C decoder, the pure-Python decoder and the events engine agree on damaged payloads.

The fuzzer itself is tests/payload_fuzz.py (seeded, so every run checks the same cases);
fixtures/fuzz_corrupt holds the minimized cases that once failed (issue 20). Also here: the
software CRC path forced on machines with a CRC instruction, the limits ``scan`` accepts,
and protobuf errors turned into tbtool errors that name the file and offset.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import crc32c
import numpy as np
import pytest
from payload_fuzz import FILE_NAME, Mismatch, check_logdir, run_batch
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.columnar import native
from tbtool.columnar.restarts import find_restarts
from tbtool.columnar.scan import FileScan
from tbtool.errors import EventDecodeError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import RecordReader
from tbtool.ops.validate import validate
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import read_tables

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "fixtures" / "fuzz_corrupt"
CASES = sorted(json.loads((CORPUS / "cases.json").read_text()))
needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")

#: 8 groups x 25 seeds x 40 cases = 8,000 cases (about 45 s on one core here).
GROUPS, SEEDS_PER_GROUP, CASES_PER_SEED = 8, 25, 40


# -- the fuzzer --------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("group", range(GROUPS))
def test_decoders_agree_on_fuzzed_payloads(group, tmp_path):
    """Odd seeds run with the software CRC (set_hardware_crc(False))."""
    first = group * SEEDS_PER_GROUP
    checked = 0
    for seed in range(first, first + SEEDS_PER_GROUP):
        checked += run_batch(seed, CASES_PER_SEED, tmp_path, software_crc=seed % 2 == 1)
    assert checked == SEEDS_PER_GROUP * CASES_PER_SEED


@needs_c
def test_a_difference_fails_the_fuzzer(tmp_path, monkeypatch):
    """The comparison can fail: a C decoder that loses a value is caught."""
    import payload_fuzz

    real = payload_fuzz.index_rows

    def lossy(path, use_native):
        records, rows, *rest = real(path, use_native)
        return [records, rows[1:] if use_native else rows, *rest]

    monkeypatch.setattr(payload_fuzz, "index_rows", lossy)
    (tmp_path / "run").mkdir()
    good = CORPUS / "logdir" / "key_6_bytes" / FILE_NAME
    (tmp_path / "run" / FILE_NAME).write_bytes(good.read_bytes())
    with pytest.raises(Mismatch, match="C and Python indexes"):
        check_logdir(tmp_path, engines=False, memory=False)


# -- the corpus of cases that once failed -------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", CASES)
def test_corpus_case_agrees(case):
    check_logdir(CORPUS / "logdir" / case)


@pytest.mark.parametrize("use_native", [False, pytest.param(True, marks=needs_c)])
@pytest.mark.parametrize(
    ("case", "index"), [("key_6_bytes", 2), ("length_6_bytes", 2), ("metadata_key_6_bytes", 1)]
)
def test_keys_and_lengths_past_5_bytes_are_undecodable(case, index, use_native):
    path = CORPUS / "logdir" / case / FILE_NAME
    scan = FileScan(str(path), use_native=use_native, skip_corrupt=True)
    list(scan)
    assert [(type(p), p.index) for p in scan.problems] == [(EventDecodeError, index)]
    assert scan.events == 2


@pytest.mark.parametrize("pure", ["1", pytest.param("0", marks=needs_c)])
def test_export_skip_corrupt_skips_the_record(pure, tmp_path, monkeypatch):
    """The record with a 6-byte metadata key is skipped; without --skip-corrupt the error
    is one line naming file and offset, not an internal error."""
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", pure)
    run = str(CORPUS / "logdir" / "metadata_key_6_bytes")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        ["export", run, "--kind", "scalars", "--format", "csv", "-o", str(out), "--skip-corrupt"],
    )
    assert result.exit_code == 0, result.output
    assert "loss" in out.read_text()
    result = CliRunner().invoke(
        app, ["export", run, "--kind", "scalars", "--format", "csv", "-o", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2
    assert "internal error" not in result.output
    assert "byte offset" in result.output and FILE_NAME in result.output


@pytest.mark.parametrize("pure", ["1", pytest.param("0", marks=needs_c)])
def test_present_but_empty_metadata_is_no_metadata(pure, monkeypatch):
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", pure)
    path = CORPUS / "logdir" / "empty_metadata_first" / FILE_NAME
    (chunk,) = list(FileScan(str(path)))
    assert chunk.v_meta.tolist() == [-1, 0, -1]
    assert chunk.metadata(0).plugin_data.plugin_name == "scalars"
    # Value 1 has no metadata (plugin ''), value 2 the first real one: on both paths.
    (finding,) = validate(str(path.parent)).findings
    assert (finding.code, finding.index) == ("kind-changed", 2)
    assert finding.message == "tag was scalar (plugin ''), now scalar (plugin 'scalars')"


def test_huge_declared_shape_does_not_allocate():
    tables = read_tables(LogReader(str(CORPUS / "logdir" / "tensor_fill_huge")), ["tensors"])
    (row,) = tables["tensors"].to_pylist()
    assert row["tag"] == "big"


@pytest.mark.parametrize("pure", ["1", pytest.param("0", marks=needs_c)])
def test_restarts_in_any_field_order(pure, monkeypatch):
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", pure)
    path = str(CORPUS / "logdir" / "start_out_of_order" / FILE_NAME)
    assert [(r.position, r.step) for r in find_restarts([path])] == [((0, 2), 10), ((0, 4), 3)]


# -- CRC paths -----------------------------------------------------------------------------------
@needs_c
def test_software_and_hardware_crc_agree_with_crc32c():
    ext = native.module()
    data = np.random.default_rng(7).bytes(4096)
    previous = ext.hardware_crc()
    try:
        for hardware in (False, True):
            path = ext.set_hardware_crc(hardware)
            assert path == ("software" if not hardware else ext.crc_path())
            for start in range(8):  # every alignment
                for n in [*range(40), 63, 64, 65, 1000, 4000]:
                    chunk = data[start : start + n]
                    assert ext.masked_crc32c(chunk) == masked_crc32c(chunk), (path, start, n)
        ext.set_hardware_crc(False)
        assert ext.crc_path() == "software" and not ext.hardware_crc()
    finally:
        ext.set_hardware_crc(previous)


@needs_c
def test_software_crc_scans_and_detects_damage(tmp_path):
    ext = native.module()
    source = CORPUS / "logdir" / "empty_metadata_first" / FILE_NAME
    data = bytearray(source.read_bytes())
    previous = ext.hardware_crc()
    try:
        ext.set_hardware_crc(False)
        end, stop, *_ = ext.scan(bytes(data), 0, 0, 1 << 20)
        assert (end, stop) == (len(data), 0)
        data[-6] ^= 1  # last payload byte
        end, stop, *_ = ext.scan(bytes(data), 0, 0, 1 << 20)
        assert stop == 3  # STOP_DATA_CRC
    finally:
        ext.set_hardware_crc(previous)


@needs_c
def test_environment_forces_the_software_crc():
    code = "from tbtool.columnar import _columnar as c; print(c.crc_path(), c.hardware_crc())"
    env = {**os.environ, "TBTOOL_SOFTWARE_CRC": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["software", "False"]


# -- limits and overflow ---------------------------------------------------------------------------
def _header(length: int) -> bytes:
    header = struct.pack("<Q", length)
    crc = crc32c.crc32c(header)
    return header + struct.pack("<I", ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF))


@needs_c
@pytest.mark.parametrize(("pos", "base", "limit"), [(0, 0, -1), (-1, 0, 10), (0, -5, 10)])
def test_scan_rejects_negative_arguments(pos, base, limit):
    buf = _header(2**64 - 8) + b"x" * 64  # with a negative limit, this read far past buf
    with pytest.raises(ValueError, match=">= 0"):
        native.module().scan(buf, pos, base, limit)


@needs_c
@pytest.mark.parametrize("length", [2**63 - 1, 2**64 - 16, 2**64 - 1])
def test_scan_takes_huge_lengths_as_incomplete_or_too_large(length):
    buf = _header(length) + b"x" * 64
    end, stop, *_ = native.module().scan(buf, 0, 0, 2**63 - 1)
    assert end == 0 and stop in (0, 2)  # STOP_END (incomplete) or STOP_TOO_LARGE


@needs_c
@pytest.mark.parametrize(("pos", "limit"), [(0, -1), (-1, 10)])
def test_frame_rejects_negative_arguments(pos, limit):
    """frame() (verification of rewritten files) frames as scan() does, with its guards."""
    buf = _header(2**64 - 8) + b"x" * 64
    with pytest.raises(ValueError, match=">= 0"):
        native.module().frame(buf, pos, limit)


@needs_c
@pytest.mark.parametrize("length", [2**63 - 1, 2**64 - 16, 2**64 - 1])
def test_frame_takes_huge_lengths_as_incomplete_or_too_large(length):
    buf = _header(length) + b"x" * 64
    end, stop, records = native.module().frame(buf, 0, 2**63 - 1)
    assert (end, records) == (0, 0) and stop in (0, 2)


def test_negative_record_limits_are_rejected(tmp_path):
    path = CORPUS / "logdir" / "key_6_bytes" / FILE_NAME
    with pytest.raises(ValueError, match="max_record_length"):
        FileScan(str(path), max_record_length=-1)
    with pytest.raises(ValueError, match="max_record_length"):
        RecordReader(str(path), max_record_length=-1)


# -- protobuf errors name the file -----------------------------------------------------------
def test_protobuf_errors_on_index_bytes_name_file_and_offset():
    path = CORPUS / "logdir" / "empty_metadata_first" / FILE_NAME
    (chunk,) = list(FileScan(str(path), use_native=False))
    chunk.metas[0] = b"\x08" * 7  # a key of 7 bytes: protobuf rejects it
    with pytest.raises(EventDecodeError) as error:
        chunk.metadata(0)
    assert (error.value.file, error.value.index) == (str(path), 2)
    assert error.value.offset == int(chunk.r_offset[2])  # record 2 holds the metadata
    chunk.events.clear()
    chunk.payloads[1] = b"\x10\x80\x80\x80\x80\x80\x00"  # a 6-byte value varint: valid
    assert chunk.event(1).step == 0
    chunk.payloads[2] = b"\x90\x80\x80\x80\x80\x00\x01"  # a 6-byte key
    with pytest.raises(EventDecodeError) as error:
        chunk.event(2)
    assert (error.value.index, error.value.offset) == (2, int(chunk.r_offset[2]))


# -- the sanitizer run ---------------------------------------------------------------------
@needs_c
def test_fuzzer_under_address_and_undefined_behaviour_sanitizers():
    """scripts/fuzz_sanitized.py for 20 s (a longer run: the script with --seconds)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fuzz_sanitized.py"), "--seconds", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]
    assert "no mismatch" in done.stdout
