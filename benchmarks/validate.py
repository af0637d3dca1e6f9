"""validate on one file of 1M scalar events, side by side with reading the same file through
tbparse and TensorBoard's EventAccumulator (what users run to "check" logs today).

    python -m benchmarks.validate [--events N]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

from benchmarks.data import scalar_logdir


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def validate_task(path: str) -> dict:
    """Harness task (:mod:`benchmarks.measure`): seconds of ``tbtool.ops.validate`` on
    ``path`` and the findings it reported (none, on clean data)."""
    from tbtool.ops.validate import validate

    start = time.perf_counter()
    result = validate(path)
    return {"seconds": time.perf_counter() - start, "findings": len(result.findings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    logdir = scalar_logdir(args.events)
    run = logdir / "run"

    from tbtool.ops.validate import validate

    results = {"tbtool validate": timed(lambda: validate(logdir))}
    if args.peers:
        warnings.simplefilter("ignore")
        from tensorboard.backend.event_processing import event_accumulator as ea

        def accumulator() -> None:
            acc = ea.EventAccumulator(str(run), size_guidance={ea.SCALARS: 0})
            acc.Reload()

        results["TensorBoard EventAccumulator"] = timed(accumulator)
        try:
            from tbparse import SummaryReader

            results["tbparse SummaryReader.scalars"] = timed(
                lambda: SummaryReader(str(logdir)).scalars
            )
        except ImportError:
            print("tbparse not installed: skipped")
    ours = results["tbtool validate"]
    print(f"{args.events:,} scalar events, one file ({logdir})")
    print(f"{'tool':32} {'seconds':>9} {'us/event':>9} {'vs tbtool':>10}")
    for name, seconds in results.items():
        print(f"{name:32} {seconds:9.2f} {seconds / args.events * 1e6:9.2f} {seconds / ours:9.1f}x")


if __name__ == "__main__":
    main()
