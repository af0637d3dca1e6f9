"""``tbtool watch`` driven in a pseudo-terminal: it shows runs, picks up values appended
while it runs (a new file of a run and a new run), and quits cleanly on Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import tbtool
from tbtool import sample
from tbtool.cli import app
from tbtool.ops.watch import Watch


def write(run: Path, tag: str, values: dict[int, float], start: float = 1_700_000_000) -> None:
    with tbtool.SummaryWriter(str(run)) as w:
        for step, value in values.items():
            w.add_scalar(tag, value, step, walltime=start + step)


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (stdin), so the
    terminal driver turns Ctrl-C into SIGINT for it, as in a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child process on the slave side of a pty; what it prints is collected here."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
        env.pop("NO_COLOR", None)
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=_own_terminal
        )
        os.close(slave)
        self.output = b""

    def read_until(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.encode() in self.output:
                return True
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    return text.encode() in self.output
        return False

    def interrupt(self) -> int:
        os.write(self.master, b"\x03")  # Ctrl-C, as the terminal driver sends SIGINT
        try:
            return self.process.wait(timeout=20)
        finally:
            self.read_until("\0", timeout=0.3)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def test_watch_in_a_terminal_follows_growth_and_quits_on_ctrl_c(tmp_path):
    write(tmp_path / "alpha", "loss", {0: 1.5, 1: 1.25})
    terminal = Terminal(
        [sys.executable, "-m", "tbtool", "watch", str(tmp_path), "--interval", "0.2"]
    )
    try:
        assert terminal.read_until("alpha"), terminal.output.decode(errors="replace")
        assert terminal.read_until("1.25")
        write(tmp_path / "alpha", "loss", {2: 0.875}, start=1_700_000_100)  # a new file
        write(tmp_path / "beta", "loss", {7: 3.0625})  # a new run
        assert terminal.read_until("0.875"), terminal.output.decode(errors="replace")[-2000:]
        assert terminal.read_until("3.0625")
        code = terminal.interrupt()
        text = terminal.output.decode(errors="replace")
        assert code == 0, text[-2000:]
        assert "Traceback" not in text and "KeyboardInterrupt" not in text
    finally:
        terminal.close()


def test_watch_state_steps_per_second_and_tensor_scalars(tmp_path):
    write(tmp_path / "run", "loss", {s: 1.0 / (s + 1) for s in range(0, 100, 10)})
    watch = Watch(tmp_path)
    (run,) = watch.poll()
    assert run.step == 90 and run.tags["loss"].step == 90
    assert run.tags["loss"].value == np.float32(1 / 91)
    assert run.steps_per_second == 1.0  # one step per second of wall time
    with tbtool.SummaryWriter(str(tmp_path / "run")) as w:  # new-style tensor scalars
        w.add_scalar("loss", 0.05, 100, walltime=1_700_000_100, new_style=True)
    (run,) = watch.poll()
    assert run.tags["loss"].value == np.float32(0.05) and run.step == 100
    watch.close()


def test_watch_once_prints_a_table():
    result = CliRunner().invoke(app, ["watch", sample.path(), "--once", "--run", "lr_"])
    assert result.exit_code == 0, result.output
    header, _, row = result.stdout.splitlines()[:3]
    assert header.split() == ["run", "step", "steps/s", "last", "event", "accuracy", "loss/train",
                              "loss/val"]  # fmt: skip
    assert row.split()[:2] == ["lr_0.05", "99"] and row.split()[-3:] == [
        "0.97204",
        "0.0172402",
        "0.0768913",
    ]
