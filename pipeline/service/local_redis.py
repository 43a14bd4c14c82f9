"""A throwaway redis-server on a free loopback port, for the celery executor's end-to-end tests and benchmark.

No persistence, nothing outside its folder; production runs Debian's redis-server under systemd
(README: "Reading on several machines").
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["RedisServer"]

START_WAIT = 20.0  # seconds for redis-server to answer PING before it counts as failed


class RedisServer:
    """redis-server on 127.0.0.1 at a free port, its log and files in ``folder``; ``url`` is its database 0."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        """Raises RuntimeError when redis-server is not installed or does not start (its log says why).

        ``port``: this one rather than a free one (a new server where a killed one was: its data gone).
        """
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: run scripts/setup.sh (it installs Debian's redis-server)")
        folder.mkdir(parents=True, exist_ok=True)
        if port is None:
            with socket.socket() as s:  # a port free now; another process could take it before redis-server does
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        self.port = port
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = folder / "redis.log"
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
        with self.log.open("ab") as out:  # a server started again appends to the log
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_WAIT
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def answers(self) -> bool:
        """Whether it answers PING (a raw socket: no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self) -> Any:
        """A redis-py client of it (the celery extra brings redis-py)."""
        import redis

        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
