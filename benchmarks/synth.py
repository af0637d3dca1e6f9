"""tbtool synth --size: MB/s of writing a large synthetic logdir, side by side with what users
would otherwise run to make one (a loop of add_scalar calls through tbtool's and torch's
SummaryWriter). Exits 1 if synth writes less than 50 MB/s.

    python -m benchmarks.synth [--size 500MB] [--style torch] [--peers/--no-peers]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB_PER_S = 50.0


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*tfevents*"):
        with open(path, "rb") as f:
            os.fsync(f.fileno())


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*tfevents*"))


def synth_case(
    scratch: Path, size: str, style: str, kinds: str, rounds: int = 2
) -> tuple[float, float, int]:
    """(MB/s as synth reports it, MB/s including fsync, bytes), best of ``rounds`` (the
    page cache's write-back makes single rounds noisy)."""
    from tbtool.ops.synth.generate import synth

    out = scratch / "synth"
    best = (0.0, 0.0, 0)
    for _ in range(rounds):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        result = synth(out, size=size, style=style, kinds=kinds)
        _fsync_tree(out)
        synced = time.perf_counter() - start
        shutil.rmtree(out)
        best = max(best, (result.mb_per_s, result.bytes / 1e6 / synced, result.bytes))
    return best


def writer_loop(scratch: Path, name: str, events: int) -> float:
    """MB/s of ``add_scalar`` in a loop (4 tags per step), through ``name``'s SummaryWriter."""
    if name == "torch":
        from torch.utils.tensorboard import SummaryWriter
    else:
        from tbtool import SummaryWriter
    out = scratch / f"loop-{name}"
    shutil.rmtree(out, ignore_errors=True)
    tags = ["loss/train", "loss/val", "accuracy/val", "learning_rate"]
    start = time.perf_counter()
    with SummaryWriter(str(out)) as w:
        for i in range(events):
            step, t = divmod(i, 4)
            w.add_scalar(tags[t], 1.0 / (1 + step), step)
    seconds = time.perf_counter() - start
    size = _size(out)
    shutil.rmtree(out)
    return size / 1e6 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="500MB")
    parser.add_argument("--style", default="torch", choices=["torch", "tensorboardx", "tf2"])
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tbtool-bench-synth-"))
    try:
        rows = []
        for label, kinds in (
            ("tbtool synth --kind scalars", "scalars"),
            ("tbtool synth (default kinds)", "scalars,histograms,images,text,hparams"),
        ):
            mb_s, synced, size = synth_case(scratch, args.size, args.style, kinds)
            rows.append((label, size, mb_s, synced))
        if args.peers:
            loop = writer_loop(scratch, "tbtool", 1_000_000)
            rows.append(("tbtool SummaryWriter, add_scalar in a loop", 0, loop, None))
            try:
                loop = writer_loop(scratch, "torch", 50_000)
                rows.append(("torch SummaryWriter, add_scalar in a loop", 0, loop, None))
            except ImportError:
                print("torch not installed: skipped")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"synthetic logdir of {args.size}, {args.style} style, in {tempfile.gettempdir()}")
    print(f"{'case':42} {'MB':>5} {'MB/s':>7} {'MB/s +fsync':>12}")
    for name, size, mb_s, synced in rows:
        size_text = f"{size / 1e6:5.0f}" if size else " " * 5
        synced_text = f"{synced:12.0f}" if synced is not None else ""
        print(f"{name:42} {size_text} {mb_s:7.1f} {synced_text}")
    slowest = min(mb_s for name, _, mb_s, _ in rows if name.startswith("tbtool synth"))
    if slowest < TARGET_MB_PER_S:
        print(f"FAIL: synth wrote {slowest:.0f} MB/s, target {TARGET_MB_PER_S:.0f} MB/s")
        sys.exit(1)


if __name__ == "__main__":
    main()
