"""purge: drop summary values from event files in place, safely.

Two jobs share one engine:

* ``purge --step N``: drop values with step >= N (optionally only some tags / runs), keeping
  graphs and metadata (hparams, custom-scalar layouts).
* ``purge --restarts``: *materialize* restart semantics, so every viewer shows the same series.
  Rule ``start`` (contract.md, torch's ``purge_step`` intent): a SessionLog START at step T
  drops earlier values of the run with step >= T. Rule ``rewind`` (what TensorBoard's Rust
  data server shows): a value at step s drops earlier values *of the same tag* with step >= s.

``plan`` reads and counts; ``apply`` rewrites only the files that change, through
:mod:`tbtool.ops.rewrite` (backup, verified temporary file, atomic replace).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tbtool import storage
from tbtool.errors import UsageError
from tbtool.events import EventFileReader, decode_event
from tbtool.logdir import Run, discover, tag_matcher
from tbtool.normalize import Normalizer
from tbtool.ops.rewrite import backup, real_inside, write_verified
from tbtool.purge import UNPURGED_KINDS, PurgeFilter, find_restarts
from tbtool.record import ReadState
from tbtool.spool import spooled

#: ``--step`` keeps these besides graphs: they are written once, at step 0, and describe a run.
STEP_KEPT_KINDS = UNPURGED_KINDS | {"hparams", "custom_scalars"}

ValuePosition = tuple[int, int, int]  # (file number, record index, value index)
DropRule = Callable[[ValuePosition, str, str, int], bool]  # (position, tag, kind, step)


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


# -- rules --------------------------------------------------------------------------------------
def step_rule(step: int, tags: Sequence[str] = ()) -> Callable[[Run], DropRule]:
    """``--step N [--tag GLOB]``."""
    tag_ok = tag_matcher(tags)

    def for_run(run: Run) -> DropRule:
        def drops(position: ValuePosition, tag: str, kind: str, s: int) -> bool:
            return s >= step and kind not in STEP_KEPT_KINDS and tag_ok(tag)

        return drops

    return for_run


def start_rule(run: Run) -> DropRule:
    """Restart semantics: a START at step T drops earlier values with step >= T."""
    purge = PurgeFilter(find_restarts(run.files))

    def drops(position: ValuePosition, tag: str, kind: str, step: int) -> bool:
        return not purge.keeps(position[:2], step, kind)

    return drops


def rewind_drops(values: Iterable[tuple[ValuePosition, str, str, int]]) -> set[ValuePosition]:
    """Positions the rewind rule drops, from (position, tag, kind, step) in read order."""
    series: dict[str, list[tuple[ValuePosition, int]]] = {}
    for position, tag, kind, step in values:
        if kind not in UNPURGED_KINDS:
            series.setdefault(tag, []).append((position, step))
    dropped: set[ValuePosition] = set()
    for points in series.values():
        later_min: int | None = None
        for position, step in reversed(points):
            if later_min is not None and step >= later_min:
                dropped.add(position)
            later_min = step if later_min is None else min(later_min, step)
    return dropped


def rewind_rule(run: Run) -> DropRule:
    """Rustboard's rule: a value at step s drops earlier values of its tag with step >= s."""
    dropped = rewind_drops(_walk_values(run))

    def drops(position: ValuePosition, tag: str, kind: str, step: int) -> bool:
        return position in dropped

    return drops


RULES: dict[str, Callable[[Run], DropRule]] = {"start": start_rule, "rewind": rewind_rule}


# -- the engine ---------------------------------------------------------------------------------
def _events(path: str) -> Iterator[tuple[int, bytes, Any]]:
    """(record index, payload, Event) of a file that must be intact: rewriting a damaged or
    still-growing file would lose data, so either is an error (``merge`` salvages instead)."""
    with EventFileReader(path) as reader:
        while (item := reader.records.read()) is not None:
            event = decode_event(item.payload, file=path, offset=item.offset, index=item.index)
            yield item.index, item.payload, event
        if reader.state is ReadState.TRUNCATED:
            raise UsageError(
                f"{path} ends inside a record (still being written?): refusing to rewrite it; "
                "run `tbtool validate` and try again when the writer has finished"
            )


def classify(normalizer: Normalizer, value: Any) -> tuple[str, str]:
    item = normalizer.summary_value(value)
    tag = value.tag or value.node_name
    return tag, (item[2].kind if item is not None else "empty")


def _walk_values(run: Run) -> Iterator[tuple[ValuePosition, str, str, int]]:
    normalizer = Normalizer()
    for number, path in enumerate(run.files):
        for index, _, event in _events(path):
            if event.HasField("summary"):
                for k, value in enumerate(event.summary.value):
                    tag, kind = classify(normalizer, value)
                    yield (number, index, k), tag, kind, event.step


def filtered_payloads(
    run: Run, number: int, rule: DropRule, normalizer: Normalizer, plan: RunPlan, file: FilePlan
) -> Iterator[bytes]:
    """The file's records with dropped values removed (original bytes where nothing changes);
    updates the plan's counters as it goes."""
    for index, payload, event in _events(run.files[number]):
        file.events += 1
        if not event.HasField("summary"):
            yield payload
            continue
        keep = []
        for k, value in enumerate(event.summary.value):
            tag, kind = classify(normalizer, value)
            tags = plan.tags.get(tag) or plan.tags.setdefault(tag, TagPlan(tag))
            if rule((number, index, k), tag, kind, event.step):
                tags.dropped += 1
                file.dropped_values += 1
            else:
                keep.append(value)
                tags.kept += 1
                if tags.first_kept_step is None:
                    tags.first_kept_step = event.step
                tags.last_kept_step = event.step
        if len(keep) == len(event.summary.value):
            yield payload
        elif keep:
            del event.summary.value[:]
            event.summary.value.extend(keep)
            yield event.SerializeToString()
        else:
            file.dropped_events += 1


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
) -> PurgePlan:
    """Count what would be dropped (nothing is written)."""
    root, selected = runs_inside([os.fspath(path)], runs)
    make_rule, description = _rule(step, restarts, tags)
    result = PurgePlan(description, [], root)
    for run in selected:
        run_plan = RunPlan(run)
        with spooled(run.files):  # read twice by the restart rules: remote files fetched once
            rule = make_rule(run)
            normalizer = Normalizer()
            for number, file_path in enumerate(run.files):
                file = FilePlan(file_path)
                run_plan.files.append(file)
                for _ in filtered_payloads(run, number, rule, normalizer, run_plan, file):
                    pass
        result.runs.append(run_plan)
    return result


def apply(
    plan_: PurgePlan,
    *,
    keep_backup: bool = True,
    command: str = "purge",
    step: int | None = None,
    restarts: str | None = None,
    tags: Sequence[str] = (),
) -> PurgePlan:
    """Rewrite the files the plan says change; returns the plan with backups/rewritten set."""
    make_rule, _ = _rule(step, restarts, tags)
    changing = [f.path for r in plan_.runs for f in r.files if f.changes]
    if changing and keep_backup:
        plan_.backups.append(backup(plan_.root, changing, command))
    for run_plan in plan_.runs:
        if not any(f.changes for f in run_plan.files):
            continue
        run = run_plan.run
        with spooled(run.files):
            rule = make_rule(run)
            normalizer = Normalizer()
            scratch = RunPlan(run)
            for number, file in enumerate(run_plan.files):
                payloads = filtered_payloads(
                    run, number, rule, normalizer, scratch, FilePlan(file.path)
                )
                if file.changes:
                    write_verified(file.path, payloads)
                    plan_.rewritten.append(file.path)
                else:
                    for _ in payloads:  # still read: the normalizer needs each tag's metadata
                        pass
    return plan_


def _rule(step: int | None, restarts: str | None, tags: Sequence[str]):
    if (step is None) == (restarts is None):
        raise UsageError("give exactly one of --step N or --restarts")
    if step is not None:
        where = f" for tags {list(tags)}" if tags else ""
        return step_rule(step, tags), f"drop values with step >= {step}{where}"
    if restarts not in RULES:
        raise UsageError(f"unknown restart rule {restarts!r}; use 'start' or 'rewind'")
    if tags:
        raise UsageError("--tag applies to --step, not to --restarts")
    return RULES[restarts], f"materialize restarts (rule: {restarts})"
