"""Running one benchmark task in a fresh Python process, so each tool's peak memory is its own.

The parent calls :func:`measure` with a task name and JSON-able parameters; the child
(``python -m benchmarks.measure TASK PARAMS``) imports the task's module, runs it, and prints
one JSON line: what the task returned (``seconds`` of the timed part, imports excluded) plus
``peak_rss_mb`` (the child's ``VmHWM``) and ``children_rss_mb`` (the largest peak among the
processes it started and waited for: reader workers, the rustboard server). ``VmHWM``, not
``getrusage``: ``ru_maxrss`` survives ``exec``, so a child would report its parent's peak.
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The repository: children run there, so ``benchmarks`` imports from any working directory.
ROOT = Path(__file__).resolve().parent.parent

#: Task name -> "module:function"; each function takes keyword parameters and returns a dict
#: with at least ``seconds``.
TASKS = {
    "read": "benchmarks.read:read_task",
    "floor": "benchmarks.read:crc_floor_task",
    "rustboard": "benchmarks.rustboard:load_task",
    "validate": "benchmarks.validate:validate_task",
    "export": "benchmarks.export:export_task",
    "writer": "benchmarks.writer:writer_task",
    "profile": "benchmarks.read:profile_task",
    "command": "benchmarks.commands:command_task",
}


def measure(task: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``task`` in a fresh process. A task that fails or runs past ``timeout`` seconds
    gives ``{"error": ...}`` / ``{"timed_out": timeout}`` instead of raising, so one peer's
    trouble does not lose the rest of the report."""
    command = [sys.executable, "-m", "benchmarks.measure", task, json.dumps(params)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"timed_out": timeout}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:120]}"}
    return json.loads(lines[-1])


def status_mb(field: str = "VmHWM") -> float:
    """A memory figure of this process from /proc/self/status (``VmHWM``: its peak RSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """The child's side: run one task and print its result as the last line of stdout."""
    import warnings

    warnings.simplefilter("ignore")
    task, params = sys.argv[1], json.loads(sys.argv[2])
    module, name = TASKS[task].split(":")
    result = getattr(importlib.import_module(module), name)(**params)
    result["peak_rss_mb"] = status_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result.setdefault("children_rss_mb", children)
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
