"""rustboard against tbtool on one workload, in interleaved rounds: a ratio with its spread.

``python -m benchmarks`` measures each tool best-of-3 at its own moment; on a machine shared
with other work, one busy second moves a 0.06 s row by 2x, and the ratio with it. Here each
round runs rustboard's load and then tbtool's read (the harness's own tasks and parameters,
each in a fresh process), so both see the same load; the spread of the per-round ratios says
how far to trust it:

    python -m benchmarks.interleaved images [--rounds 12] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from benchmarks import __main__ as harness
from benchmarks import data
from benchmarks.measure import measure

WORKLOADS = ("scalars", "runs", "histograms", "images")


def logdir_of(workload: str, sizes: harness.Sizes) -> tuple[Path, str]:
    """The harness's logdir of ``workload`` (made if not cached) and the kind read."""
    if workload == "scalars":
        return data.synth_scalars(sizes.scalars), "scalars"
    if workload == "runs":
        runs, tags, steps = sizes.runs
        return data.synth_scalars(runs * tags * steps, runs=runs, tags=tags), "scalars"
    if workload == "histograms":
        return data.histogram_logdir(*sizes.histograms), "histograms"
    return data.image_logdir(*sizes.images), "images"


def rounds(workload: str, count: int, sizes: harness.Sizes) -> list[tuple[float, float]]:
    """``(rustboard seconds, tbtool seconds)`` of each round, printed as they come."""
    logdir, kind = logdir_of(workload, sizes)
    expected = harness.expected_series(logdir, kind)
    rust: dict[str, Any] = {"path": str(logdir), "expected": expected, "kind": kind}
    rust |= {"checksum": False, "timeout": sizes.timeout}
    ours = {"tool": "tbtool", "path": str(logdir), "kind": kind, "jobs": 1}
    out = []
    for i in range(count):
        r = measure("rustboard", rust, sizes.timeout)
        t = measure("read", ours, sizes.timeout)
        if "seconds" not in r or "seconds" not in t:
            raise SystemExit(f"round {i}: rustboard {r}, tbtool {t}")
        rs, ts = r["seconds"], t["seconds"]
        out.append((rs, ts))
        print(f"round {i}: rustboard {rs:.3f} s, tbtool {ts:.3f} s, {rs / ts:.2f}x")
    return out


def summary(times: list[tuple[float, float]]) -> str:
    """Best and median of each tool, and the ratios: of the bests, of the medians, per round."""
    rust = [r for r, _ in times]
    ours = [t for _, t in times]
    ratios = [r / t for r, t in times]
    med = statistics.median
    return (
        f"rustboard best {min(rust):.3f} s, median {med(rust):.3f} s; "
        f"tbtool best {min(ours):.3f} s, median {med(ours):.3f} s\n"
        f"rustboard / tbtool: {min(rust) / min(ours):.2f}x of the bests, "
        f"{med(rust) / med(ours):.2f}x of the medians, per round {min(ratios):.2f}x to "
        f"{max(ratios):.2f}x (median {med(ratios):.2f}x, {len(ratios)} rounds)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.interleaved", description=__doc__.splitlines()[0]
    )
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="the harness's tiny sizes")
    args = parser.parse_args(argv)
    sizes = harness.QUICK if args.quick else harness.Sizes()
    print(summary(rounds(args.workload, max(args.rounds, 1), sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
