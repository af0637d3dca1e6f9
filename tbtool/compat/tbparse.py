"""A drop-in for tbparse's ``SummaryReader``: swap ``from tbparse import SummaryReader`` for
``from tbtool.compat.tbparse import SummaryReader`` and get the same DataFrames.

tbparse (j3soon/tbparse) reads each event file with TensorBoard's *legacy*
``EventAccumulator`` (format.md §5.2) and builds its frames from what that keeps, so this
module reproduces those rules per file, not tbtool's own normalization:

* ``scalars`` are ``simple_value`` s only; ``tensors`` are tensor values except the tags of the
  ``hparams`` and ``text`` plugins; ``histograms`` are ``HistogramProto`` s (``limits`` and
  ``counts`` as arrays); ``text`` is the ``text`` plugin's tags, ``/text_summary`` removed;
  ``hparams`` the ``session_start_info`` of each file, one row per hyperparameter;
* each file is its own accumulator: a ``SessionLog`` START purges earlier values of the same
  file with a larger or equal step (scalars, histograms, images, audio; never tensors);
  files without ``file_version >= 2`` use the out-of-order rule per tag instead;
* directories: every entry in sorted order, recursively; ``dir_name`` is the file's directory
  relative to ``log_path`` (``""`` at the top), ``file_name`` its basename; rows are sorted by
  (``dir_name``, ``file_name``, ``tag``, ``step``) as present; ``pivot=True`` gives one column
  per tag, several values of one step merged into a list.

Differences: tensors tbparse cannot decode (torch's half/bfloat16 and uint8, format.md §4.4)
come back decoded instead of raising; ``images`` and ``audio`` need no TensorFlow (PNG/GIF
via Pillow, WAV via the standard library); event files are read with tbtool's reader (CRCs
verified; a damaged record raises a :class:`~tbtool.errors.TbtoolError`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from tbtool.compat.columnar_accumulator import KeptFile, Series
from tbtool.compat.legacy_accumulator import decode_image, decode_wav, text_value
from tbtool.compat.tbparse_frames import FileFrames
from tbtool.runs.logdir import is_event_file_name

SCALARS, TENSORS, HISTOGRAMS, IMAGES, AUDIO = "scalars", "tensors", "histograms", "images", "audio"
HPARAMS, TEXT = "hparams", "text"
ALL_EVENT_TYPES = {SCALARS, TENSORS, HISTOGRAMS, IMAGES, AUDIO, HPARAMS, TEXT}
REDUCED_EVENT_TYPES = ALL_EVENT_TYPES - {IMAGES, AUDIO}
ALL_EXTRA_COLUMNS = {
    "dir_name",
    "file_name",
    "wall_time",
    "min",
    "max",
    "num",
    "sum",
    "sum_squares",
    "width",
    "height",
    "content_type",
    "length_frames",
    "sample_rate",
}
_TYPE_ORDER = (IMAGES, AUDIO, HISTOGRAMS, SCALARS, TENSORS, HPARAMS, TEXT)
SSI_TAG = "_hparams_/session_start_info"
TEXT_SUFFIX = "/text_summary"


class SummaryReader:
    """tbparse's ``SummaryReader``: a file or a directory tree of event files.

    ``log_path`` (alias ``log_dir``): a directory or an event file; ``pivot``: wide frames;
    ``extra_columns``: a set from ``dir_name, file_name, wall_time, min, max, num, sum,
    sum_squares, width, height, content_type, length_frames, sample_rate``; ``event_types``:
    a set from ``scalars, tensors, histograms, images, audio, hparams, text`` (default: all
    but images and audio, as tbparse without TensorFlow).
    """

    def __init__(
        self,
        log_path: str | os.PathLike | None = None,
        *,
        pivot: bool = False,
        extra_columns: set[str] | None = None,
        event_types: set[str] | None = None,
        log_dir: str | os.PathLike | None = None,
    ) -> None:
        if log_path is None:
            log_path = log_dir
        if log_path is None:
            raise TypeError("SummaryReader needs log_path")
        self._log_path = os.fspath(log_path)
        self._extra_columns = set(extra_columns or set())
        if not isinstance(extra_columns or set(), set):
            raise ValueError(f"`columns` should be a {set} instead of {type(extra_columns)}")
        unknown = self._extra_columns - ALL_EXTRA_COLUMNS
        if unknown:
            raise KeyError(f"Invalid columns entries: {unknown}")
        self._pivot = pivot
        if event_types is not None and not isinstance(event_types, set):
            raise ValueError(f"`event_types` should be a {set} instead of {type(event_types)}")
        self._event_types = set(event_types or REDUCED_EVENT_TYPES)
        unknown = self._event_types - ALL_EVENT_TYPES
        if unknown:
            raise KeyError(f"Invalid event types: {unknown}")
        if not os.path.exists(self._log_path):
            raise ValueError(f"File or directory not found: {self._log_path}")
        self._children: dict[str, SummaryReader] = {}
        self._events: dict[str, pd.DataFrame] = {}
        self._tags: dict[str, list[str]] | None = None
        if os.path.isfile(self._log_path):
            self._load_file()
        else:
            for name in sorted(os.listdir(self._log_path)):
                self._children[name] = type(self)(
                    os.path.join(self._log_path, name),
                    pivot=pivot,
                    extra_columns=self._extra_columns,
                    event_types=self._event_types,
                )

    # -- properties ----------------------------------------------------------------------------
    @property
    def log_path(self) -> str:
        return self._log_path

    @property
    def children(self) -> dict[str, SummaryReader]:
        return dict(self._children)

    def __getitem__(self, child: str) -> SummaryReader:
        return self._children[child]

    def __repr__(self) -> str:
        return f"SummaryReader(log_path='{self._log_path}')"

    @property
    def tags(self) -> dict[str, list[str]]:
        return self.get_tags()  # type: ignore[return-value]

    def get_tags(self, event_type: str | None = None) -> list[str] | dict[str, list[str]]:
        """Tag names per event type (deduplicated across files, in order)."""
        if event_type is not None and event_type not in ALL_EVENT_TYPES:
            raise ValueError(f"Unknown event_type: {event_type}")
        if self._tags is not None:
            return list(self._tags[event_type]) if event_type else {
                k: list(v) for k, v in self._tags.items()
            }  # fmt: skip
        wanted = [event_type] if event_type else list(_TYPE_ORDER)
        tags: dict[str, list[str]] = {}
        for kind in wanted:
            merged: list[str] = []
            for child in self._children.values():
                merged += child.get_tags(kind)  # type: ignore[operator]
            tags[kind] = list(dict.fromkeys(merged))
        return tags[event_type] if event_type else tags

    @property
    def scalars(self) -> pd.DataFrame:
        return self.get_events(SCALARS)

    @property
    def tensors(self) -> pd.DataFrame:
        return self.get_events(TENSORS)

    @property
    def histograms(self) -> pd.DataFrame:
        return self.get_events(HISTOGRAMS)

    @property
    def images(self) -> pd.DataFrame:
        return self.get_events(IMAGES)

    @property
    def audio(self) -> pd.DataFrame:
        return self.get_events(AUDIO)

    @property
    def hparams(self) -> pd.DataFrame:
        return self.get_events(HPARAMS)

    @property
    def text(self) -> pd.DataFrame:
        return self.get_events(TEXT)

    # -- one file -----------------------------------------------------------------------------
    def _load_file(self) -> None:
        self._tags = {kind: [] for kind in ALL_EVENT_TYPES}
        name = os.path.basename(self._log_path)
        if not is_event_file_name(name):  # tbparse's reader finds no events in other files
            for kind in self._event_types:
                self._events[kind] = pd.DataFrame()
            return
        self._file_frames(FileFrames(name, self._extra_columns, self._pivot))

    def _file_frames(self, frames: FileFrames) -> None:
        """Each asked kind's tags and frame of this file, from the columnar index."""
        kept = KeptFile(self._log_path, keep_one_tensor=TENSORS not in self._event_types)
        for kind in self._event_types:
            self._tags[kind], self._events[kind] = _kind_frame(kind, kept, frames)

    # -- the tree -----------------------------------------------------------------------------
    @staticmethod
    def _merge_values(s: pd.Series) -> Any:
        """Several values of one step and tag: NaNs dropped, the rest in a list."""
        if len(s) == 1:
            return s
        merged: list[Any] = []
        for x in s:
            if isinstance(x, list):
                merged.extend(x)
            elif np.isscalar(x):
                if not pd.isnull(x):
                    merged.append(x)
            else:
                merged.append(x)
        if not merged:
            return np.nan
        return merged[0] if len(merged) == 1 else merged

    def get_events(self, event_type: str) -> pd.DataFrame:
        """All ``event_type`` events under ``log_path`` as one DataFrame."""
        if event_type not in ALL_EVENT_TYPES:
            raise ValueError(f"Unknown event_type: {event_type}")
        if event_type not in self._event_types:
            raise ValueError(f"event_type is ignored by user: {event_type}")
        group = [c for c in ("dir_name", "file_name") if c in self._extra_columns]
        frames = []
        if os.path.isfile(self._log_path):
            frames.append(self._events[event_type].copy())
        else:
            for child in self._children.values():
                df = child.get_events(event_type)
                if "dir_name" in df and os.path.isdir(child.log_path):
                    name = os.path.basename(child.log_path)
                    top = df["dir_name"] == ""
                    df.loc[top, "dir_name"] = name
                    df.loc[~top, "dir_name"] = name + "/" + df.loc[~top, "dir_name"]
                frames.append(df)
        frames = [f for f in frames if f is not None]
        if not frames:
            return pd.DataFrame()
        stacked = pd.concat(frames, ignore_index=True)
        if stacked.empty:
            return pd.DataFrame()
        if not self._pivot:
            group.append("tag")
        group = [c for c in [*group, "step"] if c in stacked.columns]
        stacked = stacked.sort_values(group, ignore_index=True)
        if not self._pivot:
            return stacked
        keys: Any = group if group else [True] * len(stacked)
        grouped = stacked.groupby(keys, sort=False)
        rest = [c for c in stacked.columns if c not in group]
        numeric = all(pd.api.types.is_numeric_dtype(stacked[c]) for c in rest)
        if numeric and rest and int(grouped[rest].count().to_numpy().max(initial=0)) <= 1:
            df = grouped.first()  # nothing to merge: the one value of each cell, or NaN
        else:
            df = grouped.aggregate(self._merge_values)
        df = df.reset_index()
        middle = sorted(
            c for c in stacked.columns if c not in ("step", "wall_time", "dir_name", "file_name")
        )
        order = ["step", *middle, "wall_time", "dir_name", "file_name"]
        return df[[c for c in order if c in stacked.columns]]


def _kind_frame(kind: str, kept: KeptFile, frames: FileFrames) -> tuple[list[str], pd.DataFrame]:
    """The tags and frame of one kind of one file: scalars, histograms and scalar tensors
    from arrays, the other values decoded one at a time."""
    if kind == HPARAMS:
        return frames.hparams(kept.plugin_content.get(HPARAMS, {}).get(SSI_TAG))
    if kind in (SCALARS, HISTOGRAMS):
        series = kept.series(kind)
        if kind == SCALARS:
            return series.tags, frames.series(series, series.value)
        return series.tags, frames.histograms(series)
    series = kept.series(TENSORS if kind == TEXT else kind)
    if kind == TENSORS:
        plugin_tags = {t for p in (HPARAMS, TEXT) for t in kept.plugin_content.get(p, {})}
        series = _only_tags(series, [t for t in series.tags if t not in plugin_tags])
        return series.tags, frames.series(series, kept.tensor_values(series))
    rows: list[tuple] = []
    extras: dict[int, dict] = {}
    if kind == TEXT:
        tags = [t for t in kept.plugin_content.get(TEXT, {}) if t in series.tags]
        by_tag = {(t[: -len(TEXT_SUFFIX)] if t.endswith(TEXT_SUFFIX) else t): t for t in tags}
        for key, tag in by_tag.items():
            mine = _only_tags(series, [tag])
            cells = zip(mine.wall_time.tolist(), mine.step.tolist(), mine.ids.tolist(), strict=True)
            for w, s, vid in cells:
                rows.append((key, w, s, text_value(kept.value(vid).tensor)))
        return tags, frames.rows(rows, {})
    names = np.array(series.tags, dtype=object)[series.tag].tolist()
    for tag, w, s, vid in zip(
        names, series.wall_time.tolist(), series.step.tolist(), series.ids.tolist(), strict=True
    ):
        value = kept.value(vid)
        if kind == IMAGES:
            d = value.image
            rows.append((tag, w, s, decode_image(d.encoded_image_string)))
            extras[len(rows) - 1] = {"height": d.height, "width": d.width}
        else:
            d = value.audio
            rows.append((tag, w, s, decode_wav(d.encoded_audio_string)))
            extras[len(rows) - 1] = {
                "content_type": d.content_type,
                "length_frames": d.length_frames,
                "sample_rate": d.sample_rate,
            }
    return series.tags, frames.rows(rows, extras)


def _only_tags(series: Series, tags: list[str]) -> Series:
    """The rows of ``series`` with these tags (in the order of ``series``)."""
    keep = sorted(series.tags.index(t) for t in tags)
    code = np.full(len(series.tags), -1, dtype=np.int64)
    code[keep] = np.arange(len(keep))
    rows = np.flatnonzero(code[series.tag] >= 0)
    return Series(
        [series.tags[p] for p in keep],
        code[series.tag[rows]],
        series.step[rows],
        series.wall_time[rows],
        series.ids[rows],
    )
