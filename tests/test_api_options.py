"""The Python readers show their options and take what a caller naturally passes (issue 18):
every ``read_*`` lists its keyword parameters with types and defaults; ``runs=``/``tags=`` take
one pattern as a string or several as a sequence; ``steps=`` takes ``N``, ``slice(A, B)``,
``"A:B"`` or a ``StepRange``; anything else is a ``TypeError`` naming the parameter."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import tbtool
from tbtool.errors import UsageError
from tbtool.ops.synth.generate import synth
from tbtool.reading import frames
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange

READERS = [
    "read_scalars", "read_histograms", "read_text", "read_hparams", "read_images",
    "read_audio", "read_tensors", "read_pr_curves",
]  # fmt: skip
COMMON = {
    "runs": (),
    "tags": (),
    "steps": None,
    "purge": True,
    "skip_corrupt": False,
    "jobs": None,
    "engine": "auto",
}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "logs"
    synth(path, runs=3, steps=20, kinds="scalars,histograms")
    return path


def steps_of(frame) -> list[int]:
    return sorted(set(frame["step"].tolist()))


# -- signatures -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*READERS, "read_table"])
def test_readers_show_their_keyword_parameters(name):
    function = getattr(tbtool, name)
    parameters = inspect.signature(function).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for option, default in COMMON.items():
        assert parameters[option].kind is inspect.Parameter.KEYWORD_ONLY, option
        assert parameters[option].default == default, option
        assert parameters[option].annotation != inspect.Parameter.empty, option
    assert "str | Sequence[str]" in str(parameters["tags"].annotation)
    assert "slice" in str(parameters["steps"].annotation)
    assert ("metric_agg" in parameters) == (name in ("read_hparams", "read_table"))
    for option in COMMON:
        assert f"``{option}``" in frames.read_scalars.__doc__ or option in function.__doc__


def test_unknown_keyword_is_a_type_error(logdir):
    with pytest.raises(TypeError, match="tag"):
        tbtool.read_scalars(logdir, tag="loss/*")


# -- a string is one pattern ------------------------------------------------------------------
def test_tags_string_is_one_glob(logdir):
    one = tbtool.read_scalars(logdir, tags="loss/*")
    assert sorted(one["tag"].unique()) == ["loss/train", "loss/val"]
    assert one.equals(tbtool.read_scalars(logdir, tags=["loss/*"]))
    exact = tbtool.read_scalars(logdir, tags="loss/val")
    assert len(exact) == 60 and set(exact["tag"]) == {"loss/val"}
    several = tbtool.read_scalars(logdir, tags=("loss/val", "learning_rate"))
    assert set(several["tag"]) == {"loss/val", "learning_rate"}


def test_runs_string_is_one_regex(logdir):
    frame = tbtool.read_scalars(logdir, runs="run1")
    assert set(frame["run"]) == {"run1-adamw-lr0.01"}
    assert frame.equals(tbtool.read_scalars(logdir, runs=["run1"]))
    assert set(tbtool.read_histograms(logdir, runs="run[02]")["run"]) == {
        "run0-sgd-lr0.003",
        "run2-sgd-lr0.0001",
    }


def test_log_reader_and_dask_take_one_pattern_too(logdir):
    reader = LogReader(logdir, runs="run1", tags="loss/val")
    assert [run.name for run in reader.runs] == ["run1-adamw-lr0.01"]
    assert {item.tag for item in reader.values(kinds="scalar")} == {"loss/val"}
    tbdask = pytest.importorskip("tbtool.dask")
    pytest.importorskip("dask.dataframe")
    lazy = tbdask.read_scalars(logdir, runs="run1", tags="loss/*").compute()
    eager = tbtool.read_scalars(logdir, runs="run1", tags="loss/*", categorical=False)
    assert lazy.reset_index(drop=True)[["run", "tag", "step"]].equals(eager[["run", "tag", "step"]])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("tags", 5, "tags must be a string or a sequence of strings, not int"),
        ("runs", b"run1", "runs must be a string or a sequence of strings, not bytes"),
        ("tags", {"loss/*": 1}, "tags must be a string or a sequence of strings, not dict"),
        ("tags", ["loss/*", 3], "tags must hold strings, not int: 3"),
        ("runs", [None], "runs must hold strings, not NoneType"),
    ],
)
def test_other_pattern_types_are_rejected(logdir, option, value, message):
    with pytest.raises(TypeError, match=message):
        tbtool.read_scalars(logdir, **{option: value})
    with pytest.raises(TypeError, match=message):
        LogReader(logdir, **{option: value})


# -- steps ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (None, list(range(20))),
        (5, [5]),
        (np.int64(7), [7]),
        (slice(5, 8), [5, 6, 7]),
        (slice(None, 3), [0, 1, 2]),
        (slice(17, None), [17, 18, 19]),
        ("5:8", [5, 6, 7]),
        ("18:", [18, 19]),
        ("3", [3]),
        (StepRange(2, 4), [2, 3]),
    ],
)
def test_steps_accepts_int_slice_text_or_step_range(logdir, steps, expected):
    assert steps_of(tbtool.read_scalars(logdir, steps=steps)) == expected
    reader = LogReader(logdir, runs="run0")
    assert sorted({v.step for v in reader.values(kinds=["scalars"], steps=steps)}) == expected


@pytest.mark.parametrize(
    ("steps", "error", "message"),
    [
        (5.0, TypeError, "steps must be an int, a slice, a string 'A:B' or a StepRange, not float"),
        (True, TypeError, "not bool"),
        ([1, 2], TypeError, "not list"),
        (range(3), TypeError, "not range"),
        (slice(1.5, 3), TypeError, "steps: slice bounds must be ints or None, not float"),
        (slice(0, 10, 2), UsageError, "a slice of steps has no stride"),
        ("a:b", UsageError, "invalid step range 'a:b'"),
    ],
)
def test_other_step_types_are_rejected(logdir, steps, error, message):
    with pytest.raises(error, match=message):
        tbtool.read_scalars(logdir, steps=steps)
    with pytest.raises(error, match=message):
        StepRange.coerce(steps)


def test_step_range_coerce_names_the_parameter():
    with pytest.raises(TypeError, match=r"^when must be"):
        StepRange.coerce(1.0, "when")
    assert StepRange.coerce(slice(3, 5)) == StepRange(3, 5)


# -- a LogReader brings its own options -------------------------------------------------------
def test_log_reader_path_keeps_its_options(logdir):
    reader = LogReader(logdir, runs="run2", purge=False)
    frame = tbtool.read_scalars(reader, steps=slice(0, 2))
    assert set(frame["run"]) == {"run2-sgd-lr0.0001"} and steps_of(frame) == [0, 1]
    assert reader.frame("scalar", steps=1).equals(tbtool.read_scalars(reader, steps=1))
    with pytest.raises(TypeError, match="runs=, purge= apply when reading paths"):
        tbtool.read_scalars(reader, runs="run1", purge=False)


def test_kind_names_singular_or_plural(logdir):
    assert tbtool.read_table(logdir, "scalar").equals(tbtool.read_table(logdir, "scalars"))
    assert tbtool.read_table(logdir, "histogram").equals(tbtool.read_table(logdir, "histograms"))
    with pytest.raises(
        UsageError, match=r"unknown kind: 'scalr' is not one of .*; did you mean scalars\?"
    ):
        tbtool.read_table(logdir, "scalr")
