"""``tbtool summary`` / ``tbtool.summarize`` against values computed here, with pandas, from
what TensorBoard's own loader reads of the committed fixtures; and ``export --kind hparams``
with a per-metric aggregate."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard_oracle import hparams as tb_hparams
from tensorboard_oracle import scalars as tb_scalars
from typer.testing import CliRunner

import tbtool
from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.reading.aggregates import MetricSpec, lower_is_better

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# Writers of every family, without restarts (TensorBoard's loader reads restarts its own way).
NAMES = ["torch_all", "tbx_all", "tf2_all", "keras_fit"]
runner = CliRunner()


def logdir(name: str) -> str:
    return str(FIXTURES / name / "logdir")


def expected_summary(frame: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, int | None]]:
    """(run, tag, aggregate) -> (value, step), by pandas on TensorBoard's scalars."""
    out = {}
    for (run, tag), rows in frame.groupby(["run", "tag"], sort=False):
        last = rows.iloc[-1]
        out[(run, tag, "last")] = (last["value"], int(last["step"]))
        finite = rows.dropna(subset=["value"])
        for agg, pick in (("min", finite["value"].idxmin), ("max", finite["value"].idxmax)):
            at = rows.loc[pick()]
            out[(run, tag, agg)] = (at["value"], int(at["step"]))
        out[(run, tag, "mean")] = (finite["value"].mean(), None)
        best = "min" if lower_is_better(tag) else "max"
        out[(run, tag, "best")] = out[(run, tag, best)]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_summary_equals_pandas_on_tensorboards_reading(name):
    theirs = tb_scalars(logdir(name))
    expected = expected_summary(theirs)
    ours = tbtool.summarize(
        logdir(name), metrics=[f"*={a}" for a in ("last", "min", "max", "mean", "best")]
    )
    assert set(ours["run"]) >= set(theirs["run"])  # and runs with only hparams
    checked = 0
    for row in ours.to_dict("records"):
        mine = theirs[theirs["run"] == row["run"]]
        if mine.empty:
            continue
        assert row["steps"] == mine["step"].nunique()
        assert row["last_step"] == mine["step"].max()
        assert row["duration"] == pytest.approx(mine["wall_time"].max() - mine["wall_time"].min())
        for metric in ours.attrs["metrics"]:
            key = (row["run"], metric["tag"], metric["aggregate"])
            if key not in expected:
                assert np.isnan(row[metric["column"]])
                continue
            value, step = expected[key]
            assert row[metric["column"]] == pytest.approx(value, rel=1e-6), key
            if metric["step_column"]:
                assert row[metric["step_column"]] == step, key
            checked += 1
    assert checked == len(expected) > 0


@pytest.mark.parametrize("name", ["tf2_all", "torch_all"])
def test_summary_hparams_are_the_sessions(name):
    theirs = tb_hparams(logdir(name))
    assert theirs
    ours = tbtool.summarize(logdir(name)).set_index("run")
    for run, values in theirs.items():
        for hparam, value in values.items():
            assert ours.loc[run, hparam] == pytest.approx(value), (run, hparam)
    assert set(ours.attrs["hparams"]) == {h for v in theirs.values() for h in v}


def test_sort_top_and_direction():
    theirs = tb_scalars(logdir("keras_fit"))
    acc = theirs[theirs["tag"] == "epoch_accuracy"].groupby("run")["value"].max()
    ours = tbtool.summarize(logdir("keras_fit"), metrics=["epoch_accuracy=max"], top=1)
    assert list(ours["run"]) == [acc.idxmax()]  # best first: highest accuracy
    loss = theirs[theirs["tag"] == "epoch_loss"].groupby("run")["value"].last()
    ours = tbtool.summarize(logdir("keras_fit"), sort="epoch_loss")
    assert list(ours["run"]) == list(loss.sort_values().index)  # loss: lowest first
    ours = tbtool.summarize(logdir("keras_fit"), sort="epoch_loss", ascending=False)
    assert list(ours["run"]) == list(loss.sort_values(ascending=False).index)
    assert list(tbtool.summarize(logdir("keras_fit"), sort="run")["run"]) == sorted(loss.index)


def test_usage_errors():
    with pytest.raises(UsageError, match="matches no scalar tag"):
        tbtool.summarize(logdir("keras_fit"), metrics=["no_such_tag=min"])
    with pytest.raises(UsageError, match="not a column"):
        tbtool.summarize(logdir("keras_fit"), sort="nope")
    with pytest.raises(UsageError, match="needs --sort"):
        tbtool.summarize(logdir("keras_fit"), top=1)
    with pytest.raises(UsageError, match="unknown aggregate"):
        tbtool.summarize(logdir("keras_fit"), metrics=[MetricSpec("epoch_loss", "median")])
    assert MetricSpec.parse("a=b=max") == MetricSpec("a=b", "max")
    assert MetricSpec.parse("x=y") == MetricSpec("x=y", "last")


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_formats_agree_with_the_library():
    path = logdir("tf2_all")
    args = ["summary", path, "-m", "accuracy=max", "-m", "validation/loss=min"]
    frame = tbtool.summarize(path, metrics=["accuracy=max", "validation/loss=min"])
    csv = cli(*args, "--format", "csv")
    assert csv.exit_code == 0, csv.output
    parsed = pd.read_csv(io.StringIO(csv.stdout))
    assert list(parsed.columns) == list(frame.columns)
    assert parsed["accuracy max"].tolist() == pytest.approx(
        frame["accuracy max"].tolist(), nan_ok=True
    )
    records = json.loads(cli(*args, "--format", "json").stdout)
    assert [r["run"] for r in records] == list(frame["run"])
    assert records[1]["accuracy max step"] == 2 and records[0]["accuracy max"] is None
    markdown = cli(*args, "--format", "markdown").stdout.splitlines()
    assert markdown[0].startswith("| run |") and len(markdown) == 2 + len(frame)
    assert "0.7 @2" in markdown[3]
    table = cli(*args, "--sort", "accuracy", "--top", "1")
    assert table.exit_code == 0 and "session_1" in table.stdout and "session_0" not in table.stdout
    bad = cli("summary", path, "-m", "typo=min")
    assert bad.exit_code == 2 and "matches no scalar tag" in bad.stderr


def test_export_hparams_takes_an_aggregate_per_metric(tmp_path):
    theirs = tb_scalars(logdir("tf2_all"))
    out = tmp_path / "hp.csv"
    result = cli(
        "export", logdir("tf2_all"), "--kind", "hparams", "-o", out,
        "--metric", "accuracy=min", "--metric-agg", "max",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("run")
    acc = theirs[theirs["tag"] == "accuracy"].groupby("run")["value"]
    assert table["accuracy"].to_dict() == pytest.approx(acc.min().to_dict())
    default = tbtool.read_hparams(logdir("tf2_all"), metric_agg="max").set_index("run")
    assert default["accuracy"].to_dict() == pytest.approx(acc.max().to_dict())
    best = tbtool.read_hparams(logdir("tf2_all"), metrics=["acc*=best"]).set_index("run")
    assert best["accuracy"].to_dict() == pytest.approx(acc.max().to_dict())
