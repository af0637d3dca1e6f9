"""What TensorBoard itself shows for a logdir: its Python multiplexer and its Rust data server
(``tensorboard-data-server``, shipped with the tensorboard package). Used to prove that files
tbtool rewrites or writes look right in the real viewers, not just in our reader."""

from __future__ import annotations

import time

from tensorboard import context
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util, tensor_util

Series = dict[str, dict[str, list[tuple[int, float]]]]  # run -> tag -> [(step, value)]


def python_loader_scalars(logdir: str) -> Series:
    """Scalars as TensorBoard's Python multiplexer (``--load_fast=false``) serves them."""
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    out: Series = {}
    for run, tags in mux.PluginRunToTagToContent("scalars").items():
        for tag in tags:
            events = mux.Tensors(run, tag)
            out.setdefault(run, {})[tag] = [
                (e.step, float(tensor_util.make_ndarray(e.tensor_proto).item())) for e in events
            ]
    return out


def rustboard_scalars(logdir: str, timeout: float = 30.0) -> Series:
    """Scalars as TensorBoard's Rust data server serves them (``--load_fast=true``)."""
    binary = server_ingester.get_server_binary()
    ingester = server_ingester.SubprocessServerDataIngester(
        binary,
        logdir,
        reload_interval=0,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={"scalars": 0},
    )
    ingester.start()
    provider = ingester.data_provider
    ctx = context.RequestContext()
    deadline = time.monotonic() + timeout
    previous = None
    while True:  # --reload=once loads in the background: wait until two reads agree
        listing = provider.list_scalars(ctx, experiment_id="", plugin_name="scalars")
        data = (
            provider.read_scalars(
                ctx,
                experiment_id="",
                plugin_name="scalars",
                downsample=10**9,
                run_tag_filter=None,
            )
            if listing
            else {}
        )
        current = {
            run: {tag: [(p.step, float(p.value)) for p in points] for tag, points in tags.items()}
            for run, tags in data.items()
        }
        if current and current == previous:
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"rustboard did not settle on {logdir}")
        previous = current
        time.sleep(0.3)
