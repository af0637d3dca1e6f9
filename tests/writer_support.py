"""Shared helpers of the writer tests (tests/test_writer_*.py): reading back what a writer
wrote, raw and through TensorBoard's own loaders, and running the torch fixture calls."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tbtool.format.record import read_records
from tbtool.proto import event_pb2

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "fixtures" / "scripts"


def event_files(directory: str | os.PathLike) -> list[str]:
    """Event files directly in ``directory``, in read order."""
    return sorted(
        os.path.join(directory, name) for name in os.listdir(directory) if "tfevents" in name
    )


def runs(logdir: str | os.PathLike) -> dict[str, list[str]]:
    """Run name (relative dir, "." for the logdir) -> its event files."""
    out = {}
    for directory, _dirs, files in os.walk(logdir):
        if any("tfevents" in f for f in files):
            name = os.path.relpath(directory, logdir).replace(os.sep, "/")
            out[name] = event_files(directory)
    return dict(sorted(out.items()))


def payloads(path: str | os.PathLike) -> list[bytes]:
    return [r.payload for r in read_records(os.fspath(path))]


def events(path: str | os.PathLike) -> list[Any]:
    """The ``Event``\\ s of one file, or of all files of a run directory."""
    path = os.fspath(path)
    files = event_files(path) if os.path.isdir(path) else [path]
    return [event_pb2.Event.FromString(p) for f in files for p in payloads(f)]


def summary_values(path: str | os.PathLike) -> list[tuple[Any, Any]]:
    """(event, value) of every summary value, in order."""
    return [(e, v) for e in events(path) if e.HasField("summary") for v in e.summary.value]


def by_tag(path: str | os.PathLike) -> dict[str, list[tuple[Any, Any]]]:
    out: dict[str, list[tuple[Any, Any]]] = {}
    for event, value in summary_values(path):
        out.setdefault(value.tag, []).append((event, value))
    return out


def load_make_torch() -> Any:
    """fixtures/scripts/make_torch.py as a module: the calls that made fixtures/torch_all."""
    if "make_torch" in sys.modules:
        return sys.modules["make_torch"]
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("make_torch", SCRIPTS / "make_torch.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    sys.modules["make_torch"] = module
    return module


def log_everything(writer: Any) -> None:
    """Every ``add_*`` call of fixtures/scripts/make_torch.py (torch_all), seeded."""
    m = load_make_torch()
    rng = np.random.default_rng(0)
    import torch

    torch.manual_seed(0)
    m.log_scalars(writer)
    m.log_tensors(writer)
    m.log_histograms(writer, rng)
    m.log_images(writer, rng)
    m.log_media(writer, rng)
    m.log_graphs(writer)
    m.log_embeddings(writer, rng)
    m.log_pr_curves(writer, rng)
    m.log_custom_scalars(writer)
    m.log_mesh(writer)
    m.log_hparams(writer)
