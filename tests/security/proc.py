"""A ``cpimock serve`` subprocess on a loopback port, for tests that kill, signal or soak it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_LISTENING = re.compile(r"listening on https://[^\s]*:(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_option(root: Path, section: str, line: str) -> None:
    """Add ``line`` to ``[section]`` of the workspace's cpimock.toml (creating the table if needed)."""
    config = root / "cpimock.toml"
    text = config.read_text()
    header = f"[{section}]\n"
    if header in text:
        text = text.replace(header, header + line + "\n", 1)
    else:
        text += f"\n{header}{line}\n"
    config.write_text(text)


class ServerProcess:
    """``python -m cpimock serve`` on a free loopback port; its log goes to ``server.log`` in *root*.

    The server binds port 0 itself and the port is read from its log: a port picked here and
    bound later could be taken meanwhile by another test process.
    """

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.port = 0
        self.log_path = root / "server.log"
        self._log = self.log_path.open("ab")
        started = self.log().count("listening on")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cpimock", "serve", "--workspace", str(root), "--port", "0", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.wait_for_log("listening on", count=started + 1)
        self.port = int(_LISTENING.findall(self.log())[-1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the server log after {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log.close()
