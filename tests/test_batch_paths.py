"""The batch path against the per-event path, for every reading command.

``ls`` (the inventory), ``dump``, ``check`` and ``LogReader.values`` read through column
blocks; the per-event reader (``engine="events"``) decodes every event on its own and is the
independent oracle. Each test runs both on every fixture and on synth logdirs of every style
and kind, with restarts and damage, with and without purge, and asks for identical results.
"""

from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synth_cases import make_synth_cases

from tbtool.columnar.text import float_reprs, iso_times
from tbtool.ops.check import Bounds, Expectation, check, collect_series
from tbtool.ops.dump import dump_values, iso_time, value_line
from tbtool.reading.inventory import inventory
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange
from tbtool.runs.logdir import tag_matcher
from tbtool.values.typed import EVENT_KINDS, Scalar, float32_repr

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORRUPT = sorted(p for p in (FIXTURES / "corrupt" / "logdir").iterdir() if p.is_dir())
WRITERS = sorted(
    p for p in FIXTURES.iterdir() if p.is_dir() and p.name not in ("corrupt", "scripts")
)


@pytest.fixture(scope="module")
def synth_logdirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_synth_cases(tmp_path_factory.mktemp("synth"))


def _paths(synth_logdirs: list[Path]) -> list[Path]:
    return [*WRITERS, *CORRUPT, *synth_logdirs]


def _json(item) -> str:
    return json.dumps(item.to_json(), sort_keys=True)


def _outcome(make):
    """The result of ``make()``, or the error it raised (both paths must fail alike)."""
    try:
        return make()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("purge", [True, False])
def test_values_batch_equal_events(synth_logdirs, purge):
    for path in _paths(synth_logdirs):
        for skip in (True, False):

            def read(engine: str, path=path, skip=skip) -> list[str]:
                reader = LogReader(path, purge=purge, skip_corrupt=skip)
                return [_json(v) for v in reader.values(engine=engine)]

            assert _outcome(lambda: read("batch")) == _outcome(lambda: read("events")), path


def test_values_filters_agree(synth_logdirs):
    for path in _paths(synth_logdirs):
        for kinds, tags, steps in (
            (["scalar", "histogram"], (), None),
            (["file_version", "session_log", "graph"], (), None),
            (None, ("loss*", "weights/*"), StepRange(10, 40)),
            (["text", "image", "hparams"], (), StepRange(None, 30)),
        ):

            def read(engine: str, path=path, kinds=kinds, tags=tags, steps=steps) -> list[str]:
                reader = LogReader(path, tags=tags, skip_corrupt=True)
                return [_json(v) for v in reader.values(kinds, steps, engine=engine)]

            assert read("batch") == read("events"), (path, kinds, tags, steps)


# -- ls ----------------------------------------------------------------------------------------
def _oracle_inventory(path: Path, tags: tuple[str, ...], purge: bool) -> dict:
    """What ``ls --format json`` says, computed one value at a time from the event path."""
    reader = LogReader(path, purge=purge, skip_corrupt=True)
    wanted = tag_matcher(tags)
    runs = {}
    for run in reader.runs:
        runs[run.name] = {"span": [], "restarts": 0, "versions": {}, "tags": {}}
    for item in reader.values(engine="events"):
        run = runs[item.run]
        event_level = item.kind in EVENT_KINDS
        if not event_level and not wanted(item.tag):
            continue
        if not (tags and event_level) and math.isfinite(item.wall_time):
            run["span"].append(item.wall_time)
        if item.kind == "file_version":
            run["versions"].setdefault(item.file, [item.value.version, item.value.writer])
            continue
        if item.kind == "session_log":
            run["restarts"] += item.value.status == "START"
            continue
        if event_level:
            continue
        s = run["tags"].setdefault(
            (item.tag, item.kind), {"plugin": item.plugin_name, "steps": [], "walls": []}
        )
        s["steps"].append(item.step)
        s["walls"].append(item.wall_time)
        if isinstance(item.value, Scalar):
            s["last"] = item.value.value
    out = {}
    for name, run in runs.items():
        series = {}
        for (tag, kind), s in run["tags"].items():
            series[(tag, kind)] = (
                s["plugin"],
                len(s["steps"]),
                s["steps"][0],
                s["steps"][-1],
                min(s["steps"]),
                max(s["steps"]),
                json.dumps(s["walls"][0]),
                json.dumps(s["walls"][-1]),
                json.dumps(s.get("last")),
            )
        span = (min(run["span"]), max(run["span"])) if run["span"] else (None, None)
        out[name] = (span, run["restarts"], run["versions"], series)
    return out


def _inventory(path: Path, tags: tuple[str, ...], purge: bool) -> dict:
    result = inventory(LogReader(path, purge=purge, skip_corrupt=True), tags=tags)
    out = {}
    for run in result.runs:
        series = {
            key: (
                t.plugin_name,
                t.count,
                t.first_step,
                t.last_step,
                t.min_step,
                t.max_step,
                json.dumps(t.first_wall_time),
                json.dumps(t.last_wall_time),
                json.dumps(t.last_value),
            )
            for key, t in run.tags.items()
        }
        versions = {f.path: [f.file_version, f.writer] for f in run.files if f.file_version}
        span = (run.first_wall_time, run.last_wall_time)
        out[run.name] = (span, run.restarts, versions, series)
    return out


@pytest.mark.parametrize("tags", [(), ("loss*", "accuracy/*")])
@pytest.mark.parametrize("purge", [True, False])
def test_inventory_equals_the_per_event_oracle(synth_logdirs, tags, purge):
    for path in _paths(synth_logdirs):
        assert _inventory(path, tags, purge) == _oracle_inventory(path, tags, purge), path


def test_inventory_file_states_match_the_event_reader(synth_logdirs):
    for path in _paths(synth_logdirs):
        batch = LogReader(path, skip_corrupt=True)
        inventory(batch)
        events = LogReader(path, skip_corrupt=True)
        for _ in events.events():
            pass
        assert batch.file_status == events.file_status, path
        assert [str(p) for p in batch.problems] == [str(p) for p in events.problems], path


# -- dump --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_dump_lines_equal_one_value_at_a_time(synth_logdirs, fmt):
    for path in _paths(synth_logdirs):
        for purge in (True, False):
            reader = LogReader(path, purge=purge, skip_corrupt=True)
            expected = "".join(
                (json.dumps(v.to_json()) if fmt == "jsonl" else value_line(v)) + "\n"
                for v in reader.values(engine="events")
            )
            got = b"".join(dump_values(LogReader(path, purge=purge, skip_corrupt=True), format=fmt))
            assert got.decode() == expected, (path, purge)


def test_dump_prints_float32_at_its_shortest(tmp_path):
    from tbtool.writer import SummaryWriter

    with SummaryWriter(tmp_path) as w:
        w.add_scalar("x", 0.2, 0)
        w.add_scalar("y", 0.2, 0, double_precision=True, new_style=True)
        w.add_scalar("z", 3e-05, 1)
    text = b"".join(dump_values(LogReader(tmp_path), kinds=["scalar"])).decode()
    assert "scalar x: 0.2\n" in text
    assert "scalar y: 0.2\n" in text  # a float64 of 0.2 is 0.2 too
    assert "scalar z: 3e-05\n" in text
    lines = [
        json.loads(x)
        for x in b"".join(dump_values(LogReader(tmp_path), format="jsonl")).split(b"\n")
        if x
    ]
    assert [x["value"] for x in lines if x["kind"] == "scalar"] == [0.2, 0.2, 3e-05]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_float_reprs_are_python_reprs(values):
    array = np.array(values, dtype=np.float64)
    assert float_reprs(array).to_pylist() == [repr(float(x)) for x in values]
    narrow = np.array(values, dtype=np.float32).astype(np.float64)
    assert float_reprs(narrow, np.ones(len(values), dtype=bool)).to_pylist() == [
        float32_repr(x) for x in narrow
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-7e10, max_value=3e11),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(1_600_000_000_000, 1_800_000_000_000).map(lambda ms: ms / 1000 + 5e-4),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_iso_times_are_datetime_isoformat(times):
    array = np.array(times, dtype=np.float64)
    assert iso_times(array, iso_time).to_pylist() == [iso_time(float(t)) for t in array]


# -- check -------------------------------------------------------------------------------------
class _OracleSeries:
    """check's statistics of one (run, tag), one value at a time (the old algorithm)."""

    def __init__(self, window: int | None) -> None:
        self.count, self.kinds, self.nonfinite, self.total = 0, set(), 0, 0.0
        self.first = self.last = self.first_step = self.last_step = None
        self.lo, self.hi = math.inf, -math.inf
        self.window = deque(maxlen=window) if window else None

    def add(self, item) -> None:
        self.count += 1
        self.kinds.add(item.kind)
        self.last_step = item.step if self.last_step is None else max(self.last_step, item.step)
        if self.first_step is None:
            self.first_step = item.step
        if isinstance(item.value, Scalar):
            x = item.value.value
            if self.first is None:
                self.first = x
            self.last = x
            self.nonfinite += not math.isfinite(x)
            self.total += x
            self.lo, self.hi = min(self.lo, x), max(self.hi, x)
            if self.window is not None:
                self.window.append(x)


def test_check_series_equal_one_value_at_a_time(synth_logdirs):
    matchers = [tag_matcher(["*"])]
    for path in _paths(synth_logdirs):
        failure = _outcome(lambda path=path: list(LogReader(path).values(engine="events")))
        if isinstance(failure, str):  # a damaged file: both paths stop with the same error
            got = _outcome(lambda path=path: collect_series(LogReader(path), matchers))
            assert got == failure, path
            continue
        series, facts, records = collect_series(LogReader(path), matchers, window=5)
        oracle: dict = {}
        spans: dict = {}
        count = 0
        for item in LogReader(path).values(engine="events"):
            count += 1
            if math.isfinite(item.wall_time):
                spans.setdefault(item.run, []).append(item.wall_time)
            if item.kind in EVENT_KINDS:
                continue
            oracle.setdefault((item.run, item.tag), _OracleSeries(5)).add(item)
        assert records == count, path
        assert sorted(series) == sorted(oracle), path
        for key, expected in oracle.items():
            got = series[key]
            for name in ("count", "nonfinite", "first", "last", "first_step", "last_step"):
                assert json.dumps(getattr(got, name)) == json.dumps(getattr(expected, name)), (
                    path,
                    key,
                    name,
                )
            assert got.kinds == expected.kinds, (path, key)
            assert json.dumps([got.total, got.lo, got.hi]) == json.dumps(
                [expected.total, expected.lo, expected.hi]
            ), (path, key)
            assert json.dumps(list(got.window or ())) == json.dumps(list(expected.window or ()))
        for run, fact in facts.items():
            walls = spans.get(run)
            assert (fact.first_wall, fact.last_wall) == (
                (min(walls), max(walls)) if walls else (math.inf, -math.inf)
            ), (path, run)


def test_check_reports_equal_on_expectations(synth_logdirs):
    expectations = [
        Expectation(tag="loss*", no_nan=True, min_steps=10),
        Expectation(tag="*", last_k=7, bounds={"mean": Bounds(-1e9, 0.5)}),
    ]
    for path in _paths(synth_logdirs):
        # check judges what can be read (damage is a finding), so count the same
        reader = LogReader(path, skip_corrupt=True)
        count = sum(1 for _ in reader.values(engine="events"))
        report = check(path, expectations)
        assert report.records == count, path
        damaged = {f.file for f in report.findings if not f.code.startswith("check-")}
        assert damaged == {d.file for d in reader.damage() if not d.tolerated}, path


# -- hostile names -----------------------------------------------------------------------------
def test_text_output_escapes_control_characters(tmp_path):
    """A tag or run name cannot drive the terminal or forge a line (issue 17, item 6)."""
    from typer.testing import CliRunner

    from tbtool.cli import app
    from tbtool.writer import SummaryWriter

    hostile = "loss\x1b]0;pwned\x07\nfake line\u202e"
    with SummaryWriter(tmp_path / "run\x1b[2J") as w:
        w.add_scalar(hostile, 0.5, 0)
        w.add_scalar(hostile, 0.25, 1)
    for args in (["ls", str(tmp_path)], ["dump", str(tmp_path)]):
        out = CliRunner().invoke(app, args).output
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, args
        assert "loss\\x1b]0;pwned\\x07\\nfake line\\u202e" in out, args
        assert "run\\x1b[2J" in out, args
    dumped = CliRunner().invoke(app, ["dump", str(tmp_path)]).output.splitlines()
    assert len(dumped) == 3  # file_version and two scalars: no forged line
    jsonl = CliRunner().invoke(app, ["dump", str(tmp_path), "--format", "jsonl"]).output
    assert [json.loads(line)["tag"] for line in jsonl.splitlines()][1:] == [hostile, hostile]
