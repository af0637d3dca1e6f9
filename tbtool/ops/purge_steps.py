"""purge: drop summary values from event files in place, safely.

Two jobs share one engine:

* ``purge --step N``: drop values with step >= N (optionally only some tags / runs), keeping
  graphs and metadata (hparams, custom-scalar layouts).
* ``purge --restarts``: *materialize* restart semantics, so every viewer shows the same series.
  Rule ``start`` (contract.md, torch's ``purge_step`` intent): a SessionLog START at step T
  drops earlier values of the run with step >= T. Rule ``rewind`` (what TensorBoard's Rust
  data server shows): a value at step s drops earlier values *of the same tag* with step >= s.

``plan`` reads and counts, from the columnar scan (:mod:`tbtool.columnar.run_table`, rules
on arrays in :mod:`tbtool.ops.purge_rules`), and keeps what each changing file becomes as a
:class:`~tbtool.ops.splice.Splice`; ``apply`` writes exactly that (records that keep all their
values copied byte for byte, the others re-encoded) through :mod:`tbtool.ops.rewrite`
(backup, verified temporary file, atomic replace), planning again any file that changed
since.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool import storage
from tbtool.columnar.restarts import find_restarts
from tbtool.columnar.run_table import FileTable, RunTables
from tbtool.columnar.walk import Progress, file_size
from tbtool.errors import UsageError
from tbtool.format.record import RECORD_OVERHEAD, ReadState
from tbtool.ops.purge_rules import STEP_KEPT_KINDS, rewind_drops, start_drops, step_drops
from tbtool.ops.rewrite import backup, real_inside, write_verified_blocks
from tbtool.ops.splice import Recode, Splice, blocks
from tbtool.runs.logdir import Run, discover, tag_matcher
from tbtool.runs.purge import PurgeFilter
from tbtool.storage.spool import spooled

__all__ = ["STEP_KEPT_KINDS", "FilePlan", "PurgePlan", "RunPlan", "TagPlan", "apply", "plan"]

Fingerprint = tuple[int, float | None]


@dataclass(slots=True)
class TagPlan:
    """Per (run, tag): how many values go and which steps remain."""

    tag: str
    dropped: int = 0
    kept: int = 0
    first_kept_step: int | None = None
    last_kept_step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "dropped": self.dropped,
            "kept": self.kept,
            "first_kept_step": self.first_kept_step,
            "last_kept_step": self.last_kept_step,
        }


@dataclass(slots=True)
class FilePlan:
    path: str
    events: int = 0
    dropped_values: int = 0
    dropped_events: int = 0

    @property
    def changes(self) -> bool:
        return self.dropped_values > 0


@dataclass(slots=True)
class RunPlan:
    run: Run
    files: list[FilePlan] = field(default_factory=list)
    tags: dict[str, TagPlan] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(t.dropped for t in self.tags.values())


@dataclass(slots=True)
class PurgePlan:
    """What ``apply`` would do, per run, file and tag; also the result after applying."""

    description: str
    runs: list[RunPlan]
    root: str
    backups: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    #: What each changing file becomes, for ``apply``: (rule, fingerprints of the run's files
    #: when read, splice).
    edits: dict[str, tuple[Rule, dict[str, Fingerprint], Splice]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def dropped(self) -> int:
        return sum(r.dropped for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "dropped": self.dropped,
            "runs": [
                {
                    "run": r.run.name,
                    "dropped": r.dropped,
                    "files": [
                        {
                            "path": f.path,
                            "events": f.events,
                            "dropped_values": f.dropped_values,
                            "dropped_events": f.dropped_events,
                        }
                        for f in r.files
                    ],
                    "tags": [t.to_json() for t in sorted(r.tags.values(), key=lambda t: t.tag)],
                }
                for r in self.runs
            ],
            "backups": self.backups,
            "rewritten": self.rewritten,
        }


# -- rules ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rule:
    """What a purge drops: ``step`` (with ``tags``) or the ``restarts`` rule."""

    step: int | None
    restarts: str | None
    tags: tuple[str, ...]

    @property
    def description(self) -> str:
        if self.step is not None:
            where = f" for tags {list(self.tags)}" if self.tags else ""
            return f"drop values with step >= {self.step}{where}"
        return f"materialize restarts (rule: {self.restarts})"


# -- the engine ---------------------------------------------------------------------------------
def _fingerprint(path: str) -> Fingerprint:
    info = storage.stat(path, fresh=True)
    return info.size, info.mtime


def _table(tables: RunTables, path: str, number: int, progress: Progress | None) -> FileTable:
    """A file's table; rewriting a damaged or still-growing file would lose data, so either
    is an error (``merge`` salvages instead)."""
    table = tables.scan(path, number, progress)
    if table.state is ReadState.TRUNCATED:
        raise UsageError(
            f"{path} ends inside a record (still being written?): refusing to rewrite it; "
            "run `tbtool validate` and try again when the writer has finished"
        )
    return table


def _plan_run(
    run: Run, rule: Rule, progress: Progress | None
) -> tuple[RunPlan, dict[str, Splice], dict[str, Fingerprint]]:
    """Count what the rule drops in one run; the splice of each file that changes; the
    fingerprints of the run's files (taken before they are read)."""
    run_plan = RunPlan(run)
    edits: dict[str, Splice] = {}
    tables = RunTables(run.name)
    fingerprints = {path: _fingerprint(path) for path in run.files}

    def finish(table: FileTable, drops: np.ndarray) -> None:
        file = FilePlan(table.path, events=table.records)
        run_plan.files.append(file)
        splice = _file_splice(table, drops, file)
        _tally(run_plan, tables.tags, table, drops)
        if file.changes:
            edits[table.path] = splice

    if rule.restarts == "rewind":
        scanned = [_table(tables, path, n, progress) for n, path in enumerate(run.files)]
        for table, drops in zip(scanned, rewind_drops(scanned), strict=True):
            finish(table, drops)
        return run_plan, edits, fingerprints
    purge = PurgeFilter(find_restarts(run.files) if rule.restarts == "start" else ())
    tag_ok = tag_matcher(rule.tags)
    selected: dict[int, bool] = {}

    def tag_id_ok(t: int) -> bool:
        if t not in selected:
            selected[t] = bool(tag_ok(tables.tags[t]))
        return selected[t]

    for number, path in enumerate(run.files):
        table = _table(tables, path, number, progress)
        if rule.step is not None:
            finish(table, step_drops(table, rule.step, tag_id_ok))
        else:
            finish(table, start_drops(table, purge))
    return run_plan, edits, fingerprints


def _file_splice(table: FileTable, drops: np.ndarray, file: FilePlan) -> Splice:
    """The file without the dropped values: records keeping all their values copied,
    records losing all of them gone, the others re-encoded. Counts into ``file``."""
    n = table.records
    has = table.values_per_record()
    lose = np.bincount(table.v_rec[drops], minlength=n)
    file.dropped_values = int(lose.sum())
    file.dropped_events = int(((has > 0) & (lose == has)).sum())
    out = np.flatnonzero(lose < np.maximum(has, 1))  # keeps at least one value, or had none
    partial = np.flatnonzero((lose > 0) & (lose < has))
    positions = np.searchsorted(out, partial).tolist()
    keeps = table.kept_positions(drops, partial)
    crcs = table.r_crc[partial].tolist()
    recode = {
        position: Recode(keep, crc)
        for position, keep, crc in zip(positions, keeps, crcs, strict=True)
    }
    return Splice.build(
        [table.path],
        np.zeros(len(out), dtype=np.int32),
        table.r_offset[out],
        table.r_length[out] + RECORD_OVERHEAD,
        recode,
    )


def _tally(run_plan: RunPlan, names: list[str], table: FileTable, drops: np.ndarray) -> None:
    """Per tag: values dropped and kept, and the first and last step kept (read order)."""
    if not len(drops):
        return
    tag, step = table.v_tag, table.v_step
    seen, first_seen = np.unique(tag, return_index=True)
    dropped = np.bincount(tag[drops], minlength=len(names))
    kept_rows = np.flatnonzero(~drops)
    kept = np.bincount(tag[kept_rows], minlength=len(names))
    kept_tags, first_kept = np.unique(tag[kept_rows], return_index=True)
    last_kept = len(kept_rows) - 1 - np.unique(tag[kept_rows][::-1], return_index=True)[1]
    first_step = dict(zip(kept_tags.tolist(), step[kept_rows[first_kept]].tolist(), strict=True))
    last_step = dict(zip(kept_tags.tolist(), step[kept_rows[last_kept]].tolist(), strict=True))
    for t in seen[np.argsort(first_seen)].tolist():
        name = names[t]
        plan = run_plan.tags.get(name) or run_plan.tags.setdefault(name, TagPlan(name))
        plan.dropped += int(dropped[t])
        plan.kept += int(kept[t])
        if t in first_step:
            if plan.first_kept_step is None:
                plan.first_kept_step = int(first_step[t])
            plan.last_kept_step = int(last_step[t])


def runs_inside(
    paths: Sequence[str], runs: Sequence[str], *, command: str = "purge"
) -> tuple[str, list[Run]]:
    """The root and the selected runs of a command that rewrites in place; refuses more than
    one PATH and runs with event files that are symlinks or lie outside it."""
    if len(paths) != 1:
        raise UsageError(f"{command} takes exactly one PATH (a logdir, run directory or file)")
    root = paths[0] if storage.is_url(paths[0]) else os.path.abspath(paths[0])
    selected = []
    for run in discover([root], runs):
        files = tuple(f for f in run.files if real_inside(f, root))
        if len(files) != len(run.files):
            raise UsageError(
                f"run {run.name!r} has event files that are symlinks or lie outside {root}; "
                "refusing to rewrite through them"
            )
        selected.append(run)
    return root, selected


def plan(
    path: str | os.PathLike,
    *,
    step: int | None = None,
    restarts: str | None = None,
    tags: Sequence[str] = (),
    runs: Sequence[str] = (),
    progress: Progress | None = None,
) -> PurgePlan:
    """Count what would be dropped (nothing is written). ``progress``: counters of the files
    and bytes read, for a progress display."""
    root, selected = runs_inside([os.fspath(path)], runs)
    rule = _rule(step, restarts, tags)
    result = PurgePlan(rule.description, [], root)
    if progress is not None:
        progress.files_total = sum(len(r.files) for r in selected)
        progress.bytes_total = sum(file_size(f) for r in selected for f in r.files)
        progress.update()
    for run in selected:
        with spooled(run.files):  # read twice by the restart rules: remote files fetched once
            run_plan, edits, fingerprints = _plan_run(run, rule, progress)
        result.runs.append(run_plan)
        for file_path, splice in edits.items():
            result.edits[file_path] = (rule, fingerprints, splice)
    return result


def apply(
    plan_: PurgePlan,
    *,
    keep_backup: bool = True,
    command: str = "purge",
    step: int | None = None,
    restarts: str | None = None,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> PurgePlan:
    """Rewrite the files the plan says change; returns the plan with backups/rewritten set.
    Files that changed since the plan (or a plan made for another rule) are planned again.
    ``progress``: counters of the bytes copied, for a progress display."""
    rule = _rule(step, restarts, tags)
    changing = [f.path for r in plan_.runs for f in r.files if f.changes]
    if changing and keep_backup:
        plan_.backups.append(backup(plan_.root, changing, command))
    if progress is not None:
        progress.files_total = len(changing)
        progress.bytes_total = sum(file_size(f) for f in changing)
        progress.update()
    for run_plan in plan_.runs:
        if not any(f.changes for f in run_plan.files):
            continue
        run = run_plan.run
        with spooled(run.files):
            splices = _current_splices(plan_, run_plan, rule)
            for file in run_plan.files:
                splice = splices.get(file.path)
                if not file.changes or splice is None:
                    continue
                write_verified_blocks(file.path, blocks(splice, progress))
                plan_.rewritten.append(file.path)
                if progress is not None:
                    progress.files += 1
                    progress.update()
    return plan_


def _current_splices(plan_: PurgePlan, run_plan: RunPlan, rule: Rule) -> dict[str, Splice]:
    """The splices of the run's changing files: the plan's, unless one of the run's files
    changed since it was read (a writer appended? a START in another file drops more) or the
    plan was made for another rule: then the run is planned again from what it holds now."""
    run = run_plan.run
    planned = {}
    for file in run_plan.files:
        if not file.changes:
            continue
        found = plan_.edits.get(file.path)
        if found is None or found[0] != rule:
            break
        planned[file.path] = found[2]
        fingerprints = found[1]
    else:
        if planned and fingerprints == {p: _fingerprint(p) for p in run.files}:
            return planned
    return _plan_run(run, rule, None)[1]


def _rule(step: int | None, restarts: str | None, tags: Sequence[str]) -> Rule:
    if (step is None) == (restarts is None):
        raise UsageError("give exactly one of --step N or --restarts")
    if step is None and restarts not in ("start", "rewind"):
        raise UsageError(f"unknown restart rule {restarts!r}; use 'start' or 'rewind'")
    if restarts is not None and tags:
        raise UsageError("--tag applies to --step, not to --restarts")
    return Rule(step, restarts, tuple(tags))
