"""Remote logdir benchmark (issue 8 target: within 2x of local disk).

Reads a logdir of about 100 MB (8 runs of 2 torch-style event files: scalars and 100-bucket
histograms) into DataFrames, once from local disk and once from a real S3-compatible server
on loopback (moto's server mode, started here, as in the tests), and exports it to Parquet
from each. Rounds interleave local and remote; the best round of each is reported.

    python -m benchmarks.remote [--megabytes 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.data import CACHE
from benchmarks.export import mixed_file

RUNS, FILES = 8, 2


def remote_logdir(megabytes: float) -> Path:
    """About ``megabytes`` of event files in ``RUNS`` runs of ``FILES`` files each."""
    logdir = CACHE / f"remote-{megabytes:g}MB"
    marker = logdir / ".complete"
    if marker.exists():
        return logdir
    shutil.rmtree(logdir, ignore_errors=True)
    per_file = megabytes * 1e6 / (RUNS * FILES)
    # mixed_file writes about 90 bytes per scalar event, histograms included.
    scalars = max(1000, int(per_file / 90))
    for run in range(RUNS):
        for n in range(FILES):
            path = logdir / f"run_{run:02d}" / f"events.out.tfevents.{1700000000 + n}.bench.1.{n}"
            mixed_file(path, scalars=scalars, histograms=scalars // 40)
    marker.write_text("")
    return logdir


def best(fn, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from s3_server import moto_s3  # the tests' server helper

    import tbtool
    from tbtool import storage
    from tbtool.ops.export import export

    local = remote_logdir(args.megabytes)
    size = sum(p.stat().st_size for p in local.rglob("*tfevents*"))
    print(f"logdir: {size / 1e6:.1f} MB in {RUNS} runs x {FILES} files ({local})")
    with moto_s3() as endpoint, tempfile.TemporaryDirectory() as tmp:
        fs, _ = storage.filesystem("s3://bench")
        fs.mkdir("bench")
        start = time.perf_counter()
        fs.put(str(local), "bench/logdir", recursive=True)
        print(f"upload to moto at {endpoint}: {time.perf_counter() - start:.2f} s")
        url = "s3://bench/logdir"
        results: dict[str, dict[str, float]] = {"read_scalars+histograms": {}, "export": {}}

        def read(path: str):
            return tbtool.read_scalars(path), tbtool.read_histograms(path)

        def exported(path: str, out: str):
            return lambda: export(path, out, kinds=["scalars", "histograms"], overwrite=True)

        rows = None
        for _ in range(args.rounds):
            for name, path in (("local", str(local)), ("s3", url)):
                seconds, frames = best(lambda path=path: read(path), 1)
                current = results["read_scalars+histograms"].get(name, float("inf"))
                results["read_scalars+histograms"][name] = min(current, seconds)
                shape = (frames[0].shape, frames[1].shape)
                assert rows is None or rows == shape, (rows, shape)
                rows = shape
                seconds, _ = best(exported(path, f"{tmp}/{name}/"), 1)
                current = results["export"].get(name, float("inf"))
                results["export"][name] = min(current, seconds)
        for task, times in results.items():
            ratio = times["s3"] / times["local"]
            print(
                f"{task:>24}: local {times['local']:.2f} s, s3 (moto) {times['s3']:.2f} s, "
                f"ratio {ratio:.2f}x ({size / 1e6 / times['s3']:.0f} MB/s from s3)"
            )
        print(json.dumps({k: {**v, "ratio": v["s3"] / v["local"]} for k, v in results.items()}))


if __name__ == "__main__":
    main()
