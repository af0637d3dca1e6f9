"""Scalars and hparams as TensorBoard's own Python loader reads them, as pandas frames: the
independent oracle the summary and diff tests compute their expected values from (never
tbtool code)."""

from __future__ import annotations

import pandas as pd
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util


def _multiplexer(logdir: str) -> plugin_event_multiplexer.EventMultiplexer:
    mux = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={"scalars": 0, "hparams": 0}
    )
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    return mux


def scalars(logdir: str) -> pd.DataFrame:
    """``run, tag, step, wall_time, value``: every scalar TensorBoard loads, in its order."""
    mux = _multiplexer(logdir)
    rows = []
    for run, tags in sorted(mux.PluginRunToTagToContent("scalars").items()):
        for tag in sorted(tags):
            for e in mux.Tensors(run, tag):
                value = float(tensor_util.make_ndarray(e.tensor_proto).item())
                rows.append((run, tag, e.step, e.wall_time, value))
    return pd.DataFrame(rows, columns=["run", "tag", "step", "wall_time", "value"])


def hparams(logdir: str) -> dict[str, dict[str, object]]:
    """run -> {hyperparameter: value} of each hparams session (session_start_info)."""
    mux = _multiplexer(logdir)
    out: dict[str, dict[str, object]] = {}
    for run, contents in mux.PluginRunToTagToContent("hparams").items():
        for content in contents.values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.WhichOneof("data") != "session_start_info":
                continue
            values = {}
            for name, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                values[name] = getattr(value, kind)
            out[run] = values
    return out
