"""Run the payload fuzzer against the C extension built with AddressSanitizer and UBSan.

The extension is compiled with ``-fsanitize=address,undefined -fno-sanitize-recover=all`` into
a scratch copy of the package (the working tree's build is left alone), and
``tests/payload_fuzz.py`` runs there for a bounded time with the ASan runtime preloaded
(Python itself is not instrumented). Any sanitizer report aborts the run; any decoder
difference fails it as in the test suite. Odd-numbered seeds run with the software CRC.

    python scripts/fuzz_sanitized.py --seconds 300        # a longer run than CI's
    python scripts/fuzz_sanitized.py --seconds 20 --seed 1000

Exit code: the fuzzer's (0: no report, no mismatch). Needs gcc with libasan and libubsan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLAGS = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
]


def build(scratch: Path, cc: str = "gcc") -> Path:
    """A copy of the package under ``scratch`` with a sanitized ``_columnar``; its path."""
    package = scratch / "tbtool"
    shutil.copytree(REPO / "tbtool", package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    extension = package / "columnar"
    target = extension / ("_columnar" + sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    command = [cc, *FLAGS, "-shared", "-fPIC", f"-I{include}", str(extension / "_columnar.c")]
    subprocess.run([*command, "-o", str(target)], check=True)
    return target


def runtime(cc: str = "gcc") -> str:
    """The ASan runtime to preload (it must come before every other library)."""
    found = subprocess.run(
        [cc, "-print-file-name=libasan.so"], check=True, capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(found):
        raise SystemExit(f"{cc} has no libasan.so (install the compiler's sanitizer runtime)")
    return found


def run(seconds: float, seed: int, scratch: Path, cc: str = "gcc") -> int:
    target = build(scratch, cc)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(scratch),
        LD_PRELOAD=runtime(cc),
        # Python's own allocations outlive the process on purpose: no leak report.
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
        PYTHONWARNINGS="ignore",
    )
    env.pop("TBTOOL_PURE_PYTHON", None)
    fuzzer = REPO / "tests" / "payload_fuzz.py"
    command = [sys.executable, str(fuzzer), "--seconds", str(seconds), "--seed", str(seed)]
    done = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr[-20000:])
    if done.returncode == 0 and str(target) not in done.stdout:
        sys.stderr.write(f"the fuzzer did not load the sanitized build {target}\n")
        return 1
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.seconds, args.seed, args.keep, args.cc)
    with tempfile.TemporaryDirectory(prefix="tbtool-asan-") as scratch:
        return run(args.seconds, args.seed, Path(scratch), args.cc)


if __name__ == "__main__":
    sys.exit(main())
