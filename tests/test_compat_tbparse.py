"""tbtool.compat.tbparse.SummaryReader gives tbparse's own frames."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tbtool.compat.tbparse as compat

tbparse = pytest.importorskip("tbparse")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = {
    # torch_all's half/bfloat16/uint8 tensors make tbparse raise (format.md §4.4): no tensors.
    "torch_all": {"scalars", "histograms", "hparams", "text"},
    "tbx_all": {"scalars", "histograms", "hparams", "text", "tensors"},
    "torch_purge": {"scalars", "tensors", "histograms", "hparams", "text"},
    "tbx_purge": {"scalars", "tensors", "histograms", "hparams", "text"},
    # tbparse raises on tf2_all's text table (a [3, 2] string tensor): no text.
    "tf2_all": {"scalars", "tensors", "histograms", "hparams"},
    "tf1_legacy": {"scalars", "tensors", "histograms", "hparams", "text"},
    "keras_fit": {"scalars", "tensors", "histograms"},
}
EXTRAS = [set(), {"dir_name", "wall_time"}, {"dir_name", "file_name", "wall_time", "min", "num"}]


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert list(got.dtypes.astype(str)) == list(want.dtypes.astype(str))
    assert len(got) == len(want)
    for column in want.columns:
        for a, b in zip(got[column], want[column], strict=True):
            if isinstance(b, (np.ndarray, list)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=column)
            elif isinstance(b, float) and np.isnan(b):
                assert isinstance(a, float) and np.isnan(a), column
            else:
                assert a == b and type(a) is type(b), (column, a, b)


@pytest.mark.parametrize("extra", EXTRAS, ids=["plain", "dir_wall", "many"])
@pytest.mark.parametrize("pivot", [False, True], ids=["long", "pivot"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_frames_equal_tbparse(name, pivot, extra):
    path = str(FIXTURES / name / "logdir")
    types = CASES[name]
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = tbparse.SummaryReader(
                path, pivot=pivot, extra_columns=extra, event_types=types
            )
            ours = compat.SummaryReader(path, pivot=pivot, extra_columns=extra, event_types=types)
            for kind in sorted(types):
                assert_same(getattr(ours, kind), getattr(theirs, kind))
            assert ours.tags == theirs.tags
    finally:
        logging.disable(logging.NOTSET)


def test_single_file_and_log_dir_alias():
    files = sorted((FIXTURES / "torch_purge" / "logdir").glob("events.out.tfevents.*"))
    theirs = tbparse.SummaryReader(str(files[0]), extra_columns={"file_name"}).scalars
    assert_same(compat.SummaryReader(log_dir=str(files[0]), extra_columns={"file_name"}).scalars,
                theirs)  # fmt: skip
    with pytest.raises(KeyError):
        compat.SummaryReader(str(files[0]), extra_columns={"nonsense"})
    with pytest.raises(ValueError):
        compat.SummaryReader(str(files[0]) + ".missing")


def test_images_and_audio_without_tensorflow():
    reader = compat.SummaryReader(
        str(FIXTURES / "torch_all" / "logdir"),
        event_types={"images", "audio"},
        extra_columns={"width", "height", "sample_rate"},
    )
    images = reader.images
    row = images[images.tag == "image/hwc_uint8"].iloc[0]
    assert row.value.shape == (row.height, row.width, 3)
    audio = reader.audio
    assert audio.value.iloc[0].dtype == np.float32 and set(audio.sample_rate) == {8000.0}


def _torch_logdir(root: Path) -> Path:
    """torch-written scalars and histograms: two runs, a purge_step restart within a file
    and one across files, repeated steps, a tag that is both a scalar and a histogram."""
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(1)
    with SummaryWriter(str(root / "a"), filename_suffix=".0") as w:
        for step in range(6):
            w.add_scalar("loss", 1.0 / (step + 1), step, walltime=1e9 + step)
            w.add_scalar("acc", step / 10, step, walltime=1e9 + step)
            w.add_histogram("w", rng.normal(size=50), step, walltime=1e9 + step)
            w.add_histogram("loss", rng.normal(size=5), step, walltime=1e9 + step)
        w.add_scalar("loss", 9.0, 2, walltime=1e9 + 7)  # a repeated step
    with SummaryWriter(str(root / "a"), purge_step=3, filename_suffix=".1") as w:
        for step in range(3, 5):
            w.add_scalar("loss", 100.0 + step, step, walltime=1e9 + 10 + step)
    with SummaryWriter(str(root / "b" / "nested"), filename_suffix=".0") as w:
        w.add_scalar("only", 1.0, 0, walltime=1e9)
    return root


@pytest.mark.parametrize("extra", EXTRAS, ids=["plain", "dir_wall", "many"])
@pytest.mark.parametrize("pivot", [False, True], ids=["long", "pivot"])
def test_torch_written_logdir_equals_tbparse(tmp_path_factory, pivot, extra):
    root = tmp_path_factory.getbasetemp() / "torch_plain"
    if not root.exists():
        _torch_logdir(root)
    files = sorted(root.rglob("events.out.tfevents.*"))
    assert files
    types = {"scalars", "histograms", "tensors", "hparams", "text"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = {"pivot": pivot, "extra_columns": extra, "event_types": types}
        theirs = tbparse.SummaryReader(str(root), **options)
        ours = compat.SummaryReader(str(root), **options)
        for kind in sorted(types):
            assert_same(getattr(ours, kind), getattr(theirs, kind))
        assert ours.tags == theirs.tags
