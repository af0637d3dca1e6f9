"""How ``--jobs`` would scale on more cores than this machine has (issue 16), from a profile.

A read with ``jobs`` > 1 splits its work in two lanes. Worker processes take whole files:
reading, framing, CRCs, the C scan, and sending the file's value index to the main process
(pickling). The main process takes what needs the run's order: receiving the indexes
(unpickling), assembling runs (metadata, purge semantics, classification) and building the
table. This measures both lanes on one process (no contention), per file, then models N
cores as ``N - 1`` workers beside the main process (what ``auto_jobs`` gives):

    seconds(N) = first file's worker lane + max(main lane, worker lane / (N - 1))

(the main process can only start on a file once it is scanned; after that the slower lane
sets the pace). Files are the unit of work, so the worker lane cannot shrink below its
largest file. Run it on a quiet machine:

    python -m benchmarks.scaling [--logdir DIR]... [--kind scalars] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any

from benchmarks import data

CORES = (1, 2, 4, 8)


def _profile(logdir: str, kind: str) -> dict[str, Any]:
    """One read in this process, timed in the two lanes, per file."""
    import tbtool.reading.frames
    from tbtool.columnar import scan as scan_module

    per_file: dict[str, float] = {}
    real_iter = scan_module.FileScan.__iter__

    def timed_iter(self):  # the worker lane's reading and scanning, as a worker does it
        chunks = real_iter(self)
        while True:
            start = time.perf_counter()
            try:
                chunk = next(chunks)
            except StopIteration:
                per_file[self.path] = per_file.get(self.path, 0.0) + time.perf_counter() - start
                return
            per_file[self.path] = per_file.get(self.path, 0.0) + time.perf_counter() - start
            yield chunk

    scan_module.FileScan.__iter__ = timed_iter
    try:
        start = time.perf_counter()
        rows = len(tbtool.reading.frames.read_frame(logdir, kind, jobs=1))
        total = time.perf_counter() - start
    finally:
        scan_module.FileScan.__iter__ = real_iter
    send, receive, sizes = {}, {}, {}
    for path in per_file:  # handing each file's index over, as a worker and the main do
        chunks = [chunk.detach() for chunk in scan_module.FileScan(path)]
        start = time.perf_counter()
        pickled = pickle.dumps(chunks, protocol=pickle.HIGHEST_PROTOCOL)
        send[path] = time.perf_counter() - start
        start = time.perf_counter()
        pickle.loads(pickled)
        receive[path] = time.perf_counter() - start
        sizes[path] = len(pickled)
    scan = sum(per_file.values())
    return {
        "rows": rows,
        "files": len(per_file),
        "total": total,
        "scan": scan,
        "assemble": total - scan,
        "send": sum(send.values()),
        "receive": sum(receive.values()),
        "largest_file_lane": max(per_file[p] + send[p] for p in per_file),
        "first_file_lane": next(iter(per_file.values())) + next(iter(send.values())),
        "index_bytes": sum(sizes.values()),
    }


def model(profile: dict[str, Any], cores: int) -> float:
    """Modeled seconds of the read on ``cores`` idle cores (see the module docs)."""
    if cores == 1:
        return profile["total"]
    main = profile["assemble"] + profile["receive"]
    workers = max((profile["scan"] + profile["send"]) / (cores - 1), profile["largest_file_lane"])
    return profile["first_file_lane"] + max(main, workers)


def scaling(logdir: str, kind: str, repeat: int) -> dict[str, Any]:
    """The best of ``repeat`` profiles (by total) and the modeled times per core count."""
    best = min((_profile(logdir, kind) for _ in range(repeat)), key=lambda p: p["total"])
    times = {cores: model(best, cores) for cores in CORES}
    return {"logdir": logdir, "kind": kind, "profile": best, "seconds": times}


def print_table(result: dict[str, Any]) -> None:
    p = result["profile"]
    print(
        f"{result['logdir']} ({p['files']} files, {p['rows']:,} rows): one process "
        f"{p['total']:.3f} s = scan {p['scan']:.3f} + assemble {p['assemble']:.3f}; "
        f"handing indexes over: send {p['send']:.3f}, receive {p['receive']:.3f} "
        f"({p['index_bytes'] / 2**20:.0f} MiB)"
    )
    print("| cores | workers | modeled s | speed-up |")
    print("|---:|---:|---:|---:|")
    one = result["seconds"][1]
    for cores, seconds in result["seconds"].items():
        workers = cores - 1 if cores > 1 else 0
        print(f"| {cores} | {workers} | {seconds:.3f} | {one / seconds:.2f}x |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", action="append", help="default: the runs and memory data")
    parser.add_argument("--kind", default="scalars")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    logdirs = args.logdir or [
        str(data.synth_scalars(10_000_000, runs=100, tags=20)),
        str(data.synth_size("1GB")),
    ]
    results = [scaling(logdir, args.kind, args.repeat) for logdir in logdirs]
    for result in results:
        print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
