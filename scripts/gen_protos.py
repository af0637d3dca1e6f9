#!/usr/bin/env python
"""Regenerate tbtool/proto/*_pb2.py and *_pb2.pyi from the .proto files.

Usage (from anywhere)::

    python scripts/gen_protos.py

Runs ``grpc_tools.protoc`` with ``-I <repo root>`` (so the generated modules import
each other as ``tbtool.proto.x_pb2``) plus grpc_tools' bundled include directory (for
``google/protobuf/struct.proto``), writing next to the .proto files. Stale generated
modules without a matching .proto are deleted.

The committed code is generated with ``grpcio-tools==1.62.3`` (protoc 25.1). Its output
runs on every protobuf runtime >= 4.25. protoc 26 and newer stamp the generated modules
with a runtime version check that raises the minimum protobuf to that protoc's version,
which would clash with TensorFlow's protobuf pin; this script therefore warns (but still
generates) when it finds a newer protoc.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO_ROOT / "tbtool" / "proto"
PINNED_PROTOC_MAJOR = 25
PINNED_GRPCIO_TOOLS = "1.62.3"


def _grpc_tools():
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        sys.exit(f"grpc_tools not found: pip install grpcio-tools=={PINNED_GRPCIO_TOOLS}")
    return grpc_tools, protoc


def _include_dir() -> Path:
    grpc_tools, _ = _grpc_tools()
    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def protoc_version() -> str:
    """Return the version string of the protoc bundled with grpc_tools, e.g. '25.1'."""
    out = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else out.strip()


def run_protoc(args: list[str]) -> None:
    """Run grpc_tools.protoc in-process with the standard include paths."""
    _, protoc = _grpc_tools()
    argv = ["grpc_tools.protoc", f"-I{REPO_ROOT}", f"-I{_include_dir()}", *args]
    rc = protoc.main(argv)
    if rc != 0:
        raise SystemExit(f"protoc failed (exit {rc}): {' '.join(argv)}")


def proto_files() -> list[str]:
    """The .proto files, as paths relative to the repo root (protoc's view)."""
    return sorted(p.relative_to(REPO_ROOT).as_posix() for p in PROTO_DIR.glob("*.proto"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)

    grpc_tools, _ = _grpc_tools()
    version = protoc_version()
    print(f"using protoc {version} from {Path(grpc_tools.__file__).resolve().parent}")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = None
    if major is None or major > PINNED_PROTOC_MAJOR:
        print(
            f"WARNING: protoc {version} is newer than {PINNED_PROTOC_MAJOR}.x. The committed "
            f"code is generated with grpcio-tools=={PINNED_GRPCIO_TOOLS} (protoc 25.1) so "
            "that it runs on protobuf>=4.25; newer protoc emits a runtime version check "
            "that raises the minimum protobuf to its own version and can clash with "
            f"TensorFlow's protobuf pin. Install grpcio-tools=={PINNED_GRPCIO_TOOLS} in a "
            "separate venv to regenerate for commit.",
            file=sys.stderr,
        )

    protos = proto_files()
    if not protos:
        sys.exit(f"no .proto files in {PROTO_DIR}")
    wanted = {Path(p).stem for p in protos}
    for gen in [*PROTO_DIR.glob("*_pb2.py"), *PROTO_DIR.glob("*_pb2.pyi")]:
        if gen.name.rsplit("_pb2", 1)[0] not in wanted:
            print(f"removing stale {gen.relative_to(REPO_ROOT)}")
            gen.unlink()

    run_protoc([f"--python_out={REPO_ROOT}", f"--pyi_out={REPO_ROOT}", *protos])
    for p in protos:
        print(f"generated {p[: -len('.proto')]}_pb2.py/.pyi")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
