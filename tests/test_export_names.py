"""Media files of runs and tags with long names (300 characters, 100 CJK characters) are
exported under shortened, deterministic, distinct names; the index keeps the real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import tbtool
from tbtool.ops.export import export
from tbtool.ops.export_media import MAX_NAME_BYTES

LONG_TAGS = [
    "t" * 300,
    "中" * 100,
    "t" * 299 + "u",  # shares the first 299 characters with the first
    "a" * 200 + "/" + "日本" * 60,  # two long parts
    "x" * MAX_NAME_BYTES,  # exactly the limit: kept whole
    "y" * 79 + "~" + "0" * 20,  # looks like a shortened name, but is a real one
]
LONG_RUN = "ラン" * 40  # 240 bytes on disk (the limit is 255), 720 percent-encoded


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("names") / "logs"
    rng = np.random.default_rng(0)
    for run in ("short", LONG_RUN):
        with tbtool.SummaryWriter(root / run) as writer:
            for i, tag in enumerate(LONG_TAGS):
                image = rng.integers(0, 255, (3, 4, 4 + i), dtype=np.uint8)
                writer.add_image(tag, image, 0)
                writer.add_image(tag, image[:, :, ::-1], 1)
            writer.add_audio("聲" * 100, np.sin(np.arange(800) / 5.0), 0, sample_rate=8000)
    return root


def test_long_names_are_shortened_distinct_and_indexed(logdir, tmp_path):
    result = export(str(logdir), str(tmp_path / "out"), kinds=["all"])
    want = {"images": tbtool.read_images(str(logdir)), "audio": tbtool.read_audio(str(logdir))}
    assert result.rows["images"] == 2 * 2 * len(LONG_TAGS) and result.rows["audio"] == 2
    for kind, logged in want.items():
        index = pq.read_table(result.paths[kind]).to_pandas()
        # The index holds the real run and tag of every file, in the logged order.
        assert list(index.run) == list(logged.run) and list(index.tag) == list(logged.tag)
        for row, blob in zip(index.itertuples(), logged.data, strict=True):
            path = tmp_path / "out" / row.path
            assert path.read_bytes() == blob
            assert all(len(part.encode()) <= MAX_NAME_BYTES + 1 for part in path.parts)
    index = pq.read_table(result.paths["images"]).to_pandas()
    folders = {(r.run, r.tag): str(Path(r.path).parent) for r in index.itertuples()}
    assert len(set(folders.values())) == len(folders)  # one directory per (run, tag)
    names = {tag: Path(folders["short", tag]).name for tag in LONG_TAGS}
    assert names["x" * MAX_NAME_BYTES] == "x" * MAX_NAME_BYTES
    assert names["y" * 79 + "~" + "0" * 20] == "y" * 79 + "~" + "0" * 20
    assert len(names["t" * 300]) == MAX_NAME_BYTES + 1
    assert names["t" * 300].startswith("t" * 80 + "~")
    assert names["中" * 100].startswith("%E4%B8%AD" * 8 + "~")  # whole characters kept
    assert names["t" * 300] != names["t" * 299 + "u"]


def test_shortened_names_are_deterministic(logdir, tmp_path):
    one = export(str(logdir), str(tmp_path / "one"), kinds=["images"])
    two = export(str(logdir), str(tmp_path / "two"), kinds=["images"], format="csv")
    paths = pq.read_table(one.paths["images"]).column("path").to_pylist()
    assert paths == list(pd.read_csv(two.paths["images"]).path)

    def files(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))

    assert files(tmp_path / "one") == files(tmp_path / "two") == sorted(paths)
