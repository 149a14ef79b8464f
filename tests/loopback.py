"""Servers the suite and the benchmarks start on loopback: a free port, and the moto S3 API server in
a process of its own (it enforces Object Lock legal holds)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port():
    """A TCP port nobody listens on at 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(timeout=30, env=None):
    """Start ``moto_server`` on a free port; returns ``(process, endpoint URL)`` once it accepts
    connections. Raises ``RuntimeError`` when it does not start within ``timeout`` seconds. ``env``:
    more environment variables, e.g. ``INITIAL_NO_AUTH_ACTION_COUNT`` (moto then checks credentials)."""
    port = free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
