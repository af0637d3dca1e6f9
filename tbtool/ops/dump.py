"""dump: every event / summary value in read order, as text lines or JSON lines.

Values come through the batch path as column blocks; the lines of the scalars the index
decoded (nearly all lines of a training log) are built from those columns with Arrow string
kernels (:mod:`tbtool.columnar.text`), the rest one value at a time from the typed values.
Both give exactly the line one value at a time would (``value_line``, ``LoggedValue.to_json``),
so a line never depends on which path built it. ``--raw`` and ``--follow`` need whole events
and stay on the per-event reader.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tbtool.columnar.parallel import usable_cores
from tbtool.columnar.pieces import ValueBlock
from tbtool.columnar.text import (
    float_reprs,
    integers,
    iso_times,
    join_columns,
    json_numbers,
    json_strings,
    runs_of_equal,
)
from tbtool.columnar.walk import Progress
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange
from tbtool.runs.events import EventRecord
from tbtool.runs.logdir import Run
from tbtool.values.typed import KINDS, LoggedValue
from tbtool.vocabulary.printable import printable

FORMATS = ("text", "jsonl")
_SCALAR = KINDS.index("scalar")


def iso_time(t: float) -> str:
    """A wall time as dump prints it: UTC with milliseconds (``repr`` beyond datetime)."""
    try:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    except (OverflowError, OSError, ValueError):
        return repr(t)


def value_line(item: LoggedValue) -> str:
    """The text line of one value."""
    tag = f" {printable(item.tag)}" if item.tag else ""
    return (
        f"{iso_time(item.wall_time)}  {printable(item.run)}  step {item.step}  {item.kind}{tag}: "
        f"{printable(item.value.brief())}"
    )


def raw_json(run: Run, record: EventRecord) -> dict[str, Any]:
    """A whole event as JSON (bytes fields base64, as protobuf's JSON mapping does)."""
    from google.protobuf.json_format import MessageToDict

    return {
        "run": run.name,
        "file": record.file,
        "offset": record.offset,
        "index": record.index,
        "event": MessageToDict(record.event, preserving_proto_field_name=True),
    }


def raw_text(run: Run, record: EventRecord) -> str:
    """A whole event as protobuf text, under a comment line saying where it is."""
    from google.protobuf import text_format

    body = text_format.MessageToString(record.event, as_utf8=True).rstrip("\n")
    where = f"run {printable(run.name)}  file {printable(record.file)}"
    header = f"# {where}  offset {record.offset}  index {record.index}"
    return f"{header}\n{body}\n"


def dump_values(
    reader: LogReader,
    *,
    kinds: Sequence[str] = (),
    steps: StepRange | None = None,
    format: str = "text",
    jobs: int | None = 1,
    progress: Progress | None = None,
    threads: int | None = None,
) -> Iterator[bytes]:
    """The UTF-8 lines (newline-terminated) of every value, a block at a time, in order.

    Lines are built on ``threads`` threads while the next blocks are read (Arrow's string
    kernels release the GIL, so formatting, the larger part of dump's work, uses every core;
    default: the usable cores, at most 4). At most twice that many blocks are in flight."""
    if format not in FORMATS:
        raise ValueError(f"unknown dump format {format!r}")
    blocks = reader.blocks(
        kinds or None, steps, decode_histograms=True, jobs=jobs, progress=progress
    )
    threads = min(4, usable_cores()) if threads is None else threads
    if threads <= 1:
        for block in blocks:
            yield block_lines(block, format)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="tbtool-dump") as pool:
        pending: deque[Future[bytes]] = deque()
        try:
            for block in blocks:
                pending.append(pool.submit(block_lines, block, format))
                while len(pending) > 2 * threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def block_lines(block: ValueBlock, format: str = "text") -> bytes:
    """The lines of one block, in its row order."""
    line_of = _item_json if format == "jsonl" else value_line
    item_rows = np.sort(np.fromiter(block.items, dtype=np.int64, count=len(block.items)))
    item_lines = pa.array(
        [line_of(block.items[row]) + "\n" for row in item_rows.tolist()], type=pa.string()
    )
    bulk = np.ones(len(block), dtype=bool)
    bulk[item_rows] = False
    bulk_rows = np.flatnonzero(bulk)
    if not len(bulk_rows):
        return _bytes(item_lines)
    if (block.kind[bulk_rows] != _SCALAR).any():
        raise ValueError("dump blocks hold scalars in bulk only (decode_histograms=True)")
    build = _json_lines if format == "jsonl" else _text_lines
    bulk_lines = build(block, bulk_rows)
    if not len(item_rows):
        return _bytes(bulk_lines)
    lines = pa.concat_arrays([bulk_lines, item_lines])
    order = np.argsort(np.concatenate([bulk_rows, item_rows]), kind="stable")
    return _bytes(lines.take(pa.array(order)))


def _item_json(item: LoggedValue) -> str:
    return json.dumps(item.to_json())


def _text_lines(block: ValueBlock, rows: np.ndarray) -> pa.StringArray:
    tag_pieces = pa.array(
        [f"  scalar {printable(tag)}: " if tag else "  scalar: " for tag in block.tags],
        type=pa.string(),
    )
    return join_columns(
        [
            _per_run_of_equal(block.wall_time[rows], lambda w: iso_times(w, iso_time)),
            f"  {printable(block.run)}  step ",
            _per_run_of_equal(block.step[rows], integers),
            tag_pieces.take(pa.array(block.tag[rows])),
            float_reprs(block.scalar[rows], block.float32[rows]),
            "\n",
        ]
    )


def _json_lines(block: ValueBlock, rows: np.ndarray) -> pa.StringArray:
    tags = pa.array(block.tag[rows])
    plugins = json_strings(block.plugins).take(tags)
    plugins = pc.if_else(pa.array(block.has_meta[rows]), plugins, '""')
    return join_columns(
        [
            f'{{"run": {json.dumps(block.run)}, "file": {json.dumps(block.file)}, "offset": ',
            integers(block.offset[rows]),
            ', "index": ',
            integers(block.index[rows]),
            ', "wall_time": ',
            _per_run_of_equal(block.wall_time[rows], json_numbers),
            ', "step": ',
            _per_run_of_equal(block.step[rows], integers),
            ', "tag": ',
            json_strings(block.tags).take(tags),
            ', "kind": "scalar", "plugin_name": ',
            plugins,
            ', "value": ',
            json_numbers(block.scalar[rows], block.float32[rows]),
            "}\n",
        ]
    )


def _per_run_of_equal(
    values: np.ndarray, text: Callable[[np.ndarray], pa.StringArray]
) -> pa.StringArray:
    """``text(values)``, computed once per run of equal consecutive values (NaN never
    equals itself, so each NaN gets its own)."""
    firsts, expand = runs_of_equal(values)
    if len(firsts) == len(values):
        return text(values)
    return text(values[firsts]).take(pa.array(expand))


def _bytes(lines: pa.StringArray) -> bytes:
    """The concatenated text of a string array, as UTF-8 bytes."""
    if not len(lines):
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return bytes(memoryview(lines.buffers()[2])[start:end])
