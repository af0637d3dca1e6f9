"""One event file's frames in tbparse's layouts, from kept values (format.md §5.2).

tbparse builds each file's frame from Python lists and lets pandas infer the column types,
so the column order, the NaN fill of absent cells and the inferred dtypes are part of its
output. :meth:`FileFrames.rows` is that construction, for the few values decoded one at a
time; :meth:`FileFrames.series` and :meth:`FileFrames.histograms` build the same frames from
arrays, so that a million scalars need no Python call each.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from google.protobuf.message import DecodeError

from tbtool.compat.columnar_accumulator import Series
from tbtool.errors import EventDecodeError
from tbtool.proto import hparams_pb2

HISTOGRAM_COLUMNS = ("counts", "limits", "max", "min", "num", "sum", "sum_squares")


@dataclass
class FileFrames:
    """The frame builder of one file: its base name, the asked extra columns, pivot or not."""

    file_name: str
    extra_columns: set[str]
    pivot: bool

    def base_columns(self, length: int, wall_times: list[float] | None) -> dict[str, list]:
        cols: dict[str, list] = defaultdict(lambda: [np.nan] * length)
        if "dir_name" in self.extra_columns:
            cols["dir_name"] = [""] * length
        if "file_name" in self.extra_columns:
            cols["file_name"] = [self.file_name] * length
        if "wall_time" in self.extra_columns and wall_times is not None:
            cols["wall_time"] = wall_times
        return cols

    def rows(self, rows: list[tuple], extras: dict, histograms: bool = False) -> pd.DataFrame:
        """tbparse's frame of ``(tag, wall_time, step, value)`` rows; ``extras``: row number
        -> extra cells (image sizes, audio formats); histogram values are dicts."""
        cols = self.base_columns(len(rows), [r[1] for r in rows])
        for i, (tag, _w, step, value) in enumerate(rows):
            cols["step"][i] = step
            if histograms:
                if not self.pivot:
                    cols["tag"][i] = tag
                wanted = self.extra_columns | {"limits", "counts"}
                for k, v in value.items():
                    if k in wanted:
                        cols[k if not self.pivot else f"{tag}/{k}"][i] = v
                continue
            if self.pivot:
                cols[tag][i] = value
            else:
                cols["tag"][i] = tag
                cols["value"][i] = value
            for k, v in extras.get(i, {}).items():
                if k in self.extra_columns:
                    cols[k if not self.pivot else f"{tag}/{k}"][i] = v
        return self.finish(cols)

    def finish(self, cols: dict[str, Any]) -> pd.DataFrame:
        for name in ("wall_time", "dir_name", "file_name"):
            if name in cols:
                cols[name] = cols.pop(name)
        return pd.DataFrame.from_dict(dict(cols))

    def hparams(self, content: bytes | None) -> tuple[list[str], pd.DataFrame]:
        """One row per hyperparameter of a ``session_start_info`` (``content`` of the
        hparams plugin's ``_hparams_/session_start_info`` tag)."""
        if content is None:
            return [], self.finish(self.base_columns(0, None))
        try:
            ssi = hparams_pb2.HParamsPluginData.FromString(content).session_start_info
        except DecodeError as e:  # bytes from a file: our error, never protobuf's
            raise EventDecodeError(f"hparams plugin content does not decode ({e})") from None
        tags = list(ssi.hparams.keys())
        values = {tag: ssi.hparams[tag].ListFields()[0][1] for tag in tags}
        cols = self.base_columns(len(tags), None)
        for i, tag in enumerate(tags):
            if self.pivot:
                cols[tag][i] = values[tag]
            else:
                cols["tag"][i] = tag
                cols["value"][i] = values[tag]
        return tags, self.finish(cols)

    # -- from arrays -------------------------------------------------------------------------------
    def _columns(self, series: Series) -> dict[str, Any]:
        """The leading columns :meth:`base_columns` gives, as arrays."""
        n = len(series.step)
        cols: dict[str, Any] = {}
        if "dir_name" in self.extra_columns:
            cols["dir_name"] = np.full(n, "", dtype=object)
        if "file_name" in self.extra_columns:
            cols["file_name"] = np.full(n, self.file_name, dtype=object)
        if "wall_time" in self.extra_columns:
            cols["wall_time"] = series.wall_time
        cols["step"] = series.step
        return cols

    def series(self, series: Series, values: np.ndarray) -> pd.DataFrame:
        """Scalars or tensors: ``values`` float64 (Python floats all) or object (cells as
        they are, handed to pandas as a list to infer from, as tbparse does)."""
        if not len(series.step):
            return self.rows([], {})
        cols = self._columns(series)
        floats = values.dtype != object
        if self.pivot:
            for i, tag in enumerate(series.tags):
                mine = series.tag == i
                if not mine.any():
                    continue
                column = np.full(len(values), np.nan, dtype=values.dtype)
                column[mine] = values[mine]
                cols[tag] = column if floats else column.tolist()
        else:
            cols["tag"] = np.array(series.tags, dtype=object)[series.tag]
            cols["value"] = values if floats else values.tolist()
        return self.finish(cols)

    def histograms(self, series: Series) -> pd.DataFrame:
        n = len(series.step)
        if not n:
            return self.rows([], {}, histograms=True)
        cols = self._columns(series)
        asked = self.extra_columns | {"limits", "counts"}
        wanted = [name for name in HISTOGRAM_COLUMNS if name in asked]

        def values(name: str) -> np.ndarray:
            if name in ("counts", "limits"):
                out = np.empty(n, dtype=object)
                for i, a in enumerate(series.counts if name == "counts" else series.limits):
                    out[i] = a
                return out
            return series.stats[name]

        full = {name: values(name) for name in wanted}
        if self.pivot:
            for i, tag in enumerate(series.tags):
                mine = series.tag == i
                if not mine.any():
                    continue
                for name in wanted:
                    column = np.full(n, np.nan, dtype=full[name].dtype)
                    column[mine] = full[name][mine]
                    cols[f"{tag}/{name}"] = column
        else:
            cols["tag"] = np.array(series.tags, dtype=object)[series.tag]
            cols.update(full)
        return self.finish(cols)
