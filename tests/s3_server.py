"""A real S3-compatible server on loopback for the remote tests: moto's server mode.

Not a mock of the client: s3fs talks HTTP to ``moto`` listening on 127.0.0.1, with dummy
credentials and the endpoint in the standard ``AWS_*`` variables (which the CLI's
subprocesses inherit).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator

from remote_support import environment, free_port, reset_filesystems, wait_for_port

__all__ = ["free_port", "moto_s3", "reset_filesystems"]


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
        wait_for_port(port)
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
    try:
        with environment(env):
            yield endpoint
    finally:
        stop()
        if process:
            proc.wait()
        reset_filesystems()
