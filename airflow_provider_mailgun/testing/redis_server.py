"""A throwaway ``redis-server`` on 127.0.0.1, for tests of a rate limit shared through Redis.

::

    with local_redis() as url:          # "redis://127.0.0.1:PORT/0", or None without redis-server
        if url is None:
            pytest.skip("install redis-server to run this test")
        ...  # a connection with the extra rate_limit_redis_url=url

Nothing is saved to disk; the server stops when the block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_redis(start_timeout: float = 10.0) -> Iterator[str | None]:
    """Run ``redis-server`` on a free port for the block; yield its URL (None when not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The binary found on PATH and fixed arguments: no outside input reaches the command line.
    server = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not _accepts(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _accepts(port: int) -> bool:
    with socket.socket() as conn:
        return conn.connect_ex(("127.0.0.1", port)) == 0
