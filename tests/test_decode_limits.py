"""No size or count read from a file drives an allocation beyond a bound from the record's
own size (contract.md, data safety; issue 17, item 2).

Each case is one crafted record (written with tbtool's protobuf classes and framing, CRCs
right) in a run beside a good scalar. tests/bounded_reads.py runs every reading command and
reader on it under an address-space limit, so a blow-up fails the test (MemoryError) rather
than the machine. Wanted everywhere: no internal error, no escaped exception; ``validate``
names the problem with its code, file and byte offset; reading commands carry on and show
the value undecoded with the same message; the C and pure-Python decoders agree.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tbtool
from tbtool import storage
from tbtool.cli import app
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2, tensor_pb2
from tbtool.values import limits
from tbtool.values.tensor import TensorTooLarge, decode_tensor

HERE = Path(__file__).resolve().parent
FILE_NAME = "events.out.tfevents.1700000000.crafted"
#: Memory the probe may map beyond what its imports took. The good scalar, the one-line
#: findings and the capped decodes fit easily; every hazard below asks for far more on a
#: reader that trusts the file (gigabytes to exabytes).
BUDGET = 768 << 20
DT_FLOAT, DT_DOUBLE, DT_STRING = 1, 2, 7
BIG_STRING = b"x" * 100_000


def _tensor(dtype: int, dims: list[int], **fields) -> tensor_pb2.TensorProto:
    tensor = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    return tensor


def _value(plugin: str = "", **oneof) -> summary_pb2.Summary.Value:
    value = summary_pb2.Summary.Value(tag="hazard", **oneof)
    if plugin:
        value.metadata.plugin_data.plugin_name = plugin
    return value


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG with a valid header declaring ``width x height`` RGB and a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b"")
    )


def _wav_claiming(channels: int, frames: int) -> bytes:
    """A 16-bit PCM WAV header declaring ``channels`` and ``frames``, with 6 bytes of data."""
    size = frames * channels * 2
    block = channels * 2
    rate = (44100 * block) & 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, channels, 44100, rate, block & 0xFFFF, 16)
    return (
        b"RIFF"
        + struct.pack("<I", (36 + size) & 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", size & 0xFFFFFFFF)
        + bytes(6)
    )


@dataclass(frozen=True)
class Hazard:
    """One crafted record (or ``records`` alike): the summary value it holds (or raw bytes
    after the good records), the ``validate`` finding it gives (``None``: none), and whether
    tbparse's drop-in keeps the encoded bytes of its image/audio instead of decoding them."""

    value: Callable[[], summary_pb2.Summary.Value] | None
    code: str | None
    severity: str = "error"
    raw_tail: Callable[[], bytes] | None = None
    media_kept_encoded: str | None = None
    records: int = 1


HAZARDS: dict[str, Hazard] = {
    # A 40-byte float tensor whose shape asks for 5e7, 2^40 or 2^124 elements.
    "pad-5e7": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [50_000_000], float_val=[1.0])), "value-too-large"
    ),
    # Many small ones: a per-value allowance would add up (a 4 MiB chunk holds 100,000).
    "pad-5e6-x2000": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [5_000_000], float_val=[1.0])),
        "value-too-large",
        records=2000,
    ),
    "pad-2^40": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [2**40], float_val=[1.0])), "value-too-large"
    ),
    "pad-2^62x2^62": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [2**62, 2**62], float_val=[1.0])),
        "value-too-large",
    ),
    # Contents that do not fill a shape whose element count overflows int64: damage.
    "content-2^64": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [2**32, 2**32], tensor_content=bytes(4))),
        "undecodable-value",
    ),
    # A negative dim is an unknown shape: the elements as listed.
    "negative-dim": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [-5, 3], float_val=[1.0])), None
    ),
    # Shapes no numpy array has: more than 64 dims; no elements, other dims beyond 2^63.
    "rank-100": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [1] * 100, float_val=[1.0])), "undecodable-value"
    ),
    "empty-0x2^62": Hazard(
        lambda: _value(tensor=_tensor(DT_FLOAT, [0, 2**62])), "undecodable-value"
    ),
    # ...but a scalar is any one-element tensor, as the bulk decoders read it.
    "scalar-rank-100": Hazard(
        lambda: _value("scalars", tensor=_tensor(DT_FLOAT, [1] * 100, float_val=[1.0])), None
    ),
    # Padded through each plugin that decodes a tensor.
    "scalar-1e9": Hazard(
        lambda: _value("scalars", tensor=_tensor(DT_FLOAT, [10**9], float_val=[1.0])),
        "value-too-large",
    ),
    "histogram-1e8x3": Hazard(
        lambda: _value("histograms", tensor=_tensor(DT_DOUBLE, [10**8, 3], double_val=[1.0])),
        "value-too-large",
    ),
    "pr-curve-6x1e8": Hazard(
        lambda: _value("pr_curves", tensor=_tensor(DT_FLOAT, [6, 10**8], float_val=[0.5])),
        "value-too-large",
    ),
    "mesh-1e8": Hazard(
        lambda: _value("mesh", tensor=_tensor(DT_FLOAT, [1, 10**8, 3], float_val=[0.0])),
        "value-too-large",
    ),
    # Strings: each padded element becomes its own 100 kB string when printed or exported
    # (10^6 of them: 100 GB), though the padded array itself holds 8 bytes per element.
    "text-1e6x100kB": Hazard(
        lambda: _value("text", tensor=_tensor(DT_STRING, [10**6], string_val=[BIG_STRING])),
        "value-too-large",
    ),
    "strings-1e6x100kB": Hazard(
        lambda: _value(tensor=_tensor(DT_STRING, [10**6], string_val=[BIG_STRING])),
        "value-too-large",
    ),
    "images-1e6x100kB": Hazard(
        lambda: _value(
            "images", tensor=_tensor(DT_STRING, [10**6], string_val=[b"8", b"8", BIG_STRING])
        ),
        "value-too-large",
    ),
    "audio-1e6x100kB": Hazard(
        lambda: _value("audio", tensor=_tensor(DT_STRING, [10**6, 2], string_val=[BIG_STRING])),
        "value-too-large",
    ),
    # A record header claiming 2 GiB (valid length CRC) in a file of a few bytes: a file
    # still being written, not 2 GiB to allocate.
    "record-length-2GiB": Hazard(
        None,
        "truncated-record",
        "warning",
        raw_tail=lambda: (
            struct.pack("<Q", 2**31 - 1)
            + struct.pack("<I", masked_crc32c(struct.pack("<Q", 2**31 - 1)))
            + bytes(20)
        ),
    ),
    # Image and audio headers: only tbparse's drop-in decodes pixels and samples.
    "png-13000x13000": Hazard(
        lambda: _value(
            image=summary_pb2.Summary.Image(
                width=13000,
                height=13000,
                colorspace=3,
                encoded_image_string=_png_claiming(13000, 13000),
            )
        ),
        None,
        media_kept_encoded="images",
    ),
    "png-1e6x1e6": Hazard(
        lambda: _value(
            image=summary_pb2.Summary.Image(
                width=10**6,
                height=10**6,
                colorspace=3,
                encoded_image_string=_png_claiming(10**6, 10**6),
            )
        ),
        None,
        media_kept_encoded="images",
    ),
    "wav-65535-channels": Hazard(
        lambda: _value(
            audio=summary_pb2.Summary.Audio(
                sample_rate=1e30,
                num_channels=2**62,
                length_frames=2**62,
                encoded_audio_string=_wav_claiming(65535, 2**20),
                content_type="audio/wav",
            )
        ),
        None,
        media_kept_encoded="audio",
    ),
}


def write_hazard(directory: Path, hazard: Hazard) -> tuple[Path, int]:
    """A run holding a file_version, a good scalar and the hazard; ``(file, hazard offset)``."""
    path = directory / "run" / FILE_NAME
    path.parent.mkdir(parents=True)
    good = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=0.5)])
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        w.write(event_pb2.Event(wall_time=2.0, step=1, summary=good).SerializeToString())
        offset = w.offset
        for step in range(2, 2 + hazard.records if hazard.value is not None else 0):
            summary = summary_pb2.Summary(value=[hazard.value()])
            event = event_pb2.Event(wall_time=3.0, step=step, summary=summary)
            w.write(event.SerializeToString())
    if hazard.raw_tail is not None:
        with open(path, "ab") as f:
            f.write(hazard.raw_tail())
    os.utime(path, (1.7e9, 1.7e9))  # a finished file: no "modified N s ago" in messages
    return path, offset


def bounded_reads(path: Path, out: Path, **env: str) -> dict:
    """Everything tests/bounded_reads.py runs, on ``path``, under the memory budget."""
    out.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(HERE / "bounded_reads.py"), str(path), str(BUDGET), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        # One thread per pool and few malloc arenas: the address space they reserve does not
        # depend on the machine's core count.
        env={
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MALLOC_ARENA_MAX": "2",
            **env,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


_PROBED: dict[str, tuple[Path, int, dict]] = {}


@pytest.fixture(params=sorted(HAZARDS))
def probed(request, tmp_path_factory) -> tuple[Hazard, Path, int, dict]:
    """``(hazard, file, hazard offset, bounded_reads results)``, probed once per hazard."""
    name = request.param
    if name not in _PROBED:
        root = tmp_path_factory.mktemp("hazard")
        path, offset = write_hazard(root / "logdir", HAZARDS[name])
        _PROBED[name] = path, offset, bounded_reads(root / "logdir", root / "out")
    return (HAZARDS[name], *_PROBED[name])


def test_every_reader_stays_bounded(probed):
    hazard, _, _, got = probed
    dumped = [json.loads(line) for line in got["cli"]["dump-jsonl"]["stdout"].splitlines()]
    exits = {  # 1: validate found an error; export of tensors found none ("nothing matched")
        "validate": int(hazard.code is not None and hazard.severity == "error"),
        "export-tensors": int(not any(line["kind"] == "tensor" for line in dumped)),
    }
    for command, run in got["cli"].items():
        assert "internal error" not in run["stderr"] and "escaped" not in run["stderr"], (
            command,
            run["stderr"],
        )
        assert run["exit"] == exits.get(command.removesuffix("/py"), 0), (command, run["stderr"])
    assert {call: r for call, r in got["lib"].items() if r != "ok"} == {}
    if hazard.media_kept_encoded:
        assert got["media"] == {f"tbparse.{hazard.media_kept_encoded}": ["bytes"]}


def test_validate_names_the_hazard_and_readers_show_its_message(probed):
    hazard, path, offset, got = probed
    report = json.loads(got["cli"]["validate"]["stdout"])
    findings = [(f["code"], f["severity"], f["file"], f["offset"]) for f in report["findings"]]
    if hazard.code is None:
        assert findings == []
        return
    assert findings == [(hazard.code, hazard.severity, str(path), offset)]
    if hazard.value is None:
        return
    message = report["findings"][0]["message"]
    assert report["findings"][0]["count"] == hazard.records
    dumped = [json.loads(line) for line in got["cli"]["dump-jsonl"]["stdout"].splitlines()]
    (line,) = [line for line in dumped if line["offset"] == offset]
    assert line["kind"] == "tensor" and line["value"]["error"] == message
    rows = [json.loads(line) for line in got["cli"]["export-tensors"]["stdout"].splitlines()]
    assert len(rows) == hazard.records and rows[0]["error"] == message
    assert all(row["values"] is None and row["strings"] is None for row in rows)


def test_c_and_python_decoders_agree_on_crafted_records(probed):
    got = probed[3]["cli"]
    for command in ("validate", "dump-jsonl", "export-tensors"):
        assert got[command] == got[command + "/py"], command


def test_a_scalar_of_any_rank_reads_alike_in_both_engines(tmp_path):
    write_hazard(tmp_path, HAZARDS["scalar-rank-100"])
    frames = [tbtool.read_scalars(tmp_path, engine=e) for e in ("batch", "events")]
    for frame in frames:
        assert frame[["tag", "step", "value"]].values.tolist() == [
            ["loss", 1, 0.5],
            ["hazard", 2, 1.0],
        ]


# -- the limit itself ---------------------------------------------------------------------------
def test_padded_strings_count_their_length_per_element():
    """2,000 copies of a 100 kB string are 200 MB however small the padded array; 50 fit
    in 64 bytes per byte of the tensor."""
    few = _tensor(DT_STRING, [50], string_val=[BIG_STRING])
    array, _ = decode_tensor(few)
    assert array.shape == (50,) and array[-1] == BIG_STRING
    with pytest.raises(TensorTooLarge, match=r"string tensor of shape \[2000\]"):
        decode_tensor(_tensor(DT_STRING, [2000], string_val=[BIG_STRING]))


def test_the_limit_is_proportional_to_the_tensors_size():
    """No floor: many tiny padded values cannot add up to more than 64x their bytes."""
    assert limits.value_limit(0) == 0 and limits.value_limit(17) == 17 * 64
    # 4 MiB of content padded by 4 MiB more: within 64 bytes per byte.
    tensor = _tensor(DT_FLOAT, [2 << 20], float_val=np.ones(1 << 20, np.float32).tolist())
    array, _ = decode_tensor(tensor)
    assert array.shape == (2 << 20,) and float(array.sum()) == 2 << 20
    with pytest.raises(TensorTooLarge, match=r"shape \[3000\] .* more than the 960 allowed"):
        decode_tensor(_tensor(DT_FLOAT, [3000], float_val=[1.0]))


LARGE = _tensor(DT_FLOAT, [5_000_000], float_val=[2.0])  # 20 MB from 17 bytes


def test_the_allowance_is_configurable(monkeypatch):
    with pytest.raises(TensorTooLarge, match=r"more than the 1088 allowed for its 17 bytes"):
        decode_tensor(LARGE)
    monkeypatch.setenv(limits.ENV_VAR, "64MiB")
    assert limits.max_value_bytes() == 64 << 20
    array, _ = decode_tensor(LARGE)
    assert array.shape == (5_000_000,) and array[-1] == 2.0
    monkeypatch.setattr(limits, "MAX_VALUE_BYTES", 1 << 20)  # a program's setting wins
    with pytest.raises(TensorTooLarge, match=r"more than the 1048576 allowed"):
        decode_tensor(LARGE)


def test_commands_honour_the_variable_and_reject_a_bad_one(tmp_path):
    _, offset = write_hazard(tmp_path, Hazard(lambda: _value(tensor=LARGE), None))
    runner = CliRunner()
    capped = runner.invoke(app, ["validate", str(tmp_path), "--format", "json"])
    assert capped.exit_code == 1
    (finding,) = json.loads(capped.stdout)["findings"]
    assert (finding["code"], finding["offset"]) == ("value-too-large", offset)
    assert f"raise {limits.ENV_VAR}" in finding["message"]
    raised = runner.invoke(app, ["validate", str(tmp_path)], env={limits.ENV_VAR: "1GB"})
    assert raised.exit_code == 0, raised.stdout
    dump = runner.invoke(app, ["dump", str(tmp_path)], env={limits.ENV_VAR: "1GB"})
    assert "tensor float32[5000000]" in dump.stdout
    bad = runner.invoke(app, ["dump", str(tmp_path)], env={limits.ENV_VAR: "lots"})
    assert bad.exit_code == 2
    assert bad.stderr == (
        f"tbtool: error: {limits.ENV_VAR}: 'lots' is not a size like 500MB, 1.5GiB, 64k or "
        "1000000\n"
    )


def test_a_read_allocates_no_more_than_the_file_holds(tmp_path):
    """A record length from the file asks for up to 2 GiB; the buffer is what is there."""
    path = tmp_path / FILE_NAME
    path.write_bytes(bytes(100))
    with storage.open_input(path) as f:
        f.read(10)
        tracemalloc.start()
        try:
            data = f.read(2**31)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert data == bytes(90) and f.read(2**31) == b""
    assert peak < 1 << 16
