"""A real headless Chromium (Debian's ``chromium`` package) driven over the DevTools protocol:
open a page, wait for it to say it is drawn, collect console errors, uncaught exceptions and
any request that leaves the machine, and take a screenshot. One browser launch per call."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    """What the browser saw of one page."""

    ready: str | None  # the value of the page's ready expression (None: never ready)
    errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    evaluated: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _DevTools:
    def __init__(self, url: str) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(url, suppress_origin=True, timeout=60)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)


def _errors(events: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    errors, outside = [], []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                outside.append(url)
    return errors, outside


def visit(
    page: Path,
    ready: str,
    evaluate: dict[str, str] | None = None,
    width: int = 1400,
    height: int = 2400,
    timeout: float = 60.0,
) -> PageVisit:
    """Open ``page`` (a local file) and wait until the JavaScript expression ``ready`` is
    truthy; then evaluate ``evaluate`` (name -> expression) and screenshot the viewport."""
    chromium = find_chromium()
    assert chromium is not None, "chromium is not installed (apt-get install chromium)"
    with tempfile.TemporaryDirectory(prefix="tbtool-chromium-") as profile:
        process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                assert process.poll() is None, f"chromium exited with {process.returncode}"
                assert time.monotonic() < deadline, "chromium did not start"
                time.sleep(0.1)
            port = int(port_file.read_text().splitlines()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = [t for t in json.load(r) if t["type"] == "page"]
            tools = _DevTools(targets[0]["webSocketDebuggerUrl"])
            for domain in ("Runtime", "Log", "Network", "Page"):
                tools.call(f"{domain}.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=height, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
            started = time.monotonic()
            tools.call("Page.navigate", url=page.resolve().as_uri())
            value = None
            while time.monotonic() - started < timeout:
                result = tools.call("Runtime.evaluate", expression=ready, returnByValue=True)
                value = result.get("result", {}).get("value")
                if value:
                    break
                time.sleep(0.1)
            seconds = time.monotonic() - started
            out = PageVisit(ready=value or None, seconds=seconds)
            for name, expression in (evaluate or {}).items():
                result = tools.call("Runtime.evaluate", expression=expression, returnByValue=True)
                out.evaluated[name] = result.get("result", {}).get("value")
            shot = tools.call("Page.captureScreenshot", format="png")
            out.screenshot = base64.b64decode(shot["data"])
            out.errors, out.outside_requests = _errors(tools.events)
            tools.ws.close()
            return out
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def must_have_chromium() -> bool:
    """Whether a missing browser fails the test (in CI) rather than skipping it."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
