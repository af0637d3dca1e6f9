"""Embeddings for TensorBoard's projector: files on disk, no events (format.md §2.7, §4.4).

``<logdir>/<step:05d>/<tag, with % / \\ escaped>/`` receives ``tensors.tsv`` (one row per
point), ``metadata.tsv`` (labels; a header row when there are several columns) and
``sprite.png`` (thumbnails in a square grid); ``<logdir>/projector_config.pbtxt`` lists
every embedding. The config is replaced atomically, and entries a previous writer left in
it are kept (torch rewrites it with only the current writer's embeddings).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from typing import Any

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.errors import TbtoolError
from tbtool.proto import projector_config_pb2
from tbtool.writer.convert import check_finite, to_real_array
from tbtool.writer.image import encode_png, make_grid, to_uint8

CONFIG_NAME = "projector_config.pbtxt"


def encode_tag(tag: str) -> str:
    """torch's ``_encode``: ``%`` → ``%25``, ``/`` → ``%2f``, ``\\`` → ``%5c``."""
    return tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def _write(path: str, data: bytes) -> None:
    storage.write_bytes(path, data)


def tensors_tsv(mat: np.ndarray) -> bytes:
    """Rows of ``str(float)`` joined by tabs, as torch writes them (``str(x.item())``)."""
    return "".join("\t".join(map(str, row)) + "\n" for row in mat.tolist()).encode()


def metadata_tsv(metadata: list[Any], header: Any) -> bytes:
    if not header:
        lines = [str(x) for x in metadata]
    else:
        header = list(header)
        for i, row in enumerate(metadata):
            if isinstance(row, str) or not hasattr(row, "__len__") or len(row) != len(header):
                raise ValueError(
                    f"metadata[{i}] must have {len(header)} columns, like metadata_header"
                )
        lines = ["\t".join(str(e) for e in row) for row in [header, *metadata]]
    return ("\n".join(lines) + "\n").encode()


def sprite_png(label_img: np.ndarray) -> bytes:
    """Thumbnails in ``ceil(sqrt(N))`` columns; the canvas is padded to a square when the
    grid is wider than tall (torch's layout, which the projector expects)."""
    n = label_img.shape[0]
    ncols = math.ceil(n**0.5)
    grid = make_grid(to_uint8(label_img, "label_img"), ncols=ncols, name="label_img")
    hwc = grid.transpose(1, 2, 0)[:, :, :3]
    height, width = hwc.shape[:2]
    canvas = np.zeros((max(height, width), width, 3), dtype=np.uint8)
    canvas[:height] = hwc
    return encode_png(canvas)


def _load_config(path: str) -> Any:
    config = projector_config_pb2.ProjectorConfig()
    try:
        text_format.Parse(storage.read_bytes(path).decode("utf-8"), config)
    except (OSError, TbtoolError, text_format.ParseError, DecodeError, UnicodeDecodeError):
        return projector_config_pb2.ProjectorConfig()
    return config


def write_embedding(
    logdir: str,
    config: Any,
    mat: Any,
    metadata: Any,
    label_img: Any,
    global_step: Any,
    tag: Any,
    metadata_header: Any,
) -> Any:
    """Write one embedding's files and the updated config; returns the config.

    ``config`` is the writer's ``ProjectorConfig`` so far (``None`` on first use: the file
    on disk, if any, is the starting point)."""
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, not {type(tag).__name__}")
    array = to_real_array(mat, "mat")
    if array.ndim != 2:
        raise ValueError(f"mat must be 2-D (points x dimensions), got shape {array.shape}")
    if not array.size:
        raise ValueError("mat is empty")
    check_finite(array, "mat")
    n = array.shape[0]
    if metadata is not None:
        metadata = list(metadata)
        if len(metadata) != n:
            raise ValueError(f"metadata has {len(metadata)} labels but mat has {n} points")
    images = None
    if label_img is not None:
        images = to_real_array(label_img, "label_img")
        if images.ndim != 4:
            raise ValueError(f"label_img must be NxCxHxW, got shape {images.shape}")
        if images.shape[0] != n:
            raise ValueError(f"label_img has {images.shape[0]} images but mat has {n} points")
    step = 0 if global_step is None else int(global_step)
    subdir = f"{str(step).zfill(5)}/{encode_tag(tag)}"
    save_path = storage.join(logdir, subdir)
    if storage.exists(save_path):
        if not storage.isdir(save_path):
            raise NotADirectoryError(f"{save_path} exists and is not a directory")
        warnings.warn(
            f"embedding directory {save_path} exists and is overwritten; "
            "did you set global_step for add_embedding()?",
            UserWarning,
            stacklevel=3,
        )
    storage.makedirs(save_path)
    info = projector_config_pb2.EmbeddingInfo(
        tensor_name=f"{tag}:{str(step).zfill(5)}",
        tensor_path=os.path.join(subdir, "tensors.tsv"),
    )
    if metadata is not None:
        _write(storage.join(save_path, "metadata.tsv"), metadata_tsv(metadata, metadata_header))
        info.metadata_path = os.path.join(subdir, "metadata.tsv")
    if images is not None:
        _write(storage.join(save_path, "sprite.png"), sprite_png(images))
        info.sprite.image_path = os.path.join(subdir, "sprite.png")
        info.sprite.single_image_dim.extend([images.shape[3], images.shape[2]])
    _write(storage.join(save_path, "tensors.tsv"), tensors_tsv(array))
    config_path = storage.join(logdir, CONFIG_NAME)
    if config is None:
        config = _load_config(config_path)
    kept = [e for e in config.embeddings if e.tensor_name != info.tensor_name]
    del config.embeddings[:]
    config.embeddings.extend([*kept, info])
    if storage.is_url(config_path):  # one upload replaces the object atomically
        storage.write_bytes(config_path, text_format.MessageToString(config).encode())
        return config
    # Replace the file atomically (TensorBoard may be reading it); a plain open() keeps the
    # user's umask, which a mkstemp file would not.
    tmp = os.path.join(logdir, f".{CONFIG_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(text_format.MessageToString(config).encode())
        os.replace(tmp, config_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return config
