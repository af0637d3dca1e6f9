"""Images: torch's layout and scaling rules, PNG-encoded with Pillow.

``dataformats`` names the axes (format.md §4.4): ``HW``/``WH`` (grayscale), any order of
``CHW`` (C = 1, 3 or 4) or of ``NCHW`` (a batch, tiled into one grid of 8 columns). uint8
data is used as is; any other dtype is taken to be in [0, 1], multiplied by 255, clipped and
truncated. The result is one ``Summary.Image`` (PNG) per call.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from tbtool.proto import summary_pb2
from tbtool.writer.convert import check_finite, to_real_array

_AXES = {2: "HW", 3: "CHW", 4: "NCHW"}


def to_hwc(array: np.ndarray, dataformats: Any, name: str = "img_tensor") -> np.ndarray:
    """Rearrange ``array`` laid out as ``dataformats`` into HWC with 3 or 4 channels."""
    if not isinstance(dataformats, str):
        raise TypeError(f"dataformats must be a str, not {type(dataformats).__name__}")
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt):
        raise ValueError(f"dataformats {dataformats!r} uses an axis letter twice")
    expected = _AXES.get(len(fmt))
    if expected is None or set(fmt) != set(expected):
        raise ValueError(f"dataformats {dataformats!r} must be a permutation of HW, CHW or NCHW")
    if array.ndim != len(fmt):
        raise ValueError(
            f"{name} has {array.ndim} dimensions {array.shape} but dataformats "
            f"{dataformats!r} names {len(fmt)}"
        )
    if 0 in array.shape:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if len(fmt) == 4:
        nchw = array.transpose([fmt.index(c) for c in "NCHW"])
        return make_grid(nchw, name=name).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = array.transpose([fmt.index(c) for c in "HWC"])
        channels = hwc.shape[2]
        if channels == 1:
            return np.concatenate([hwc, hwc, hwc], 2)
        if channels not in (3, 4):
            raise ValueError(f"{name} has {channels} channels; images need 1, 3 or 4")
        return hwc
    hw = array.transpose([fmt.index(c) for c in "HW"])
    return np.stack([hw, hw, hw], 2)


def make_grid(nchw: np.ndarray, ncols: int = 8, name: str = "img_tensor") -> np.ndarray:
    """Tile a batch into one CHW image: ``min(N, ncols)`` columns, zero background."""
    if nchw.shape[1] == 1:
        nchw = np.concatenate([nchw, nchw, nchw], 1)
    if nchw.shape[1] not in (3, 4):
        raise ValueError(f"{name} has {nchw.shape[1]} channels; images need 1, 3 or 4")
    n, c, h, w = nchw.shape
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    canvas = np.zeros((c, h * nrows, w * ncols), dtype=nchw.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h : (y + 1) * h, x * w : (x + 1) * w] = nchw[i]
    return canvas


def to_uint8(array: np.ndarray, name: str = "img_tensor") -> np.ndarray:
    """uint8 as is; anything else times 255, clipped to [0, 255] and truncated (torch's rule)."""
    if array.dtype == np.uint8:
        return array
    check_finite(array, name)
    return (array.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)


def encode_png(hwc: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(hwc)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_proto(pil_image: Any, channels: int) -> Any:
    """``Summary.Image`` of a Pillow image, PNG-encoded."""
    buffer = io.BytesIO()
    pil_image.save(buffer, format="PNG")
    return summary_pb2.Summary.Image(
        height=pil_image.height,
        width=pil_image.width,
        colorspace=channels,
        encoded_image_string=buffer.getvalue(),
    )


def image_value(
    tag: str,
    img_tensor: Any,
    dataformats: Any,
    *,
    rescale: float = 1,
    boxes: np.ndarray | None = None,
    labels: list[str] | None = None,
) -> bytes:
    """The serialized ``Summary.Value{tag, image}`` of one (possibly tiled) image."""
    from PIL import Image

    array = to_real_array(img_tensor, "img_tensor")
    hwc = to_uint8(to_hwc(array, dataformats), "img_tensor")
    height, width, channels = hwc.shape
    image = Image.fromarray(np.ascontiguousarray(hwc))
    if boxes is not None:
        image = draw_boxes(image, boxes, labels)
    if rescale != 1:
        size = (int(width * rescale), int(height * rescale))
        if min(size) < 1:
            raise ValueError(f"rescale {rescale} leaves no pixels of a {width}x{height} image")
        image = image.resize(size, Image.Resampling.LANCZOS)
    value = summary_pb2.Summary.Value(tag=tag, image=image_proto(image, channels))
    return value.SerializeToString()


def draw_boxes(image: Any, boxes: np.ndarray, labels: list[str] | None) -> Any:
    """Red rectangles (and labels) as torch's ``add_image_with_boxes`` draws them."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    for i, (left, top, right, bottom) in enumerate(boxes.tolist()):
        draw.line(
            [(left, top), (left, bottom), (right, bottom), (right, top), (left, top)],
            width=2,
            fill="Red",
        )
        label = labels[i] if labels is not None else None
        if label:
            _left, _top, _right, _bottom = font.getbbox(label)
            text_width, text_height = _right - _left, _bottom - _top
            margin = np.ceil(0.05 * text_height)
            draw.rectangle(
                [(left, bottom - text_height - 2 * margin), (left + text_width, bottom)],
                fill="Red",
            )
            draw.text(
                (left + margin, bottom - text_height - margin), label, fill="black", font=font
            )
    return image


def check_boxes(box_tensor: Any) -> np.ndarray:
    boxes = to_real_array(box_tensor, "box_tensor")
    if boxes.ndim == 1 and boxes.size == 4:
        boxes = boxes.reshape(1, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"box_tensor must have shape [N, 4] (xmin, ymin, xmax, ymax), got {boxes.shape}"
        )
    check_finite(boxes, "box_tensor")
    return boxes
