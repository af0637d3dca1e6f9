"""``tbtool plot``: static charts of scalar tags (PNG, SVG or PDF, by matplotlib), one panel
per tag with every run overlaid: quick looks and CI artifacts.

Drawn with matplotlib's object API (no pyplot), so a call changes no global state of the
caller's program. Each series is drawn at one value per step (the last logged), optionally
smoothed as TensorBoard smooths (a debiased exponential moving average). Data lines carry
the SVG id ``series <run> <tag>``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.columnar.walk import Progress
from tbtool.errors import TbtoolError, UsageError
from tbtool.ops.output import check_output, write_output
from tbtool.ops.report import require
from tbtool.ops.report_data import one_per_step
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import Steps

FORMATS = ("png", "svg", "pdf")
LEGEND_RUNS = 12  # more runs than this: no legend (it would hide the lines)


@dataclass
class PlotResult:
    """What :func:`plot` drew."""

    output: str
    tags: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    problems: list[TbtoolError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What ``plot --format json`` prints."""
        return {
            "output": self.output,
            "tags": self.tags,
            "runs": self.runs,
            "skipped": [str(problem) for problem in self.problems],
        }


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: a debiased exponential moving average (non-finite values
    pass through and do not count)."""
    out = values.astype(np.float64).copy()
    last, count = 0.0, 0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out[i] = last / (1 - weight**count) if weight < 1 else v
    return out


def plot(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    steps: Steps = None,
    smoothing: float = 0.0,
    log_scale: bool = False,
    columns: int | None = None,
    format: str | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> PlotResult:
    """Draw the scalar tags of PATHs into ``output`` (format from ``format`` or its
    extension). Nothing matched: nothing written, an empty result."""
    output = os.fspath(output)
    fmt = format or os.path.splitext(output)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the format of {output!r}: use .png, .svg or .pdf")
    if not 0 <= smoothing < 1:
        raise UsageError("--smoothing must be at least 0 and below 1")
    require("matplotlib", extra="plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tbtool.reading.frames import read_scalars

    reader = LogReader(paths, runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt)
    check_output(output, reader.paths, command="plot", overwrite=overwrite)
    frame = read_scalars(reader, steps=steps, jobs=0)
    result = PlotResult(output, sorted(frame["tag"].unique()), sorted(frame["run"].unique()))
    result.problems = reader.problems
    if frame.empty:
        return result
    ncols = columns or min(3, len(result.tags))
    nrows = math.ceil(len(result.tags) / ncols)
    figure = Figure(figsize=(5 * ncols, 3.4 * nrows), layout="constrained")
    FigureCanvasAgg(figure)
    colors = {run: f"C{i % 10}" for i, run in enumerate(result.runs)}
    for i, (tag, rows) in enumerate(frame.groupby("tag", sort=True)):
        axes = figure.add_subplot(nrows, ncols, i + 1)
        for run, series in rows.groupby("run", sort=True):
            x, y = one_per_step(series["step"].to_numpy(), series["value"].to_numpy())
            if smoothing:
                axes.plot(x, y, color=colors[run], alpha=0.25, linewidth=1)
                y = smooth(y, smoothing)
            (line,) = axes.plot(x, y, color=colors[run], linewidth=1.3, label=run)
            line.set_gid(f"series {run} {tag}")
            if len(x) == 1:
                line.set_marker("o")
        axes.set_title(tag, fontsize=10)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        if log_scale:
            axes.set_yscale("log")
        if len(result.runs) <= LEGEND_RUNS:
            axes.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=110)
    write_output(
        output, buffer.getvalue(), inputs=reader.paths, command="plot", overwrite=overwrite
    )
    return result
