"""A real S3-compatible server on loopback for the remote tests: moto's server mode.

Not a mock of the client: s3fs talks HTTP to ``moto`` listening on 127.0.0.1, with dummy
credentials and the endpoint in the standard ``AWS_*`` variables (which the CLI's
subprocesses inherit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def moto_s3(process: bool = False) -> Iterator[str]:
    """Run moto's S3 server on a free loopback port (in a thread, or in its own process
    like a real server, which then does not share this process's CPU); yields its
    endpoint URL. The ``AWS_*`` variables point at it for the duration."""
    port = free_port()
    if process:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(port)
        stop = proc.kill
    else:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        stop = server.stop
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        stop()
        if process:
            proc.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_filesystems()


def reset_filesystems() -> None:
    """Forget cached filesystem objects (they hold the endpoint and credentials)."""
    from tbtool import storage

    storage._resolve.cache_clear()
    with contextlib.suppress(Exception):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
