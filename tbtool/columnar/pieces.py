"""What the batch path hands out per chunk: :class:`Piece` (a request's columns and
decoded values) and :class:`ValueBlock` (every wanted value, for ls, dump and check), and
the small-integer kind codes both use.

Made by :class:`tbtool.columnar.assemble.RunAssembler`; consumed by the table layer
(:mod:`tbtool.reading.tables`, :mod:`tbtool.columnar.whole`) and the commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tbtool.runs.purge import UNPURGED_KINDS
from tbtool.values.normalize import DATA_CLASS_SCALAR
from tbtool.values.typed import EVENT_KINDS, KINDS, LoggedValue, Scalar

# Kinds as small integers (index into KINDS); SKIP: a value that yields nothing.
K = {kind: i for i, kind in enumerate(KINDS)}
K_SKIP = len(KINDS)

#: plugin name -> kind of a tensor value (format.md §3.1, §3.7; Normalizer._tensor).
TENSOR_PLUGINS = {
    "scalars": "scalar",
    "histograms": "histogram",
    "images": "image",
    "audio": "audio",
    "text": "text",
    "pr_curves": "pr_curve",
    "hparams": "hparams",
    "custom_scalars": "custom_scalars",
    "mesh": "mesh",
    "graphs": "graph",
    "graph_keras_model": "graph",
    "graph_run_metadata": "run_metadata",
    "graph_run_metadata_graph": "run_metadata",
}


def tensor_kind(metadata: Any | None) -> str:
    """The kind a tensor value is read as under ``metadata`` (before decoding; a value that
    does not fit becomes a ``tensor``)."""
    if metadata is None:
        return "tensor"
    plugin = metadata.plugin_data.plugin_name
    if plugin == "scalars" or metadata.data_class == DATA_CLASS_SCALAR:
        return "scalar"
    return TENSOR_PLUGINS.get(plugin, "tensor")


@dataclass
class Piece:
    """What one chunk yields for a request.

    ``scalars``, ``histograms``, ``images``, ``audio`` and ``text``: columns in read order
    (tags as ids into ``tags``, the run's tag list; encoded images and clips as
    :class:`~tbtool.columnar.blobs.Blobs`, text as the ``str`` of its table cell,
    :meth:`~tbtool.values.typed.Text.cell`); ``values``: the
    values decoded one by one, in read order, with their tag ids. ``row`` columns order all
    of them (the value's place in the chunk).
    """

    run: str
    tags: list[str]
    scalars: dict[str, np.ndarray] | None = None
    histograms: dict[str, np.ndarray] | None = None
    images: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    values: list[LoggedValue] = field(default_factory=list)
    value_rows: list[int] = field(default_factory=list)
    value_tags: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Values handed out."""
        return (
            (len(self.scalars["value"]) if self.scalars else 0)
            + (len(self.histograms["min"]) if self.histograms else 0)
            + (len(self.images["row"]) if self.images else 0)
            + (len(self.audio["row"]) if self.audio else 0)
            + (len(self.text["row"]) if self.text else 0)
            + len(self.values)
        )


#: Kinds that whole non-summary events carry (``event_values``), and the ``Event.what`` codes
#: of those events.
RECORD_KINDS = frozenset({*EVENT_KINDS, "graph", "run_metadata"})
UNPURGED_CODES = np.zeros(K_SKIP + 1, dtype=bool)
UNPURGED_CODES[[K[k] for k in UNPURGED_KINDS]] = True


@dataclass
class ValueBlock:
    """Every wanted value of one chunk, summary values and whole-event values alike, in read
    order, as columns: what ``ls``, ``dump`` and ``check`` consume.

    ``tag`` indexes ``tags`` (the run's tag list, shared by its blocks); ``kind`` indexes
    :data:`~tbtool.values.typed.KINDS`; a value's plugin is ``plugins[tag]`` where ``has_meta``,
    else ``""``. ``scalar`` holds every scalar's value (NaN elsewhere) and ``float32`` says
    which were written as float32. ``items`` holds the typed values decoded one by one, by
    row: everything but the scalars and histograms the index decoded in bulk (histograms
    too, when the block was asked for them).
    """

    run: str
    file: str
    tags: list[str]
    plugins: list[str]
    offset: np.ndarray
    index: np.ndarray
    wall_time: np.ndarray
    step: np.ndarray
    tag: np.ndarray
    kind: np.ndarray
    has_meta: np.ndarray
    scalar: np.ndarray
    float32: np.ndarray
    items: dict[int, LoggedValue]

    def __len__(self) -> int:
        return len(self.step)

    def nbytes(self) -> int:
        """About the memory it holds (for :class:`~tbtool.columnar.walk.Holdback`)."""
        return sum(getattr(self, name).nbytes for name in _BLOCK_COLUMNS) + 256 * len(self.items)

    def purged(self, limit: int) -> ValueBlock:
        """Without the values of purgeable kinds at step ``limit`` or later."""
        keep = UNPURGED_CODES[self.kind] | (self.step < limit)
        if keep.all():
            return self
        rows = np.flatnonzero(keep)
        new_row = np.cumsum(keep) - 1
        items = {int(new_row[row]): item for row, item in self.items.items() if keep[row]}
        columns = {name: getattr(self, name)[rows] for name in _BLOCK_COLUMNS}
        return replace(self, items=items, **columns)

    def plugin_of(self, row: int) -> str:
        item = self.items.get(row)
        if item is not None:
            return item.plugin_name
        return self.plugins[int(self.tag[row])] if self.has_meta[row] else ""

    def logged_values(self) -> list[LoggedValue]:
        """Every row as a typed value, in read order (columns converted once, not per row)."""
        items = self.items
        bulk = np.ones(len(self), dtype=bool)
        bulk[np.fromiter(items, dtype=np.int64, count=len(items))] = False
        if (self.kind[bulk] != K["scalar"]).any():
            raise ValueError("histograms decoded in bulk have no typed value here")
        run, file, tags, plugins = self.run, self.file, self.tags, self.plugins
        out = []
        for row, (offset, index, wall, step, tag, meta, x, f32) in enumerate(
            zip(
                self.offset.tolist(),
                self.index.tolist(),
                self.wall_time.tolist(),
                self.step.tolist(),
                self.tag.tolist(),
                self.has_meta.tolist(),
                self.scalar.tolist(),
                self.float32.tolist(),
                strict=True,
            )
        ):
            item = items.get(row)
            if item is None:
                value = Scalar(x, "float32" if f32 else "float64")
                item = LoggedValue(
                    run,
                    file,
                    offset,
                    index,
                    wall,
                    step,
                    tags[tag],
                    value,
                    plugins[tag] if meta else "",
                )
            out.append(item)
        return out


_BLOCK_COLUMNS = (
    *("offset", "index", "wall_time", "step", "tag", "kind", "has_meta", "scalar", "float32"),
)
