"""Export benchmarks, side by side in one run (issue 6 targets):

1. 1M torch-style scalar events in one file -> pandas DataFrame: tbtool (C extension and
   pure Python), tbparse ``SummaryReader(...).scalars`` and TensorBoard's ``EventAccumulator``
   (``Reload`` + ``Scalars`` of every tag into a DataFrame); CRCs are verified by tbtool.
2. The same file -> Parquet (``tbtool.ops.export.export``), vs the DataFrame time.
3. Peak memory (RSS) of exporting a logdir of about 1 GB of event files (scalars and
   torch-style histograms, several runs) to a Parquet file and to a partitioned dataset,
   each in a fresh process.

    python -m benchmarks.export [--events N] [--gigabytes G] [--no-peers] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.data import CACHE, scalar_logdir
from tbtool.format.record import encode_record
from tbtool.proto import event_pb2, histogram_pb2, summary_pb2


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def mixed_file(path: Path, scalars: int = 400_000, histograms: int = 12_000) -> None:
    """One event file as torch writes ``add_scalar`` and ``add_histogram`` (100 buckets)."""
    rng = np.random.default_rng(0)
    edges = np.linspace(-3, 3, 101)
    header = event_pb2.Event(wall_time=1_700_000_000.0, file_version="brain.Event:2")
    parts = [encode_record(header.SerializeToString())]
    every = max(1, scalars // max(1, histograms))
    h = 0
    for i in range(scalars):
        step, tag = divmod(i, 4)
        value = summary_pb2.Summary.Value(tag=f"metric/{tag}", simple_value=1.0 / (1 + step))
        event = event_pb2.Event(
            wall_time=1_700_000_000.0 + i * 0.01,
            step=step,
            summary=summary_pb2.Summary(value=[value]),
        )
        parts.append(encode_record(event.SerializeToString()))
        if i % every == 0 and h < histograms:
            counts, _ = np.histogram(rng.normal(size=1000), bins=edges)
            histo = histogram_pb2.HistogramProto(
                min=-3.0, max=3.0, num=1000.0, sum=0.0, sum_squares=1000.0,
                bucket_limit=edges[1:].tolist(), bucket=counts.astype(float).tolist(),
            )  # fmt: skip
            value = summary_pb2.Summary.Value(tag=f"weights/{h % 8}", histo=histo)
            event = event_pb2.Event(
                wall_time=1_700_000_000.0 + i * 0.01,
                step=step,
                summary=summary_pb2.Summary(value=[value]),
            )
            parts.append(encode_record(event.SerializeToString()))
            h += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(parts))


def big_logdir(gigabytes: float) -> Path:
    """About ``gigabytes`` of event files: copies of one mixed file in runs ``run_NN``."""
    logdir = CACHE / f"mixed-{gigabytes:g}GB"
    marker = logdir / ".complete"
    if marker.exists():
        return logdir
    shutil.rmtree(logdir, ignore_errors=True)
    template = CACHE / "mixed-template" / "events.out.tfevents.1700000000.bench.1.0"
    if not template.exists():
        mixed_file(template)
    size = template.stat().st_size
    copies = max(1, round(gigabytes * 1e9 / size))
    for n in range(copies):
        target = logdir / f"run_{n:02d}" / template.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
    marker.write_text("")
    return logdir


# VmHWM, not getrusage: ru_maxrss survives exec, so a child would report its parent's peak.
_CHILD = """
import json, sys, time
from tbtool.ops.export import export
start = time.perf_counter()
options = json.loads(sys.argv[3])
result = export(sys.argv[1], sys.argv[2], kinds=["scalars", "histograms"], **options)
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"seconds": time.perf_counter() - start, "rows": result.rows,
                  "peak_rss_mb": int(status) / 1024}))
"""


def peak_rss(logdir: Path, out: Path, options: dict) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(logdir), str(out), json.dumps(options)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def export_task(path: str, out: str, kinds: list[str], jobs: int | None = None) -> dict:
    """Harness task (:mod:`benchmarks.measure`): seconds and rows of exporting ``kinds`` of
    ``path`` to the Parquet output ``out`` (replaced), with ``jobs`` reading processes."""
    from tbtool.ops.export import export

    def remove() -> None:
        if os.path.isdir(out):
            shutil.rmtree(out)
        elif os.path.exists(out):
            os.remove(out)

    remove()
    start = time.perf_counter()
    result = export(path, out, kinds=kinds, jobs=jobs)
    seconds = time.perf_counter() - start
    remove()
    return {"seconds": seconds, "rows": sum(result.rows.values())}


def accumulator_frame(run: str):
    import pandas as pd
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(run, size_guidance={ea.SCALARS: 0})
    acc.Reload()
    rows = [
        (tag, e.step, e.wall_time, e.value)
        for tag in acc.Tags()["scalars"]
        for e in acc.Scalars(tag)
    ]
    return pd.DataFrame(rows, columns=["tag", "step", "wall_time", "value"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import tbtool
    from tbtool.columnar import native
    from tbtool.ops.export import export

    logdir = scalar_logdir(args.events)
    run = str(logdir / "run")
    out = Path(tempfile.mkdtemp(prefix="tbtool-export-bench-"))
    print(f"{args.events:,} scalar events in one file ({logdir}); C extension: "
          f"{'built' if native.available() else 'NOT built'}")  # fmt: skip
    results: dict[str, float] = {}
    results["tbtool read_scalars (C)"] = timed(lambda: tbtool.read_scalars(logdir), repeat=3)
    results["tbtool export -> Parquet (C)"] = timed(
        lambda: export(logdir, str(out / "scalars.parquet")), repeat=3
    )
    from tbtool.compat.tbparse import SummaryReader as CompatReader

    results["tbtool.compat.tbparse .scalars (C)"] = timed(lambda: CompatReader(str(logdir)).scalars)
    os.environ["TBTOOL_PURE_PYTHON"] = "1"
    results["tbtool read_scalars (pure Python)"] = timed(lambda: tbtool.read_scalars(logdir))
    del os.environ["TBTOOL_PURE_PYTHON"]
    if args.peers:
        results["TensorBoard EventAccumulator"] = timed(lambda: accumulator_frame(run))
        try:
            from tbparse import SummaryReader

            results["tbparse SummaryReader.scalars"] = timed(
                lambda: SummaryReader(str(logdir)).scalars
            )
        except ImportError:
            print("tbparse not installed: skipped")
    ours = results["tbtool read_scalars (C)"]
    print(f"{'tool':36} {'seconds':>9} {'us/event':>9} {'vs read_scalars':>16}")
    for name, seconds in results.items():
        print(f"{name:36} {seconds:9.2f} {seconds / args.events * 1e6:9.2f} "
              f"{seconds / ours:15.1f}x")  # fmt: skip
    parquet = results["tbtool export -> Parquet (C)"] / ours
    print(f"Parquet / DataFrame time: {parquet:.2f} (target <= 1.5)")
    for peer in ("TensorBoard EventAccumulator", "tbparse SummaryReader.scalars"):
        if peer in results:
            print(f"speed-up over {peer}: {results[peer] / ours:.0f}x (target >= 10x)")

    if args.memory:
        big = big_logdir(args.gigabytes)
        size = sum(f.stat().st_size for f in big.rglob("events.out.tfevents.*"))
        print(f"\nexport of {size / 1e9:.2f} GB ({big}), scalars + histograms, fresh process:")
        for label, target, options in (
            ("one Parquet directory", out / "big", {}),
            ("partitioned by run", out / "big-ds", {"partition_by": "run"}),
        ):
            r = peak_rss(big, target, options)
            print(f"  {label:24} {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:6.0f} MB "
                  f"(target < 300)  rows {r['rows']}")  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
