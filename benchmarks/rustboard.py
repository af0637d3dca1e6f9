"""Time for TensorBoard's Rust data server (``tensorboard-data-server``, "rustboard") to load a
whole logdir: the fastest reader of this format users have.

The server is started on the logdir (``--reload=once``, every sample kept) and asked over
gRPC, every few milliseconds, for the time series it knows; the logdir counts as loaded when
every (run, tag) the caller expects has reached its last step. The time includes starting
the server (milliseconds). Note that rustboard checks CRCs only of records it fails to parse
unless ``--checksum`` is given; tbtool checks every record.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from typing import Any

#: Table kind -> the TensorBoard plugin and listing call that shows its series.
PLUGINS = {
    "scalars": ("scalars", "list_scalars"),
    "histograms": ("histograms", "list_tensors"),
    "images": ("images", "list_blob_sequences"),
}


def _status_mb(pid: int, field: str = "VmHWM") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def load_task(
    path: str,
    expected: dict[str, int],
    kind: str = "scalars",
    checksum: bool = False,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Seconds until rustboard serves every ``expected`` series (``"run\\ttag"`` -> last step)
    of ``kind`` up to its last step, and the server's peak RSS (``children_rss_mb``)."""
    from tensorboard import context
    from tensorboard.data import server_ingester
    from tensorboard.util import grpc_util

    binary = server_ingester.get_server_binary().path
    plugin, listing = PLUGINS[kind]
    want = {tuple(key.split("\t", 1)): step for key, step in expected.items()}
    with tempfile.TemporaryDirectory(prefix="tbtool-bench-rustboard-") as tmp:
        port_file = os.path.join(tmp, "port")
        args = [
            binary,
            f"--logdir={path}",
            "--reload=once",
            "--port=0",
            f"--port-file={port_file}",
            "--die-after-stdin",
            "--samples-per-plugin=scalars=all,histograms=all,images=all",
        ]
        if checksum:
            args.append("--checksum")
        start = time.perf_counter()
        server = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            while not _read(port_file).endswith("\n"):
                if server.poll() is not None:
                    raise RuntimeError(f"rustboard exited with {server.returncode}")
                time.sleep(0.002)
            address = f"localhost:{int(_read(port_file))}"
            stub = server_ingester._make_stub(address, grpc_util.ChannelCredsType.LOCAL)
            from tensorboard.data import grpc_provider

            provider = grpc_provider.GrpcDataProvider(address, stub)
            ctx = context.RequestContext()
            polls = 0
            while True:
                polls += 1
                series = getattr(provider, listing)(ctx, experiment_id="", plugin_name=plugin)
                seen = {
                    (run, tag): ts.max_step
                    for run, tags in series.items()
                    for tag, ts in tags.items()
                }
                if all(seen.get(key, -1) >= step for key, step in want.items()):
                    break
                if time.perf_counter() - start > timeout:
                    raise TimeoutError(f"rustboard did not load {path} in {timeout} s")
                time.sleep(0.01)
            seconds = time.perf_counter() - start
            peak = _status_mb(server.pid)
        finally:
            server.stdin.close()  # --die-after-stdin
            server.wait()
    return {"seconds": seconds, "children_rss_mb": peak, "series": len(want), "polls": polls}
