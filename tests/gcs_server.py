"""A Google Cloud Storage emulator on loopback for the remote tests (``gcp-storage-emulator``
in its own process, in-memory).

Not a mock of the client: gcsfs speaks the GCS JSON API over HTTP to the emulator, which it
finds through ``STORAGE_EMULATOR_HOST``. The fsspec defaults for ``gs://`` (anonymous token,
a project) come from ``FSSPEC_GS`` for the CLI's subprocesses and from fsspec's config in this
process, so no code path asks Google's auth (nor a metadata server) for credentials.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from remote_support import environment, free_port, reset_filesystems

GS_OPTIONS = {"token": "anon", "project": "tbtool-test"}


class EmulatorUnavailable(RuntimeError):
    """The emulator is not installed or did not answer (tests skip on this)."""


def _wait_until_serving(endpoint: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Poll the bucket listing until it answers: an open port alone does not mean the
    API thread is serving yet."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback direct
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise EmulatorUnavailable(f"gcp-storage-emulator exited with {proc.returncode}")
        try:
            with opener.open(f"{endpoint}/storage/v1/b?project=tbtool-test", timeout=1) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise EmulatorUnavailable(f"gcp-storage-emulator did not answer at {endpoint}")
        time.sleep(0.05)


@contextlib.contextmanager
def gcs_emulator(seconds: float = 20.0) -> Iterator[str]:
    """Run the emulator on a free loopback port; yields its endpoint URL while
    ``STORAGE_EMULATOR_HOST`` and the ``gs`` defaults point at it.

    ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` keeps gcsfs's plain filesystem class: the
    default (experimental) one first asks the Storage Control gRPC API for each bucket's
    layout, which no emulator serves, and falls back only after a 60 s timeout.
    """
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError as e:
        raise EmulatorUnavailable(f"gcp-storage-emulator is not installed ({e})") from None
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "-H", "127.0.0.1",
         "--port", str(port), "--in-memory", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "STORAGE_EMULATOR_HOST": endpoint,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "FSSPEC_GS": json.dumps(GS_OPTIONS),
        "NO_GCE_CHECK": "true",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    try:
        _wait_until_serving(endpoint, proc, seconds)
        with environment(env), _gs_defaults():
            yield endpoint
    finally:
        proc.kill()
        proc.wait()
        reset_filesystems()


@contextlib.contextmanager
def _gs_defaults() -> Iterator[None]:
    """What ``FSSPEC_GS`` gives a new process, for this one (fsspec read the environment
    when it was imported); and gcsfs's plain class for ``gs://`` even where gcsfs was
    imported before the variable was set (it then stays registered for this process)."""
    import fsspec
    import fsspec.config
    import gcsfs
    import gcsfs.core

    reset_filesystems()
    saved = {p: fsspec.config.conf.get(p) for p in ("gs", "gcs")}
    for p in saved:
        fsspec.config.conf[p] = {**(saved[p] or {}), **GS_OPTIONS}
    if gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:
        for p in ("gs", "gcs"):
            fsspec.register_implementation(p, gcsfs.core.GCSFileSystem, clobber=True)
    try:
        yield
    finally:
        for p, value in saved.items():
            if value is None:
                fsspec.config.conf.pop(p, None)
            else:
                fsspec.config.conf[p] = value
