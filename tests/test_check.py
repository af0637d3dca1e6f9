"""tbtool check: every assertion passes and fails where it should, with expected vs found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.ops.check import CODES, Expectation, check, load_expectations, parse_duration
from tbtool.sample import path as sample_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLE = sample_path()
runner = CliRunner()


def expect(tmp_path, text: str):
    path = tmp_path / "expect.toml"
    path.write_text(text)
    return load_expectations(path)


def codes(report):
    return sorted((f.code, f.run, f.tag) for f in report.findings)


def test_passing_expectations(tmp_path):
    exps = expect(
        tmp_path,
        """
[[expect]]
run = "baseline"
tag = "loss/train"
kind = "scalar"
min_steps = 100
last_step_at_least = 99
no_nan = true
decrease_pct = 80
last_k = 10
mean = { max = 0.2 }
final = { min = 0.0, max = 0.5 }
min = { min = 0.0 }
max = { max = 1.0 }

[[expect]]
tag = "accuracy"
each_run = true
final = { min = 0.9 }
duration = { min = 60, max = "1h" }
""",
    )
    report = check(SAMPLE, exps)
    assert report.findings == []
    assert report.records > 200


def test_failing_expectations_say_expected_and_found(tmp_path):
    exps = expect(
        tmp_path,
        """
[[expect]]
tag = "accuracy"
final = { min = 0.99 }
duration = { min = "10m" }

[[expect]]
tag = "loss/val"
min_steps = 50
kind = "histogram"
last_step_at_least = 500
decrease_pct = 99

[[expect]]
tag = "no/such/*"

[[expect]]
run = "nope"
""",
    )
    report = check(SAMPLE, exps)
    got = codes(report)
    assert ("check-final", "baseline", "accuracy") in got
    assert ("check-duration", "lr_0.05", None) in got
    assert ("check-min-steps", "baseline", "loss/val") in got
    assert ("check-kind", "baseline", "loss/val") in got
    assert ("check-last-step", "lr_0.05", "loss/val") in got
    assert ("check-decrease", "baseline", "loss/val") in got
    assert ("check-missing-tag", None, None) in got
    assert ("check-no-runs", None, None) in got
    final = next(f for f in report.findings if f.code == "check-final")
    assert "expected the final in [0.99, inf], found 0.93" in final.message
    assert all(f.severity == "error" for f in report.findings)


def test_nan_and_hparams_on_fixtures(tmp_path):
    nan = check(
        FIXTURES / "corrupt" / "logdir" / "nonfinite_scalars",
        [Expectation(tag="loss*", no_nan=True)],
    )
    assert [(f.code, f.tag) for f in nan.findings] == [
        ("check-nan", "loss"),
        ("check-nan", "loss_tensor"),
    ]
    assert "found 3 of 3 values" in nan.findings[0].message
    hp = expect(
        tmp_path,
        """
[[expect]]
run = "^hp_"
hparams = ["lr", "bsize", "momentum"]
""",
    )
    report = check(FIXTURES / "torch_all" / "logdir", hp)
    assert codes(report) == [("check-hparams", "hp_run1", None), ("check-hparams", "hp_run2", None)]
    assert "expected hparams ['momentum']" in report.findings[0].message


def test_purge_applies_unless_disabled():
    exps = [Expectation(tag="other", min_steps=10)]
    assert codes(check(FIXTURES / "torch_purge" / "logdir", exps)) == [
        ("check-min-steps", ".", "other")
    ]
    assert check(FIXTURES / "torch_purge" / "logdir", exps, purge=False).findings == []


def test_each_run_requires_the_tag_everywhere():
    exps = [Expectation(tag="hparam/accuracy", each_run=True)]
    report = check(FIXTURES / "torch_all" / "logdir", exps)
    assert {f.run for f in report.findings} == {".", "losses_train", "losses_val"}
    assert (
        check(FIXTURES / "torch_all" / "logdir", [Expectation(tag="hparam/accuracy")]).findings
        == []
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[[expect]]\ntag='a'\nmin_stepz=3\n", "unknown key(s) ['min_stepz']"),
        ("[[expect]]\nmin_steps=3\n", "need a 'tag'"),
        ("[[expect]]\ntag='a'\nmin_steps='3'\n", "min_steps must be an integer"),
        ("[[expect]]\ntag='a'\nfinal=0.5\n", "final must be a table"),
        ("[[expect]]\ntag='a'\nkind='scalars'\n", "'scalars' is not one of"),
        ("[[expect]]\nrun='('\n", "invalid --run regular expression"),
        ("[[expect]]\nduration={max='2 fortnights'}\n", "is not a duration"),
        ("expect = 3\n", "one or more [[expect]] tables"),
        ("[[expect]\n", "not valid TOML"),
    ],
)
def test_bad_expect_files_are_clear_usage_errors(tmp_path, text, error):
    with pytest.raises(UsageError) as info:
        expect(tmp_path, text)
    assert error in str(info.value) and "expect.toml" in str(info.value)


def test_durations():
    assert parse_duration(90, "d") == 90 and parse_duration("15m", "d") == 900
    assert parse_duration("2h", "d") == 7200 and parse_duration("1.5d", "d") == 129600


def test_cli(tmp_path):
    ok = runner.invoke(
        app, ["check", SAMPLE, "--require-tag", "loss/*", "--min-steps", "10", "--no-nan"]
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app, ["check", SAMPLE, "--require-tag", "loss/*", "--min-steps", "50", "--format", "json"]
    )
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert {f["code"] for f in data["findings"]} == {"check-min-steps"}
    nothing = runner.invoke(app, ["check", SAMPLE])
    assert nothing.exit_code == 2
    (tmp_path / "e.toml").write_text("[[expect]]\ntag = 'accuracy'\nfinal = { min = 0.99 }\n")
    gh = runner.invoke(
        app, ["check", SAMPLE, "--expect", str(tmp_path / "e.toml"), "--format", "github"]
    )
    assert gh.exit_code == 1 and gh.stdout.startswith("::error title=tbtool check-final::")
    assert (
        runner.invoke(app, ["check", SAMPLE, "--expect", str(tmp_path / "missing.toml")]).exit_code
        == 2
    )


def test_every_code_is_documented():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "check.md").read_text()
    for code in CODES:
        assert f"`{code}`" in doc, code
