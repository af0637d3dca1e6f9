"""The benchmark report: the console lines, the Markdown tables (results, targets, scaling,
rustboard), the machine description and the chart, all from one run's results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

#: Issue 9's targets: (what, wanted).
TARGETS = (
    ("writer add_scalar: torch's time / tbtool's", ">= 25x"),
    ("read 1M scalars to a DataFrame: tbparse's time / tbtool's", ">= 10x"),
    ("validate 1M scalars: tbparse's read / tbtool validate", ">= 10x"),
    ("export 1 GB: peak RSS", "< 300 MB"),
)
PACKAGES = (
    "tbtool",
    "torch",
    "tensorboard",
    "tensorboard-data-server",
    "tensorboardX",
    "tbparse",
    "pyarrow",
    "pandas",
    "numpy",
    "protobuf",
    "crc32c",
)


def _seconds(row: dict[str, Any]) -> str:
    if "seconds" in row:
        return f"{row['seconds']:.3f}"
    if "timed_out" in row:
        return f"> {row['timed_out']:.0f} (timed out)"
    if "skipped" in row:
        return f"not run ({row['skipped']})"
    return f"failed: {row.get('error', '?')}"


def print_header() -> None:
    print(f"{'workload':16} {'task':36} {'tool':14} {'seconds':>12} {'peak MB':>8}")


def print_row(row: dict[str, Any]) -> None:
    rss = f"{row['peak_rss_mb']:8.0f}" if "peak_rss_mb" in row else " " * 8
    print(
        f"{row['workload']:16} {row['task']:36} {row['tool']:14} {_seconds(row):>12} {rss}",
        flush=True,
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    info["nproc"] = os.cpu_count()
    info["parallel CPU throughput"] = cpu_parallelism()
    info["usable cores"] = len(os.sched_getaffinity(0))
    with open("/proc/meminfo") as f:
        total = next(line for line in f if line.startswith("MemTotal:"))
    info["RAM"] = f"{int(total.split()[1]) / 1024**2:.1f} GiB"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    info["packages"] = versions
    from tbtool.columnar import native

    info["tbtool C extension"] = "built" if native.available() else "not built"
    return info


def _burn(n: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i
    return time.perf_counter() - start


def cpu_parallelism(n: int = 5_000_000) -> str:
    """How much CPU two busy processes get compared with one: what ``--jobs`` can gain."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        alone = min(pool.submit(_burn, n).result() for _ in range(2))
        both = max(pool.map(_burn, [n, n]))
    return f"two busy processes do {2 * alone / both:.2f}x the work of one per second"


def _find(rows: list[dict], workload: str, tool: str, task: str) -> dict | None:
    return next(
        (r for r in rows if (r["workload"], r["tool"], r["task"]) == (workload, tool, task)),
        None,
    )


def _baseline(rows: list[dict], row: dict) -> dict | None:
    """The tbtool measurement a row compares with: the same writer case, or tbtool's
    one-process read of the same workload."""
    if row["workload"] == "writer":
        return _find(rows, "writer", "tbtool", row["task"])
    if row["tool"] == "tbtool CLI":
        return _find(rows, row["workload"], "tbtool CLI", "tbtool export")
    if row["tool"] == "tbtool" and not row["task"].startswith("read "):
        return None  # validate, export: not the same job as a read
    return next(
        (
            r
            for r in rows
            if r["workload"] == row["workload"]
            and r["tool"] == "tbtool"
            and r["task"].startswith("read ")
            and "," not in r["task"]
        ),
        None,
    )


#: Issue 15: each command's time over ``export``'s on the same logdir, at most this.
COMMAND_TARGETS = {
    "tbtool ls": 1.5,
    "tbtool check --no-nan": 1.5,
    "tbtool dump > /dev/null": 1.5,
    "tbtool validate": 1.5,
    "tbtool merge -o": 2.0,
    "tbtool purge --step": 2.0,
}


def commands_table(rows: list[dict]) -> list[str]:
    """Whole commands per workload, as ratios to ``tbtool export`` of the same data."""
    lines = [
        "| workload | command | seconds | vs export | target | holds |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        if row["tool"] != "tbtool CLI":
            continue
        base = _find(rows, row["workload"], "tbtool CLI", "tbtool export")
        ratio = _ratio(row, base) if row is not base else ""
        limit = COMMAND_TARGETS.get(row["task"])
        held = ""
        if limit is not None and ratio:
            held = "yes" if row["seconds"] / base["seconds"] <= limit else "**no**"
        target = f"<= {limit}x" if limit is not None else ""
        lines.append(
            f"| {row['workload']} | `{row['task']}` | {_seconds(row)} | {ratio} | {target} | "
            f"{held} |"
        )
    return lines


def _ratio(row: dict, base: dict | None) -> str:
    if base is None or "seconds" not in row or "seconds" not in base or base["seconds"] <= 0:
        return ""
    return f"{row['seconds'] / base['seconds']:.2f}x"


def _per_unit(row: dict) -> str:
    if "us_per_call" in row:
        return f"{row['us_per_call']:.2f} µs/call"
    if "seconds" not in row or not row["units"]:
        return ""
    if row["workload"] == "memory":
        return f"{row['units'] / 1e6 / row['seconds']:.0f} MB/s"
    return f"{row['seconds'] / row['units'] * 1e6:.2f} µs"


def _mb(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) and value == value and value else ""


def results_table(rows: list[dict]) -> list[str]:
    lines = [
        "| workload | task | tool | seconds | per event/value | time vs tbtool | peak RSS MB | "
        "workers/server peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['workload']} | {row['task']} | {row['tool']} | {_seconds(row)} | "
            f"{_per_unit(row)} | {_ratio(row, _baseline(rows, row))} | "
            f"{_mb(row.get('peak_rss_mb'))} | {_mb(row.get('children_rss_mb'))} |"
        )
    return lines


def targets(rows: list[dict]) -> list[tuple[str, str, str, bool | None]]:
    """(target, wanted, measured, held) for issue 9's targets, from the rows present."""
    out: list[tuple[str, str, str, bool | None]] = []

    def speedup(peer: dict | None, ours: dict | None) -> float | None:
        if peer and ours and "seconds" in peer and "seconds" in ours:
            return peer["seconds"] / ours["seconds"]
        return None

    tbparse = _find(rows, "scalars", "tbparse", "read scalars")
    checks = (
        (
            _find(rows, "writer", "torch", "add_scalar"),
            _find(rows, "writer", "tbtool", "add_scalar"),
            25,
        ),
        (tbparse, _find(rows, "scalars", "tbtool", "read scalars"), 10),
        (tbparse, _find(rows, "scalars", "tbtool", "validate"), 10),
    )
    for (label, wanted), (peer, ours, threshold) in zip(TARGETS, checks, strict=False):
        ratio = speedup(peer, ours)
        if ratio is None:
            out.append((label, wanted, "not measured", None))
        else:
            out.append((label, wanted, f"{ratio:.1f}x", ratio >= threshold))
    exports = [r for r in rows if r["workload"] == "memory" and r["task"].startswith("export")]
    for row in exports:
        if "peak_rss_mb" in row:
            label = f"{TARGETS[3][0]} ({row['task'].split(', ')[-1]})"
            workers = _mb(row.get("children_rss_mb"))
            extra = f"; each worker process up to {workers} MB" if workers else ""
            out.append(
                (
                    label,
                    TARGETS[3][1],
                    f"{row['peak_rss_mb']:.0f} MB{extra}",
                    row["peak_rss_mb"] < 300,
                )
            )
    if not exports:
        out.append((TARGETS[3][0], TARGETS[3][1], "not measured", None))
    return out


#: Issue 16's limits: read / floor, tbparse / read, rustboard / read, peak over frame, export MB.
FLOOR_RATIO, TBPARSE_RATIO, RUSTBOARD_RATIO, MEMORY_RATIO, EXPORT_MB = 6.0, 100.0, 1.5, 1.5, 200


def targets_16(rows: list[dict]) -> list[tuple[str, str, str, bool | None]]:
    """(target, wanted, measured, held) for issue 16's targets, from the rows present."""
    out: list[tuple[str, str, str, bool | None]] = []

    def seconds(row: dict | None) -> float | None:
        return row["seconds"] if row and "seconds" in row else None

    def ratio(label: str, wanted: str, top: float | None, bottom: float | None, ok) -> None:
        if top is None or bottom is None or bottom <= 0:
            out.append((label, wanted, "not measured", None))
        else:
            value = top / bottom
            out.append((label, wanted, f"{value:.2f}x ({top:.3f} s / {bottom:.3f} s)", ok(value)))

    read = seconds(_find(rows, "scalars", "tbtool", "read scalars"))
    floor = seconds(_find(rows, "scalars", "floor", "read + CRC floor"))
    tbparse = seconds(_find(rows, "scalars", "tbparse", "read scalars"))
    ratio(
        "1M scalars to a DataFrame: tbtool's time / the read+CRC floor's",
        f"<= {FLOOR_RATIO:g}x", read, floor, lambda v: v <= FLOOR_RATIO,
    )  # fmt: skip
    ratio(
        "1M scalars to a DataFrame: tbparse's time / tbtool's",
        f">= {TBPARSE_RATIO:g}x", tbparse, read, lambda v: v >= TBPARSE_RATIO,
    )  # fmt: skip
    for workload, kind in (
        ("scalars", "scalars"),
        ("runs", "scalars"),
        ("histograms", "histograms"),
        ("images", "images"),
    ):
        for task in ("load logdir", "load logdir --checksum"):
            rust = _find(rows, workload, "rustboard", task)
            if rust is None and task != "load logdir":
                continue
            ours = seconds(_find(rows, workload, "tbtool", f"read {kind}"))
            ratio(
                f"{workload}: rustboard's `{task}` / tbtool's read",
                f">= {RUSTBOARD_RATIO:g}x", seconds(rust), ours, lambda v: v >= RUSTBOARD_RATIO,
            )  # fmt: skip
    for workload in ("runs", "chart 10,000,000"):
        row = _find(rows, workload, "tbtool", "read scalars")
        label = f"{workload}: the read's peak RSS over the RSS before it / the frame's memory"
        if row and "frame_mb" in row and "rss_before_mb" in row and row["frame_mb"]:
            over = row["peak_rss_mb"] - row["rss_before_mb"]
            value = over / row["frame_mb"]
            measured = f"{value:.2f}x ({over:.0f} MB / {row['frame_mb']:.0f} MB)"
            out.append((label, f"<= {MEMORY_RATIO:g}x", measured, value <= MEMORY_RATIO))
        elif row:
            out.append((label, f"<= {MEMORY_RATIO:g}x", "not measured", None))
    for row in rows:
        exported = row["workload"] == "memory" and row["task"].startswith("export")
        if exported and "peak_rss_mb" in row:
            how = row["task"].split(", ")[-1]
            out.append(
                (
                    f"export 1 GB ({how}): peak RSS of the main process",
                    f"<= {EXPORT_MB} MB",
                    f"{row['peak_rss_mb']:.0f} MB",
                    row["peak_rss_mb"] <= EXPORT_MB,
                )
            )
    return out


def scaling(rows: list[dict]) -> list[str]:
    """jobs 1 vs 2 (or automatic) for the tasks measured both ways."""
    pairs = (
        ("runs", "read scalars", "read scalars, 2 jobs"),
        ("runs", "export Parquet, 1 job", "export Parquet, 2 jobs"),
        ("memory", "export scalars+histograms, 1 job", "export scalars+histograms, 2 jobs"),
    )
    lines = [
        "| workload | task | 1 job (s) | more jobs | (s) | speed-up |",
        "|---|---|---:|---|---:|---:|",
    ]
    for workload, one_task, two_task in pairs:
        one = _find(rows, workload, "tbtool", one_task)
        two = next(
            (
                r
                for r in rows
                if r["workload"] == workload
                and r["tool"] == "tbtool"
                and r["task"].startswith(two_task)
            ),
            None,
        )
        if one and two and "seconds" in one and "seconds" in two:
            lines.append(
                f"| {workload} | {one_task.split(',')[0]} | {one['seconds']:.2f} | "
                f"{two['task'].split(', ')[-1]} | {two['seconds']:.2f} | "
                f"{one['seconds'] / two['seconds']:.2f}x |"
            )
    return lines


def rustboard(results: dict) -> list[str]:
    """tbtool's read vs rustboard's load per workload, with a profile where we are slower."""
    rows = results["rows"]
    lines = [
        "| workload | tbtool read (s) | rustboard load (s) | rustboard / tbtool |",
        "|---|---:|---:|---:|",
    ]
    for rust in (r for r in rows if r["tool"] == "rustboard" and "seconds" in r):
        ours = _baseline(rows, rust)
        if ours and "seconds" in ours:
            what = " (rustboard --checksum)" if "checksum" in rust["task"] else ""
            lines.append(
                f"| {rust['workload']}{what} | {ours['seconds']:.3f} | {rust['seconds']:.3f} "
                f"| {rust['seconds'] / ours['seconds']:.2f}x |"
            )
    for workload, profile in results["profiles"].items():
        lines += [
            "",
            f"Where tbtool's read of `{workload}` spends its time (cProfile, own time, "
            f"{profile.get('seconds', 0):.2f} s profiled):",
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---:|---:|---:|",
        ]
        for entry in profile.get("top", []):
            lines.append(
                f"| `{entry['function']}` | {entry['calls']} | {entry['own_s']:.3f} | "
                f"{entry['cumulative_s']:.3f} |"
            )
    return lines


def markdown(results: dict) -> str:
    """The whole report as Markdown."""
    m = results["machine"]
    lines = [
        "# tbtool benchmarks",
        "",
        f"`{results['command']}`, started {results['started']}, {results['minutes']:.1f} min.",
        "",
        f"Machine: {m.get('Model name', '?')}, {m['nproc']} CPUs ({m['usable cores']} usable), "
        f"{m['RAM']} RAM, Python {m['python']}, {m['platform']}; tbtool C extension "
        f"{m['tbtool C extension']}. CPU check: {m['parallel CPU throughput']}.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "Data: " + "; ".join(results["notes"]) + ".",
        "",
        "## Targets",
        "",
        "| target | wanted | measured | holds |",
        "|---|---|---|---|",
    ]
    for label, wanted, measured, held in targets(results["rows"]):
        mark = {True: "yes", False: "**no**", None: ""}[held]
        lines.append(f"| {label} | {wanted} | {measured} | {mark} |")
    lines += ["", "## Targets (issue 16)", "", "| target | wanted | measured | holds |"]
    lines.append("|---|---|---|---|")
    for label, wanted, measured, held in targets_16(results["rows"]):
        mark = {True: "yes", False: "**no**", None: ""}[held]
        lines.append(f"| {label} | {wanted} | {measured} | {mark} |")
    lines += ["", "## Results", "", *results_table(results["rows"]), ""]
    lines += ["## Commands vs export", "", *commands_table(results["rows"]), ""]
    lines += ["## Parallel reading (jobs)", "", *scaling(results["rows"]), ""]
    lines += ["## rustboard", "", *rustboard(results), ""]
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> bool:
    """Time vs number of scalar events, log-log, one line per reader (measured points only);
    False when the run had no chart workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = {}
    for row in results["rows"]:
        if row["workload"].startswith("chart") and "seconds" in row:
            label = results["tools"].get(row["tool"], row["tool"])
            if row["tool"] == "rustboard":
                label = "rustboard (load, no CRC)"
            if row["tool"] == "floor":
                label = "read + CRC-32C floor"
            series.setdefault(label, []).append((row["units"], row["seconds"]))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=90)
    for label, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scalar events in one file")
    ax.set_ylabel("seconds (to a DataFrame / loaded)")
    ax.set_title("Reading scalars: time vs size")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    skipped = sorted(
        {
            results["tools"].get(r["tool"], r["tool"])
            for r in results["rows"]
            if r["workload"].startswith("chart") and "seconds" not in r
        }
    )
    if skipped:
        ax.annotate(
            "not run at every size: " + ", ".join(skipped),
            (0.01, 0.01),
            xycoords="figure fraction",
            fontsize=7,
            color="gray",
        )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
