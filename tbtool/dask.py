"""The readers as Dask DataFrames: one partition per event file, for logdirs that outgrow one
process (``pip install 'tbtool[dask]'``).

``tbtool.dask.read_scalars("s3://bucket/runs")`` gives a lazy ``dask.dataframe.DataFrame``
with the columns and dtypes of ``tbtool.read_scalars(..., categorical=False)`` (run and tag
as strings: each partition would have categories of its own); computed, it holds the same
rows in the same order (each partition keeps its own index: ``reset_index(drop=True)`` for a
flat one). Runs are discovered here, by one listing; every event file then becomes:

* a *scan* task: the file read into its value index (framing, CRCs, bulk decoding) plus
  its small *facts*: its restarts (SessionLog START) and the first metadata of each tag;
* a *partition* task: the file's rows, classified and purged exactly as the single-process
  reader does, from its own index and the facts of the other files of its run (a START in a
  later file erases earlier values; TF1 writers send a tag's metadata only once per run).

Only the small facts travel between workers. ``hparams`` (one row per session, across runs)
is a single partition. A damaged file raises :class:`~tbtool.errors.DamagedFiles` (validate's
words for what is wrong with it) when its partition is computed, after reading what it
can, as each partition is read on its own; ``skip_corrupt=True`` skips damaged records
silently (``tbtool validate`` reports them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tbtool.columnar import names
from tbtool.columnar.assemble import RunAssembler
from tbtool.columnar.index import ChunkIndex
from tbtool.columnar.scan import FileScan
from tbtool.columnar.table_rows import (
    DICTIONARY_SCHEMAS,
    SCHEMAS,
    TABLE_KINDS,
    check_kinds,
    piece_batch,
)
from tbtool.columnar.walk import chunk_restarts
from tbtool.reading.frames import read_hparams as _read_hparams
from tbtool.reading.frames import to_frame
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, Steps
from tbtool.runs.damage import raise_for_damage
from tbtool.runs.logdir import as_patterns, tag_matcher
from tbtool.runs.purge import PurgeFilter, Restart
from tbtool.storage import MissingDependency
from tbtool.storage.spool import spooled

PathArg = str | os.PathLike | Sequence[str | os.PathLike]


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise MissingDependency(
            "tbtool.dask needs the dask extra: pip install 'tbtool[dask]'"
        ) from None
    return dd, dask.delayed


@dataclass
class FileFacts:
    """What the other files of a run need from one file."""

    restarts: list[Restart] = field(default_factory=list)  # file number 0: renumbered later
    first_metadata: dict[str, Any] = field(default_factory=dict)  # tag -> SummaryMetadata


def scan_file(path: str, skip_corrupt: bool, purge: bool) -> tuple[list[ChunkIndex], FileFacts]:
    """A file's value index (detached chunks) and its facts; one download for a URL."""
    facts = FileFacts()
    with spooled([path]):
        scan = FileScan(path, skip_corrupt=True)
        chunks = [chunk.detach() for chunk in scan]
    if not skip_corrupt:
        raise_for_damage(scan.problems)
    for chunk in chunks:
        if purge:  # restarts are among the records the scan indexed
            facts.restarts.extend(chunk_restarts(0, chunk))
        for row in (chunk.v_meta >= 0).nonzero()[0].tolist():
            tag = chunk.tags[int(chunk.v_tag[row])]
            if tag in facts.first_metadata:
                continue
            # Only non-empty metadata is in the index (tbtool.format.summary_metadata).
            facts.first_metadata[tag] = chunk.metadata(int(chunk.v_meta[row]))
    return chunks, facts


def partition(
    run: str,
    kind: str,
    number: int,
    chunks: list[ChunkIndex],
    facts: list[FileFacts],
    tags: Sequence[str],
    steps: StepRange | None,
) -> Any:
    """The rows of table ``kind`` from file ``number`` of a run, as a pandas DataFrame."""
    restarts = [
        Restart((n, r.position[1]), r.step, r.offset)
        for n, file_facts in enumerate(facts)
        for r in file_facts.restarts
    ]
    assembler = RunAssembler(
        run, {TABLE_KINDS[kind]}, tag_ok=tag_matcher(tags), steps=steps, purge=PurgeFilter(restarts)
    )
    for earlier in facts[:number]:
        for tag, metadata in earlier.first_metadata.items():
            assembler.seed_metadata(tag, metadata)
    batches = []
    for chunk in chunks:
        batch = piece_batch(kind, assembler.feed(number, chunk))
        if batch is not None and batch.num_rows:
            batches.append(batch)
    # Plain strings: each partition would have categories of its own.
    return to_frame(names.plain(pa.Table.from_batches(batches, schema=DICTIONARY_SCHEMAS[kind])))


def read_table(
    path: PathArg,
    kind: str = "scalars",
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
    metric_agg: str = "last",
) -> Any:
    """One kind as a Dask DataFrame, one partition per event file (see the module docs);
    the options as in :func:`tbtool.read_scalars`."""
    dd, delayed = _dask()
    import dask

    (kind,) = check_kinds([kind])
    step_range = StepRange.coerce(steps)
    tags = as_patterns(tags, "tags")
    if kind == "hparams":
        whole = delayed(_read_hparams)(
            path, runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
            steps=step_range, metric_agg=metric_agg,
        )  # fmt: skip
        # Its columns depend on the data: Dask learns them by computing the partition.
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_delayed([whole], verify_meta=False)
    meta = to_frame(SCHEMAS[kind].empty_table())
    parts = []
    for run in LogReader(path, runs=runs).runs:
        scans = [delayed(scan_file, nout=2)(f, skip_corrupt, purge) for f in run.files]
        facts = [scan[1] for scan in scans]
        for number, scan in enumerate(scans):
            parts.append(
                delayed(partition)(run.name, kind, number, scan[0], facts, list(tags), step_range)
            )
    # Dask would turn object columns (lists, bytes) into strings: keep the pandas dtypes.
    with dask.config.set({"dataframe.convert-string": False}):
        if not parts:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_delayed(parts, meta=meta, verify_meta=False)


def read_scalars(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Scalars: ``run, tag, step, wall_time, value``, one partition per event file."""
    return read_table(
        path, "scalars", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_histograms(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Histograms (the columns of :func:`tbtool.read_histograms`)."""
    return read_table(
        path, "histograms", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_text(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Text values (the columns of :func:`tbtool.read_text`)."""
    return read_table(
        path, "text", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_images(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Images (the columns of :func:`tbtool.read_images`)."""
    return read_table(
        path, "images", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_audio(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Audio clips (the columns of :func:`tbtool.read_audio`)."""
    return read_table(
        path, "audio", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_tensors(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """Tensors (the columns of :func:`tbtool.read_tensors`)."""
    return read_table(
        path, "tensors", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_pr_curves(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
) -> Any:
    """PR curve thresholds (the columns of :func:`tbtool.read_pr_curves`)."""
    return read_table(
        path, "pr_curves", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps,
    )  # fmt: skip


def read_hparams(
    path: PathArg,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    purge: bool = True,
    skip_corrupt: bool = False,
    steps: Steps = None,
    metric_agg: str = "last",
) -> Any:
    """hparams sessions: a single partition (a session's metrics come from several runs)."""
    return read_table(
        path, "hparams", runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt,
        steps=steps, metric_agg=metric_agg,
    )  # fmt: skip
