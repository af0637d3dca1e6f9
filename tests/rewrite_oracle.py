"""The per-event purge engine tbtool used before the columnar rewrite: the tests' oracle.

Every event decoded with protobuf, every value classified by the per-event normalizer, the
rules applied one value at a time; kept verbatim (but for what it returns) so the fast path
of :mod:`tbtool.ops.purge_steps` can be held to it byte for byte. Not part of the library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tbtool.columnar.restarts import find_restarts
from tbtool.errors import UsageError
from tbtool.format.record import ReadState, encode_record
from tbtool.ops.merge_salvage import classify, rewind_drops  # the old per-value rules
from tbtool.ops.purge_steps import FilePlan, PurgePlan, RunPlan, TagPlan, runs_inside
from tbtool.runs.events import EventFileReader, decode_event
from tbtool.runs.logdir import Run, tag_matcher
from tbtool.runs.purge import UNPURGED_KINDS, PurgeFilter
from tbtool.storage.spool import spooled
from tbtool.values.normalize import Normalizer

STEP_KEPT_KINDS = UNPURGED_KINDS | {"hparams", "custom_scalars"}

ValuePosition = tuple[int, int, int]  # (file number, record index, value index)
DropRule = Callable[[ValuePosition, str, str, int], bool]  # (position, tag, kind, step)


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


def oracle_purge(
    path: str,
    *,
    step: int | None = None,
    restarts: str | None = None,
    tags: Sequence[str] = (),
    runs: Sequence[str] = (),
) -> tuple[PurgePlan, dict[str, bytes]]:
    """The plan, and the new bytes of every file that changes, as the old engine made them."""
    root, selected = runs_inside([path], runs)
    make_rule, description = _rule(step, restarts, tags)
    result = PurgePlan(description, [], root)
    outputs: dict[str, bytes] = {}
    for run in selected:
        run_plan = RunPlan(run)
        with spooled(run.files):
            rule = make_rule(run)
            normalizer = Normalizer()
            for number, file_path in enumerate(run.files):
                file = FilePlan(file_path)
                run_plan.files.append(file)
                data = b"".join(
                    encode_record(p)
                    for p in filtered_payloads(run, number, rule, normalizer, run_plan, file)
                )
                if file.changes:
                    outputs[file_path] = data
        result.runs.append(run_plan)
    return result, outputs


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


def oracle_merge(
    inputs: Sequence[str], *, layout: str, rule: str | None, sort_by_step: bool
) -> list[tuple[Any, bytes, float]]:
    """(output run with its counters, file bytes, first wall time) per output run, all made
    by the per-event engine (the salvage path), whatever the sources hold."""
    from tbtool.ops.merge import file_payloads, plan_outputs
    from tbtool.ops.merge_salvage import merged_payloads

    made = []
    for run in plan_outputs(inputs, layout=layout):
        events = merged_payloads(run, rule=rule, layout=layout)
        if sort_by_step:
            events = iter(sorted(events, key=lambda e: e[0]))
        first = next(events, None)
        payloads = list(file_payloads(first, events))
        run.records_out = len(payloads)
        data = b"".join(encode_record(p) for p in payloads)
        made.append((run, data, first[1] if first is not None else 0.0))
    return made
