"""``tbtool plot``: PNG and SVG files of the chosen tags, the data-safety rules and exit
codes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboard_oracle import scalars as tb_scalars
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.ops.plot import smooth

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KERAS = str(FIXTURES / "keras_fit" / "logdir")
runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_svg_has_one_line_per_run_and_tag(tmp_path):
    out = tmp_path / "loss.svg"
    result = cli("plot", KERAS, "--tag", "epoch_*", "-o", out)
    assert result.exit_code == 0, result.output
    theirs = tb_scalars(KERAS)
    theirs = theirs[theirs["tag"].str.startswith("epoch_")]
    expected = {f"series {r} {t}" for r, t in theirs[["run", "tag"]].drop_duplicates().values}
    assert set(re.findall(r'<g id="(series [^"]+)"', out.read_text())) == expected
    assert f"{len({t for _, t in theirs[['run', 'tag']].values})} tag(s), 2 run(s)" in result.stderr


def test_png_is_an_image_and_outputs_are_not_overwritten(tmp_path):
    out = tmp_path / "all.png"
    assert cli("plot", KERAS, "-o", out, "--smoothing", "0.5", "--log-scale").exit_code == 0
    image = Image.open(out)
    assert image.format == "PNG" and image.size[0] > 500
    assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 20
    again = cli("plot", KERAS, "-o", out)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert cli("plot", KERAS, "-o", out, "--overwrite").exit_code == 0
    assert cli("plot", KERAS, "-o", tmp_path / "x.gif").exit_code == 2
    nothing = cli("plot", KERAS, "--tag", "nope", "-o", tmp_path / "n.png")
    assert nothing.exit_code == 1 and not (tmp_path / "n.png").exists()


def test_smoothing_is_tensorboards_debiased_average():
    values = np.array([1.0, 2.0, np.nan, 3.0])
    out = smooth(values, 0.5)
    assert out[0] == 1.0 and out[1] == pytest.approx((0.25 + 1.0) / 0.75)
    assert np.isnan(out[2]) and out[3] == pytest.approx((0.5 * 1.25 + 1.5) / 0.875)
