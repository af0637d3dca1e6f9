"""SummaryWriter cost per call, side by side: torch.utils.tensorboard, tensorboardX, tbtool.

    python -m benchmarks.writer [--scalars N] [--histograms N] [--repeat R]

Each case logs into a fresh temporary logdir and times the calls *plus the final flush()*
(until everything is in the file), so work a background thread does is counted too. The
writers run in the same process, in interleaved rounds, and the best of ``--repeat`` rounds
is kept, so ratios compare like with like. Targets (issue 3): add_scalar at most 1/25 of
torch's cost per call, add_histogram of 10k values at most 1/5.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

TARGETS = {"add_scalar": 25.0, "add_histogram 10k": 5.0}


def writers(only: str | None = None) -> dict[str, Callable[[str], Any]]:
    """SummaryWriter classes by tool name (``only``: import just that one, so a process
    measuring tbtool does not carry torch in its memory)."""
    out: dict[str, Callable[[str], Any]] = {}
    if only in (None, "tbtool"):
        from tbtool import SummaryWriter as Ours

        out["tbtool"] = Ours
    if only in (None, "torch"):
        try:
            from torch.utils.tensorboard import SummaryWriter as Torch

            out["torch"] = Torch
        except ImportError:
            print("torch not installed: skipped")
    if only in (None, "tensorboardX"):
        try:
            from tensorboardX import SummaryWriter as TensorboardX

            out["tensorboardX"] = TensorboardX
        except ImportError:
            print("tensorboardX not installed: skipped")
    return out


def run_once(make: Callable[[str], Any], body: Callable[[Any], None]) -> tuple[float, float]:
    """Seconds for (calls + flush, calls only) on a fresh writer in a fresh logdir."""
    logdir = tempfile.mkdtemp(prefix="tbtool-bench-writer-")
    try:
        writer = make(logdir)
        start = time.perf_counter()
        body(writer)
        called = time.perf_counter()
        writer.flush()
        done = time.perf_counter()
        writer.close()
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return done - start, called - start


def time_case(
    makers: dict[str, Callable[[str], Any]], body: Callable[[Any], None], calls: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """Best time per call in microseconds (total, callers' share) of each writer. Rounds
    interleave the writers, so a slow spell of the machine hits all of them alike."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        for name, make in makers.items():
            total, calls_only = run_once(make, body)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], total), min(old[1], calls_only))
    return {name: (t / calls * 1e6, c / calls * 1e6) for name, (t, c) in best.items()}


def cases(scalars: int, histograms: int) -> dict[str, tuple[int, Callable[[Any], None]]]:
    values = np.random.default_rng(0).normal(size=10_000)
    image = np.random.default_rng(1).random((3, 64, 64)).astype(np.float32)

    def scalar(w: Any) -> None:
        add = w.add_scalar
        for step in range(scalars):
            add("loss", 0.5, step)

    def scalar_tags(w: Any) -> None:
        add = w.add_scalar
        for step in range(scalars // 8):
            for tag in ("loss", "acc", "lr", "grad_norm", "val/loss", "val/acc", "t/a", "t/b"):
                add(tag, 0.5, step)

    def histogram(w: Any) -> None:
        for step in range(histograms):
            w.add_histogram("weights", values, step)

    def image_case(w: Any) -> None:
        for step in range(histograms):
            w.add_image("image", image, step)

    def text(w: Any) -> None:
        for step in range(histograms * 10):
            w.add_text("note", "step **done**", step)

    return {
        "add_scalar": (scalars, scalar),
        "add_scalar 8 tags/step": (scalars // 8 * 8, scalar_tags),
        "add_histogram 10k": (histograms, histogram),
        "add_image 3x64x64": (histograms, image_case),
        "add_text": (histograms * 10, text),
    }


def writer_task(tool: str, case: str, scalars: int, histograms: int, repeat: int) -> dict:
    """Harness task (:mod:`benchmarks.measure`): ``tool``'s best time per call of ``case``
    in microseconds (calls plus the final flush), in a process of its own."""
    warnings.simplefilter("ignore")
    makers = writers(tool)
    calls, body = cases(scalars, histograms)[case]
    ((total, _),) = time_case(makers, body, calls, repeat).values()
    return {"seconds": total * calls / 1e6, "us_per_call": total, "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=20_000)
    parser.add_argument("--histograms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    makers = writers()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for case, (calls, body) in cases(args.scalars, args.histograms).items():
        results[case] = time_case(makers, body, calls, args.repeat)
    peers = [name for name in makers if name != "tbtool"]
    header = f"{'case':24} " + " ".join(f"{name + ' us':>15}" for name in makers)
    header += " " + " ".join(f"{name + '/tbtool':>20}" for name in peers)
    print("us per call, calls + final flush (tbtool: calling thread only, in parentheses)")
    print(header)
    failed = False
    for case, row in results.items():
        ours_total, ours_calls = row["tbtool"]
        line = f"{case:24} {f'{ours_total:.2f} ({ours_calls:.2f})':>15} "
        line += " ".join(f"{row[name][0]:15.2f}" for name in peers)
        for name in peers:
            ratio = row[name][0] / ours_total
            line += f" {ratio:19.1f}x"
        target = TARGETS.get(case)
        if target is not None and "torch" in row:
            ok = row["torch"][0] / ours_total >= target
            failed |= not ok
            line += f"   target >= {target:g}x vs torch: {'ok' if ok else 'MISSED'}"
        print(line)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
