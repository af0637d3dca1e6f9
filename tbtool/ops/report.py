"""``tbtool report``: one self-contained HTML file of a logdir that opens offline.

The page holds, in this order: the summary table (:mod:`tbtool.ops.summary`, sortable), the
hparams table (sessions with their metrics, sortable), one interactive chart per scalar tag
with every run overlaid (hover values; TensorBoard's smoothing; log scale; a run filter),
histograms as distribution bands over steps (a run picker per tag), and the last image of
each image tag. Charts are drawn by plotly.js, inlined from the ``plotly`` Python package,
so the file needs no network and no server; the data is embedded as JSON, downsampled as
:mod:`tbtool.ops.report_data` describes. Everything is read in one pass (the batch path).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from tbtool.columnar.walk import Progress
from tbtool.errors import TbtoolError
from tbtool.ops.output import check_output, write_output
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, Steps

EXTRA = "report"


class MissingExtra(TbtoolError):
    """A feature needs packages of an extra that is not installed (the message names it)."""


def require(*modules: str, extra: str = EXTRA) -> None:
    """Import ``modules`` or stop with one line naming the extra that brings them."""
    import importlib

    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingExtra(f"this needs {', '.join(missing)}: pip install 'tbtool[{extra}]'")


@dataclass
class ReportResult:
    """What :func:`report` wrote."""

    output: str
    bytes: int
    runs: int
    scalar_charts: int
    histogram_charts: int
    image_tags: int
    downsampling: dict[str, Any] = field(default_factory=dict)
    problems: list[TbtoolError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What ``report --format json`` prints."""
        return {
            "output": self.output,
            "bytes": self.bytes,
            "runs": self.runs,
            "scalar_charts": self.scalar_charts,
            "histogram_charts": self.histogram_charts,
            "image_tags": self.image_tags,
            "downsampling": self.downsampling,
            "skipped": [str(problem) for problem in self.problems],
        }


def _asset(name: str) -> str:
    return resources.files("tbtool.ops").joinpath("report_assets", name).read_text("utf-8")


def build_document(
    reader: LogReader,
    *,
    metrics: Sequence[str] = (),
    steps: StepRange | None = None,
    points: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The JSON document the page draws (see the module docs of report_data)."""
    from tbtool.ops import report_data as rd
    from tbtool.ops.summary import display_table, summary_of
    from tbtool.reading.tables import read_tables

    tables = read_tables(
        reader, ["scalars", "histograms", "images", "hparams"], steps=steps, jobs=0,
        progress=progress, metric_aggs={},
    )  # fmt: skip
    scalars = tables["scalars"]
    summary = summary_of(scalars.to_batches(), tables["hparams"], metrics)
    headers, cells = display_table(summary)
    runs = [str(r) for r in summary["run"]]
    charts, info = rd.scalar_charts(scalars, runs, points)
    hparams = tables["hparams"]
    hp_table = None
    if hparams.num_rows:
        frame = hparams.drop_columns(["start_time", "end_time"]).to_pandas()
        from tbtool.ops.summary import format_number

        hp_table = rd.table_json(
            [str(c) for c in frame.columns],
            [[format_number(v) for v in row] for row in frame.itertuples(index=False)],
            [list(row) for row in frame.itertuples(index=False)],
        )
    values = [[summary.at[i, h] for h in headers] for i in range(len(summary))]
    return {
        "title": ", ".join(reader.paths),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs,
        "summary": rd.table_json(headers, cells, values),
        "hparams": hp_table,
        "scalars": charts,
        "histograms": rd.histogram_charts(tables["histograms"], runs),
        "images": rd.last_images(tables["images"]),
        "downsampling": info,
    }


_HPARAMS = '<h2>Hyperparameters</h2><div class="tables" id="hparams-table"></div>'


def render_html(document: dict[str, Any], plotly_js: str) -> str:
    """The page: styles, controls, the data and the scripts, all inline."""
    payload = json.dumps(document, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    title = html.escape(document["title"])
    info = document["downsampling"]
    note = (
        f"{len(document['runs'])} run(s); {info['raw']:,} scalar values drawn as "
        f"{info['drawn']:,} points ({info['method']}, at most {info['points']} per series)"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tbtool report: {title}</title>
<style>{_asset("report.css")}</style>
</head><body>
<h1>tbtool report: {title}</h1>
<p class="meta">generated {html.escape(document["generated"])}; {html.escape(note)}</p>
<div class="controls">
<label>smoothing <input id="smoothing" type="range" min="0" max="0.999" step="0.001" value="0.6">
<span id="smoothing-value">0.60</span></label>
<label><input id="log-scale" type="checkbox"> log scale</label>
<label>runs <input id="run-filter" type="search" placeholder="regex"></label>
</div>
<h2>Summary</h2><div class="tables" id="summary-table"></div>
{_HPARAMS if document["hparams"] else ""}
<h2>Scalars</h2><div id="scalars"></div>
{"<h2>Histograms</h2>" if document["histograms"] else ""}<div id="histograms"></div>
{"<h2>Images</h2>" if document["images"] else ""}<div id="images"></div>
<script type="application/json" id="tbtool-data">{payload}</script>
<script>{plotly_js}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""


def report(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    metrics: Sequence[str] = (),
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    steps: Steps = None,
    points: int | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ReportResult:
    """Write the HTML report of PATHs to ``output``. ``points``: the most points drawn per
    series (default: a budget of POINT_BUDGET shared by all series)."""
    require("plotly", "tsdownsample")
    from plotly.offline import get_plotlyjs

    reader = LogReader(paths, runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt)
    check_output(output, reader.paths, command="report", overwrite=overwrite)
    step_range = StepRange.coerce(steps)
    document = build_document(
        reader, metrics=metrics, steps=step_range, points=points, progress=progress
    )
    data = render_html(document, get_plotlyjs()).encode("utf-8")
    write_output(output, data, inputs=reader.paths, command="report", overwrite=overwrite)
    return ReportResult(
        os.fspath(output),
        len(data),
        len(document["runs"]),
        len(document["scalars"]),
        len(document["histograms"]),
        len(document["images"]),
        document["downsampling"],
        reader.problems,
    )
