"""Senders in separate processes share the account's limit instead of each taking all of it.

Four processes, each allowed the Maton default of 10 requests/s, start together against an
emulated gateway that allows the account 10/s in all. Sharing through this host's state file (the
default), or through Redis, they pace as one client: the share of 429 answers stays small. (Each on
its own, they would offer 40/s and be refused far more often while they learn.) The 429 share is
asserted loosely: this is not a timing test.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.testing.redis_server import local_redis

SENDERS = 4
REQUESTS_EACH = 15
MAX_429_SHARE = 0.05

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_senders(emu: MailgunEmulator, scope: str, redis_url: str = "") -> list[int]:
    command = [sys.executable, "-m", "tests.client.limit_sender", emu.gateway_url, emu.maton_key]
    senders = [
        subprocess.Popen(
            [*command, str(REQUESTS_EACH), scope, redis_url],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(SENDERS)
    ]
    try:
        for sender in senders:
            assert sender.stdout is not None
            assert sender.stdout.readline().strip() == "ready"
        for sender in senders:
            assert sender.stdin is not None
            sender.stdin.write("go\n")
            sender.stdin.flush()
        return [int(sender.communicate(timeout=120)[0].strip()) for sender in senders]
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()


def _assert_shared(emu: MailgunEmulator, done: list[int]) -> None:
    assert done == [REQUESTS_EACH] * SENDERS
    statuses = [r["status"] for r in emu.requests()]
    assert statuses.count(200) == SENDERS * REQUESTS_EACH
    assert statuses.count(429) <= MAX_429_SHARE * len(statuses), statuses


def test_processes_on_one_host_share_the_limit(
    mailgun_emulator_factory: Callable[..., MailgunEmulator],
) -> None:
    emu = mailgun_emulator_factory(rate_limit=10)
    _assert_shared(emu, _run_senders(emu, "host"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    pytest.importorskip(
        "redis", reason="install the redis extra: pip install airflow-provider-mailgun[redis]"
    )
    with local_redis() as url:
        if url is None:
            pytest.skip("install redis-server to run the Redis-shared rate limit test")
        yield url


def test_processes_share_the_limit_through_redis(
    mailgun_emulator_factory: Callable[..., MailgunEmulator], redis_url: str
) -> None:
    emu = mailgun_emulator_factory(rate_limit=10)
    # Each process keeps its own state apart from Redis: only Redis can make them pace as one.
    _assert_shared(emu, _run_senders(emu, "process", redis_url))
