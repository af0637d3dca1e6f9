"""merge, purge and clean planned from the columnar scan, against the per-event engines.

The per-event engines (purge: :mod:`rewrite_oracle`, kept from before the columnar rewrite;
merge: the salvage engine, :mod:`tbtool.ops.merge_salvage`) decode and re-encode every event
and are the oracle: on every fixture and on synth logdirs of every style and kind, with
restarts and injected faults, the fast paths must write the same bytes, count the same and
fail alike. Further tests pin what the fast paths add: records copied byte for byte,
verification that catches a bad temporary file, plans redone when a file changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rewrite_oracle import oracle_merge, oracle_purge
from synth_cases import make_synth_cases

from tbtool.format.record import RecordReader, encode_record
from tbtool.ops import clean, merge_in_place, purge_steps, rewrite
from tbtool.ops.merge import merge, plan_outputs
from tbtool.ops.merge_plan import scan_sources
from tbtool.ops.merge_salvage import rewind_drops as per_value_rewind_drops
from tbtool.ops.purge_rules import _later_step_not_above
from tbtool.ops.synth.generate import synth
from tbtool.proto import event_pb2, summary_pb2
from tbtool.reading.log_reader import LogReader

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORRUPT = FIXTURES / "corrupt" / "logdir"
WRITERS = sorted(
    p / "logdir" for p in FIXTURES.iterdir() if p.is_dir() and p.name not in ("scripts",)
)
PURGES = (
    {"step": 30},
    {"step": 45, "tags": ["loss*", "*/0"]},
    {"step": 0},
    {"restarts": "start"},
    {"restarts": "rewind"},
)


@pytest.fixture(scope="module")
def logdirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("synth")
    made = make_synth_cases(root)
    more = root / "faults2"
    synth(
        more,
        style="tensorboardx",
        kinds="all",
        steps=40,
        runs=8,
        restart_at=10,
        corrupt=[
            *("too-large", "zero-pad", "no-file-version", "empty", "not-events"),
            *("empty-value", "nan-wall-time", "step-backwards"),
        ],
    )
    return [*WRITERS, *sorted(p for p in CORRUPT.iterdir() if p.is_dir()), *made, more]


def _outcome(make):
    try:
        return make()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tbtool-backups" not in p.parts
    }


# -- purge ------------------------------------------------------------------------------------
def _purge_both(path: Path, tmp: Path, options: dict) -> tuple:
    old, new = tmp / "old", tmp / "new"
    for d in (old, new):
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(path, d)

    def oracle():
        plan, outputs = oracle_purge(str(old), **options)
        rel = {os.path.relpath(p, old): data for p, data in outputs.items()}
        return json.dumps(plan.to_json()).replace(str(old), "ROOT"), rel

    def fast():
        plan = purge_steps.plan(str(new), **options)
        planned = json.dumps(plan.to_json()).replace(str(new), "ROOT")
        before = _files(new)
        applied = {k: v for k, v in options.items() if k != "runs"}
        purge_steps.apply(plan, keep_backup=False, **applied)
        after = _files(new)
        changed = {p: data for p, data in after.items() if before.get(p) != data}
        assert sorted(os.path.relpath(p, new) for p in plan.rewritten) == sorted(changed)
        return planned, changed

    expected, got = _outcome(oracle), _outcome(fast)
    if isinstance(expected, str):
        expected = expected.replace(str(old), "ROOT")
    if isinstance(got, str):
        got = got.replace(str(new), "ROOT")
    return expected, got


def test_purge_writes_what_the_per_event_engine_wrote(logdirs, tmp_path):
    compared = 0
    for path in logdirs:
        for options in PURGES:
            expected, got = _purge_both(path, tmp_path, options)
            assert got == expected, (path, options)
            compared += isinstance(got, tuple) and bool(got[1])
    assert compared > 20  # files were actually rewritten, not only refused


def test_purge_run_by_run_past_damaged_runs(logdirs, tmp_path):
    """Runs beside a damaged one, each on its own (the damaged one fails alike)."""
    for path in logdirs[-2:]:
        for run in LogReader(path).runs:
            pattern = f"^{run.name}$"
            for options in PURGES[::2]:
                expected, got = _purge_both(path, tmp_path, {**options, "runs": [pattern]})
                assert got == expected, (path, run.name, options)


def test_purge_without_the_c_extension(logdirs, tmp_path, monkeypatch):
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1")
    for options in PURGES:
        expected, got = _purge_both(logdirs[-4], tmp_path, options)
        assert got == expected, options


def test_kept_records_are_the_input_bytes(logdirs, tmp_path):
    """Every record of a purged file that was not re-encoded is a byte range of the input."""
    run = tmp_path / "run"
    shutil.copytree(logdirs[-3] / "run0-sgd-lr0.003", run)
    inputs = {p.name: p.read_bytes() for p in run.iterdir()}
    plan = purge_steps.plan(str(run), restarts="start")
    splices = {os.path.basename(p): s for p, (_, _, s) in plan.edits.items()}
    assert splices, "the synth run has a restart to apply"
    purge_steps.apply(plan, keep_backup=False, restarts="start")
    for name, splice in splices.items():
        output = (run / name).read_bytes()
        at = 0
        copied = 0
        for i in range(len(splice.src)):
            with RecordReader(str(run / name), offset=at) as reader:
                records = [reader.read() for _ in range(int(splice.records[i]))]
            end = records[-1].end
            if i not in splice.recode:
                start, stop = int(splice.start[i]), int(splice.end[i])
                assert output[at:end] == inputs[name][start:stop]
                copied += int(splice.records[i])
            at = end
        assert at == len(output) and copied > 0


def test_apply_plans_again_a_file_that_changed(tmp_path):
    run = tmp_path / "run"
    synth(run, kinds="scalars", steps=50, runs=1)
    (path,) = list(run.rglob("*tfevents*"))
    plan = purge_steps.plan(str(run), step=20)
    extra = event_pb2.Event(wall_time=2e9, step=7)
    extra.summary.value.add(tag="late", simple_value=1.0)
    with open(path, "ab") as f:
        f.write(encode_record(extra.SerializeToString()))
    os.utime(path, ns=(1, 1))  # a new mtime, whatever the clock's resolution
    purge_steps.apply(plan, keep_backup=False, step=20)
    values = [(v.tag, v.step) for v in LogReader(run).values(["scalar"])]
    assert ("late", 7) in values and max(step for _, step in values) < 20


# -- merge ------------------------------------------------------------------------------------
def _merge_fast(inputs: list[Path], out: Path, **options) -> list[tuple]:
    result = merge([str(p) for p in inputs], str(out), **options)
    return [
        (
            run.name,
            os.path.basename(run.written),
            Path(run.written).read_bytes(),
            run.records_in,
            run.records_out,
            run.dropped_by_restarts,
            run.duplicates,
            [str(s) for s in run.skipped],
        )
        for run in result.runs
    ]


def _merge_oracle(inputs: list[Path], **options) -> list[tuple]:
    made = oracle_merge(
        [str(p) for p in inputs],
        layout=options.get("layout", "merge"),
        rule=options.get("rule", "start"),
        sort_by_step=options.get("sort_by_step", False),
    )
    host = __import__("socket").gethostname().replace(".", "_") or "host"
    return [
        (
            run.name,
            f"events.out.tfevents.{int(wall):010d}.{host}.tbtool",
            data,
            run.records_in,
            run.records_out,
            run.dropped_by_restarts,
            run.duplicates,
            [str(s) for s in run.skipped],
        )
        for run, data, wall in made
    ]


MERGES = (
    {"rule": "start"},
    {"rule": "rewind"},
    {"rule": None},
    {"rule": "start", "sort_by_step": True},
    {"rule": "rewind", "layout": "tag-prefix"},
    {"rule": None, "layout": "sub-run"},
)


def test_merge_writes_what_the_per_event_engine_wrote(logdirs, tmp_path):
    fast_runs = 0
    for n, path in enumerate(logdirs):
        for k, options in enumerate(MERGES):
            out = tmp_path / f"out{n}-{k}"
            expected = _outcome(lambda path=path, options=options: _merge_oracle([path], **options))
            got = _outcome(
                lambda path=path, out=out, options=options: _merge_fast([path], out, **options)
            )
            assert got == expected, (path, options)
        for run in plan_outputs([str(path)]):
            fast_runs += scan_sources(run.name, [p for _, p in run.sources]) is not None
    assert fast_runs > 15  # the columnar path was taken, not only the salvage engine


def test_merge_of_several_inputs_with_duplicates(logdirs, tmp_path):
    """Copies of a run's files under a second input: every record is an exact duplicate."""
    first, second = tmp_path / "a", tmp_path / "b"
    shutil.copytree(logdirs[-4], first)
    shutil.copytree(logdirs[-4], second)
    for options in ({"rule": "start"}, {"rule": None}, {"rule": "rewind", "sort_by_step": True}):
        out = tmp_path / f"out-{options['rule']}-{len(options)}"
        got = _merge_fast([first, second], out, **options)
        assert got == _merge_oracle([first, second], **options)
        assert all(run[6] > 0 for run in got)


def _event(step: int, wall: float, values: dict[str, float], graph: bool = False) -> bytes:
    event = event_pb2.Event(wall_time=wall, step=step)
    if graph:  # a graph as a tensor value (never purged by restarts)
        value = event.summary.value.add(tag="g")
        value.metadata.plugin_data.plugin_name = "graphs"
        value.tensor.dtype = 7  # DT_STRING
        value.tensor.string_val.append(b"a graph")
    for tag, x in values.items():
        event.summary.value.append(summary_pb2.Summary.Value(tag=tag, simple_value=x))
    return event.SerializeToString()


def test_a_re_encoded_record_equal_to_a_copied_one_is_a_duplicate(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    start = event_pb2.Event(wall_time=2.0, step=3)
    start.session_log.status = event_pb2.SessionLog.START
    payloads = [
        _event(5, 1.0, {}, graph=True),  # copied: graphs survive restarts
        _event(5, 1.0, {"x": 1.0}, graph=True),  # loses x: then equals the first
        _event(6, 1.0, {"x": 2.0}),
        start.SerializeToString(),
    ]
    (run / "events.out.tfevents.1.h").write_bytes(b"".join(encode_record(p) for p in payloads))
    got = _merge_fast([run], tmp_path / "out", rule="start")
    assert got == _merge_oracle([run], rule="start")
    assert got[0][6] == 1 and got[0][5] == 2  # one duplicate; x@5 and x@6 dropped
    assert got[0][4] == 2  # the file_version and the graph


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 6)), max_size=40))
def test_vectorized_rewind_equals_the_per_value_rule(points):
    tags = np.array([t for t, _ in points], dtype=np.int32)
    steps = np.array([s for _, s in points], dtype=np.int64)
    dropped = per_value_rewind_drops(
        ((0, i, 0), str(t), "scalar", s) for i, (t, s) in enumerate(points)
    )
    expected = [(0, i, 0) in dropped for i in range(len(points))]
    assert _later_step_not_above(tags, steps).tolist() == expected


def test_merge_in_place_writes_what_the_per_event_engine_wrote(logdirs, tmp_path):
    for n, path in enumerate(logdirs):
        for rule in ("start", "rewind", None):
            copy = tmp_path / f"in{n}-{rule}"
            shutil.copytree(path, copy)

            def fast(copy=copy, rule=rule):
                plan = merge_in_place.plan(str(copy), rule=rule)
                merge_in_place.apply(plan, keep_backup=False)
                return [r.to_json() for r in plan.runs], _files(copy)

            def oracle(path=path, copy=copy, rule=rule):
                expected = dict(_files(path))
                runs = []
                for run, data, _ in oracle_merge(
                    [str(path)], layout="merge", rule=rule, sort_by_step=False
                ):
                    changes = len(run.sources) > 1 or run.records_out != run.records_in
                    if run.skipped:
                        first = run.skipped[0]
                        raise merge_in_place.UsageError(
                            f"{first.file} is damaged or still being written (bytes "
                            f"{first.start}..{first.end}: {first.reason}): refusing to merge "
                            "it in place; `tbtool merge` with -o salvages the readable records "
                            "into a new directory"
                        )
                    sources = [os.path.relpath(p, path) for _, p in run.sources]
                    if changes:
                        expected[sources[0]] = data
                        for other in sources[1:]:
                            del expected[other]
                    runs.append((run.name, changes, run.records_in, run.records_out))
                return runs, expected

            got = _outcome(fast)
            want = _outcome(oracle)
            if isinstance(got, tuple):
                got = (
                    [(r["run"], r["changes"], r["records_in"], r["records_out"]) for r in got[0]],
                    got[1],
                )
                want = (want[0], want[1]) if isinstance(want, tuple) else want
            else:
                got = got.replace(str(copy), str(path))
            assert got == want, (path, rule)


# -- verification -----------------------------------------------------------------------------
def _write_then(tmp_path: Path, monkeypatch, damage) -> Path:
    target = tmp_path / "events.out.tfevents.1.h"
    target.write_bytes(b"original")
    real = rewrite._write_blocks

    def write_and_damage(path, blocks):
        result = real(path, blocks)
        damage(path)
        return result

    monkeypatch.setattr(rewrite, "_write_blocks", write_and_damage)
    return target


@pytest.mark.parametrize("where", [-1, 3, 20], ids=["data crc", "length crc", "payload byte"])
def test_verification_catches_a_damaged_temporary_file(tmp_path, monkeypatch, where):
    def flip(path: str) -> None:
        data = bytearray(Path(path).read_bytes())
        data[where] ^= 0x01
        Path(path).write_bytes(bytes(data))

    target = _write_then(tmp_path, monkeypatch, flip)
    payloads = [_event(s, 1.0, {"x": float(s)}) for s in range(100)]
    with pytest.raises(rewrite.VerificationError):
        rewrite.write_verified(str(target), payloads)
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_verification_catches_a_missing_record_and_a_short_file(tmp_path, monkeypatch):
    payloads = [_event(s, 1.0, {"x": float(s)}) for s in range(10)]
    target = tmp_path / "events.out.tfevents.1.h"
    target.write_bytes(b"original")
    blocks = [(encode_record(p), 1) for p in payloads]
    with pytest.raises(rewrite.VerificationError, match="read back 10 of 11"):
        rewrite.write_verified_blocks(str(target), [*blocks, (b"", 1)])
    for cut in (1, 20):

        def shorten(path: str, cut=cut) -> None:
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[:-cut])

        _write_then(tmp_path, monkeypatch, shorten)
        with pytest.raises(rewrite.VerificationError, match="incomplete record"):
            rewrite.write_verified(str(target), payloads)
        monkeypatch.undo()
    assert target.read_bytes() == b"original"


# -- clean ------------------------------------------------------------------------------------
def _oracle_facts(run) -> tuple:
    """What clean's facts were when read one event at a time."""
    newest = max_step = None
    summary_values = 0
    unreadable = None
    reader = LogReader(run.files, purge=False, skip_corrupt=True)
    try:
        for _, record in reader.events():
            event = record.event
            if event.wall_time == event.wall_time:
                newest = event.wall_time if newest is None else max(newest, event.wall_time)
            if event.HasField("summary"):
                summary_values += len(event.summary.value)
                max_step = event.step if max_step is None else max(max_step, event.step)
    except Exception as e:
        unreadable = type(e).__name__
    return newest, max_step, summary_values, unreadable


def test_clean_facts_from_the_scan_equal_the_event_reader(logdirs):
    for path in logdirs:
        for run in LogReader(path).runs:
            facts = clean._facts(run)
            got = (
                facts.newest_wall_time,
                facts.max_step,
                facts.summary_values,
                facts.unreadable and "error",
            )
            newest, max_step, values, unreadable = _oracle_facts(run)
            assert got == (newest, max_step, values, unreadable and "error"), (path, run.name)


def test_protected_kinds_that_do_not_decode_are_purged_like_tensors(tmp_path):
    """A graph, hparams or custom-scalars value that does not decode is a ``tensor`` to the
    normalizer, and tensors are purged: the fast path must decode such values to know."""
    run = tmp_path / "run"
    run.mkdir()
    event = event_pb2.Event(wall_time=1.0, step=5)
    good = event.summary.value.add(tag="g")
    good.metadata.plugin_data.plugin_name = "graphs"
    good.tensor.dtype = 7
    good.tensor.string_val.append(b"one graph")
    bad = event.summary.value.add(tag="g2")
    bad.metadata.plugin_data.plugin_name = "graphs"
    bad.tensor.dtype = 7
    bad.tensor.string_val.extend([b"two", b"blobs"])  # not one blob: undecodable
    hp = event.summary.value.add(tag="_hparams_/experiment")
    hp.metadata.plugin_data.plugin_name = "hparams"
    hp.metadata.plugin_data.content = b"\xff\xff garbage"
    layout = event.summary.value.add(tag="custom_scalars__config__")
    layout.metadata.plugin_data.plugin_name = "custom_scalars"
    layout.tensor.dtype = 1  # a float where a serialized layout belongs
    layout.tensor.float_val.append(1.0)
    event.summary.value.add(tag="loss", simple_value=0.5)
    start = event_pb2.Event(wall_time=2.0, step=0)
    start.session_log.status = event_pb2.SessionLog.START
    records = [event.SerializeToString(), _event(6, 1.5, {"loss": 0.4}), start.SerializeToString()]
    (run / "events.out.tfevents.1.h").write_bytes(b"".join(encode_record(p) for p in records))
    for options in ({"step": 0}, {"restarts": "start"}, {"restarts": "rewind"}):
        expected, got = _purge_both(run, tmp_path, options)
        assert got == expected, options
        assert isinstance(got, tuple) and (bool(got[1]) or "rewind" in options.values())
    assert _merge_fast([run], tmp_path / "m", rule="start") == _merge_oracle([run], rule="start")


def test_apply_plans_again_when_another_file_of_the_run_changed(tmp_path):
    """A START appended to a file the plan leaves alone drops more in the files it rewrites."""
    logdir = tmp_path / "logdir"
    synth(logdir, kinds="scalars", steps=50, runs=1, restart_at=30)
    first, second = sorted(logdir.rglob("*tfevents*"))
    plan = purge_steps.plan(str(logdir), restarts="start")
    assert [f.changes for r in plan.runs for f in r.files] == [True, False]
    start = event_pb2.Event(wall_time=2e9, step=10)
    start.session_log.status = event_pb2.SessionLog.START
    with open(second, "ab") as f:
        f.write(encode_record(start.SerializeToString()))
    os.utime(second, ns=(1, 1))
    purge_steps.apply(plan, keep_backup=False, restarts="start")
    steps = [v.step for v in LogReader(first, purge=False).values(["scalar"])]
    assert steps and max(steps) < 10
