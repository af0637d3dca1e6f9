"""Arrow tables per kind, in the schemas of contract.md, streamed a chunk at a time.

One table kind per export kind (``scalars``, ``histograms``, ``text``, ``images``, ``audio``,
``tensors``, ``pr_curves``; ``hparams`` is built from whole runs in :mod:`tbtool.reading.hparams`).
Rows come in read order: runs by name, each run's files and records in order, after purge
semantics and filters. Two engines produce them and must agree exactly (tests compare them):

* ``batch`` (default): files read in chunks and decoded in bulk (:mod:`tbtool.columnar`),
  by the C extension when built (``TBTOOL_PURE_PYTHON=1`` forces the pure-Python decoder);
* ``events``: the per-event iterator, ``Reader.values``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tbtool.columnar.rows import ChunkRows, RowRequest, walk_rows
from tbtool.columnar.table_rows import (
    DICTIONARY_SCHEMAS,
    TABLE_KINDS,
    check_kinds,
    values_batch,
)
from tbtool.columnar.walk import HOLD_BYTES, Holdback, Progress, file_size
from tbtool.columnar.whole import TableBuilder, WholeTable
from tbtool.reading.hparams import HParamsCollector
from tbtool.reading.reader import Reader, StepRange, resolve_engine
from tbtool.values.typed import (
    LoggedValue,
)

# -- the driver -------------------------------------------------------------------------------


def iter_batches(
    reader: Reader,
    kinds: Sequence[str],
    *,
    steps: StepRange | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
    chunk_size: int | None = None,
    metric_agg: str = "last",
    jobs: int | None = 1,
    metric_aggs: dict[str, str] | None = None,
    hold: int | None = HOLD_BYTES,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """``(kind, record batch)`` for the table kinds asked (run and tag dictionary-encoded: a
    batch's dictionary may hold names none of its rows use), streamed: memory holds one chunk of
    one file at a time and up to ``hold`` bytes of a run's rows that a restart later in the
    run may still erase (``None``: a whole run; see :class:`~tbtool.columnar.walk.Holdback`;
    ``hparams``, which needs every run, comes last). ``jobs`` > 1 reads
    files ahead in that many processes (``0``: every usable core, for large local inputs; see
    :func:`~tbtool.columnar.parallel.auto_jobs`); the batches are the same whatever ``jobs``."""
    kinds = check_kinds(kinds)
    collector = (
        HParamsCollector(metric_agg, dict(metric_aggs or {})) if "hparams" in kinds else None
    )
    out_kinds = [k for k in kinds if k != "hparams"]
    inner = out_kinds + (["scalars"] if collector and "scalars" not in out_kinds else [])
    value_kinds = {TABLE_KINDS[k] for k in inner} | ({"hparams"} if collector else set())
    engine = resolve_engine(engine)
    progress = progress or Progress()

    def emit(batches: Iterator[tuple[str, pa.RecordBatch]]) -> Iterator[tuple[str, pa.RecordBatch]]:
        for kind, batch in batches:
            if collector is not None and kind == "scalars":
                collector.add_scalars(batch)
            if kind in out_kinds and batch.num_rows:
                yield kind, batch

    def emit_rows(ready: list[ChunkRows]) -> Iterator[tuple[str, pa.RecordBatch]]:
        for rows in ready:
            if collector is not None:
                for item in rows.values:
                    collector.add_value(item)
            yield from emit(iter(rows.batches))
            progress.values += rows.count

    if engine == "events":
        progress.files_total = sum(len(r.files) for r in reader.runs)
        progress.bytes_total = sum(file_size(f) for r in reader.runs for f in r.files)
        yield from emit(_events_engine(reader, inner, value_kinds, steps, progress, collector))
    else:
        request = _request(reader, inner, value_kinds, steps, chunk_size)
        for walk, rows in walk_rows(reader, request, jobs=jobs, progress=progress):
            held = Holdback(walk, ChunkRows.purged, ChunkRows.nbytes, hold)
            for chunk_rows in rows:
                yield from emit_rows(held.push(chunk_rows))
            yield from emit_rows(held.finish())
    if collector is not None:
        for batch in collector.table().to_batches():
            yield "hparams", batch


def _events_engine(
    reader: Reader,
    kinds: list[str],
    value_kinds: set[str],
    steps: StepRange | None,
    progress: Progress,
    collector: HParamsCollector | None,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The per-event engine: one read of every run (so damage is raised once, naming every
    damaged file, as the batch engine does), in batches that never mix runs."""
    pending: list[LoggedValue] = []
    position = {run.name: i for i, run in enumerate(reader.runs)}
    counted = 0  # runs whose files the progress counters hold

    def flush() -> Iterator[tuple[str, pa.RecordBatch]]:
        if collector is not None:
            for item in pending:
                collector.add_value(item)
        for kind in kinds:
            batch = values_batch(kind, [v for v in pending if v.kind == TABLE_KINDS[kind]])
            if batch.num_rows:
                yield kind, batch
        progress.values += len(pending)
        progress.update()
        pending.clear()

    def count_runs(upto: int) -> None:
        nonlocal counted
        for run in reader.runs[counted:upto]:
            progress.files += len(run.files)
            progress.bytes += sum(file_size(f) for f in run.files)
        counted = max(counted, upto)
        progress.update()

    for item in reader.values(sorted(value_kinds), steps, engine="events"):
        at = position[item.run]
        if at > counted:  # the runs before this one are done
            yield from flush()
            count_runs(at)
        pending.append(item)
        if len(pending) >= 65536:
            yield from flush()
    yield from flush()
    count_runs(len(reader.runs))


def collect_tables(
    reader: Reader,
    kinds: Sequence[str],
    *,
    steps: StepRange | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    jobs: int | None = None,
    metric_aggs: dict[str, str] | None = None,
    progress: Progress | None = None,
    categorical: bool = True,
    chunk_size: int | None = None,
) -> dict[str, WholeTable]:
    """:func:`read_tables` before its last step: each kind's columns, built in place
    (:mod:`tbtool.columnar.whole`), so the rows are held once."""
    kinds = check_kinds(kinds)
    builders = {k: TableBuilder(DICTIONARY_SCHEMAS[k]) for k in kinds if k != "hparams"}
    hparams: list[pa.RecordBatch] = []
    if "hparams" in kinds or resolve_engine(engine) == "events":
        # The hparams collector folds scalars in as they come: a run's rows wait until no
        # restart can erase them (as iter_batches holds them). The events engine knows its
        # restarts before the first row.
        for kind, batch in iter_batches(
            reader, kinds, steps=steps, engine=engine, metric_agg=metric_agg, jobs=jobs,
            metric_aggs=metric_aggs, progress=progress, hold=None, chunk_size=chunk_size,
        ):  # fmt: skip
            if kind == "hparams":
                hparams.append(batch)
            else:
                builders[kind].append(batch)
    else:
        _collect(reader, builders, steps, jobs, progress or Progress(), chunk_size)
    out = {k: b.finish(categorical) for k, b in builders.items()}
    if "hparams" in kinds:
        table = pa.Table.from_batches(hparams) if hparams else HParamsCollector().table()
        out["hparams"] = WholeTable.of(table)
    return {k: out[k] for k in kinds}


def _collect(
    reader: Reader,
    builders: dict[str, TableBuilder],
    steps: StepRange | None,
    jobs: int | None,
    progress: Progress,
    chunk_size: int | None,
) -> None:
    """Every run's rows appended as its chunks are read; rows a restart met later in the
    run erases are removed when the run ends (:meth:`RunChunks.late_limit`)."""
    value_kinds = {TABLE_KINDS[k] for k in builders}
    request = _request(reader, list(builders), value_kinds, steps, chunk_size, columns=True)
    for walk, rows in walk_rows(reader, request, jobs=jobs, progress=progress):
        start = {k: b.rows for k, b in builders.items()}
        marks: list[tuple[int, dict[str, int]]] = []  # per chunk: its number, rows before it
        for chunk_rows in rows:
            marks.append((walk.handed - 1, {k: b.rows for k, b in builders.items()}))
            for kind, cols in chunk_rows.batches:
                builders[kind].append(cols)
            progress.values += chunk_rows.count
        limits = [walk.late_limit(seq) for seq, _ in marks]
        if any(limit is not None for limit in limits):
            for kind, builder in builders.items():
                first = start[kind]
                bounds = [rows[kind] - first for _, rows in marks] + [builder.rows - first]
                limit = np.full(builder.rows - first, np.iinfo(np.int64).max, dtype=np.int64)
                for i, step in enumerate(limits):
                    if step is not None:
                        limit[bounds[i] : bounds[i + 1]] = step
                builder.compact(first, builder.steps(first) < limit)


def _request(
    reader: Reader,
    kinds: Sequence[str],
    value_kinds: set[str],
    steps: StepRange | None,
    chunk_size: int | None,
    *,
    columns: bool = False,
) -> RowRequest:
    return RowRequest(
        tuple(kinds), frozenset(value_kinds), tuple(reader.tag_patterns), steps, reader.purge,
        chunk_size, columns,
    )  # fmt: skip


def read_tables(reader: Reader, kinds: Sequence[str], **options: Any) -> dict[str, pa.Table]:
    """Whole tables per kind (numbers and names in one contiguous array each); the options
    of :func:`collect_tables`, which are :func:`iter_batches`' and ``categorical``: ``run``
    and ``tag`` are dictionary-encoded (:data:`DICTIONARY_SCHEMAS`; a pandas ``category``),
    or plain strings (:data:`SCHEMAS`) with ``categorical=False``."""
    tables = collect_tables(reader, kinds, **options)
    return {kind: whole.table() for kind, whole in tables.items()}
