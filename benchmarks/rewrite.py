"""merge, purge and clean beside export of the same file, in one run.

``python -m benchmarks.rewrite [--events 1000000] [--repeat 3] [--source DIR]``

Each command runs as a user runs it (``python -m tbtool ...`` in a process of its own) on the
scalar file of :func:`benchmarks.data.scalar_logdir`; commands that rewrite get a fresh copy
of it each time (the copy is not timed). Prints the best wall time of ``--repeat`` runs and
its ratio to ``export``. ``--source`` runs the tbtool of another source tree (for example an
older commit from ``git archive``) to measure before and after on the same machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.data import scalar_logdir


def _timed(args: list[str], env: dict[str, str], prepare: Callable[[], None], cwd: Path) -> float:
    prepare()
    start = time.perf_counter()
    subprocess.run(  # in a neutral directory: `-m` puts the working directory first
        [sys.executable, "-m", "tbtool", *args],
        check=True,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", help="the source tree whose tbtool to run")
    options = parser.parse_args(argv)
    env = dict(os.environ)
    if options.source:
        env["PYTHONPATH"] = os.path.abspath(options.source)
    logdir = scalar_logdir(options.events)
    steps = options.events // 4  # scalar_logdir writes 4 tags
    work = Path(tempfile.mkdtemp(prefix="tbtool-bench-rewrite-"))
    copy, out = work / "copy", work / "out"

    def fresh_copy() -> None:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(logdir, copy)

    def no_output() -> None:
        shutil.rmtree(out, ignore_errors=True)

    commands: list[tuple[str, list[str], Callable[[], None]]] = [
        ("export", ["export", str(logdir), "-o", str(out / "x.parquet")], no_output),
        ("merge -o", ["merge", str(logdir), "-o", str(out)], no_output),
        ("purge --step", ["purge", str(copy), "--step", str(steps // 2), "-y"], fresh_copy),
        ("purge --restarts start", ["purge", str(copy), "--restarts", "-y"], fresh_copy),
        (
            "purge --restarts --rule rewind",
            ["purge", str(copy), "--restarts", "--rule", "rewind", "-y"],
            fresh_copy,
        ),
        ("merge --in-place", ["merge", str(copy), "--in-place", "-y"], fresh_copy),
        (
            "clean --dry-run",
            ["clean", str(logdir), "--last-step-below", "1", "--dry-run"],
            no_output,
        ),
    ]
    try:
        best: dict[str, float] = {}
        for name, args, prepare in commands:
            best[name] = min(_timed(args, env, prepare, work) for _ in range(options.repeat))
            ratio = best[name] / best["export"]
            print(f"{name:32s} {best[name]:7.2f} s  {ratio:5.2f}x export", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
