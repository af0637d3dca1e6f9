"""Export: every fixture, every kind, every format, read back equal; layouts; DuckDB."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import tbtool
from tbtool.columnar.table_rows import TABLE_KINDS
from tbtool.errors import UsageError
from tbtool.ops.export import export
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import read_tables

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WRITERS = sorted(
    d.name for d in FIXTURES.iterdir() if (d / "expected.json").exists() and d.name != "corrupt"
)


def logdir(name: str) -> str:
    return str(FIXTURES / name / "logdir")


def expected(name: str) -> dict:
    return json.loads((FIXTURES / name / "expected.json").read_text())


def _norm(x):
    """Comparable cells: NaN as a marker, arrays as lists, JSON text of lists decoded."""
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [_norm(y) for y in x]
    if isinstance(x, np.generic):
        return _norm(x.item())
    return x


def _read_back(path: Path, fmt: str, schema: pa.Schema) -> list[dict]:
    """Rows of an exported table, decoded back to Python values of ``schema``."""
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "jsonl":
        text = path.read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line]
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

        def floats(v):
            if isinstance(v, list):
                return [floats(y) for y in v]
            return special.get(v, v) if isinstance(v, str) else v

        for row in rows:
            for f in schema:
                if f.name in row and (pa.types.is_floating(f.type) or pa.types.is_list(f.type)):
                    row[f.name] = floats(row[f.name])
        return rows
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for f in schema:
            if f.name not in record:
                continue
            v = record[f.name]
            if isinstance(v, float) and math.isnan(v):  # an empty cell: null
                v = None
            elif pa.types.is_list(f.type):
                v = json.loads(v)
                special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
                v = [special.get(y, y) if isinstance(y, str) and f.type.value_type != pa.string()
                     else y for y in v]  # fmt: skip
            elif pa.types.is_floating(f.type):
                v = float(v)
            elif pa.types.is_integer(f.type):
                v = int(v)
            elif pa.types.is_boolean(f.type):
                v = v == "true"
            row[f.name] = v
        rows.append(row)
    return rows


def _comparable(rows: list[dict], drop: set[str], csv: bool = False) -> list[dict]:
    """Rows to compare; in CSV an empty string and a null are the same empty cell."""
    return [
        {k: None if csv and v == "" else _norm(v) for k, v in row.items() if k not in drop}
        for row in rows
    ]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("name", WRITERS)
def test_every_fixture_exports_every_kind_and_reads_back(name, fmt, tmp_path):
    want = read_tables(LogReader(logdir(name)), list(TABLE_KINDS))
    result = export(logdir(name), str(tmp_path / "out"), kinds=["all"], format=fmt)
    assert set(result.rows) == set(TABLE_KINDS)
    for kind, table in want.items():
        path = Path(result.paths[kind])
        assert path.exists(), kind
        got = _read_back(path, fmt, table.schema)
        drop = {"data"} if kind in ("images", "audio") else set()
        csv = fmt == "csv"
        assert _comparable(got, drop | {"path"}, csv) == _comparable(
            table.to_pylist(), drop, csv
        ), kind
        assert result.rows[kind] == table.num_rows
    # Media files are the logged bytes, where the index says.
    for kind in ("images", "audio"):
        index = _read_back(Path(result.paths[kind]), fmt, pa.schema([("path", pa.string())]))
        blobs = want[kind].column("data").to_pylist()
        assert [(tmp_path / "out" / r["path"]).read_bytes() for r in index] == blobs


def test_exported_scalars_equal_tensorboard_values(tmp_path):
    """The legacy EventAccumulator's scalars (what tbparse shows), through a Parquet file."""
    for name in ("torch_purge", "tbx_purge", "tf1_legacy"):
        out = tmp_path / f"{name}.parquet"
        export(logdir(name), str(out))
        df = pd.read_parquet(out)
        for run, data in expected(name)["runs"].items():
            for tag, series in data["accumulator"]["scalars"].items():
                rows = df[(df.run == run) & (df.tag == tag)]
                got = [[int(s), float(w), float(v)] for s, w, v in
                       zip(rows.step, rows.wall_time, rows.value, strict=True)]  # fmt: skip
                assert got == series, (name, tag)


def test_images_index_matches_tensorboard_blobs(tmp_path):
    export(logdir("tf2_all"), str(tmp_path), kinds=["images"])
    index = pd.read_parquet(tmp_path / "images.parquet")
    loaded = expected("tf2_all")["runs"]["."]["files"]
    (file,) = loaded.values()
    want = {}
    for event in file["loaded"]["events"]:
        for v in event.get("values", []):
            if v.get("plugin_name") == "images":
                want[(v["tag"], event["step"])] = v["value"][2:]
    for (tag, step), blobs in want.items():
        rows = index[(index.tag == tag) & (index.step == step)].sort_values("sample")
        for row, blob in zip(rows.itertuples(), blobs, strict=True):
            data = (tmp_path / row.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == blob["sha256"]
            assert row.path.endswith(".png") and row.format == "png"


def test_partitioned_dataset_reads_as_one_table(tmp_path):
    out = tmp_path / "ds"
    export(logdir("tbx_all"), str(out), partition_by="run")
    want = tbtool.read_scalars(logdir("tbx_all"))
    runs = sorted(set(want.run))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["_common_metadata", *("run=" + r.replace("/", "%2F") for r in runs)]
    )
    assert pq.read_schema(out / "_common_metadata") == tbtool.columnar.table_rows.SCHEMAS["scalars"]
    query = (
        f"select run, count(*) as n, sum(value) as total from read_parquet('{out}/*/*.parquet', "
        "hive_partitioning=true, hive_types={'run': VARCHAR}) group by run order by run"
    )
    got = duckdb.sql(query).fetchall()
    expect = want.groupby("run").agg(n=("value", "size"), total=("value", "sum")).reset_index()
    pairs = list(zip(expect.run, expect.n, strict=True))
    assert [(r, n) for r, n, _ in got] == pairs
    for (_, _, total), want_total in zip(got, expect.total, strict=True):
        assert total == pytest.approx(want_total)
    table = ds.dataset(out, partitioning="hive").to_table()
    assert table.num_rows == len(want) and set(table.column("run").to_pylist()) == set(runs)


def test_partitioned_all_kinds_and_overwrite(tmp_path):
    out = tmp_path / "ds"
    export(logdir("torch_all"), str(out), kinds=["scalars", "histograms"], partition_by="run")
    assert (out / "scalars.parquet" / "run=." / "part-0.parquet").exists()
    assert (out / "histograms.parquet" / "run=." / "part-0.parquet").exists()
    with pytest.raises(UsageError):
        export(logdir("torch_all"), str(out / "scalars.parquet"), partition_by="run")
    export(logdir("torch_all"), str(out / "scalars.parquet"), partition_by="run", overwrite=True)
    n = duckdb.sql(
        f"select count(*) from read_parquet('{out}/scalars.parquet/*/*.parquet')"
    ).fetchall()[0][0]
    assert n == len(tbtool.read_scalars(logdir("torch_all")))


def test_wide_scalars(tmp_path):
    out = tmp_path / "wide.csv"
    export(logdir("torch_purge"), str(out), wide=True)
    df = pd.read_csv(out)
    assert list(df.columns) == ["run", "step", "wall_time", "loss", "other", "loss_new_style"]
    assert list(df.step) == list(range(8))
    assert list(df.loss) == [10.0 - s for s in range(5)] + [1005.0, 1006.0, 1007.0]
    assert df.other.isna().sum() == 3  # purged after the restart


def test_exploded_histograms(tmp_path):
    out = tmp_path / "h.parquet"
    export(logdir("torch_all"), str(out), kinds=["histograms"], explode=True)
    long = tbtool.read_histograms(logdir("torch_all"))
    exploded = pd.read_parquet(out)
    assert len(exploded) == sum(len(b) for b in long.bucket_count)
    first = exploded[(exploded.tag == "hist/constant")]
    assert list(first.bucket) == [0] and list(first.bucket_count) == [10.0]
    assert exploded.bucket_left.dtype == np.float64


def test_hparams_sessions_metrics_and_aggregates(tmp_path):
    torch = tbtool.read_hparams(logdir("torch_all"))
    assert list(torch.run) == ["hp_run1", "hp_run2"]
    assert torch.loc[0, "hparam/accuracy"] == pytest.approx(0.9)
    assert set(torch.status) == {"STATUS_SUCCESS"}
    tbx = tbtool.read_hparams(logdir("tbx_all"))
    assert tbx["use_bn"].dtype == bool
    tf2 = tbtool.read_hparams(logdir("tf2_all"))
    assert list(tf2.run) == ["session_0", "session_1"]
    assert {"accuracy", "validation/loss", "status", "start_time"} <= set(tf2.columns)
    assert tf2.start_time.notna().all()
    scalars = tbtool.read_scalars(logdir("tf2_all"))
    series = scalars[(scalars.run == "session_0") & (scalars.tag == "accuracy")].value
    for agg, want in (
        ("min", series.min()),
        ("max", series.max()),
        ("mean", series.mean()),
        ("last", series.iloc[-1]),
    ):
        frame = tbtool.read_hparams(logdir("tf2_all"), metric_agg=agg)
        assert frame.loc[0, "accuracy"] == pytest.approx(want), agg
    out = tmp_path / "hp.jsonl"
    export(logdir("tf2_all"), str(out), kinds=["hparams"], metric_agg="max")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["run"] for r in rows] == ["session_0", "session_1"]


def test_text_tensors_pr_curves_and_audio_frames():
    text = tbtool.read_text(logdir("tf2_all"))
    assert json.loads(text[text.tag == "text/table"].text.iloc[0])[0] == ["a", "b"] or len(text)
    tensors = tbtool.read_tensors(logdir("torch_all"))
    row = tensors[tensors.tag == "tensor/float32"].iloc[0]
    assert list(row["shape"]) == [2, 3] and row["dtype"] == "float32"
    assert len(row["values"]) == 6
    pr = tbtool.read_pr_curves(logdir("torch_all"))
    curve = pr[(pr.tag == "pr/curve") & (pr.step == 0)]
    assert len(curve) == 11 and curve.threshold.iloc[-1] == 1.0
    audio = tbtool.read_audio(logdir("tf2_all"))
    assert set(audio.sample_rate) == {44100.0} or audio.sample_rate.notna().all()
    assert (audio.frames > 0).all() and (audio.format == "wav").all()


def test_read_table_gives_arrow_and_usage_errors(tmp_path):
    table = tbtool.read_table(logdir("torch_all"), "scalars", tags=["loss*"], steps="1:3")
    assert isinstance(table, pa.Table) and set(table.column("step").to_pylist()) <= {1, 2}
    with pytest.raises(UsageError):
        tbtool.read_table(logdir("torch_all"), "nonsense")
    with pytest.raises(UsageError):
        export(logdir("torch_all"), "-", format="parquet")
    with pytest.raises(UsageError):
        export(logdir("torch_all"), "-", kinds=["images"], format="csv")
    with pytest.raises(UsageError):
        export(logdir("torch_all"), str(tmp_path / "x.csv"), partition_by="run")


def test_jobs_give_the_same_output(tmp_path):
    one = export(logdir("tbx_all"), str(tmp_path / "a"), kinds=["all"])
    two = export(logdir("tbx_all"), str(tmp_path / "b"), kinds=["all"], jobs=2)
    assert one.rows == two.rows
    for kind, path in one.paths.items():
        assert pq.read_table(path).equals(pq.read_table(two.paths[kind])), kind


def test_exploded_schema_is_what_exploding_gives():
    from tbtool.columnar.table_rows import SCHEMAS
    from tbtool.ops.export import EXPLODED_SCHEMA, _empty, exploded_histograms

    assert exploded_histograms(_empty(SCHEMAS["histograms"])).schema == EXPLODED_SCHEMA


@pytest.mark.parametrize("kinds", [["scalars", "histograms"], ["all"], ["hparams"]])
def test_exporting_leaves_pandas_unloaded(tmp_path, kinds):
    """pandas costs 30 MB of the 200 MB an export of 1 GB may take (issue 16): the streamed
    export builds its Arrow arrays from buffers (pa.array would import pandas), and the
    hparams metrics fold scalars with numpy."""
    import subprocess
    import sys

    code = (
        "import sys; from tbtool.ops.export import export; "
        f"export({str(logdir('tbx_all'))!r}, {str(tmp_path / 'out')!r}, "
        f"kinds={kinds!r}); "
        "print('pandas' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
