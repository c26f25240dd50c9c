"""Server processes under measurement (started on a free port, waited for, their workers'
CPU time and memory read from /proc, stopped as a group), and finding or installing wrk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process leading its own process group, its workers inside it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        workdir: Path,
        *,
        port_option: str | None = "--port",
    ) -> Server:
        """Started on a free port, given as ``port_option`` (or, when None, as ``PORT`` in the
        environment)."""
        port = free_port()
        log = workdir / f"{name}.log"
        if port_option is None:
            env = {**env, "PORT": str(port)}
        with log.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603 (our own commands)
                [*command, *((port_option, str(port)) if port_option else ())],
                env=env,
                cwd=workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, f"http://127.0.0.1:{port}", process, log)

    def wait(self, path: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                answered = httpx.get(self.url + path, timeout=1).status_code == 200
                # Every worker must be up, not only the first to answer.
                if answered and len(self.workers()) >= self.expected_workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} not ready within {within} s: {self.log.read_text()[-2000:]}"
        )

    expected_workers: int = 1

    def workers(self) -> list[int]:
        """The worker processes: the children of the server process that serve requests."""
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                text = (task / "children").read_text().split()
                children.extend(int(pid) for pid in text)
        serving = []
        for pid in children:
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"resource_tracker" not in cmdline:
                    serving.append(pid)
        return serving or [self.process.pid]

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server and its workers have used so far."""
        used = 0
        for pid in {self.process.pid, *self.workers()}:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                used += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return used / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> dict[int, float]:
        found = {}
        for pid in self.workers():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"VmRSS:\s+(\d+) kB", status)
                if match:
                    found[pid] = int(match.group(1)) / 1024
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)", file=sys.stderr)
        install = ["apt-get", "install", "-y", "wrk"]
        if _quietly(install):
            _quietly(["apt-get", "update"])
            _quietly(install)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "bench: wrk is not installed. Install it (Debian/Ubuntu: `sudo apt-get install wrk`, "
        "macOS: `brew install wrk`) and run again."
    )


def _quietly(command: list[str]) -> int:
    done = subprocess.run(  # noqa: S603 (our own commands)
        command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return done.returncode
