"""How ``--jobs`` would scale on more cores than this machine has (issue 16), from a profile.

A table read with ``jobs`` > 1 splits its work in two lanes. Worker processes take whole
files: reading, framing, CRCs, the C scan, *and assembly* (classification, filters, the
file's restarts, columns), then send each chunk's finished rows to the main process
(pickling; :mod:`tbtool.columnar.rows`). The main process takes what crosses files:
receiving the rows (unpickling), appending them to the table's columns, and the frame at the
end. This measures both lanes on one process (no contention), per file, then models N cores
as ``N - 1`` workers beside the main process (what ``auto_jobs`` gives):

    seconds(N) = first chunk's worker lane + max(main lane, worker lane / (N - 1))

(the main process can only start once a worker handed over a first chunk; after that the
slower lane sets the pace). Files are the unit of work, so the worker lane cannot shrink
below its largest file. Run it on a quiet machine:

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


class _Outbox:
    """A worker's queue that keeps the pickled messages and when each was ready."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.ready: list[float] = []

    def put(self, message: bytes) -> None:
        self.messages.append(message)
        self.ready.append(time.perf_counter())


def _profile(logdir: str, kind: str) -> dict[str, Any]:
    """One read in this process, then the two lanes timed apart, per file."""
    import tbtool.reading.frames
    from tbtool.columnar import rows as rows_module
    from tbtool.columnar.table_rows import DICTIONARY_SCHEMAS, TABLE_KINDS
    from tbtool.columnar.whole import TableBuilder
    from tbtool.reading.log_reader import LogReader
    from tbtool.reading.tables import _request

    start = time.perf_counter()
    n_rows = len(tbtool.reading.frames.read_frame(logdir, kind, jobs=1))
    total = time.perf_counter() - start
    reader = LogReader(logdir)
    request = _request(reader, [kind], {TABLE_KINDS[kind]}, None, None, columns=True)
    lanes: dict[str, float] = {}
    first_chunk = None
    outboxes = []
    for run in reader.runs:  # the worker lane: a file scanned and assembled, rows pickled
        for number, path in enumerate(run.files):
            outbox = _Outbox()
            start = time.perf_counter()
            rows_module._assemble_file(request, run.name, number, path, outbox)
            lanes[path] = time.perf_counter() - start
            if first_chunk is None:
                first_chunk = outbox.ready[0] - start
            outboxes.append(outbox)
    sent = sum(len(m) for box in outboxes for m in box.messages)
    start = time.perf_counter()  # the main lane: rows received, appended, the frame built
    builder = TableBuilder(DICTIONARY_SCHEMAS[kind])
    for box in outboxes:
        for message in box.messages:
            chunk = pickle.loads(message)
            if isinstance(chunk, rows_module._Chunk):
                for _, columns in chunk.rows.batches:
                    builder.append(columns)
    tbtool.reading.frames.whole_frame(builder.finish())
    main = time.perf_counter() - start
    worker = sum(lanes.values())
    return {
        "rows": n_rows,
        "files": len(lanes),
        "total": total,
        "worker": worker,
        "main": main,
        "largest_file_lane": max(lanes.values()),
        "first_chunk_lane": first_chunk or 0.0,
        "rows_bytes": sent,
    }


def model(profile: dict[str, Any], cores: int) -> float:
    """Modeled seconds of the read on ``cores`` idle cores (see the module docs)."""
    if cores == 1:
        return profile["total"]
    workers = max(profile["worker"] / (cores - 1), profile["largest_file_lane"])
    return profile["first_chunk_lane"] + max(profile["main"], workers)


def scaling(logdir: str, kind: str, repeat: int) -> dict[str, Any]:
    """The best of ``repeat`` profiles (by total) and the modeled times per core count."""
    best = min((_profile(logdir, kind) for _ in range(repeat)), key=lambda p: p["total"])
    times = {cores: model(best, cores) for cores in CORES}
    return {"logdir": logdir, "kind": kind, "profile": best, "seconds": times}


def print_table(result: dict[str, Any]) -> None:
    p = result["profile"]
    print(
        f"{result['logdir']} ({p['files']} files, {p['rows']:,} rows): one process "
        f"{p['total']:.3f} s; worker lane {p['worker']:.3f} s (scan, assembly, pickling; "
        f"largest file {p['largest_file_lane']:.3f} s), main lane {p['main']:.3f} s "
        f"(unpickling, appending, the frame); rows handed over {p['rows_bytes'] / 2**20:.0f} MiB"
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
