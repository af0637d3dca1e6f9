"""What TensorBoard's *legacy* ``EventAccumulator`` keeps of one event file, and how tbparse
turns its items into cell values (the rules of tbparse's frames, format.md §5.2).

Per file: ``file_version >= 2`` makes every SessionLog START purge the earlier items of the
file with a step >= its step (scalars, histograms, images, audio; never tensors); before a
``file_version`` (or below 2) a step going back purges, per tag, the items of the tags of
that event. Metadata counts on a tag's first value only; tensor tags may come from
``node_name``.
"""

from __future__ import annotations

import io
import warnings
import wave
from collections import defaultdict
from typing import Any

import numpy as np

from tbtool.proto import event_pb2
from tbtool.runs.events import EventFileReader
from tbtool.values import limits
from tbtool.values.tensor import TensorDecodeError, decode_tensor

_START = event_pb2.SessionLog.START
_PURGED = ("scalars", "histograms", "images", "audio")  # the legacy accumulator's reservoirs


def file_version(text: str) -> float:
    """The number of ``brain.Event:N`` (-1 if there is none)."""
    try:
        return float(text.split("brain.Event:", 1)[1])
    except (IndexError, ValueError):
        return -1.0


class Accumulated:
    """What the legacy ``EventAccumulator`` keeps of one file (everything, in order)."""

    def __init__(self, path: str | None, keep_one_tensor: bool) -> None:
        self.series: dict[str, dict[str, list[tuple]]] = {
            name: {} for name in (*_PURGED, "tensors")
        }
        self.plugin_content: dict[str, dict[str, bytes]] = defaultdict(dict)
        self._metadata_tags: set[str] = set()
        self._keep_one_tensor = keep_one_tensor
        self._file_version: float | None = None
        self._most_recent_step = -1
        if path is None:  # nothing but scalars and histograms, read elsewhere
            return
        with EventFileReader(path) as reader:
            for record in reader:
                self._add(record.event)

    def _purge(self, step: int, tags: list[str] | None) -> None:
        for name in _PURGED:
            for tag, items in self.series[name].items():
                if tags is None or tag in tags:
                    items[:] = [i for i in items if i[1] < step]
        if tags is not None:  # the out-of-order rule purges tensors by tag too
            for tag in tags:
                items = self.series["tensors"].get(tag)
                if items is not None:
                    items[:] = [i for i in items if i[1] < step]

    def _add(self, event: Any) -> None:
        if event.HasField("file_version"):
            self._file_version = file_version(event.file_version)
        if self._file_version and self._file_version >= 2:
            if event.HasField("session_log") and event.session_log.status == _START:
                self._purge(event.step, None)
        elif event.step < self._most_recent_step and event.HasField("summary"):
            self._purge(event.step, [v.tag for v in event.summary.value])
        else:
            self._most_recent_step = event.step
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            if value.HasField("metadata") and value.tag not in self._metadata_tags:
                self._metadata_tags.add(value.tag)
                plugin = value.metadata.plugin_data
                if plugin.plugin_name:
                    self.plugin_content[plugin.plugin_name][value.tag] = plugin.content
            case = value.WhichOneof("value")
            if case == "simple_value":
                self._item("scalars", value.tag, event, value.simple_value)
            elif case == "histo":
                self._item("histograms", value.tag, event, value.histo)
            elif case == "image":
                self._item("images", value.tag, event, value.image)
            elif case == "audio":
                self._item("audio", value.tag, event, value.audio)
            elif case == "tensor":
                self._item("tensors", value.tag or value.node_name, event, value.tensor)

    def _item(self, name: str, tag: str, event: Any, datum: Any) -> None:
        items = self.series[name].setdefault(tag, [])
        if name == "tensors" and self._keep_one_tensor and items:
            items[-1] = (event.wall_time, event.step, datum)  # a reservoir of size 1
        else:
            items.append((event.wall_time, event.step, datum))


def ndarray(tensor: Any) -> Any:
    try:
        array, _ = decode_tensor(tensor)
    except TensorDecodeError:
        return np.nan
    return array.item() if array.shape == () else array


def text_value(tensor: Any) -> Any:
    """One string (tbparse raises for text tables; here they are arrays of strings); NaN
    for a tensor that does not decode, as :func:`ndarray` gives."""
    try:
        array, _ = decode_tensor(tensor)
    except TensorDecodeError:
        return np.nan
    if array.size == 1:
        return array.item().decode("utf-8")
    out = np.empty(array.shape, dtype=object)
    out.reshape(-1)[:] = [b.decode("utf-8", "replace") for b in array.reshape(-1)]
    return out


def decode_image(data: bytes) -> Any:
    """RGB pixels (frames stacked for a GIF); the encoded bytes when Pillow is missing, the
    bytes are no image it reads, or the pixels would take more memory than
    :func:`tbtool.values.limits.value_limit` allows (the size comes from the image's header)."""
    try:
        from PIL import Image, ImageSequence
    except ImportError:
        return data
    frames: list[np.ndarray] = []
    try:
        with warnings.catch_warnings():  # the limit below replaces Pillow's bomb check
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                width, height = img.size
                for frame in ImageSequence.Iterator(img):
                    # The RGB frames so far and this one, checked before it is decoded
                    # (decoding and stacking take a few times that, briefly).
                    needed = 3 * (len(frames) + 1) * width * height
                    why = limits.too_large("image", needed, len(data), limits.PIXEL_BYTES_PER_BYTE)
                    if why is not None:
                        return data
                    frames.append(np.asarray(frame.convert("RGB")))
                image_format = img.format
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return data  # UnidentifiedImageError and truncated data are OSErrors
    if len(frames) > 1 or image_format == "GIF":
        return np.stack(frames)
    return frames[0] if frames else data


def decode_wav(data: bytes) -> Any:
    """Float samples ``[frames, channels]`` of 16-bit PCM; the bytes for anything else (the
    frame count a header claims is never trusted: only the bytes present are read)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            raw = w.readframes(w.getnframes())
            width, channels = w.getsampwidth(), w.getnchannels()
    except (wave.Error, EOFError):
        return data
    if width != 2 or len(raw) % (2 * channels):
        return data
    return (np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0).reshape(-1, channels)
