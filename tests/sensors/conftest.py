"""Helpers for delivery-sensor tests: send real messages to the emulator through the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook

SendResult = dict[str, Any]


@pytest.fixture
def hook(mailgun_conn_id: str) -> Iterator[MailgunHook]:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    yield hook
    hook.close()


@pytest.fixture
def send(hook: MailgunHook) -> Callable[..., SendResult]:
    """``send(addresses)`` -> the send operator's result shape for one batch message."""

    def _send(addresses: list[str]) -> SendResult:
        variables = {address: {"n": index} for index, address in enumerate(addresses)}
        reply = hook.messages.send(
            hook.domain(),
            {
                "from": "News <news@mg.example.com>",
                "to": addresses,
                "subject": "Hello %recipient.n%",
                "text": "Hi",
                "recipient-variables": json.dumps(variables),
            },
        )
        return {"message_ids": [reply.id], "recipients_per_message": {reply.id: len(addresses)}}

    return _send


@pytest.fixture
def raised_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Messages of every delivery error raised (a spy: the error is still raised)."""
    from airflow_provider_mailgun.sensors.delivery import MailgunDeliveryError

    messages: list[str] = []
    original = MailgunDeliveryError.__init__

    def spy(self: MailgunDeliveryError, message: str, result: Any = None) -> None:
        messages.append(message)
        original(self, message, result)

    monkeypatch.setattr(MailgunDeliveryError, "__init__", spy)
    return messages
