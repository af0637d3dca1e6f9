"""The per-event tbparse drop-in: every event decoded with protobuf, one at a time, into a
:class:`~tbtool.compat.legacy_accumulator.Accumulated`, as TensorBoard's legacy accumulator
does. It is the independent oracle the tests hold :class:`~tbtool.compat.tbparse.
SummaryReader` (which reads through the columnar index) against; nothing else uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tbtool.compat.legacy_accumulator import (
    Accumulated,
    decode_image,
    decode_wav,
    ndarray,
    text_value,
)
from tbtool.compat.tbparse import (
    HISTOGRAMS,
    HPARAMS,
    IMAGES,
    SCALARS,
    SSI_TAG,
    TENSORS,
    TEXT,
    TEXT_SUFFIX,
    SummaryReader,
)
from tbtool.compat.tbparse_frames import FileFrames


class EventSummaryReader(SummaryReader):
    """:class:`~tbtool.compat.tbparse.SummaryReader` on the per-event path."""

    def _file_frames(self, frames: FileFrames) -> None:
        acc = Accumulated(self._log_path, keep_one_tensor=TENSORS not in self._event_types)
        for kind in self._event_types:
            self._tags[kind], self._events[kind] = _parse(kind, acc, frames)


def _parse(kind: str, acc: Accumulated, frames: FileFrames) -> tuple[list[str], pd.DataFrame]:
    plugin_tags = {t for p in (HPARAMS, TEXT) for t in acc.plugin_content.get(p, {})}
    if kind == HPARAMS:
        return frames.hparams(acc.plugin_content.get(HPARAMS, {}).get(SSI_TAG))
    if kind == TEXT:
        series = acc.series["tensors"]
        tags = [t for t in acc.plugin_content.get(TEXT, {}) if t in series]
        by_tag = {(t[: -len(TEXT_SUFFIX)] if t.endswith(TEXT_SUFFIX) else t): series[t]
                  for t in tags}  # fmt: skip
        rows = [(tag, w, s, text_value(d)) for tag, items in by_tag.items() for w, s, d in items]
        return tags, frames.rows(rows, {})
    series = acc.series[kind]
    tags = list(series)
    if kind == TENSORS:
        tags = [t for t in tags if t not in plugin_tags]
    rows: list[tuple] = []
    extras: dict[int, dict] = {}
    for tag in tags:
        for w, s, d in series[tag]:
            if kind == SCALARS:
                rows.append((tag, w, s, d))
            elif kind == TENSORS:
                rows.append((tag, w, s, ndarray(d)))
            elif kind == HISTOGRAMS:
                columns = {
                    "counts": np.array(d.bucket, dtype=np.float64),
                    "limits": np.array(d.bucket_limit, dtype=np.float64),
                    "max": d.max,
                    "min": d.min,
                    "num": d.num,
                    "sum": d.sum,
                    "sum_squares": d.sum_squares,
                }
                rows.append((tag, w, s, columns))
            elif kind == IMAGES:
                rows.append((tag, w, s, decode_image(d.encoded_image_string)))
                extras.setdefault(len(rows) - 1, {"height": d.height, "width": d.width})
            else:
                rows.append((tag, w, s, decode_wav(d.encoded_audio_string)))
                extras[len(rows) - 1] = {
                    "content_type": d.content_type,
                    "length_frames": d.length_frames,
                    "sample_rate": d.sample_rate,
                }
    return tags, frames.rows(rows, extras, histograms=kind == HISTOGRAMS)
