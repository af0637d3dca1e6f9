"""Every benchmark in one run: ``python -m benchmarks [--quick] [--only NAME] [--out DIR]``.

Generates its data (``tbtool synth`` and tbtool's SummaryWriter, cached under the temp
directory), then measures tbtool side by side, in the same run, with what users would
otherwise use: torch.utils.tensorboard and tensorboardX (writing), tbparse and TensorBoard's
EventAccumulator (reading), rustboard (time to load a logdir) and the I/O + CRC floor. Each
measurement runs in a process of its own (:mod:`benchmarks.measure`), so peak memory is per
tool. Prints the table with ratios and writes ``report.md``, ``results.json`` and
``performance.png`` (time vs number of events) into ``--out`` (``benchmarks/results``; with
``--quick``, a directory under the temp directory).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import data, report
from benchmarks.measure import measure
from benchmarks.read import TOOLS

WORKLOADS = ("writer", "scalars", "runs", "histograms", "images", "memory", "chart")
SLOW_PEERS = ("tbparse", "accumulator")


@dataclass
class Sizes:
    """How big each workload is; ``--quick`` shrinks all of them to smoke-test size."""

    scalars: int = 1_000_000
    runs: tuple[int, int, int] = (100, 20, 5000)  # runs x tags x steps
    histograms: tuple[int, int] = (10_000, 1000)  # histograms x buckets
    images: tuple[int, int] = (2000, 128)  # images x side
    big: str = "1GB"
    chart: tuple[int, ...] = (10_000, 100_000, 1_000_000, 10_000_000)
    writer: tuple[int, int, int] = (20_000, 100, 3)  # scalars, histograms, repeat
    #: tbparse and EventAccumulator take ~35 s per million scalars: larger inputs skip them.
    slow_peer_events: int = 2_000_000
    timeout: float = 900.0
    repeat: int = 3


QUICK = Sizes(
    scalars=20_000,
    runs=(4, 5, 200),
    histograms=(40, 100),
    images=(8, 32),
    big="12MB",
    chart=(1_000, 10_000),
    writer=(2_000, 5, 1),
    timeout=120.0,
    repeat=1,
)
#: Measurements shorter than this are repeated (best of ``Sizes.repeat``): noise matters there.
REPEAT_UNDER = 5.0


@dataclass
class Bench:
    """One run of the harness: its sizes and every row measured so far."""

    sizes: Sizes
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    _seen: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, workload: str, task: str, tool: str, units: int, result: dict[str, Any]) -> dict:
        """Record one measurement (``units``: events, values or calls it covered)."""
        row = {"workload": workload, "task": task, "tool": tool, "units": units, **result}
        self.rows.append(row)
        report.print_row(row)
        return row

    def run(self, workload: str, task: str, tool: str, units: int, name: str, /, **params: Any):
        """Measure task ``name`` with ``params`` in fresh processes and record it: quick
        tasks (under :data:`REPEAT_UNDER` seconds) are run ``sizes.repeat`` times and the
        best time kept (peak RSS: the largest seen). The same task asked twice (the chart's
        1M point is the scalars workload) is measured once."""
        key = json.dumps([name, params], sort_keys=True)
        if key not in self._seen:
            result = measure(name, params, self.sizes.timeout)
            for _ in range(self.sizes.repeat - 1):
                if result.get("seconds", REPEAT_UNDER) >= REPEAT_UNDER:
                    break
                again = measure(name, params, self.sizes.timeout)
                if "seconds" not in again:
                    break
                rss = max(result["peak_rss_mb"], again["peak_rss_mb"])
                kids = max(result["children_rss_mb"], again["children_rss_mb"])
                result = min(result, again, key=lambda r: r["seconds"])
                result = {**result, "peak_rss_mb": rss, "children_rss_mb": kids}
            self._seen[key] = result
        return self.add(workload, task, tool, units, self._seen[key])


def expected_series(logdir: Path, kind: str) -> dict[str, int]:
    """``"run\\ttag"`` -> last step of every series tbtool reads (what rustboard must reach)."""
    import tbtool

    table = tbtool.read_table(logdir, kind)
    frame = table.select(["run", "tag", "step"]).to_pandas()
    last = frame.groupby(["run", "tag"])["step"].max()
    return {f"{run}\t{tag}": int(step) for (run, tag), step in last.items()}


# -- one measurement each, as rows of the report ---------------------------------------------
def read(
    bench: Bench,
    workload: str,
    logdir: Path,
    kind: str,
    units: int,
    tool: str = "tbtool",
    jobs: int = 1,
) -> None:
    """``tool`` reading every ``kind`` value of ``logdir`` into a DataFrame."""
    task = f"read {kind}" + (f", {jobs} jobs" if jobs != 1 else "")
    if tool in SLOW_PEERS and units > bench.sizes.slow_peer_events:
        bench.add(workload, task, tool, units, {"skipped": "input too large"})
        return
    params = {"tool": tool, "path": str(logdir), "kind": kind, "jobs": jobs}
    bench.run(workload, task, tool, units, "read", **params)


def export(
    bench: Bench,
    workload: str,
    task: str,
    logdir: Path,
    units: int,
    kinds: list[str],
    jobs: int = 1,
) -> None:
    """tbtool exporting ``kinds`` of ``logdir`` to Parquet with ``jobs`` processes."""
    params = {"path": str(logdir), "out": str(bench.out / "tmp-export"), "kinds": kinds}
    bench.run(workload, task, "tbtool", units, "export", **params, jobs=jobs)


def validate(bench: Bench, workload: str, logdir: Path, units: int) -> None:
    bench.run(workload, "validate", "tbtool", units, "validate", path=str(logdir))


def rustboard(
    bench: Bench, workload: str, logdir: Path, kind: str, units: int, checksum: bool = False
) -> None:
    """rustboard's time to serve every series of ``kind`` up to its last step."""
    task = "load logdir" + (" --checksum" if checksum else "")
    params = {"path": str(logdir), "expected": expected_series(logdir, kind), "kind": kind}
    params |= {"checksum": checksum, "timeout": bench.sizes.timeout}
    bench.run(workload, task, "rustboard", units, "rustboard", **params)


def floor(bench: Bench, workload: str, logdir: Path, units: int) -> None:
    bench.run(workload, "read + CRC floor", "floor", units, "floor", path=str(logdir))


def commands(bench: Bench, workload: str, logdir: Path, units: int, step: int) -> None:
    """Every ``tbtool`` command, whole, on ``logdir`` (its ratios to ``export`` are issue
    15's targets); ``purge --step`` drops the values from ``step`` on."""
    from benchmarks.commands import COMMANDS

    for name in COMMANDS:
        params = {"name": name, "path": str(logdir), "step": step}
        bench.run(workload, f"tbtool {name}", "tbtool CLI", units, "command", **params)


def readers(bench: Bench, workload: str, logdir: Path, kind: str, units: int) -> None:
    """tbtool, the reading peers, rustboard and the CRC floor on one logdir."""
    for tool in ("tbtool", "tbparse", "accumulator"):
        read(bench, workload, logdir, kind, units, tool)
    rustboard(bench, workload, logdir, kind, units)
    floor(bench, workload, logdir, units)


# -- the workloads ---------------------------------------------------------------------------
def writer_workload(bench: Bench) -> None:
    scalars, histograms, repeat = bench.sizes.writer
    for case in ("add_scalar", "add_histogram 10k", "add_image 3x64x64"):
        calls = scalars if case == "add_scalar" else histograms
        for tool in ("tbtool", "torch", "tensorboardX"):
            params = {"case": case, "scalars": scalars, "histograms": histograms}
            bench.run("writer", case, tool, calls, "writer", tool=tool, repeat=repeat, **params)


def scalars_workload(bench: Bench) -> None:
    events = bench.sizes.scalars
    logdir = data.synth_scalars(events)
    bench.notes.append(f"scalars: {events:,} scalars in one file, {_mb(logdir)}")
    readers(bench, "scalars", logdir, "scalars", events)
    rustboard(bench, "scalars", logdir, "scalars", events, checksum=True)
    validate(bench, "scalars", logdir, events)
    export(bench, "scalars", "export Parquet", logdir, events, ["scalars"])
    read(bench, "scalars", logdir, "scalars", events, "tbtool-python")
    commands(bench, "scalars", logdir, events, step=events // 8)


def runs_workload(bench: Bench) -> None:
    runs, tags, steps = bench.sizes.runs
    events = runs * tags * steps
    logdir = data.synth_scalars(events, runs=runs, tags=tags)
    bench.notes.append(f"runs: {runs} runs x {tags} tags x {steps:,} steps, {_mb(logdir)}")
    readers(bench, "runs", logdir, "scalars", events)
    read(bench, "runs", logdir, "scalars", events, jobs=2)
    for jobs in (1, 2):
        task = f"export Parquet, {jobs} job{'s' * (jobs > 1)}"
        export(bench, "runs", task, logdir, events, ["scalars"], jobs)
    validate(bench, "runs", logdir, events)
    commands(bench, "runs", logdir, events, step=steps // 2)


def _values_workload(bench: Bench, kind: str, logdir: Path, count: int, what: str) -> None:
    """Every reader and validate on a logdir of ``count`` values of one kind."""
    bench.notes.append(f"{kind}: {what}, {_mb(logdir)}")
    readers(bench, kind, logdir, kind, count)
    validate(bench, kind, logdir, count)


def histograms_workload(bench: Bench) -> None:
    count, buckets = bench.sizes.histograms
    logdir = data.histogram_logdir(count, buckets)
    what = f"{count:,} histograms of {buckets} buckets"
    _values_workload(bench, "histograms", logdir, count, what)


def images_workload(bench: Bench) -> None:
    count, side = bench.sizes.images
    logdir = data.image_logdir(count, side)
    _values_workload(bench, "images", logdir, count, f"{count:,} PNG images {side}x{side} RGB")


def memory_workload(bench: Bench) -> None:
    logdir = data.synth_size(bench.sizes.big)
    bench.notes.append(
        f"memory: `tbtool synth --size {bench.sizes.big} --num-runs 8`, {_mb(logdir)}"
    )
    size = data.logdir_bytes(logdir)
    auto = f"--jobs 0, the CLI default ({_auto_jobs(logdir)} chosen)"
    labels = {1: "1 job", 2: "2 jobs", 0: auto}
    for jobs, label in labels.items():
        task = f"export scalars+histograms, {label}"
        export(bench, "memory", task, logdir, size, ["scalars", "histograms"], jobs)
    validate(bench, "memory", logdir, size)
    floor(bench, "memory", logdir, size)


def chart_workload(bench: Bench) -> None:
    for events in bench.sizes.chart:
        readers(bench, f"chart {events:,}", data.synth_scalars(events), "scalars", events)


def profile_where_slower(bench: Bench) -> None:
    """cProfile tbtool's read wherever rustboard loads the same logdir faster, and the
    largest read of the chart (where the cost per event is highest)."""
    if "chart" in {r["workload"].split()[0] for r in bench.rows}:
        events = max(bench.sizes.chart)
        params = {"path": str(data.synth_scalars(events)), "kind": "scalars"}
        bench.profiles[f"chart {events:,}"] = measure("profile", params, bench.sizes.timeout)
    for workload in ("scalars", "runs", "histograms", "images"):
        rows = [r for r in bench.rows if r["workload"] == workload and "seconds" in r]
        rust = next((r for r in rows if r["tool"] == "rustboard"), None)
        ours = next(
            (r for r in rows if r["tool"] == "tbtool" and r["task"].startswith("read ")), None
        )
        if rust is None or ours is None or rust["seconds"] >= ours["seconds"]:
            continue
        params = {"path": str(_logdir_of(bench, workload)), "kind": ours["task"].split()[1]}
        bench.profiles[workload] = measure("profile", params, bench.sizes.timeout)


def _logdir_of(bench: Bench, workload: str) -> Path:
    s = bench.sizes
    return {
        "scalars": lambda: data.synth_scalars(s.scalars),
        "runs": lambda: data.synth_scalars(s.runs[0] * s.runs[1] * s.runs[2], *s.runs[:2]),
        "histograms": lambda: data.histogram_logdir(*s.histograms),
        "images": lambda: data.image_logdir(*s.images),
    }[workload]()


def _auto_jobs(logdir: Path) -> int:
    from tbtool.columnar.parallel import auto_jobs

    return auto_jobs([str(p) for p in data.event_files(logdir)], 0)


def _mb(logdir: Path) -> str:
    return f"{data.logdir_bytes(logdir) / 1e6:,.1f} MB"


RUNNERS = {
    "writer": writer_workload,
    "scalars": scalars_workload,
    "runs": runs_workload,
    "histograms": histograms_workload,
    "images": images_workload,
    "memory": memory_workload,
    "chart": chart_workload,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", action="append", choices=WORKLOADS, help="repeatable")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write (default: benchmarks/results; with --quick, a directory under "
        "the temp directory, so a smoke test never replaces the committed results)",
    )
    parser.add_argument("--no-chart", action="store_true", help="do not draw the PNG")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = data.CACHE / "quick-results" if args.quick else Path(__file__).parent / "results"
    args.out = args.out.resolve()  # the measuring processes run in the repository
    sizes = QUICK if args.quick else Sizes()
    args.out.mkdir(parents=True, exist_ok=True)
    bench = Bench(sizes, args.out)
    started = time.time()
    report.print_header()
    for name in args.only or WORKLOADS:
        RUNNERS[name](bench)
    profile_where_slower(bench)
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    command += "".join(f" --only {name}" for name in args.only or ())
    results = {
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "minutes": (time.time() - started) / 60,
        "machine": report.machine(),
        "sizes": asdict(sizes),
        "notes": bench.notes,
        "tools": TOOLS,
        "rows": bench.rows,
        "profiles": bench.profiles,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "report.md").write_text(report.markdown(results))
    written = ["report.md", "results.json"]
    if not args.no_chart and report.chart(results, args.out / "performance.png"):
        written.append("performance.png")
    print(f"\nwrote {', '.join(written)} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
