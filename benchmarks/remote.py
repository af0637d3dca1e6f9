"""Remote logdir benchmark (issue 8 target: within 2x of local disk).

A logdir of about 100 MB (8 runs of 2 torch-style event files: scalars and 100-bucket
histograms) is read from local disk and from a real S3-compatible server on loopback
(moto's server mode, started here in its own process, as a real server would run
elsewhere): ``read_scalars``, ``read_histograms`` (each one pass over every file), the export
of both kinds to Parquet (one pass) and ``validate``. Rounds interleave local and remote; the
best round of each is reported. Note that on a 2-core machine the server's CPU competes
with the reader's.

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
    from tbtool.ops.validate import validate

    local = remote_logdir(args.megabytes)
    size = sum(p.stat().st_size for p in local.rglob("*tfevents*"))
    print(f"logdir: {size / 1e6:.1f} MB in {RUNS} runs x {FILES} files ({local})")
    with moto_s3(process=True) as endpoint, tempfile.TemporaryDirectory() as tmp:
        fs, _ = storage.filesystem("s3://bench")
        fs.mkdir("bench")
        start = time.perf_counter()
        fs.put(str(local), "bench/logdir", recursive=True)
        print(f"upload to moto at {endpoint}: {time.perf_counter() - start:.2f} s")
        url = "s3://bench/logdir"
        tasks = {
            "read_scalars": lambda path, out: len(tbtool.read_scalars(path)),
            "read_histograms": lambda path, out: len(tbtool.read_histograms(path)),
            "export to Parquet": lambda path, out: (
                export(path, out, kinds=["scalars", "histograms"], overwrite=True).rows
            ),
            "validate": lambda path, out: len(validate(path).findings),
        }
        results: dict[str, dict[str, float]] = {task: {} for task in tasks}
        answers: dict[str, object] = {}
        for _ in range(args.rounds):
            for task, fn in tasks.items():
                for name, path in (("local", str(local)), ("s3", url)):
                    start = time.perf_counter()
                    answer = fn(path, f"{tmp}/{name}/")
                    seconds = time.perf_counter() - start
                    assert answers.setdefault(task, answer) == answer, (task, answer)
                    results[task][name] = min(results[task].get(name, float("inf")), seconds)
        for task, times in results.items():
            ratio = times["s3"] / times["local"]
            print(
                f"{task:>18}: local {times['local']:.2f} s, s3 (moto) {times['s3']:.2f} s, "
                f"ratio {ratio:.2f}x ({size / 1e6 / times['s3']:.0f} MB/s from s3)"
            )
        print(json.dumps({k: {**v, "ratio": v["s3"] / v["local"]} for k, v in results.items()}))


if __name__ == "__main__":
    main()
