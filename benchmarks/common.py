"""What every benchmark shares: an emulator in its own process, connections, figures, results.

Everything talks to 127.0.0.1 only. The emulator runs as a separate process (its CLI), so the
client's CPU time and memory measured here are the client's alone.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Emulator:
    """A running emulator process and its three base URLs."""

    process: subprocess.Popen[str]
    url: str
    gateway_url: str
    ctrl_url: str

    def get(self, path: str) -> Any:
        with urlopen(self.url + path, timeout=120) as response:
            return json.load(response)

    def post(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        request = Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urlopen(request, timeout=120) as response:
            return json.load(response)

    def requests_log(self) -> list[dict[str, Any]]:
        body = self.get("/_emulator/requests")
        return list(body["items"] if isinstance(body, dict) else body)


@contextmanager
def emulator(*args: str) -> Iterator[Emulator]:
    """Start ``mailgun-emulator`` on a free port with extra CLI ``args``; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_mailgun.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        urls = re.findall(r"https?://\S+", line)
        if len(urls) != 3:
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield Emulator(process, urls[0], urls[1], urls[2])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def use_connection(emu: Emulator, *, via: str, extra: dict[str, Any] | None = None) -> str:
    """Point ``maton_default`` (``via="gateway"``) or ``mailgun_default`` (``"direct"``) at ``emu``.

    ``extra`` adds connection extras (say ``max_requests_per_second`` or ``rate_limit_scope``).
    The connection is an environment variable, so processes started afterwards see it too.
    """
    from airflow_provider_mailgun.testing import (
        DEFAULT_DOMAIN,
        DEFAULT_MAILGUN_KEY,
        DEFAULT_MATON_CONNECTION,
        DEFAULT_MATON_KEY,
    )

    if via == "gateway":
        extras = {
            "ctrl_url": emu.ctrl_url,
            "default_domain": DEFAULT_DOMAIN,
            "maton_connection": DEFAULT_MATON_CONNECTION,
            **(extra or {}),
        }
        conn = {"conn_type": "maton", "host": emu.gateway_url, "password": DEFAULT_MATON_KEY, "extra": extras}
        os.environ["AIRFLOW_CONN_MATON_DEFAULT"] = json.dumps(conn)
        return "maton_default"
    conn = {
        "conn_type": "mailgun",
        "host": emu.url,
        "password": DEFAULT_MAILGUN_KEY,
        "extra": {"default_domain": DEFAULT_DOMAIN, **(extra or {})},
    }
    os.environ["AIRFLOW_CONN_MAILGUN_DEFAULT"] = json.dumps(conn)
    return "mailgun_default"


class PeakMemory:
    """Samples this process's RSS every 10 ms; ``peak_mb`` and ``above_baseline_mb`` when done."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return round(float(self.peak) / 2**20, 1)

    @property
    def above_baseline_mb(self) -> float:
        return round(float(self.peak - self.baseline) / 2**20, 1)


class Stopwatch:
    """Wall and CPU seconds of this process over a ``with`` block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = round(time.perf_counter() - self._wall, 3)
        self.cpu = round(time.process_time() - self._cpu, 3)


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "cores": os.cpu_count(),
        # Other work on the machine when the record was written (1, 5, 15 minutes): figures taken
        # under a load above the core count are not representative.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "platform": platform.platform(),
        "commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    # The results this run writes do not make the code it measured dirty.
    status = ["git", "status", "--porcelain", "--", ".", ":!benchmarks/results"]
    dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True).stdout
    return out.stdout.strip() + ("+dirty" if dirty.strip() else "")


def record(name: str, figures: dict[str, Any], targets: dict[str, bool], summary: str) -> dict[str, Any]:
    """Write ``benchmarks/results/<name>.json`` and print one line; misses are said, not hidden."""
    missed = sorted(key for key, met in targets.items() if not met)
    result = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": figures,
        "targets_met": targets,
        "missed": missed,
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    verdict = "all targets met" if not missed else "MISSED: " + ", ".join(missed)
    print(f"{name}: {summary} [{verdict}]", flush=True)
    return result
