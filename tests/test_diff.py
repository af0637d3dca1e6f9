"""``tbtool diff`` against what pandas computes from TensorBoard's own reading of the same
files; exit codes and output formats."""

from __future__ import annotations

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
from tbtool.ops.diff import diff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
runner = CliRunner()
PAIRS = [
    ("tf2_all", "session_0", "session_1"),
    ("torch_all", "hp_run1", "hp_run2"),
    ("keras_fit", "train", "validation"),
    ("tbx_all", "losses/train", "losses/val"),
]


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def expected_tags(theirs: pd.DataFrame, run_a: str, run_b: str, rtol: float, atol: float):
    """tag -> (first diverging step or None, (last, min, max) of A, of B), by pandas."""
    out = {}
    a_all, b_all = theirs[theirs["run"] == run_a], theirs[theirs["run"] == run_b]
    for tag in sorted(set(a_all["tag"]) & set(b_all["tag"])):
        a, b = a_all[a_all["tag"] == tag], b_all[b_all["tag"] == tag]
        merged = pd.merge(
            a.groupby("step")["value"].last(), b.groupby("step")["value"].last(),
            left_index=True, right_index=True, suffixes=("_a", "_b"),
        )  # fmt: skip
        far = (merged["value_b"] - merged["value_a"]).abs() > atol + rtol * merged["value_a"].abs()
        first = int(merged.index[far.to_numpy()][0]) if far.any() else None
        stats = [(s["value"].iloc[-1], s["value"].min(), s["value"].max()) for s in (a, b)]
        out[tag] = (first, *stats)
    return out, set(a_all["tag"]) - set(b_all["tag"]), set(b_all["tag"]) - set(a_all["tag"])


@pytest.mark.parametrize(("name", "run_a", "run_b"), PAIRS)
def test_diff_of_two_runs_equals_pandas_on_tensorboards_reading(name, run_a, run_b):
    root = FIXTURES / name / "logdir"
    theirs = tb_scalars(str(root))
    expected, only_a, only_b = expected_tags(theirs, run_a, run_b, 1e-5, 1e-8)
    result = diff(root / run_a, root / run_b)
    (pair,) = result.runs
    assert {t for k, t in pair.only_a if k == "scalar"} == only_a
    assert {t for k, t in pair.only_b if k == "scalar"} == only_b
    scalars = {t.tag: t for t in pair.tags if t.kind == "scalar"}
    assert set(scalars) == set(expected)
    for tag, (first, stats_a, stats_b) in expected.items():
        got = scalars[tag]
        assert (got.divergence[0] if got.divergence else None) == first, tag
        for mine, want in ((got.a, stats_a), (got.b, stats_b)):
            assert (mine.last, mine.min, mine.max) == pytest.approx(want), tag
    hp = tb_hparams(str(root))
    differing = {n for n in set(hp.get(run_a, {})) | set(hp.get(run_b, {}))
                 if hp.get(run_a, {}).get(n) != hp.get(run_b, {}).get(n)}  # fmt: skip
    assert {n for n, _, _ in pair.hparams} == differing
    assert result.differs


def test_same_logdir_is_same_and_exits_0():
    root = FIXTURES / "tf2_all" / "logdir"
    result = cli("diff", root, root)
    assert result.exit_code == 0, result.output
    assert "diff: same: 3 run pair(s), 0 of" in result.stdout


def write_run(path: Path, values: np.ndarray, steps: range) -> None:
    with tbtool.SummaryWriter(str(path)) as w:
        for step, value in zip(steps, values, strict=True):
            w.add_scalar("loss", float(value), step, walltime=1_700_000_000 + step)


def test_golden_run_tolerance_and_first_divergence(tmp_path):
    golden = np.linspace(2.0, 0.1, 50)
    write_run(tmp_path / "golden", golden, range(50))
    candidate = golden.copy()
    candidate[30:] *= 1 + 1e-3  # a change from step 30 on, 0.1 % relative
    write_run(tmp_path / "candidate", candidate, range(50))
    strict = cli("diff", tmp_path / "golden", tmp_path / "candidate", "--format", "json")
    assert strict.exit_code == 1, strict.output
    (tag,) = json.loads(strict.stdout)["runs"][0]["tags"]
    assert tag["first_divergence"]["step"] == 30
    assert tag["first_divergence"]["b"] == pytest.approx(candidate[30], rel=1e-6)
    assert tag["delta"]["last"] == pytest.approx(candidate[-1] - golden[-1], rel=1e-4)
    loose = cli("diff", tmp_path / "golden", tmp_path / "candidate", "--rtol", "2e-3")
    assert loose.exit_code == 0, loose.output
    write_run(tmp_path / "short", golden[:40], range(40))  # crashed at step 40
    short = cli("diff", tmp_path / "golden", tmp_path / "short", "--rtol", "1")
    assert short.exit_code == 1 and "steps differ" in short.stdout
    markdown = cli("diff", tmp_path / "golden", tmp_path / "candidate", "--format", "markdown")
    assert markdown.stdout.startswith("### tbtool diff: differs")
    assert "| **loss** | 0..49 (50) | 0..49 (50) |" in markdown.stdout
    assert "step 30 |" in markdown.stdout


def test_logdirs_pair_runs_by_name(tmp_path):
    for side, names in (("a", ["r1", "r2"]), ("b", ["r2", "r3"])):
        for name in names:
            write_run(tmp_path / side / name, np.arange(5.0), range(5))
    result = cli("diff", tmp_path / "a", tmp_path / "b", "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["runs_only_a"] == ["r1"] and data["runs_only_b"] == ["r3"]
    assert [(r["a"], r["differs"]) for r in data["runs"]] == [("r2", False)]
    missing = cli("diff", tmp_path / "a", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "error" in missing.stderr
