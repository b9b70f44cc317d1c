"""The adaptive rate limit in a client: probing, pausing everyone, server hints, the shared file.

Over real HTTP on 127.0.0.1 (the emulator's token bucket, or a test server's headers).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from airflow_provider_mailgun.client import ClientConfig, MailgunClient
from airflow_provider_mailgun.client.limit_state import BucketState
from airflow_provider_mailgun.client.limit_stores import HostStore, LocalStore, store_for
from airflow_provider_mailgun.client.ratelimit import AdaptiveRateLimiter
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.client.conftest import FAST_RETRIES

ClientFactory = Callable[..., MailgunClient]


def _in_threads(work: Callable[[], object], threads: int, calls: int) -> None:
    def run() -> None:
        for _ in range(calls):
            work()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_with_no_limit_known_a_cut_off_burst_costs_one_429_not_one_per_thread(
    mailgun_emulator_factory: Callable[..., MailgunEmulator],
) -> None:
    emu = mailgun_emulator_factory(rate_limit=20)
    client = MailgunClient(ClientConfig.for_mailgun(emu.mailgun_key, base_url=emu.url, **FAST_RETRIES))
    _in_threads(lambda: client.domains.get(emu.domain), threads=4, calls=10)
    statuses = [r["status"] for r in emu.requests()]
    assert statuses.count(200) == 40
    # The probe sends one request at a time until the server cuts the burst off: one refusal.
    # (Four threads bursting together would get one each.) A second one is possible later.
    assert statuses.count(429) <= 2
    assert statuses.index(429) >= 15  # the refusal came at the end of the server's burst of 20
    assert client.transport.limiter.rate == pytest.approx(20, rel=0.35)


def test_a_429_pauses_every_caller_for_the_servers_hint() -> None:
    limiter = AdaptiveRateLimiter(20.0, LocalStore())
    arrivals: list[float] = []
    refused_at: list[float] = []

    def keep_sending() -> None:
        for _ in range(40):
            ticket = limiter.acquire()
            arrivals.append(time.monotonic())
            limiter.finish(ticket, 200)

    worker = threading.Thread(target=keep_sending)
    worker.start()
    time.sleep(0.3)  # 10 at once, then one each 50 ms: the worker is mid-way
    ticket = limiter.acquire()
    refused_at.append(time.monotonic())
    limiter.finish(ticket, 429, {"Retry-After": "1"}, b'{"message": "slow down"}')
    worker.join()
    after = [t for t in arrivals if t > refused_at[0]]
    assert after, "the worker kept sending"
    # The worker's next slot came only after the pause (a little early for timer granularity).
    assert after[0] - refused_at[0] >= 0.9


def test_the_server_saying_no_requests_remain_holds_the_next_one_until_its_reset(
    httpserver: HTTPServer, make_client: ClientFactory
) -> None:
    arrivals: list[float] = []

    def handler(request: object) -> object:
        from werkzeug import Response

        arrivals.append(time.monotonic())
        headers = {"X-RateLimit-Remaining": "0" if len(arrivals) == 1 else "50", "X-RateLimit-Reset": "1"}
        return Response('{"route": {}}', content_type="application/json", headers=headers)

    httpserver.expect_request("/v3/routes/r").respond_with_handler(handler)
    client = make_client()
    client.routes.get("r")
    client.routes.get("r")
    assert arrivals[1] - arrivals[0] >= 0.9


def test_processes_on_one_host_share_the_state_file(tmp_path: Path) -> None:
    first, second = HostStore(tmp_path / "s.json"), HostStore(tmp_path / "s.json")

    def learn(state: BucketState | None) -> tuple[BucketState, None]:
        fresh = state or BucketState.fresh(None, now=time.time())
        fresh.rate = 7.0
        fresh.used_at = time.time()
        return fresh, None

    first.update(learn)
    seen = second.update(lambda state: (state or BucketState.fresh(None, now=0.0), state and state.rate))
    assert seen == 7.0
    stored = json.loads((tmp_path / "s.json").read_text())
    assert stored["rate"] == 7.0
    assert oct(os.stat(tmp_path / "s.json").st_mode & 0o777) == "0o600"
    (tmp_path / "s.json").write_text("not json")
    assert second.update(lambda state: (state or BucketState.fresh(None, now=0.0), state)) is None


def test_clients_of_one_account_share_one_store_and_the_key_is_not_in_its_name(tmp_path: Path) -> None:
    config = ClientConfig.for_maton("maton-secret-key", gateway_url="http://127.0.0.1:9")
    one, two = MailgunClient(config), MailgunClient(config)
    assert one.transport.limiter.store is two.transport.limiter.store
    other = MailgunClient(ClientConfig.for_maton("another-key", gateway_url="http://127.0.0.1:9"))
    assert other.transport.limiter.store is not one.transport.limiter.store
    directory = Path(os.environ["AIRFLOW_PROVIDER_MAILGUN_RATE_LIMIT_DIR"])
    names = [path.name for path in directory.iterdir()]
    assert len(names) == 2
    assert not any("secret" in name or "another" in name for name in names)
    assert isinstance(store_for("process", None, "k"), LocalStore)


def test_a_directory_that_is_not_ours_falls_back_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    try:
        os.chown(foreign, 65534, 65534)  # somebody else's
    except PermissionError:
        pytest.skip("giving a directory to another user needs root")
    monkeypatch.setenv("AIRFLOW_PROVIDER_MAILGUN_RATE_LIMIT_DIR", str(foreign))
    assert isinstance(store_for("host", None, "fallback-key"), LocalStore)
    assert "pacing per process" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit_scope": "cluster"}, "rate_limit_scope must be one of host, process"),
        ({"rate_limit_redis_url": "http://:pw@redis:6379"}, "rate_limit_redis_url must start with"),
    ],
)
def test_bad_rate_limit_settings_are_refused_without_echoing_a_url(options: dict, message: str) -> None:
    from airflow_provider_mailgun.exceptions import MailgunConfigError

    with pytest.raises(MailgunConfigError, match=message) as caught:
        ClientConfig.for_mailgun("key", **options)
    assert "pw" not in str(caught.value)
    assert "redis" not in repr(ClientConfig.for_mailgun("key", rate_limit_redis_url="redis://:pw@h:1/0"))
