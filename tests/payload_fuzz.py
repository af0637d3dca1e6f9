"""A structure-aware fuzzer of event payloads: the C decoder, the pure-Python decoder and the
events engine must agree on every input.

It builds valid ``Event`` messages field by field with its own wire encoder (protobuf would
only write canonical bytes), then damages them the ways a broken writer or an attacker would:
field numbers and wire types changed, varints padded (keys and lengths past the 5 bytes
protobuf allows), nested lengths that overrun their parent, packed fields of odd length,
floats of the wrong size, huge or invalid UTF-8 strings, extreme integers. Every record is
written with both CRCs recomputed (tbtool's RecordWriter), so each case reaches the decoders.

Each case is one run (a file_version record and a few events sharing tags, so metadata
registration across records is exercised); a batch of cases is one logdir, compared at once:

* the value index of each file, C scan against pure-Python scan (rows, problems, end state);
* the export tables of every kind with ``skip_corrupt``, for the three engines;
* ``validate`` findings, C against pure Python;
* the peak traced allocation of each scan, against a bound from the file's size.

Any difference, any exception that is not a ``TbtoolError`` (and any exception at all from
``validate``, which never raises for content) is a :class:`Mismatch`. Run as a script for a
time-bounded run (``scripts/fuzz_sanitized.py`` runs it against an ASan/UBSan build)::

    python tests/payload_fuzz.py --seconds 60 --seed 1
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tbtool.columnar import native
from tbtool.columnar.index import COL_HISTO, COL_STRINGS
from tbtool.columnar.scan import FileScan
from tbtool.columnar.table_rows import TABLE_KINDS
from tbtool.errors import TbtoolError
from tbtool.format.record import RecordWriter
from tbtool.ops.validate import validate
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import read_tables

VARINT, I64, LEN, I32 = 0, 1, 2, 5
FILE_NAME = "events.out.tfevents.1700000000.fuzz"
#: Records per case after the file_version record.
EVENTS_PER_CASE = (2, 5)
#: Scan memory: the read chunk (FileScan reads at most this much past a record) plus this
#: much per byte of file plus a constant for the index's own arrays and objects. A length or
#: count read from a payload that drove an allocation would exceed it by orders of magnitude.
SCAN_CHUNK = 1 << 16
BYTES_PER_FILE_BYTE = 64
SCAN_OVERHEAD = 256 << 10


# -- a wire encoder that can write what protobuf never would -----------------------------------
@dataclass
class Field:
    """One field as written: ``value`` is an int (varint), bytes (I32/I64/LEN contents) or a
    list of fields (a nested message). The pads add continuation bytes to the key, length or
    value varint; ``length`` overrides the true length of a LEN field."""

    number: int
    wire: int
    value: int | bytes | list[Field]
    key_pad: int = 0
    len_pad: int = 0
    val_pad: int = 0
    length: int | None = None


def varint(value: int, pad: int = 0) -> bytes:
    """``value`` (as a uint64) in base-128, stretched by ``pad`` redundant bytes."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    if pad:
        out[-1] |= 0x80
        out += b"\x80" * (pad - 1) + b"\x00"
    return bytes(out)


def encode(fields: list[Field]) -> bytes:
    out = bytearray()
    for f in fields:
        out += varint((f.number << 3) | f.wire, f.key_pad)
        if isinstance(f.value, list):
            body = encode(f.value)
        elif isinstance(f.value, int):
            out += varint(f.value, f.val_pad)
            continue
        else:
            body = f.value
        if f.wire == LEN:
            out += varint(len(body) if f.length is None else f.length, f.len_pad)
        out += body
    return bytes(out)


def _f32(x: float) -> bytes:
    return struct.pack("<f", x)


def _f64(x: float) -> bytes:
    return struct.pack("<d", x)


def _s(text: str) -> bytes:
    return text.encode()


# -- valid events, field by field (field numbers: format.md §2) -------------------------------
TAGS = ["loss", "acc", "h", "t", "img", "snd", "txt", ""]
PLUGINS = ["", "scalars", "histograms", "text", "images", "audio", "hparams", "pr_curves"]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e30, float("inf"), float("nan"), 3.4e38, 5e-324]


def gen_metadata(rng: random.Random) -> list[Field]:
    fields: list[Field] = []
    if rng.random() < 0.8:
        plugin = [Field(1, LEN, _s(rng.choice(PLUGINS)))]
        if rng.random() < 0.3:
            plugin.append(Field(2, LEN, rng.randbytes(rng.randint(0, 6))))
        fields.append(Field(1, LEN, plugin))
    if rng.random() < 0.3:
        fields.append(Field(2, LEN, _s(rng.choice(["", "Loss", "é"]))))
    if rng.random() < 0.2:
        fields.append(Field(3, LEN, _s("desc")))
    if rng.random() < 0.5:
        fields.append(Field(4, VARINT, rng.choice([0, 0, 1, 2, 3])))
    return fields


def gen_tensor(rng: random.Random) -> list[Field]:
    dtype = rng.choice([1, 1, 2, 3, 7, 9, 19, 0])
    fields = [Field(1, VARINT, dtype)]
    if rng.random() < 0.8:
        dims = [
            Field(2, LEN, [Field(1, VARINT, rng.choice([1, 1, 2, 3, 0]))])
            for _ in range(rng.randint(0, 2))
        ]
        fields.append(Field(2, LEN, dims))
    n = rng.choice([1, 1, 1, 2, 3])
    choice = rng.randint(0, 5)
    if choice == 0:
        size = {1: 4, 2: 8, 3: 4, 9: 8, 19: 2}.get(dtype, 4)
        fields.append(Field(4, LEN, rng.randbytes(size * n)))
    elif choice == 1:
        fields.append(Field(5, LEN, b"".join(_f32(rng.choice(FLOATS)) for _ in range(n))))
    elif choice == 2:
        fields.append(Field(6, LEN, b"".join(_f64(rng.choice(FLOATS)) for _ in range(n))))
    elif choice == 3:
        fields.append(Field(7, LEN, b"".join(varint(rng.randint(-5, 300)) for _ in range(n))))
    elif choice == 4:
        fields += [Field(8, LEN, _s(rng.choice(["hi", "", "ü"]))) for _ in range(n)]
    else:
        fields += [Field(5, I32, _f32(rng.choice(FLOATS))) for _ in range(n)]
    return fields


#: Strings of text tensors: empty, NUL, non-ASCII, invalid UTF-8 (bytes fields: protobuf takes
#: any; reading replaces what is not UTF-8).
TEXT_STRINGS = [b"", b"hi", "ü".encode(), b"\x00", b"\xff", b"\xed\xa0\x80", b"\xe2\x82"]


def gen_text_tensor(rng: random.Random) -> list[Field]:
    """A DT_STRING tensor, mostly of a shape its strings fill exactly (the layout the index
    decodes), of up to 3 dims (named or not), sometimes a string short or over."""
    shape = [rng.choice([0, 1, 1, 2, 3]) for _ in range(rng.randint(0, 3))]
    count = math.prod(shape) + (rng.choice([-1, 1]) if rng.random() < 0.2 else 0)
    dims = []
    for size in shape:
        dim = [Field(1, VARINT, size)]
        if rng.random() < 0.2:
            dim.append(Field(2, LEN, _s("n")))
            rng.shuffle(dim)
        dims.append(Field(2, LEN, dim))
    fields = [Field(1, VARINT, 7), Field(2, LEN, dims)]
    fields += [Field(8, LEN, rng.choice(TEXT_STRINGS)) for _ in range(max(0, count))]
    rng.shuffle(fields)
    return fields


def gen_histo(rng: random.Random) -> list[Field]:
    n = rng.randint(0, 4)
    limits = sorted(rng.uniform(-5, 5) for _ in range(n))
    counts = [float(rng.randint(0, 3)) for _ in range(n)]
    fields = [Field(i, I64, _f64(x)) for i, x in enumerate([-5.0, 5.0, sum(counts), 1.0, 2.0], 1)]
    fields.append(Field(6, LEN, b"".join(map(_f64, limits))))
    fields.append(Field(7, LEN, b"".join(map(_f64, counts))))
    return fields


def gen_value(rng: random.Random) -> list[Field]:
    fields = [Field(1, LEN, _s(rng.choice(TAGS)))]
    if rng.random() < 0.1:
        fields.append(Field(7, LEN, _s("node")))
    if rng.random() < 0.5:
        fields.append(Field(9, LEN, gen_metadata(rng)))
    case = rng.randint(0, 7)
    if case == 0:
        fields.append(Field(2, I32, _f32(rng.choice(FLOATS))))
    elif case == 1:
        fields.append(Field(5, LEN, gen_histo(rng)))
    elif case == 2:
        fields.append(Field(8, LEN, gen_tensor(rng)))
    elif case == 3:
        image = [Field(1, VARINT, 1), Field(2, VARINT, 1), Field(3, VARINT, 3)]
        fields.append(Field(4, LEN, [*image, Field(4, LEN, b"\x89PNG\r\n\x1a\nxx")]))
    elif case == 4:
        audio = [Field(1, I32, _f32(8000.0)), Field(2, VARINT, 1), Field(3, VARINT, 2)]
        audio += [Field(4, LEN, b"RIFF...."), Field(5, LEN, _s("audio/wav"))]
        fields.append(Field(6, LEN, audio))
    elif case == 5:
        fields.append(Field(3, LEN, b"old"))
    elif case == 6:  # text, with its plugin's metadata (here, earlier or not at all)
        fields.append(Field(8, LEN, gen_text_tensor(rng)))
        if rng.random() < 0.5:
            plugin = Field(1, LEN, [Field(1, LEN, _s("text"))])
            fields = [f for f in fields if f.number != 9] + [Field(9, LEN, [plugin])]
    rng.shuffle(fields)
    return fields


def gen_event(rng: random.Random, step: int) -> list[Field]:
    fields = [Field(1, I64, _f64(1.7e9 + step)), Field(2, VARINT, step)]
    what = rng.random()
    if what < 0.75:
        values = [Field(1, LEN, gen_value(rng)) for _ in range(rng.randint(1, 3))]
        fields.append(Field(5, LEN, values))
    elif what < 0.85:
        log = [Field(1, VARINT, rng.choice([0, 1, 2, 3])), Field(3, LEN, _s("m"))]
        fields.append(Field(7, LEN, log))
    elif what < 0.9:
        fields.append(Field(4, LEN, b"graph"))
    elif what < 0.95:
        fields.append(Field(6, LEN, [Field(1, VARINT, 20), Field(2, LEN, _s("hello"))]))
    else:
        fields.append(Field(10, LEN, [Field(1, LEN, _s("writer"))]))
    return fields


# -- damage -----------------------------------------------------------------------------------
BAD_UTF8 = [
    b"\xff",
    b"\xc0\xaf",  # overlong
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",  # surrogate
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # truncated
    b"\x80",
    b"ok\xf0\x9f\x98",
]
EXTREMES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**35, 2**63 - 1, 2**63, 2**64 - 1, 10**12]


def _all_fields(fields: list[Field]) -> Iterator[tuple[list[Field], int]]:
    for i, f in enumerate(fields):
        yield fields, i
        if isinstance(f.value, list):
            yield from _all_fields(f.value)


def mutate(rng: random.Random, fields: list[Field]) -> str:
    """Damage one field of the message tree in place; returns what was done."""
    spots = list(_all_fields(fields))
    if not spots:
        return "none"
    parent, i = rng.choice(spots)
    f = parent[i]
    op = rng.randrange(13)
    if op == 0:
        f.key_pad = rng.choice([1, 2, 3, 4, 5, 6, 9])  # 2..10+ byte keys
    elif op == 1 and f.wire == LEN:
        f.len_pad = rng.choice([1, 3, 4, 5, 8])
    elif op == 1 and isinstance(f.value, int):
        f.val_pad = rng.choice([1, 4, 8, 9, 10])
    elif op == 2:
        f.wire = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
        if f.wire != LEN and isinstance(f.value, list):
            f.value = encode(f.value)
    elif op == 3:
        f.number = rng.choice([0, 1, 2, 3, 5, 8, 9, 11, 15, 19, 100, 2**29 - 1])
    elif op == 4 and f.wire == LEN:
        true = len(encode(f.value)) if isinstance(f.value, list) else len(f.value)
        f.length = max(0, true + rng.choice([-3, -1, 1, 2, 9, 1000]))
        if rng.random() < 0.3:
            f.length = rng.choice(EXTREMES)
    elif op == 5 and isinstance(f.value, bytes):  # packed / fixed of odd length
        cut = rng.randint(1, 7)
        f.value = f.value[:-cut] if rng.random() < 0.5 else f.value + rng.randbytes(cut)
    elif op == 6 and f.wire in (I32, I64):  # a float of the wrong size
        f.wire = I64 if f.wire == I32 else I32
        if rng.random() < 0.5:
            f.value = (bytes(f.value) + bytes(8))[: 8 if f.wire == I64 else 4]
    elif op == 7 and f.wire == LEN:  # strings: invalid UTF-8, huge
        bad = rng.choice(BAD_UTF8)
        if rng.random() < 0.15:
            f.value = (b"x" * rng.choice([300, 70_000])) + (bad if rng.random() < 0.5 else b"")
        else:
            f.value = b"ab" + bad
    elif op == 8 and isinstance(f.value, int):
        f.value = rng.choice(EXTREMES)
    elif op == 9:
        parent.insert(i, Field(f.number, f.wire, f.value, f.key_pad, f.len_pad, f.val_pad))
    elif op == 10:
        del parent[i]
    elif op == 11:
        rng.shuffle(parent)
    elif op == 12 and f.wire == LEN:  # a message where bytes were, or random bytes
        f.value = gen_value(rng) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 12))
    else:
        f.key_pad = rng.choice([4, 5])  # 5-byte key: the longest protobuf accepts
    return f"op{op}@field{f.number}"


@dataclass
class Case:
    """One run: its payloads (after the file_version record) and what was done to them."""

    name: str
    payloads: list[bytes]
    notes: list[str] = field(default_factory=list)


def gen_case(rng: random.Random, name: str) -> Case:
    case = Case(name, [])
    for step in range(rng.randint(*EVENTS_PER_CASE)):
        event = gen_event(rng, step)
        if step and rng.random() < 0.85:
            for _ in range(rng.choice([1, 1, 2, 3])):
                case.notes.append(mutate(rng, event))
        data = encode(event)
        if step and rng.random() < 0.05:
            data = data[: rng.randrange(len(data) + 1)]
        if step and rng.random() < 0.05 and data:
            j = rng.randrange(len(data))
            data = data[:j] + bytes([data[j] ^ (1 << rng.randrange(8))]) + data[j + 1 :]
        case.payloads.append(data)
    return case


FILE_VERSION = encode([Field(1, I64, _f64(1.7e9)), Field(3, LEN, b"brain.Event:2")])


def write_case(logdir: Path, case: Case) -> Path:
    run = logdir / case.name
    run.mkdir(parents=True, exist_ok=True)
    path = run / FILE_NAME
    with RecordWriter(path) as w:
        w.write(FILE_VERSION)
        for payload in case.payloads:
            w.write(payload)
    return path


# -- the comparison ---------------------------------------------------------------------------
class Mismatch(AssertionError):
    """The decoders disagree, or one of them failed in a way it must not."""


def _outcome(call: Callable[[], Any], what: str) -> Any:
    """The result of ``call``, or ``("error", type, message)`` for a TbtoolError; anything
    else raised is a Mismatch."""
    try:
        return call()
    except TbtoolError as e:
        return ("error", type(e).__name__, str(e))
    except Exception as e:
        raise Mismatch(f"{what}: {type(e).__name__}: {e}") from e


def _norm(x: Any) -> Any:
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else x
    if isinstance(x, (list, tuple)):
        return [_norm(y) for y in x]
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items()}
    return x


def index_rows(path: str, use_native: bool) -> Any:
    """Everything a scan says about a file, in plain values (NaN as a string)."""
    scan = FileScan(path, use_native=use_native, skip_corrupt=True, chunk_size=SCAN_CHUNK)
    rows: list[Any] = []
    records: list[Any] = []
    for chunk in scan:
        hist = np.flatnonzero(chunk.v_col == COL_HISTO)
        bounds = np.concatenate([[0], np.cumsum(chunk.h_count)])
        texts = np.flatnonzero(chunk.v_col == COL_STRINGS)
        strings = dict(
            zip(
                texts.tolist(),
                (
                    [list(s), list(t)]
                    for s, t in zip(chunk.string_shapes(texts), chunk.strings(texts), strict=True)
                ),
                strict=True,
            )
        )
        for i in range(chunk.values):
            rec = int(chunk.v_rec[i])
            h = strings.get(i)
            if chunk.v_col[i] == COL_HISTO:
                e = int(np.searchsorted(hist, i))
                h = [
                    float(chunk.h_min[e]),
                    float(chunk.h_max[e]),
                    float(chunk.h_num[e]),
                    float(chunk.h_sum[e]),
                    float(chunk.h_sum_squares[e]),
                    chunk.h_limits[bounds[e] : bounds[e + 1]].tolist(),
                    chunk.h_buckets[bounds[e] : bounds[e + 1]].tolist(),
                ]
            meta = chunk.metas[chunk.v_meta[i]] if chunk.v_meta[i] >= 0 else None
            rows.append(
                [
                    int(chunk.r_index[rec]),
                    int(chunk.r_offset[rec]),
                    int(chunk.r_length[rec]),
                    float(chunk.r_wall_time[rec]),
                    int(chunk.r_step[rec]),
                    int(chunk.r_what[rec]),
                    int(chunk.v_widx[i]),
                    chunk.tags[chunk.v_tag[i]],
                    meta,
                    int(chunk.v_oneof[i]),
                    int(chunk.v_col[i]),
                    float(chunk.v_scalar[i]),
                    h,
                ]
            )
        columns = (chunk.r_index, chunk.r_offset, chunk.r_length, chunk.r_step, chunk.r_what)
        records.extend(zip(*(c.tolist() for c in columns), strict=True))
        records.extend(("wall", w) for w in chunk.r_wall_time.tolist())
    problems = [(type(p).__name__, str(p)) for p in scan.problems]
    return _norm([records, rows, scan.events, scan.state.name, scan.end_offset, problems])


def scan_peak(path: str, use_native: bool) -> int:
    """Peak traced allocation (bytes) of scanning ``path`` into indexes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in FileScan(path, use_native=use_native, skip_corrupt=True, chunk_size=SCAN_CHUNK):
            pass
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _tables(logdir: str, engine: str, purge: bool) -> Any:
    os.environ["TBTOOL_PURE_PYTHON"] = "1" if engine == "python" else "0"
    try:
        reader = LogReader(logdir, skip_corrupt=True, purge=purge)
        got = read_tables(
            reader, list(TABLE_KINDS), engine="events" if engine == "events" else "batch", jobs=1
        )
        tables = {kind: _norm(table.to_pylist()) for kind, table in got.items()}
        status = {
            os.path.relpath(p, logdir): (s.events, s.state.name, s.end_offset)
            for p, s in sorted(reader.file_status.items())
        }
        return [tables, [str(p) for p in reader.problems], status]
    finally:
        os.environ.pop("TBTOOL_PURE_PYTHON", None)


def _findings(logdir: str, engine: str) -> Any:
    os.environ["TBTOOL_PURE_PYTHON"] = "1" if engine == "python" else "0"
    try:
        return _norm(validate(logdir).to_json())
    except Exception as e:  # validate never raises for content, TbtoolError or not
        raise Mismatch(f"validate ({engine}) raised {type(e).__name__}: {e}") from e
    finally:
        os.environ.pop("TBTOOL_PURE_PYTHON", None)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}[{k!r}]")
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
    return f"{path}: {a!r} != {b!r}"[:2000]


def _same(what: str, a: Any, b: Any) -> None:
    if a != b:
        raise Mismatch(f"{what} differ at {_first_difference(a, b)}")


def check_logdir(logdir: Path, *, engines: bool = True, memory: bool = True) -> None:
    """Compare every decoder on every file of ``logdir``; :class:`Mismatch` on any
    difference. ``engines``: also export tables and validate (slower than the scans)."""
    c = native.available()
    for path in sorted(logdir.rglob(FILE_NAME)):
        size = path.stat().st_size
        pure = _outcome(lambda p=path: index_rows(str(p), False), f"pure scan of {path}")
        if c:
            _same(
                f"C and Python indexes of {path}",
                _outcome(lambda p=path: index_rows(str(p), True), f"C scan of {path}"),
                pure,
            )
        if memory:
            bound = SCAN_CHUNK + SCAN_OVERHEAD + BYTES_PER_FILE_BYTE * size
            for use_native in (False, True) if c else (False,):
                peak = _outcome(lambda p=path, u=use_native: scan_peak(str(p), u), "scan")
                if isinstance(peak, int) and peak > bound:
                    raise Mismatch(
                        f"scan of {path} (native={use_native}, {size} bytes) allocated "
                        f"{peak} bytes at its peak, over the bound of {bound}"
                    )
    if not engines:
        return
    # With purge semantics and without: restarts are found exactly, whatever their field
    # order or key encoding, by the batch engine's scan and by the events engine's search.
    for purge in (False, True):
        want = _outcome(lambda p=purge: _tables(str(logdir), "events", p), "export (events)")
        for engine in ("python", "c") if c else ("python",):
            got = _outcome(
                lambda e=engine, p=purge: _tables(str(logdir), e, p), f"export ({engine})"
            )
            _same(f"export tables, purge={purge} (events engine vs {engine})", got, want)
    if c:
        _same(
            "validate findings (C vs Python)",
            _findings(str(logdir), "c"),
            _findings(str(logdir), "python"),
        )


# -- driving it --------------------------------------------------------------------------------
def gen_batch(seed: int, cases: int) -> list[Case]:
    rng = random.Random(seed)
    return [gen_case(rng, f"s{seed}c{i:03d}") for i in range(cases)]


def run_batch(
    seed: int, cases: int, workdir: Path, *, software_crc: bool = False, engines: bool = True
) -> int:
    """Write and check one batch; on a mismatch, find the first failing case alone and
    raise with its seed and name. Returns the number of cases checked."""
    batch = gen_batch(seed, cases)
    logdir = workdir / f"seed{seed}"
    for case in batch:
        write_case(logdir, case)
    ext = native.module()
    previous = None
    if software_crc and ext is not None:
        previous = ext.hardware_crc()
        ext.set_hardware_crc(False)
    try:
        try:
            check_logdir(logdir, engines=engines)
        except Mismatch as whole:
            for case in batch:  # which case: each alone
                alone = workdir / f"alone-{case.name}"
                write_case(alone, case)
                try:
                    check_logdir(alone, engines=engines)
                except Mismatch as e:
                    raise Mismatch(
                        f"seed {seed}, case {case.name} ({', '.join(case.notes)}), "
                        f"files under {alone}: {e}"
                    ) from e
                shutil.rmtree(alone)
            raise Mismatch(f"seed {seed}: only the whole batch fails: {whole}") from whole
    finally:
        if previous is not None:
            ext.set_hardware_crc(previous)
    shutil.rmtree(logdir)
    return len(batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=0, help="first seed (one seed per batch)")
    parser.add_argument("--cases", type=int, default=40, help="cases (runs) per batch")
    parser.add_argument("--scans-only", action="store_true", help="skip export and validate")
    args = parser.parse_args(argv)
    ext = native.module()
    print(f"C extension: {getattr(ext, '__file__', None)}; CRC: {ext and ext.crc_path()}")
    deadline = time.monotonic() + args.seconds
    seed, total = args.seed, 0
    with tempfile.TemporaryDirectory(prefix="tbtool-fuzz-") as tmp:
        while time.monotonic() < deadline:
            total += run_batch(
                seed,
                args.cases,
                Path(tmp),
                software_crc=seed % 2 == 1,
                engines=not args.scans_only,
            )
            seed += 1
    print(
        f"{total} cases in {seed - args.seed} batches (seeds {args.seed}..{seed - 1}): no mismatch"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
