"""The emulator posts signed webhooks; a receiver built on ``verify_webhook`` trusts only genuine ones.

A small threaded HTTP receiver answers 200 to bodies that ``verify_webhook`` accepts and 406 (Mailgun's
"rejected, do not retry") to the rest. Registered through the v3 webhooks API, it gets every event
of each type exactly once, with the same ``event-data`` the events API returns; a tampered body, a
replayed one, a stale one and one signed with another key are all refused. Mailgun's retry rule
holds: a 500 is retried (freshly signed), a 406 is not.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import DEFAULT_WEBHOOK_SIGNING_KEY, MailgunEmulator
from airflow_provider_mailgun.webhooks import ReplayCache, signature_for, verify_webhook

SIGNING_KEY = "key-webhook-signing-e2e-4f1d2c3b5a6978"
FAST = {"webhook_signing_key": SIGNING_KEY, "webhook_retry_delays": (0.2, 0.2), "tempfail_retry": 0.3}
RECIPIENTS = [
    "ann@example.org",
    "bounce.bob@example.org",
    "tempfail.cid@example.org",
    "complain.dee@example.org",
]


class Receiver:
    """A webhook endpoint: verifies each body, keeps the accepted events, answers 200 or 406.

    ``fail_first`` makes the first post of each event id answer 500 (to see Mailgun's retries).
    """

    def __init__(self, signing_key: str, *, fail_first: bool = False) -> None:
        self.signing_key = signing_key
        self.fail_first = fail_first
        self.replays = ReplayCache()
        self.accepted: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.answers: list[int] = []
        self._failed_once: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mailgun"

    def _answer(self, body: bytes) -> int:
        event = verify_webhook(self.signing_key, body, replay_cache=self.replays)
        with self._lock:
            if event is None:
                return 406
            if self.fail_first and event["id"] not in self._failed_once:
                self._failed_once.add(event["id"])
                return 500
            self.accepted.append(event)
            self.bodies.append(body)
            return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer(body)
                with receiver._lock:
                    receiver.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def post(self, body: bytes) -> int:
        """Post a body ourselves (to replay or tamper with one)."""
        return requests.post(self.url, data=body, timeout=5).status_code

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def hook(mailgun_conn_id: str) -> Iterator[MailgunHook]:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    yield hook
    hook.close()


def _register(hook: MailgunHook, url: str, events: tuple[str, ...]) -> None:
    for event in events:
        hook.webhooks.create(hook.domain(), event, [url])


def _send(hook: MailgunHook, recipients: list[str]) -> str:
    fields = {
        "from": "News <news@mg.example.com>",
        "to": recipients,
        "subject": "Hi %recipient.n%",
        "text": "Hello",
        "recipient-variables": json.dumps({r: {"n": i} for i, r in enumerate(recipients)}),
    }
    return hook.messages.send(hook.domain(), fields).message_id


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for webhook posts")
        time.sleep(0.05)


ALL_TYPES = ("accepted", "delivered", "permanent_fail", "temporary_fail", "complained")
# accepted: 4; delivered: ann, cid (after its retry), dee; permanent_fail: bob; temporary_fail: cid;
# complained: dee.
EXPECTED = Counter({"accepted": 4, "delivered": 3, "failed": 2, "complained": 1})


@pytest.mark.mailgun_emulator(**FAST)
def test_each_event_reaches_the_receiver_once_and_equals_the_events_api(
    mailgun_emulator: MailgunEmulator, hook: MailgunHook
) -> None:
    with Receiver(SIGNING_KEY) as receiver:
        _register(hook, receiver.url, ALL_TYPES)
        _send(hook, RECIPIENTS)
        _wait_until(lambda: Counter(e["event"] for e in receiver.accepted) == EXPECTED)
        time.sleep(0.3)  # nothing more arrives

        ids = [event["id"] for event in receiver.accepted]
        assert len(ids) == len(set(ids)) == sum(EXPECTED.values())
        by_id = {event["id"]: event for event in hook.events.iter(hook.domain(), ascending=True)}
        for event in receiver.accepted:
            assert event == by_id[event["id"]]  # the same dict the events API gives
        severities = {
            (e["recipient"], e.get("severity")) for e in receiver.accepted if e["event"] == "failed"
        }
        assert severities == {
            ("bounce.bob@example.org", "permanent"),
            ("tempfail.cid@example.org", "temporary"),
        }
        assert set(receiver.answers) == {200}
        deliveries = mailgun_emulator.webhook_deliveries()
        assert {d["status"] for d in deliveries} == {200}
        assert {d["attempt"] for d in deliveries} == {1}


@pytest.mark.mailgun_emulator(**FAST)
def test_tampered_replayed_stale_and_foreign_bodies_are_refused(
    mailgun_emulator: MailgunEmulator, hook: MailgunHook
) -> None:
    with Receiver(SIGNING_KEY) as receiver:
        _register(hook, receiver.url, ("delivered",))
        _send(hook, ["ann@example.org"])
        _wait_until(lambda: len(receiver.accepted) == 1)
        genuine = json.loads(receiver.bodies[0])
        signature = genuine["signature"]

        def variant(**changes: Any) -> bytes:
            return json.dumps({**genuine, "signature": {**signature, **changes}}).encode()

        def signed(timestamp: str, token: str, key: str = SIGNING_KEY) -> bytes:
            return variant(timestamp=timestamp, token=token, signature=signature_for(key, timestamp, token))

        flipped = signature["signature"][:-1] + ("0" if signature["signature"][-1] != "0" else "1")
        now = int(time.time())
        refused = {
            "replayed": receiver.post(receiver.bodies[0]),
            "tampered signature": receiver.post(variant(signature=flipped)),
            "tampered timestamp": receiver.post(variant(timestamp=str(int(signature["timestamp"]) + 1))),
            "tampered token": receiver.post(variant(token=signature["token"][::-1])),
            "stale": receiver.post(signed(str(now - 3600), "t" * 50)),
            "signed with another key": receiver.post(signed(str(now), "u" * 50, DEFAULT_WEBHOOK_SIGNING_KEY)),
            "not a webhook": receiver.post(b'{"hello": "world"}'),
        }
        control = receiver.post(signed(str(now), "v" * 50))

    assert refused == dict.fromkeys(refused, 406)
    assert control == 200  # a correctly signed, fresh, unseen body passes: the refusals are for cause
    assert len(receiver.accepted) == 2


@pytest.mark.mailgun_emulator(**FAST)
def test_a_500_is_retried_freshly_signed_and_a_406_is_not(
    mailgun_emulator: MailgunEmulator, hook: MailgunHook
) -> None:
    with Receiver(SIGNING_KEY, fail_first=True) as flaky, Receiver("some-other-key") as strict:
        _register(hook, flaky.url, ("delivered",))
        _register(hook, strict.url, ("permanent_fail",))
        _send(hook, ["ann@example.org", "bounce.bob@example.org"])
        _wait_until(lambda: len(flaky.accepted) == 1 and len(strict.answers) == 1)
        time.sleep(0.6)  # longer than the retry delays: a 406 would have been retried by now

    deliveries = mailgun_emulator.webhook_deliveries()
    delivered = [(d["attempt"], d["status"]) for d in deliveries if d["webhook"] == "delivered"]
    rejected = [(d["attempt"], d["status"]) for d in deliveries if d["webhook"] == "permanent_fail"]
    assert delivered == [(1, 500), (2, 200)]
    assert rejected == [(1, 406)]
    assert flaky.answers == [500, 200]  # the retry was signed afresh, so the replay cache let it in
    assert strict.accepted == []


def test_the_default_signing_key_is_the_exported_constant(
    mailgun_emulator: MailgunEmulator, hook: MailgunHook
) -> None:
    assert mailgun_emulator.webhook_signing_key == DEFAULT_WEBHOOK_SIGNING_KEY
    with Receiver(DEFAULT_WEBHOOK_SIGNING_KEY) as receiver:
        _register(hook, receiver.url, ("accepted",))
        _send(hook, ["ann@example.org"])
        _wait_until(lambda: len(receiver.accepted) == 1)
    assert receiver.accepted[0]["recipient"] == "ann@example.org"


def test_the_command_line_emulator_signs_with_the_key_it_is_given() -> None:
    import re
    import signal
    import subprocess
    import sys

    from airflow_provider_mailgun.testing import DEFAULT_MAILGUN_KEY

    key = "key-cli-webhook-signing-7a6b5c4d"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_mailgun.testing",
            "--port",
            "0",
            "--webhook-signing-key",
            key,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        found = re.search(r"direct=(\S+)", proc.stdout.readline())
        assert found, "the emulator did not start"
        direct, auth = found.group(1), ("api", DEFAULT_MAILGUN_KEY)
        with Receiver(key) as receiver:
            registered = requests.post(
                f"{direct}/v3/domains/mg.example.com/webhooks",
                auth=auth,
                data={"id": "delivered", "url": receiver.url},
                timeout=10,
            )
            assert registered.status_code == 200, registered.text
            sent = requests.post(
                f"{direct}/v3/mg.example.com/messages",
                auth=auth,
                data={"from": "n@mg.example.com", "to": "ann@example.org", "subject": "s", "text": "t"},
                timeout=10,
            )
            assert sent.status_code == 200, sent.text
            _wait_until(lambda: len(receiver.accepted) == 1)
        assert receiver.accepted[0]["recipient"] == "ann@example.org"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
