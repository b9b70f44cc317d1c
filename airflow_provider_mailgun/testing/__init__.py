"""Local Mailgun + Maton emulator for demos and tests.

One HTTP server plays three hosts: the Mailgun API (``emu.url``, ``/v3/...``), the Maton gateway
(``emu.gateway_url``, ``/mailgun/v3/...``) and Maton's control host (``emu.ctrl_url``). State is in
memory; ``/_emulator/...`` exposes it (messages, events, request log, faults, reset) and a web inbox
at ``/`` shows it to a person: messages as recipients see them, their events, lists, suppressions.

In a test::

    from airflow_provider_mailgun.testing import MailgunEmulator

    with MailgunEmulator() as emu:
        ...  # point a client at emu.url with key emu.mailgun_key, then inspect emu.messages()

From a shell: ``mailgun-emulator --port 8025`` (or ``python -m airflow_provider_mailgun.testing``).
With pytest the ``mailgun_emulator`` fixture gives every test a fresh emulator.

Importing this package is cheap: the server (FastAPI, uvicorn) is only imported when
``MailgunEmulator`` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_mailgun.testing.defaults import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
    DEFAULT_WEBHOOK_SIGNING_KEY,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.testing.server import MailgunEmulator

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_MAILGUN_KEY",
    "DEFAULT_MATON_CONNECTION",
    "DEFAULT_MATON_KEY",
    "DEFAULT_WEBHOOK_SIGNING_KEY",
    "MailgunEmulator",
]


def __getattr__(name: str) -> Any:
    if name == "MailgunEmulator":
        from airflow_provider_mailgun.testing.server import MailgunEmulator

        return MailgunEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
