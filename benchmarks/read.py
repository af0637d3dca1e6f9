"""Reading tasks for the benchmark harness: one logdir into one pandas DataFrame, by tbtool and
by what users otherwise run (tbparse, TensorBoard's EventAccumulator), plus the I/O + CRC
floor no reader can beat and a cProfile summary of tbtool's read.

Each task runs in its own process (:mod:`benchmarks.measure`) and returns
``{"seconds", "rows", ...}``; the timed part is the read itself, imports excluded.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import status_mb

#: Reading tools and what each is: the labels of the report.
TOOLS = {
    "tbtool": "tbtool.read_*",
    "tbtool-python": "tbtool.read_* (pure Python)",
    "tbparse": "tbparse SummaryReader",
    "accumulator": "TensorBoard EventAccumulator",
}


def run_dirs(logdir: str) -> list[str]:
    """Directories directly holding event files, sorted (what a per-run loop visits)."""
    found = {str(p.parent) for p in Path(logdir).rglob("*tfevents*") if p.is_file()}
    return sorted(found)


def _tbtool_frame(path: str, kind: str, jobs: int | None) -> Any:
    """What a user calls: ``tbtool.read_scalars(path)`` & co."""
    import tbtool

    return getattr(tbtool, f"read_{kind}")(path, jobs=jobs)


def _tbparse_frame(path: str, kind: str) -> Any:
    from tbparse import SummaryReader

    reader = SummaryReader(path, extra_columns={"dir_name", "wall_time"})
    return getattr(reader, kind)


def _accumulator_frame(path: str, kind: str) -> Any:
    """What a user writes with EventAccumulator: load each run, then collect every tag's
    events into one DataFrame."""
    import pandas as pd
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0}
    rows: list[tuple] = []
    for run in run_dirs(path):
        acc = ea.EventAccumulator(run, size_guidance=guidance)
        acc.Reload()
        tags = acc.Tags()
        if kind == "scalars":
            for tag in tags["scalars"]:
                rows.extend((run, tag, e.step, e.wall_time, e.value) for e in acc.Scalars(tag))
        elif kind == "histograms":
            for tag in tags["histograms"]:
                for e in acc.Histograms(tag):
                    h = e.histogram_value
                    rows.append(
                        (
                            run,
                            tag,
                            e.step,
                            e.wall_time,
                            h.min,
                            h.max,
                            h.num,
                            list(h.bucket_limit),
                            list(h.bucket),
                        )
                    )
        elif kind == "images":
            for tag in tags["images"]:
                for e in acc.Images(tag):
                    rows.append(
                        (run, tag, e.step, e.wall_time, e.width, e.height, e.encoded_image_string)
                    )
        else:
            raise ValueError(f"EventAccumulator task: no kind {kind!r}")
    return pd.DataFrame(rows)


def read_task(tool: str, path: str, kind: str = "scalars", jobs: int | None = None) -> dict:
    """Seconds to read every ``kind`` value under ``path`` into a DataFrame with ``tool``;
    also the frame's own memory (``memory_usage(deep=True)``) and the process's resident
    memory before the read (after imports), for the read's peak over its result."""
    if tool == "tbtool-python":
        os.environ["TBTOOL_PURE_PYTHON"] = "1"
    if tool.startswith("tbtool"):
        # Imports outside the timed part, as for the peers (whose top-level imports load
        # pandas): ``import tbtool`` is lazy, so name what its read imports.
        import pyarrow.pandas_compat  # noqa: F401  (pyarrow loads it on a first to_pandas)

        import tbtool
        import tbtool.reading.frames
        import tbtool.reading.tables  # noqa: F401

        read = lambda: _tbtool_frame(path, kind, jobs)  # noqa: E731
    elif tool == "tbparse":
        import tbparse  # noqa: F401

        read = lambda: _tbparse_frame(path, kind)  # noqa: E731
    elif tool == "accumulator":
        from tensorboard.backend.event_processing import event_accumulator  # noqa: F401

        read = lambda: _accumulator_frame(path, kind)  # noqa: E731
    else:
        raise ValueError(f"unknown reading tool {tool!r}")
    before = status_mb("VmRSS")
    start = time.perf_counter()
    frame = read()
    seconds = time.perf_counter() - start
    frame_mb = float(frame.memory_usage(deep=True).sum()) / 2**20
    return {"seconds": seconds, "rows": len(frame), "frame_mb": frame_mb, "rss_before_mb": before}


def crc_floor_task(path: str, chunk_size: int = 8 << 20) -> dict:
    """The I/O + CRC limit: read every event file once in large chunks and CRC-32C every
    byte (what any reader that verifies the format's checksums must at least do)."""
    import crc32c

    files = sorted(p for p in Path(path).rglob("*tfevents*") if p.is_file())
    start = time.perf_counter()
    total = 0
    for file in files:
        with open(file, "rb", buffering=0) as f:
            crc = 0
            while chunk := f.read(chunk_size):
                crc = crc32c.crc32c(chunk, crc)
                total += len(chunk)
    return {"seconds": time.perf_counter() - start, "bytes": total}


def profile_task(path: str, kind: str = "scalars", jobs: int | None = 1, top: int = 8) -> dict:
    """Where tbtool's read spends its time: cProfile's top functions by own time (imports
    outside the profile, as for the timed read)."""
    import pyarrow.pandas_compat  # noqa: F401

    import tbtool.reading.frames
    import tbtool.reading.tables  # noqa: F401

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    _tbtool_frame(path, kind, jobs)
    profiler.disable()
    seconds = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({name})" if line else name
        entries.append(
            {"function": where, "calls": calls, "own_s": own, "cumulative_s": cumulative}
        )
    entries.sort(key=lambda e: e["own_s"], reverse=True)
    return {"seconds": seconds, "top": entries[:top]}
