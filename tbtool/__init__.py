"""tbtool: read, check, repair, merge and export TensorBoard event logs."""

from __future__ import annotations

__version__ = "0.1.0"

from tbtool.errors import TbtoolError
from tbtool.frames import (
    read_audio,
    read_histograms,
    read_hparams,
    read_images,
    read_pr_curves,
    read_scalars,
    read_table,
    read_tensors,
    read_text,
)
from tbtool.ops.summary import summarize
from tbtool.reader import LogReader
from tbtool.writer import FileWriter, SummaryWriter

__all__ = [
    "FileWriter",
    "LogReader",
    "SummaryWriter",
    "TbtoolError",
    "__version__",
    "read_audio",
    "read_histograms",
    "read_hparams",
    "read_images",
    "read_pr_curves",
    "read_scalars",
    "read_table",
    "read_tensors",
    "read_text",
    "summarize",
]
