"""check: assertions about what a run logged, for CI gates ("did training do what it should?").

Expectations come from a TOML file (``[[expect]]`` tables, docs/check.md) or from the
command-line shortcuts. Each selects runs (regex) and tags (glob) and asserts presence,
kind, counts, steps, finiteness, bounds on the final / min / max / mean of the last K
values, a relative decrease, hparams keys and the run's wall-clock duration. One pass over
the data; per series only counters and a window of K values are kept.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool import storage
from tbtool.columnar.pieces import ValueBlock
from tbtool.columnar.walk import Progress
from tbtool.errors import UsageError
from tbtool.ops.findings import Finding, Report
from tbtool.reading.log_reader import LogReader
from tbtool.runs.logdir import compile_patterns, tag_matcher
from tbtool.values.typed import EVENT_KINDS, KINDS, HParams
from tbtool.vocabulary.duration import parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CODES: dict[str, str] = {
    "check-no-runs": "no run matches the expectation's run pattern",
    "check-missing-tag": "no (or not every) selected run has a tag matching the pattern",
    "check-kind": "the tag holds another kind of data than expected",
    "check-min-steps": "fewer values than required",
    "check-last-step": "the last step is lower than required",
    "check-nan": "NaN or infinite values where none are allowed",
    "check-final": "the last value is out of bounds",
    "check-min": "the minimum (of the last K values) is out of bounds",
    "check-max": "the maximum (of the last K values) is out of bounds",
    "check-mean": "the mean (of the last K values) is out of bounds",
    "check-decrease": "the value did not decrease enough from first to last",
    "check-hparams": "hparams missing or without the required keys",
    "check-duration": "the run's wall-clock duration is out of bounds",
}

_STAT_KEYS = ("final", "min", "max", "mean")


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive bounds; either side may be open."""

    min: float | None = None
    max: float | None = None

    @classmethod
    def parse(cls, value: Any, key: str, convert=None) -> Bounds:
        if not isinstance(value, dict) or not set(value) <= {"min", "max"} or not value:
            raise UsageError(f"{key} must be a table like {{ min = 0.0, max = 1.0 }}")
        conv = convert or (lambda v, k: _number(v, k))
        return cls(
            conv(value["min"], f"{key}.min") if "min" in value else None,
            conv(value["max"], f"{key}.max") if "max" in value else None,
        )

    def holds(self, x: float) -> bool:
        if math.isnan(x):
            return False
        return (self.min is None or x >= self.min) and (self.max is None or x <= self.max)

    def __str__(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        return f"[{lo}, {hi}]"


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{key} must be a number, not {value!r}")
    return float(value)


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{key} must be an integer, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Expectation:
    """One ``[[expect]]`` table."""

    run: str | None = None
    tag: str | None = None
    each_run: bool = False
    kind: str | None = None
    min_steps: int | None = None
    last_step_at_least: int | None = None
    no_nan: bool = False
    last_k: int | None = None
    bounds: dict[str, Bounds] = field(default_factory=dict)  # final/min/max/mean
    decrease_pct: float | None = None
    hparams: tuple[str, ...] | None = None
    duration: Bounds | None = None
    name: str = ""

    @classmethod
    def from_table(cls, table: dict[str, Any], name: str) -> Expectation:
        known = {
            "run",
            "tag",
            "each_run",
            "kind",
            "min_steps",
            "last_step_at_least",
            "no_nan",
            "last_k",
            "decrease_pct",
            "hparams",
            "duration",
            "name",
            *_STAT_KEYS,
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise UsageError(f"{name}: unknown key(s) {unknown}; known: {sorted(known)}")
        kind = table.get("kind")
        if kind is not None and kind not in KINDS:
            raise UsageError(f"{name}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        hparams = table.get("hparams")
        if hparams is not None and (
            not isinstance(hparams, list) or not all(isinstance(h, str) for h in hparams)
        ):
            raise UsageError(f"{name}.hparams must be a list of hyperparameter names")
        for key in ("run", "tag", "name"):
            if key in table and not isinstance(table[key], str):
                raise UsageError(f"{name}.{key} must be a string")
        if "run" in table:
            compile_patterns([table["run"]])
        needs_tag = any(
            k in table
            for k in (
                "kind",
                "min_steps",
                "last_step_at_least",
                "no_nan",
                "decrease_pct",
                "last_k",
                *_STAT_KEYS,
            )
        )
        if needs_tag and "tag" not in table:
            raise UsageError(f"{name}: value assertions need a 'tag' glob")
        last_k = table.get("last_k")
        return cls(
            run=table.get("run"),
            tag=table.get("tag"),
            each_run=bool(table.get("each_run", False)),
            kind=kind,
            min_steps=_int(table["min_steps"], f"{name}.min_steps")
            if "min_steps" in table
            else None,
            last_step_at_least=_int(table["last_step_at_least"], f"{name}.last_step_at_least")
            if "last_step_at_least" in table
            else None,
            no_nan=bool(table.get("no_nan", False)),
            last_k=_int(last_k, f"{name}.last_k") if last_k is not None else None,
            bounds={k: Bounds.parse(table[k], f"{name}.{k}") for k in _STAT_KEYS if k in table},
            decrease_pct=_number(table["decrease_pct"], f"{name}.decrease_pct")
            if "decrease_pct" in table
            else None,
            hparams=tuple(hparams) if hparams is not None else None,
            duration=Bounds.parse(table["duration"], f"{name}.duration", parse_duration)
            if "duration" in table
            else None,
            name=table.get("name", name),
        )


def load_expectations(path: str | os.PathLike) -> list[Expectation]:
    """Parse an expect.toml file; errors name the file and the offending key."""
    try:
        with storage.open_input(path) as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{os.fspath(path)}: not valid TOML: {e}") from None
    tables = data.get("expect")
    unknown = sorted(set(data) - {"expect"})
    if unknown or not isinstance(tables, list) or not tables:
        raise UsageError(
            f"{os.fspath(path)}: expected one or more [[expect]] tables"
            + (f" (unknown top-level keys {unknown})" if unknown else "")
        )
    try:
        return [Expectation.from_table(t, f"expect[{i}]") for i, t in enumerate(tables)]
    except UsageError as e:
        raise UsageError(f"{os.fspath(path)}: {e.message}") from None


class _Series:
    """What the assertions need of one (run, tag): counters and a window of values."""

    __slots__ = (
        "count",
        "first",
        "first_step",
        "hi",
        "kinds",
        "last",
        "last_step",
        "lo",
        "nonfinite",
        "total",
        "window",
    )

    def __init__(self, window: int | None) -> None:
        self.count = 0
        self.kinds: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.nonfinite = 0
        self.window: deque[float] | None = deque(maxlen=window) if window else None
        self.total = 0.0
        self.lo = math.inf
        self.hi = -math.inf

    def add_many(self, kinds: set[str], steps: np.ndarray, scalars: np.ndarray) -> None:
        """Fold in the series' next values (read order): all their steps, and the values of
        those that are scalars. Sums run left to right, as one value at a time would."""
        self.count += len(steps)
        self.kinds |= kinds
        top = int(steps.max())
        self.last_step = top if self.last_step is None else max(self.last_step, top)
        if self.first_step is None:
            self.first_step = int(steps[0])
        if not len(scalars):
            return
        if self.first is None:
            self.first = float(scalars[0])
        self.last = float(scalars[-1])
        self.nonfinite += int(np.count_nonzero(~np.isfinite(scalars)))
        self.total = float(np.cumsum(np.concatenate([[self.total], scalars]))[-1])
        self.lo = min(self.lo, float(np.fmin.reduce(scalars)))  # NaN never wins, as before
        self.hi = max(self.hi, float(np.fmax.reduce(scalars)))
        if self.window is not None:
            self.window.extend(scalars[-(self.window.maxlen or 0) :].tolist())

    def stats(self, last_k: int | None) -> dict[str, float]:
        if last_k:
            values = list(self.window or ())[-last_k:]
            if not values:
                return {}
            return {
                "final": values[-1],
                "min": min(values),
                "max": max(values),
                # fsum refuses inf + -inf; with non-finite values the mean is NaN or inf.
                "mean": (math.fsum(values) if all(map(math.isfinite, values)) else sum(values))
                / len(values),
            }
        if self.last is None:
            return {}
        scalars = self.count if self.kinds == {"scalar"} else None
        mean = self.total / scalars if scalars else math.nan
        return {"final": self.last, "min": self.lo, "max": self.hi, "mean": mean}


@dataclass(slots=True)
class _RunFacts:
    first_wall: float = math.inf
    last_wall: float = -math.inf
    hparams: dict[str, Any] | None = None


def check(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    expectations: Sequence[Expectation],
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> Report:
    """Evaluate ``expectations`` against the logs under ``paths`` (one pass, through the
    batch path; ``jobs`` and ``progress`` as in :meth:`~tbtool.LogReader.blocks`).
    A damaged file fails the gate: it is an ``error`` finding with validate's code for what
    is wrong with it, beside the verdicts on everything that could be read. ``runs``/``tags``
    narrow what is read, as for every reader: an assertion sees only the values they keep."""
    if not expectations:
        raise UsageError(
            "nothing to check: give --expect FILE.toml or --require-tag / --min-steps / --no-nan"
        )
    reader = LogReader(paths, runs=runs, tags=tags, purge=purge, skip_corrupt=True)
    matchers = [tag_matcher([e.tag]) if e.tag else None for e in expectations]
    report = Report("check")
    series, facts, report.records = collect_series(
        reader,
        matchers,
        window=max((e.last_k or 0) for e in expectations) or None,
        jobs=jobs,
        progress=progress,
    )
    report.files = len({f for r in reader.runs for f in r.files})
    runs_of = {path: run.name for run in reader.runs for path in run.files}
    for damage in reader.damage():
        if not damage.tolerated:
            report.findings.append(
                Finding(
                    damage.first.code,
                    "error",
                    f"{damage.first.message} (this file could not be read in full)",
                    file=damage.file,
                    offset=damage.offset,
                    index=damage.index,
                    run=runs_of.get(damage.file),
                    count=1 + damage.more,
                )
            )
    for expectation, matcher in zip(expectations, matchers, strict=True):
        _evaluate(expectation, matcher, reader, series, facts, report)
    return report


def collect_series(
    reader: LogReader,
    matchers: Sequence[Callable[[str], bool] | None],
    *,
    window: int | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> tuple[dict[tuple[str, str], _Series], dict[str, _RunFacts], int]:
    """One pass: per (run, tag) that a matcher selects, the statistics assertions need; per
    run its facts; and the number of values read."""
    series: dict[tuple[str, str], _Series] = {}
    facts = {run.name: _RunFacts() for run in reader.runs}
    records = 0
    watched: dict[str, np.ndarray] = {}  # per run: does any expectation watch each tag?
    for block in reader.blocks(jobs=jobs, progress=progress):
        known = watched.get(block.run, np.zeros(0, dtype=bool))
        if len(known) < len(block.tags):
            fresh = [
                any(m is not None and m(t) for m in matchers) for t in block.tags[len(known) :]
            ]
            known = watched[block.run] = np.concatenate([known, np.array(fresh, dtype=bool)])
        records += len(block)
        _add_block(block, facts[block.run], series, known, window)
    return series, facts, records


_EVENT_KIND_CODES = np.array([KINDS.index(k) for k in EVENT_KINDS], dtype=np.int16)
_SCALAR, _HPARAMS = KINDS.index("scalar"), KINDS.index("hparams")


def _add_block(
    block: ValueBlock,
    run: _RunFacts,
    series: dict[tuple[str, str], _Series],
    watched: np.ndarray,
    window: int | None,
) -> None:
    """Fold one block of a run's values into its facts and watched series."""
    walls = block.wall_time[np.isfinite(block.wall_time)]
    if len(walls):
        run.first_wall = min(run.first_wall, float(walls.min()))
        run.last_wall = max(run.last_wall, float(walls.max()))
    for row in np.flatnonzero(block.kind == _HPARAMS).tolist():
        value = block.items[row].value
        if isinstance(value, HParams) and value.part == "session_start_info":
            run.hparams = value.hparams
    rows = np.flatnonzero(~np.isin(block.kind, _EVENT_KIND_CODES) & watched[block.tag])
    if not len(rows):
        return
    tags = block.tag[rows]
    order = np.argsort(tags, kind="stable")  # stable: read order within each tag
    rows, tags = rows[order], tags[order]
    starts = np.flatnonzero(np.r_[True, tags[1:] != tags[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        part = rows[start:end]
        tag = block.tags[int(tags[start])]
        s = series.get((block.run, tag))
        if s is None:
            s = series[(block.run, tag)] = _Series(window)
        kinds = {KINDS[k] for k in np.unique(block.kind[part]).tolist()}
        is_scalar = block.kind[part] == _SCALAR
        s.add_many(kinds, block.step[part], block.scalar[part[is_scalar]])


def _evaluate(e: Expectation, matcher, reader, series, facts, report) -> None:
    run_rx = re.compile(e.run) if e.run else None
    selected = [r.name for r in reader.runs if run_rx is None or run_rx.search(r.name)]
    label = e.name

    def fail(code: str, message: str, run: str | None = None, tag: str | None = None) -> None:
        report.findings.append(Finding(code, "error", f"{label}: {message}", run=run, tag=tag))

    if not selected:
        fail(
            "check-no-runs",
            f"expected runs matching {e.run!r}, found none (runs: {[r.name for r in reader.runs]})",
        )
        return
    if matcher is not None:
        matched = {
            run: sorted(t for (r, t) in series if r == run and matcher(t)) for run in selected
        }
        missing = [run for run, tags in matched.items() if not tags]
        if e.each_run and missing:
            for run in missing:
                fail(
                    "check-missing-tag",
                    f"expected a tag matching {e.tag!r} in run {run!r}, found none",
                    run=run,
                )
        elif len(missing) == len(selected):
            fail(
                "check-missing-tag",
                f"expected a tag matching {e.tag!r} in runs {selected}, found none",
            )
        for run, tags in matched.items():
            for tag in tags:
                _assert_series(e, series[(run, tag)], lambda c, m, r=run, t=tag: fail(c, m, r, t))
    for run in selected:
        f = facts[run]
        if e.hparams is not None:
            if f.hparams is None:
                fail(
                    "check-hparams",
                    f"expected hparams {list(e.hparams)}, found no hparams session",
                    run=run,
                )
            else:
                absent = [k for k in e.hparams if k not in f.hparams]
                if absent:
                    fail(
                        "check-hparams",
                        f"expected hparams {absent}, found only {sorted(f.hparams)}",
                        run=run,
                    )
        if e.duration is not None:
            span = f.last_wall - f.first_wall if f.last_wall >= f.first_wall else 0.0
            if not e.duration.holds(span):
                fail(
                    "check-duration",
                    f"expected a duration in {e.duration} s, found {span:.1f} s",
                    run=run,
                )


def _assert_series(e: Expectation, s: _Series, fail) -> None:
    if e.kind is not None and s.kinds != {e.kind}:
        fail("check-kind", f"expected kind {e.kind}, found {sorted(s.kinds)}")
    if e.min_steps is not None and s.count < e.min_steps:
        fail("check-min-steps", f"expected at least {e.min_steps} values, found {s.count}")
    if e.last_step_at_least is not None and (s.last_step or 0) < e.last_step_at_least:
        fail(
            "check-last-step",
            f"expected the last step >= {e.last_step_at_least}, found {s.last_step}",
        )
    if e.no_nan and s.nonfinite:
        fail("check-nan", f"expected no NaN/Inf, found {s.nonfinite} of {s.count} values")
    stats = s.stats(e.last_k)
    scope = f"of the last {e.last_k} values " if e.last_k else ""
    for key, bounds in e.bounds.items():
        if key not in stats:
            fail(f"check-{key}", f"expected a {key} value {scope}in {bounds}, found no scalars")
        elif not bounds.holds(stats[key]):
            fail(f"check-{key}", f"expected the {key} {scope}in {bounds}, found {stats[key]:g}")
    if e.decrease_pct is not None:
        if s.first is None or s.last is None:
            fail("check-decrease", "expected a decrease, found no scalars")
        else:
            change = (s.first - s.last) / abs(s.first) * 100 if s.first else -math.inf
            if not change >= e.decrease_pct:
                fail(
                    "check-decrease",
                    f"expected a decrease of at least {e.decrease_pct:g}% "
                    f"from first to last, found {change:.1f}% ({s.first:g} -> {s.last:g})",
                )


def shortcut_expectations(
    require_tags: Sequence[str], min_steps: int | None, no_nan: bool
) -> list[Expectation]:
    """Expectations for ``--require-tag`` / ``--min-steps`` / ``--no-nan`` (every tag when
    no tag is required)."""
    if not require_tags and min_steps is None and not no_nan:
        return []
    tags = list(require_tags) or ["*"]
    return [
        Expectation(
            tag=tag,
            min_steps=min_steps,
            no_nan=no_nan,
            name=f"--require-tag {tag}" if require_tags else "options",
        )
        for tag in tags
    ]
