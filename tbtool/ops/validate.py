"""validate: prove that event files are intact and their contents sane.

Every file is streamed once (bounded memory: per-tag state, not per-value state) and every
problem becomes a :class:`~tbtool.ops.findings.Finding` with a stable code. The codes, their
severities and what to do about each are in docs/findings.md; the table behind it is
:data:`tbtool.ops.validate_codes.CODES`.

One idea, kept whole: the per-run validator is one streaming pass whose checks read and
update the same per-tag state; split into modules, that state would have to travel between
them. What is not that pass lives apart: the logdir-wide findings in
:mod:`~tbtool.ops.validate_logdir`, the catalogue of codes in :mod:`~tbtool.ops.validate_codes`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tbtool import storage
from tbtool.columnar.index import (
    COL_HISTO,
    ONEOF_SIMPLE,
    ONEOF_TENSOR,
    WHAT_CODES,
    ChunkIndex,
    scalar_rows,
)
from tbtool.columnar.pieces import tensor_kind
from tbtool.columnar.restarts import find_restarts
from tbtool.columnar.scan import FileScan
from tbtool.columnar.walk import Progress, file_size
from tbtool.errors import DataCrcMismatch, EventDecodeError, TbtoolError
from tbtool.format.record import HEADER_SIZE, ReadState
from tbtool.ops.findings import Finding, FindingCollector, Report
from tbtool.ops.validate_codes import CODES
from tbtool.ops.validate_codes import finding as make_finding
from tbtool.ops.validate_logdir import (
    HParamsTracker,
    leftover_temporaries,
    unrecognized_event_files,
)
from tbtool.proto import event_pb2
from tbtool.runs.damage import classify
from tbtool.runs.logdir import Run, discover, find_runs, tag_matcher
from tbtool.runs.purge import Restart
from tbtool.storage.spool import spooled
from tbtool.values.image_header import image_size
from tbtool.values.normalize import Normalizer
from tbtool.values.typed import Histogram, HParams, Image, Scalar, Tensor

#: Files modified this recently may still be being written.
RECENT_SECONDS = 300.0
_FILE_VERSION = WHAT_CODES["file_version"]
_SESSION_LOG = WHAT_CODES["session_log"]
_WHAT_NAMES = {code: name for name, code in WHAT_CODES.items() if name}
#: Kinds written once per run by design: repeated steps are not suspicious.
_STEPLESS_KINDS = frozenset({"hparams", "custom_scalars", "graph", "run_metadata"})
#: The plugin code of a value without its own metadata.
_NO_PLUGIN = -1


class _Codes:
    """Small integer codes for strings (kinds, plugin names), so per-value checks compare
    integer arrays instead of Python strings."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self.name: list[str] = []

    def __call__(self, name: str) -> int:
        code = self.code.get(name)
        if code is None:
            code = self.code[name] = len(self.name)
            self.name.append(name)
        return code

    def of(self, names: Sequence[str]) -> np.ndarray:
        return np.array([self(n) for n in names], dtype=np.int32)


@dataclass(slots=True)
class _TagState:
    kind: str
    plugin: str
    last_step: int | None
    epoch: int  # number of restarts seen when the last value came


class _RunValidator:
    """Checks one run: its files in read order, then per-tag and per-run facts."""

    def __init__(
        self,
        run: Run,
        collector: FindingCollector,
        report: Report,
        *,
        strict: bool,
        tag_ok: Callable[[str], bool],
        hparams: HParamsTracker,
        recent_seconds: float,
        now: float,
        progress: Progress,
    ) -> None:
        self.run = run
        self.progress = progress
        self.collector = collector
        self.report = report
        self.strict = strict
        self.tag_ok = tag_ok
        self.hparams = hparams
        self.recent_seconds = recent_seconds
        self.now = now
        self.restarts: list[Restart] = sorted(find_restarts(run.files), key=lambda r: r.position)
        self._restart_positions = [r.position for r in self.restarts]
        self.orphans = [0] * len(self.restarts)
        self.epoch = 0
        self.summary_values = 0
        self.records_read = 0
        self.normalizer = Normalizer()
        self.tags: dict[str, _TagState] = {}
        self.first_meta: dict[str, Any] = {}
        self.kind_codes, self.plugin_codes = _Codes(), _Codes()
        self._pending: list[tuple[Finding, bool]] | None = None

    def add(self, code: str, message: str, *, fold: bool = False, **where: Any) -> None:
        finding = make_finding(code, message, run=self.run.name, **where)
        if self._pending is not None:
            self._pending.append((finding, fold))
        else:
            self.collector.add(finding, fold=fold)

    # -- files -------------------------------------------------------------------------------
    def check(self) -> None:
        for number, path in enumerate(self.run.files):
            self.report.files += 1
            self.report.checked_files.append(path)
            self.check_file(number, path)
        if self.summary_values == 0 and self.records_read:
            self.add("run-without-summaries", "run holds no summary values")
        for restart, orphans in zip(self.restarts, self.orphans, strict=True):
            file = self.run.files[restart.position[0]]
            self.add(
                "restart",
                f"SessionLog START at step {restart.step}: drops {orphans} earlier value(s) "
                f"with step >= {restart.step}",
                file=file,
                offset=restart.offset,
                index=restart.position[1],
                step=restart.step,
            )

    def check_file(self, number: int, path: str) -> None:
        """Stream one file through the batch reader; checks run on its column arrays and
        only values the bulk decoder leaves (images, text, tensors...) are decoded one by
        one. Findings of the file are reported in byte-offset order."""
        size = storage.size(path)
        if size == 0:
            self.add("empty-file", "zero-byte event file", file=path)
            self.progress.files += 1
            return
        self._pending = []
        scan = FileScan(path, skip_corrupt=True)
        last_wall: list[float] = []
        progress, done = self.progress, 0
        for chunk in scan:
            self.check_chunk(number, chunk, last_wall)
            progress.values += chunk.values
            progress.bytes += scan.bytes_read - done
            done = scan.bytes_read
            progress.update()
        progress.bytes += scan.bytes_read - done
        progress.files += 1
        progress.update()
        framed = scan.events
        for problem in scan.problems:
            framed += isinstance(problem, (DataCrcMismatch, EventDecodeError))
            self.framing_problem(path, size, problem)
        self.report.records += framed
        self.records_read += framed
        if scan.state is ReadState.TRUNCATED:
            self.truncated(path, scan.end_offset, framed, scan.pending_bytes)
        pending, self._pending = self._pending, None
        pending.sort(key=lambda item: item[0].offset if item[0].offset is not None else -1)
        for finding, fold in pending:
            self.collector.add(finding, fold=fold)

    def framing_problem(self, path: str, size: int, e: TbtoolError) -> None:
        damage = classify(e, size=size)
        self.add(damage.code, damage.message, file=path, offset=damage.offset, index=damage.index)

    def truncated(self, path: str, offset: int, index: int, pending: int) -> None:
        try:
            modified = storage.mtime(path)
            age = self.now - modified if modified is not None else math.inf
        except (OSError, TbtoolError):
            age = math.inf
        note = (
            f"modified {age:.0f} s ago: may still be being written"
            if age < self.recent_seconds
            else "the writer probably stopped mid-record"
        )
        header = "inside the record header" if pending < HEADER_SIZE else "inside the record"
        self.add(
            "truncated-record",
            f"file ends {header} ({pending} bytes of an incomplete record); {note}",
            severity="error" if self.strict else None,
            file=path,
            offset=offset,
            index=index,
        )

    # -- records -----------------------------------------------------------------------------
    def check_chunk(self, number: int, c: ChunkIndex, last_wall: list[float]) -> None:
        if not c.records:
            return

        def at(i: int, **more: Any) -> dict[str, Any]:
            return {
                "file": c.file,
                "offset": int(c.r_offset[i]),
                "index": int(c.r_index[i]),
                **more,
            }

        if c.r_index[0] == 0 and c.r_what[0] != _FILE_VERSION:
            what = _WHAT_NAMES.get(int(c.r_what[0])) or "empty"
            self.add(
                "missing-file-version",
                f"first record is a {what} event, not "
                "file_version (not written by a TensorBoard writer, or its start is lost)",
                **at(0),
            )
        walls = c.r_wall_time
        finite = np.isfinite(walls)
        bad = np.flatnonzero(~finite)
        if bad.size:
            self.add(
                "nonfinite-wall-time",
                f"wall_time is {walls[bad[0]]}",
                fold=True,
                count=int(bad.size),
                **at(int(bad[0])),
            )
        timed = np.flatnonzero(finite & (c.r_what != _FILE_VERSION))
        if timed.size:
            w = walls[timed]
            prev = np.concatenate([last_wall[-1:] or [-math.inf], w[:-1]])
            back = np.flatnonzero(w < prev)
            if back.size:
                i = int(timed[back[0]])
                self.add(
                    "wall-time-backwards",
                    f"wall_time {w[back[0]]} is before the previous event's {prev[back[0]]}",
                    fold=True,
                    count=int(back.size),
                    **at(i, step=int(c.r_step[i])),
                )
            last_wall[:] = [float(w[-1])]
        is_start = np.zeros(c.records, dtype=np.int64)
        for i in np.flatnonzero(c.r_what == _SESSION_LOG).tolist():
            is_start[i] = c.event(i).session_log.status == event_pb2.SessionLog.START
        epochs = self.epoch + np.cumsum(is_start)
        self.epoch = int(epochs[-1])
        if c.values:
            self.summary_values += c.values
            self.check_values(number, c, epochs, at)

    # -- values ------------------------------------------------------------------------------
    def check_values(self, number: int, c: ChunkIndex, epochs: np.ndarray, at) -> None:
        tags = c.tags
        rec = c.v_rec
        steps = c.r_step[rec]
        # Each tag's first metadata in the run decides how its values read (format.md §3.1).
        with_meta = np.flatnonzero(c.v_meta >= 0)
        if with_meta.size:
            ids, first = np.unique(c.v_tag[with_meta], return_index=True)
            for tag_id, row in zip(ids.tolist(), with_meta[first].tolist(), strict=True):
                if tags[tag_id] not in self.first_meta:
                    meta = c.metadata(int(c.v_meta[row]))
                    self.first_meta[tags[tag_id]] = meta
                    self.normalizer.remember(tags[tag_id], meta)
        own_plugin = np.append(
            self.plugin_codes.of(
                [c.metadata(i).plugin_data.plugin_name for i in range(len(c.metas))]
            ),
            _NO_PLUGIN,  # index -1: no own metadata
        )
        tag_ok = np.array([self.tag_ok(t) for t in tags], dtype=bool)
        code = self.kind_codes
        kinds = np.full(c.values, -1, dtype=np.int32)  # kind codes; -1: decode to know
        kinds[c.v_col == COL_HISTO] = code("histogram")
        decoded_scalar = scalar_rows(c.v_col)
        kinds[decoded_scalar & (c.v_oneof == ONEOF_SIMPLE)] = code("scalar")
        tensor_scalar = np.flatnonzero(decoded_scalar & (c.v_oneof == ONEOF_TENSOR))
        for i in tensor_scalar.tolist():
            kind = tensor_kind(self.first_meta.get(tags[c.v_tag[i]]))
            kinds[i] = code("scalar") if kind == "scalar" else -1
        for i in np.flatnonzero(kinds < 0).tolist():
            kinds[i] = code(self.check_decoded_value(number, c, i, epochs, tag_ok, at))
        scalar = (kinds == code("scalar")) & decoded_scalar
        for tag_id in np.unique(c.v_tag[scalar]).tolist():
            self.hparams.scalar_tags.add((self.run.name, tags[tag_id]))
        ok = tag_ok[c.v_tag]
        self.fold_rows(
            "nonfinite-value",
            ok & scalar & ~np.isfinite(c.v_scalar),
            c,
            at,
            lambda i: f"scalar is {c.v_scalar[i]}",
        )
        self.check_histograms(c, ok, at)
        self.count_orphans(number, c, kinds, steps)
        order = np.argsort(c.v_tag, kind="stable")
        bounds = np.flatnonzero(np.diff(c.v_tag[order])) + 1
        plugins = own_plugin[c.v_meta]  # per value: its own metadata's plugin, if any
        timed = ~np.isin(kinds, code.of(sorted(_STEPLESS_KINDS)))  # steps form a series
        for rows in np.split(order, bounds):
            tag = tags[int(c.v_tag[rows[0]])]
            if tag_ok[c.v_tag[rows[0]]]:
                self.check_series(tag, rows, c, kinds, plugins, timed, steps, epochs[rec], at)

    def check_decoded_value(self, number, c, i, epochs, tag_ok, at) -> str:
        """Decode one value the bulk decoder left; run its per-kind checks; return its kind."""
        rec = int(c.v_rec[i])
        raw = c.event(rec).summary.value[int(c.v_widx[i])]
        item = self.normalizer.summary_value(raw)
        tag = raw.tag or raw.node_name
        if not tag_ok[c.v_tag[i]]:
            return item[2].kind if item is not None else "empty"
        where = at(rec, tag=tag, step=int(c.r_step[rec]))
        if item is None:
            self.add(
                "empty-value",
                "summary value holds no data (e.g. torch add_video without a working moviepy)",
                fold=True,
                **where,
            )
            return "empty"
        value = item[2]
        if isinstance(value, Scalar):
            if not math.isfinite(value.value):
                self.add("nonfinite-value", f"scalar is {value.value}", fold=True, **where)
            self.hparams.scalar_tags.add((self.run.name, tag))
        elif isinstance(value, Histogram):
            self.check_histogram(value, where)
        elif isinstance(value, Image):
            self.check_image(value, where)
        elif isinstance(value, Tensor) and value.error is not None:
            code = "value-too-large" if value.too_large else "undecodable-value"
            self.add(code, value.error, fold=True, **where)
        elif isinstance(value, HParams):
            self.hparams.add(self.run.name, value)
        return value.kind

    def fold_rows(self, code: str, mask: np.ndarray, c: ChunkIndex, at, message) -> None:
        """One folded finding per tag for the value rows in ``mask``."""
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        ids, first, counts = np.unique(c.v_tag[rows], return_index=True, return_counts=True)
        for tag_id, i, n in sorted(
            zip(ids.tolist(), rows[first].tolist(), counts.tolist(), strict=True),
            key=lambda t: t[1],
        ):
            rec = int(c.v_rec[i])
            self.add(
                code,
                message(i),
                fold=True,
                count=int(n),
                **at(rec, tag=c.tags[tag_id], step=int(c.r_step[rec])),
            )

    def check_histograms(self, c: ChunkIndex, ok: np.ndarray, at) -> None:
        rows = np.flatnonzero(c.v_col == COL_HISTO)
        if not rows.size:
            return
        entry = np.repeat(np.arange(rows.size), c.h_count)
        totals = np.bincount(entry, weights=c.h_buckets, minlength=rows.size)
        wrong = np.abs(totals - c.h_num) > 1e-6 * np.maximum(1.0, np.abs(c.h_num))
        mask = np.zeros(c.values, dtype=bool)
        mask[rows[wrong]] = True
        where = {int(r): k for k, r in enumerate(rows.tolist())}
        self.fold_rows(
            "histogram-count-mismatch",
            mask & ok,
            c,
            at,
            lambda i: (
                f"bucket counts add up to {totals[where[i]]:g} but num is {c.h_num[where[i]]:g}"
            ),
        )

    def check_series(self, tag, rows, c, kinds, plugins, timed, steps, epochs, at) -> None:
        """Kind changes, duplicate and backward steps of one tag's rows in this chunk
        (whole-array comparisons: a tag can have millions of values)."""
        state = self.tags.get(tag)
        kind_name, plugin_name = self.kind_codes.name, self.plugin_codes.name
        if state is None:  # the plugin the tag's first value declares ("" if none)
            first = int(plugins[rows[0]])
            first_plugin = "" if first == _NO_PLUGIN else plugin_name[first]
            state = self.tags[tag] = _TagState(kind_name[kinds[rows[0]]], first_plugin, None, 0)
        row_kinds, row_plugins = kinds[rows], plugins[rows]
        changed = np.flatnonzero(
            (row_kinds != self.kind_codes("empty"))
            & (
                (row_kinds != self.kind_codes(state.kind))
                | ((row_plugins != _NO_PLUGIN) & (row_plugins != self.plugin_codes(state.plugin)))
            )
        )
        if changed.size:
            i = int(rows[changed[0]])
            rec = int(c.v_rec[i])
            plugin = state.plugin if plugins[i] == _NO_PLUGIN else plugin_name[plugins[i]]
            self.add(
                "kind-changed",
                f"tag was {state.kind} (plugin {state.plugin!r}), now "
                f"{kind_name[kinds[i]]} (plugin {plugin or state.plugin!r})",
                fold=True,
                count=int(changed.size),
                **at(rec, tag=tag, step=int(steps[i])),
            )
        timed = rows[timed[rows]]
        if not timed.size:
            return
        s, e = steps[timed], epochs[timed]
        if state.last_step is not None:
            s = np.concatenate([[state.last_step], s])
            e = np.concatenate([[state.epoch], e])
            shift = 1
        else:
            shift = 0
        same = e[1:] == e[:-1]
        for code, mask, text in (
            ("duplicate-step", same & (s[1:] == s[:-1]), "second value at step {s}"),
            (
                "step-backwards",
                same & (s[1:] < s[:-1]),
                "step {s} after step {p} with no restart event in between",
            ),
        ):
            hits = np.flatnonzero(mask)
            if hits.size:
                k = int(hits[0])
                i = int(timed[k + 1 - shift])
                rec = int(c.v_rec[i])
                self.add(
                    code,
                    text.format(s=int(s[k + 1]), p=int(s[k])),
                    fold=True,
                    count=int(hits.size),
                    **at(rec, tag=tag, step=int(steps[i])),
                )
        state.last_step, state.epoch = int(s[-1]), int(e[-1])

    def count_orphans(self, number: int, c: ChunkIndex, kinds, steps) -> None:
        if not self.restarts:
            return
        index = c.r_index[c.v_rec]
        purgeable = ~np.isin(kinds, self.kind_codes.of(["graph", "run_metadata"]))
        assigned = np.zeros(c.values, dtype=bool)
        for j, restart in enumerate(self.restarts):
            file_no, rec_index = restart.position
            if number > file_no:
                continue
            before = index < rec_index if number == file_no else np.ones(c.values, dtype=bool)
            hit = before & ~assigned & purgeable & (steps >= restart.step)
            self.orphans[j] += int(hit.sum())
            assigned |= hit

    def check_histogram(self, value: Histogram, at: dict[str, Any]) -> None:
        if value.num is None or value.bucket is None:
            return
        total = float(value.bucket.sum())
        if abs(total - value.num) > 1e-6 * max(1.0, abs(value.num)):
            self.add(
                "histogram-count-mismatch",
                f"bucket counts add up to {total:g} but num is {value.num:g}",
                fold=True,
                **at,
            )

    def check_image(self, value: Image, at: dict[str, Any]) -> None:
        for blob in value.images:
            size = image_size(blob)
            if size is None:
                self.add(
                    "image-undecodable",
                    f"{len(blob)} bytes that are not a PNG, GIF, JPEG, BMP or WebP image",
                    fold=True,
                    **at,
                )
            elif value.width and value.height and (size[1], size[2]) != (value.width, value.height):
                self.add(
                    "image-size-mismatch",
                    f"declared {value.width}x{value.height}, the {size[0]} is {size[1]}x{size[2]}",
                    fold=True,
                    **at,
                )


def validate(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    strict: bool = False,
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    ignore: Sequence[str] = (),
    recent_seconds: float = RECENT_SECONDS,
    progress: Progress | None = None,
) -> Report:
    """Check every file of every run under ``paths``; never raises for bad *content*.

    ``strict`` makes a truncated final record an error; ``ignore`` drops findings by code;
    ``runs``/``tags`` filter like everywhere else. Raises only for unusable requests (a
    missing path, a bad pattern).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    unknown = sorted(set(ignore) - set(CODES))
    if unknown:
        from tbtool.errors import UsageError

        raise UsageError(f"unknown finding code(s) for --ignore: {', '.join(unknown)}")
    collector = FindingCollector(ignore)
    report = Report("validate")
    hparams = HParamsTracker()
    tag_ok = tag_matcher(tags)
    now = time.time()
    found = discover(paths, runs)
    progress = progress or Progress()
    progress.files_total = sum(len(run.files) for run in found)
    progress.bytes_total = sum(file_size(f) for run in found for f in run.files)
    with spooled([f for run in found for f in run.files]) as ahead:  # remote files: read twice
        for run in found:
            _RunValidator(
                run,
                collector,
                report,
                strict=strict,
                tag_ok=tag_ok,
                hparams=hparams,
                recent_seconds=recent_seconds,
                now=now,
                progress=progress,
            ).check()
            ahead.release(run.files)
    hparams.finish(collector)
    if not runs:
        unrecognized_event_files(paths, collector)
        leftover_temporaries(paths, collector)
        for path in paths:  # a CI gate over an empty (or wrong) directory must not pass
            if (len(paths) == 1 and found) or find_runs(path):
                continue
            collector.add(
                make_finding(
                    "no-event-files",
                    "no event files here: nothing was checked (--ignore no-event-files allows it)",
                    file=path,
                )
            )
    report.findings = collector.findings
    return report
