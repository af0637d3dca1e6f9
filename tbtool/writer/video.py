"""Videos: torch's tiling of a batch of clips, written as an animated GIF with Pillow.

torch tiles ``(N, T, C, H, W)`` into one clip (batch padded with black clips to a power of
two, ``2^((bitlen(N)-1)//2)`` rows) and hands it to moviepy, which with moviepy >= 2 fails
and leaves a value holding nothing (format.md §4.4). Here Pillow writes the GIF, so the
video is always there; TensorBoard's image dashboard plays it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from tbtool.proto import summary_pb2
from tbtool.writer.convert import check_finite, to_real_array


def tile_video(video: np.ndarray) -> np.ndarray:
    """``(N, T, C, H, W)`` → ``(T, rows·H, cols·W, C)`` uint8, as torch's ``_prepare_video``
    lays it out. uint8 data is kept exact (torch divides by 255 and multiplies back in
    float32, which can lose one level)."""
    b, t, c, h, w = video.shape
    if video.dtype == np.uint8:
        frames = video
    else:
        check_finite(video, "vid_tensor")
        frames = (video.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)
    padded = 1 << (b - 1).bit_length()
    if padded != b:
        frames = np.concatenate([frames, np.zeros((padded - b, t, c, h, w), np.uint8)], axis=0)
    n_rows = 2 ** ((b.bit_length() - 1) // 2)
    n_cols = padded // n_rows
    frames = frames.reshape(n_rows, n_cols, t, c, h, w)
    frames = frames.transpose(2, 0, 4, 1, 5, 3)
    return frames.reshape(t, n_rows * h, n_cols * w, c)


def encode_gif(frames: np.ndarray, fps: float) -> bytes:
    """An endlessly looping GIF of ``(T, H, W, C)`` uint8 frames, C in 1, 3 or 4."""
    from PIL import Image

    if frames.shape[3] == 1:
        frames = frames[:, :, :, 0]
    # uint8 (H, W) is mode L, (H, W, 3) RGB and (H, W, 4) RGBA.
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    buffer = io.BytesIO()
    duration = max(1, round(1000 / fps))
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration,
        loop=0,
        optimize=False,
    )
    return buffer.getvalue()


def video_value(tag: str, vid_tensor: Any, fps: Any) -> bytes:
    """The serialized ``Summary.Value{tag, image=GIF}``."""
    video = to_real_array(vid_tensor, "vid_tensor")
    if video.ndim != 5:
        raise ValueError(f"vid_tensor must have shape (N, T, C, H, W), got {video.shape}")
    if 0 in video.shape:
        raise ValueError(f"vid_tensor is empty (shape {video.shape})")
    if video.shape[2] not in (1, 3, 4):
        raise ValueError(f"vid_tensor has {video.shape[2]} channels; videos need 1, 3 or 4")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise TypeError(f"fps must be a number, not {type(fps).__name__}")
    if not fps > 0 or not np.isfinite(fps):
        raise ValueError(f"fps must be positive, got {fps}")
    frames = tile_video(video)
    _t, height, width, channels = frames.shape
    image = summary_pb2.Summary.Image(
        height=height,
        width=width,
        colorspace=channels,
        encoded_image_string=encode_gif(frames, float(fps)),
    )
    return summary_pb2.Summary.Value(tag=tag, image=image).SerializeToString()
