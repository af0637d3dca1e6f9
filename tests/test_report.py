"""``tbtool report``: the data the page draws (against TensorBoard's reading), downsampling,
the missing-extra error, and the page itself opened in a real headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from browser import find_chromium, must_have_chromium, visit
from PIL import Image
from tensorboard_oracle import scalars as tb_scalars
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.ops import report_data
from tbtool.ops.report import MissingExtra, report
from tbtool.ops.synth.generate import synth

runner = CliRunner()
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """Scalars, histograms, images and hparams of three runs (synth's default kinds)."""
    out = tmp_path_factory.mktemp("report") / "demo"
    synth(out, runs=3, steps=300)
    return out


@pytest.fixture(scope="module")
def page(logdir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    result = runner.invoke(app, ["report", str(logdir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr and "3 run(s)" in result.stderr
    return out


def document_of(page: Path) -> dict:
    text = page.read_text()
    found = re.search(
        r'<script type="application/json" id="tbtool-data">(.*?)</script>', text, re.S
    )
    assert found is not None
    return json.loads(found.group(1))


def decode(b64: str, kind: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype={"i4": "<i4", "f8": "<f8", "f4": "<f4"}[kind])


def test_charts_hold_what_tensorboard_reads(logdir, page):
    doc = document_of(page)
    theirs = tb_scalars(str(logdir))
    assert [c["tag"] for c in doc["scalars"]] == sorted(theirs["tag"].unique())
    for chart in doc["scalars"]:
        assert len(chart["series"]) == theirs[theirs["tag"] == chart["tag"]]["run"].nunique()
        for series in chart["series"]:
            run = doc["runs"][series["run"]]
            want = theirs[(theirs["run"] == run) & (theirs["tag"] == chart["tag"])]
            want = want.groupby("step")["value"].last()  # 300 points: none dropped
            assert decode(series["x"], series["xt"]).tolist() == want.index.tolist()
            np.testing.assert_array_equal(decode(series["y"], "f4"), want.to_numpy(np.float32))
    assert {c["tag"] for c in doc["histograms"]} == {"weights/layer0", "weights/layer1"}
    assert doc["images"] and all(item["src"].startswith("data:image/png;base64,")
                                 for t in doc["images"] for item in t["items"])  # fmt: skip
    assert doc["hparams"]["headers"][0] == "run" and len(doc["hparams"]["cells"]) == 3
    assert [row[0] for row in doc["summary"]["cells"]] == sorted(theirs["run"].unique())
    assert "<script src=" not in page.read_text() and "https://" not in page.read_text()[:2000]


def test_downsampling_keeps_shape_and_ends():
    steps = np.arange(5000, dtype=np.int64)
    values = np.sin(steps / 300.0)
    values[1234] = 50.0  # a spike must survive
    keep = report_data.downsample(steps, values, 150)
    assert len(keep) == 150 and 1234 in keep and keep[0] == 0 and keep[-1] == 4999
    values[10] = np.nan
    assert len(report_data.downsample(steps, values, 150)) == 150
    assert report_data.points_per_series(2000) == 150 and report_data.points_per_series(1) == 2000


def test_percentile_bands_of_a_uniform_histogram():
    bands = report_data.percentiles(
        np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.array([5.0, 5.0])
    )
    np.testing.assert_allclose(bands, report_data.BASIS_POINTS * 2.0)


def test_missing_extra_names_it(logdir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly raises ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'tbtool\[report\]'"):
        report(logdir, tmp_path / "r.html")
    result = runner.invoke(app, ["report", str(logdir), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "tbtool[report]" in result.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.skipif(
    find_chromium() is None and not must_have_chromium(),
    reason="chromium is not installed (CI installs it and fails without it)",
)
def test_report_opens_offline_in_headless_chromium(logdir, page, tmp_path):
    doc = document_of(page)
    expected = len(doc["scalars"]) + len(doc["histograms"])
    visit_ = visit(
        page,
        ready="document.body.dataset.charts || document.body.dataset.failed",
        evaluate={
            "failed": "document.body.dataset.failed || null",
            "drawn": "Array.from(document.querySelectorAll('.chart')).filter("
            "c => c.querySelectorAll('g.trace.scatter path.js-line').length > 0).length",
            "charts": "document.querySelectorAll('.chart').length",
            "images": "Array.from(document.images)"
            ".filter(i => i.complete && i.naturalWidth > 0).length",
            "rows": "document.querySelectorAll('#summary-table tbody tr').length",
        },
    )
    (tmp_path / "report.png").write_bytes(visit_.screenshot)
    assert visit_.errors == [], visit_.errors
    assert visit_.outside_requests == []
    assert visit_.evaluated["failed"] is None
    assert visit_.ready == str(expected)
    assert visit_.evaluated["charts"] == expected and visit_.evaluated["drawn"] == expected
    assert visit_.evaluated["images"] == sum(len(t["items"]) for t in doc["images"]) > 0
    assert visit_.evaluated["rows"] == 3
    shot = Image.open(io.BytesIO(visit_.screenshot)).convert("RGB")
    pixels = np.asarray(shot).reshape(-1, 3)
    not_white = (pixels < 240).any(axis=1).mean()
    assert shot.size == (1400, 2400) and not_white > 0.02, not_white
    assert len(np.unique(pixels, axis=0)) > 50  # lines in many colours, not a blank page
