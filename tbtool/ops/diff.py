"""What differs between two runs, or two logdirs matched by run name: the library side of
``tbtool diff``, built for holding a run against a golden baseline in CI.

Per pair of runs: tags only on one side (any kind), hyperparameters that differ, and per
scalar tag the step coverage and last/min/max of each side with the first step where the
values diverge beyond tolerance. Values at the same step are close when
``|b - a| <= atol + rtol * |a|`` (numpy's ``isclose`` with A as the reference; NaN equals
NaN); a step logged more than once counts with its last value in read order. Other kinds are
compared by their step coverage (count and range), not their payloads. Two PATHs that each
hold one run are paired whatever their names; otherwise runs pair by name.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.columnar.walk import Progress
from tbtool.errors import UsageError
from tbtool.ops.summary import session_of
from tbtool.reading.aggregates import aggregate
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, Steps
from tbtool.runs.damage import raise_for_damage
from tbtool.values.typed import EVENT_KINDS, KINDS, json_float

_SCALAR = KINDS.index("scalar")
_HPARAMS = KINDS.index("hparams")
_EVENT_CODES = np.array([KINDS.index(k) for k in EVENT_KINDS], dtype=np.int16)


@dataclass
class SideRun:
    """What one side holds of one run: scalar series and the step coverage of other tags."""

    scalars: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    others: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # their steps
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class SeriesStats:
    """One side of a scalar tag."""

    count: int
    min_step: int
    max_step: int
    last: float
    min: float
    min_step_at: int | None
    max: float
    max_step_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "min_step": self.min_step,
            "max_step": self.max_step,
            "last": json_float(self.last),
            "min": json_float(self.min),
            "min_at_step": self.min_step_at,
            "max": json_float(self.max),
            "max_at_step": self.max_step_at,
        }


@dataclass
class TagDiff:
    """A tag both runs logged. ``divergence``: ``(step, a, b)`` of the first common step
    whose values are not close (scalars only)."""

    tag: str
    kind: str
    a: SeriesStats | tuple[int, int, int]
    b: SeriesStats | tuple[int, int, int]
    steps_only_a: int = 0
    steps_only_b: int = 0
    divergence: tuple[int, float, float] | None = None
    count_differs: bool = False  # other kinds: as many values on both sides?

    @property
    def differs(self) -> bool:
        return bool(self.steps_only_a or self.steps_only_b or self.divergence or self.count_differs)

    def to_json(self) -> dict[str, Any]:
        def side(s: SeriesStats | tuple[int, int, int]) -> dict[str, Any]:
            if isinstance(s, SeriesStats):
                return s.to_json()
            return {"count": s[0], "min_step": s[1], "max_step": s[2]}

        out: dict[str, Any] = {
            "tag": self.tag,
            "kind": self.kind,
            "differs": self.differs,
            "a": side(self.a),
            "b": side(self.b),
            "steps_only_a": self.steps_only_a,
            "steps_only_b": self.steps_only_b,
            "first_divergence": None,
        }
        if isinstance(self.a, SeriesStats) and isinstance(self.b, SeriesStats):
            out["delta"] = {
                k: json_float(getattr(self.b, k) - getattr(self.a, k))
                for k in ("last", "min", "max")
            }
        if self.divergence is not None:
            step, a, b = self.divergence
            out["first_divergence"] = {"step": step, "a": json_float(a), "b": json_float(b)}
        return out


@dataclass
class RunDiff:
    """One pair of runs."""

    a: str
    b: str
    only_a: list[tuple[str, str]] = field(default_factory=list)  # (kind, tag)
    only_b: list[tuple[str, str]] = field(default_factory=list)
    hparams: list[tuple[str, Any, Any]] = field(default_factory=list)  # (name, a, b)
    tags: list[TagDiff] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.only_a or self.only_b or self.hparams) or any(t.differs for t in self.tags)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "differs": self.differs,
            "tags_only_a": [{"kind": k, "tag": t} for k, t in self.only_a],
            "tags_only_b": [{"kind": k, "tag": t} for k, t in self.only_b],
            "hparams": [{"name": n, "a": a, "b": b} for n, a, b in self.hparams],
            "tags": [t.to_json() for t in self.tags],
        }


@dataclass
class DiffResult:
    """The result of :func:`diff`: pairs of runs, and the runs found on one side only."""

    a: str
    b: str
    rtol: float
    atol: float
    runs: list[RunDiff] = field(default_factory=list)
    runs_only_a: list[str] = field(default_factory=list)
    runs_only_b: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        """Anything differs: exit code 1 of ``tbtool diff``."""
        return bool(self.runs_only_a or self.runs_only_b) or any(r.differs for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "rtol": self.rtol,
            "atol": self.atol,
            "differs": self.differs,
            "runs_only_a": self.runs_only_a,
            "runs_only_b": self.runs_only_b,
            "runs": [r.to_json() for r in self.runs],
        }


def read_side(
    reader: LogReader, steps: StepRange | None = None, progress: Progress | None = None
) -> dict[str, SideRun]:
    """Every run of a reader as :class:`SideRun` (one pass through the batch path)."""
    parts: dict[str, dict[str, list[np.ndarray]]] = {}
    tag_lists: dict[str, list[str]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    for block in reader.blocks(steps=steps, jobs=0, progress=progress):
        tag_lists[block.run] = block.tags
        keep = ~np.isin(block.kind, _EVENT_CODES)
        mine = parts.setdefault(block.run, {"kind": [], "tag": [], "step": [], "value": []})
        for name, column in (
            ("kind", block.kind),
            ("tag", block.tag),
            ("step", block.step),
            ("value", block.scalar),
        ):
            mine[name].append(column[keep])
        for row in np.flatnonzero(block.kind == _HPARAMS).tolist():
            value = block.items[row].value
            if getattr(value, "part", "") == "session_start_info":
                sessions[block.run] = value.hparams  # type: ignore[union-attr]
    out = {run.name: SideRun() for run in reader.runs}
    for run, columns in parts.items():
        side = out.setdefault(run, SideRun())
        kind, tag, step, value = (np.concatenate(columns[k]) for k in columns)
        key = tag.astype(np.int64) * len(KINDS) + kind
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
        for start, end in itertools.pairwise(bounds if len(key) else []):
            rows = order[start:end]
            tag_name = tag_lists[run][int(tag[rows[0]])]
            kind_name = KINDS[int(kind[rows[0]])]
            if kind_name == "scalar":
                side.scalars[tag_name] = (step[rows], value[rows])
            else:
                side.others[(kind_name, tag_name)] = step[rows]
    names = list(sessions)
    for run, side in out.items():
        session = session_of(run, names)
        side.hparams = dict(sessions[session]) if session is not None else {}
    return out


def _stats(steps: np.ndarray, values: np.ndarray, tag: str) -> SeriesStats:
    last, _ = aggregate(values, steps, "last", tag)
    low, low_at = aggregate(values, steps, "min", tag)
    high, high_at = aggregate(values, steps, "max", tag)
    return SeriesStats(
        len(steps), int(steps.min()), int(steps.max()), last, low, low_at, high, high_at
    )


def _by_step(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One value per step: the last one logged (read order)."""
    order = np.argsort(steps, kind="stable")
    s, v = steps[order], values[order]
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    return s[last], v[last]


def compare_series(
    tag: str,
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    rtol: float,
    atol: float,
) -> TagDiff:
    """Stats of both sides, coverage and the first diverging common step of one tag."""
    sa, va = _by_step(*a)
    sb, vb = _by_step(*b)
    common, ia, ib = np.intersect1d(sa, sb, assume_unique=True, return_indices=True)
    close = np.isclose(vb[ib], va[ia], rtol=rtol, atol=atol, equal_nan=True)
    result = TagDiff(
        tag,
        "scalar",
        _stats(*a, tag),
        _stats(*b, tag),
        steps_only_a=len(sa) - len(common),
        steps_only_b=len(sb) - len(common),
    )
    if not close.all():
        first = int(np.argmin(close))
        result.divergence = (int(common[first]), float(va[ia[first]]), float(vb[ib[first]]))
    return result


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (np.isnan(x) and np.isnan(y))
    return bool(x == y) and type(x) is type(y)


def compare_runs(
    a_name: str, a: SideRun, b_name: str, b: SideRun, rtol: float, atol: float
) -> RunDiff:
    """Everything :class:`RunDiff` holds for one pair of runs."""
    out = RunDiff(a_name, b_name)
    a_tags = {("scalar", t) for t in a.scalars} | set(a.others)
    b_tags = {("scalar", t) for t in b.scalars} | set(b.others)
    out.only_a = sorted(a_tags - b_tags, key=lambda kt: (KINDS.index(kt[0]), kt[1]))
    out.only_b = sorted(b_tags - a_tags, key=lambda kt: (KINDS.index(kt[0]), kt[1]))
    for name in sorted(set(a.hparams) | set(b.hparams)):
        x, y = a.hparams.get(name), b.hparams.get(name)
        if not _same(x, y):
            out.hparams.append((name, x, y))
    for tag in sorted(set(a.scalars) & set(b.scalars)):
        out.tags.append(compare_series(tag, a.scalars[tag], b.scalars[tag], rtol, atol))
    both = sorted(set(a.others) & set(b.others), key=lambda kt: (KINDS.index(kt[0]), kt[1]))
    for kind, tag in both:
        sa, sb = a.others[(kind, tag)], b.others[(kind, tag)]
        ua, ub = np.unique(sa), np.unique(sb)
        out.tags.append(
            TagDiff(
                tag,
                kind,
                (len(sa), int(sa.min()), int(sa.max())),
                (len(sb), int(sb.min()), int(sb.max())),
                steps_only_a=len(np.setdiff1d(ua, ub)),
                steps_only_b=len(np.setdiff1d(ub, ua)),
                count_differs=len(sa) != len(sb),
            )
        )
    return out


def diff(
    a: str | os.PathLike,
    b: str | os.PathLike,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    steps: Steps = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    progress: Progress | None = None,
) -> DiffResult:
    """Compare PATH ``a`` (the reference) with PATH ``b``; see the module docs. Both sides
    are read in full before a damaged file raises :class:`~tbtool.errors.DamagedFiles`
    (unless ``skip_corrupt``; ``result.problems`` then holds what was skipped)."""
    if rtol < 0 or atol < 0:
        raise UsageError("--rtol and --atol must be 0 or more")
    step_range = StepRange.coerce(steps)
    # Both sides are read before damage is raised, so the error names every damaged file.
    readers = [LogReader(p, runs=runs, tags=tags, purge=purge, skip_corrupt=True) for p in (a, b)]
    for path, reader in zip((a, b), readers, strict=True):
        if not reader.runs:
            raise UsageError(f"{os.fspath(path)}: no runs found")
    side_a, side_b = (read_side(r, step_range, progress) for r in readers)
    result = DiffResult(os.fspath(a), os.fspath(b), rtol, atol)
    result.problems = readers[0].problems + readers[1].problems
    if not skip_corrupt:
        raise_for_damage(result.problems)
    if len(side_a) == 1 and len(side_b) == 1:
        pairs = [(next(iter(side_a)), next(iter(side_b)))]
    else:
        pairs = [(name, name) for name in sorted(set(side_a) & set(side_b))]
        result.runs_only_a = sorted(set(side_a) - set(side_b))
        result.runs_only_b = sorted(set(side_b) - set(side_a))
    for name_a, name_b in pairs:
        result.runs.append(compare_runs(name_a, side_a[name_a], name_b, side_b[name_b], rtol, atol))
    return result
