"""Shared fixtures for the emulator tests: small HTTP helpers around the plugin's emulator.

Every test talks to a real emulator over HTTP on 127.0.0.1 with ``requests``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_mailgun.testing import MailgunEmulator

TIMEOUT = 10


class Api:
    """``requests`` session bound to one base URL (direct API, gateway or control host)."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None):
        self.base = base
        self.session = requests.Session()
        if auth:
            self.session.auth = auth
        if headers:
            self.session.headers.update(headers)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def emu(mailgun_emulator: MailgunEmulator) -> MailgunEmulator:
    return mailgun_emulator


@pytest.fixture
def api(emu: MailgunEmulator) -> Iterator[Api]:
    """Direct Mailgun API with the emulator's key."""
    client = Api(emu.url, auth=("api", emu.mailgun_key))
    yield client
    client.close()


@pytest.fixture
def gw(emu: MailgunEmulator) -> Iterator[Api]:
    """Maton gateway (``.../mailgun``) with the Maton key."""
    client = Api(emu.gateway_url + "/mailgun", headers={"Authorization": f"Bearer {emu.maton_key}"})
    yield client
    client.close()


@pytest.fixture
def ctrl(emu: MailgunEmulator) -> Iterator[Api]:
    """Maton control host with the Maton key."""
    client = Api(emu.ctrl_url, headers={"Authorization": f"Bearer {emu.maton_key}"})
    yield client
    client.close()


@pytest.fixture
def send(api: Api, emu: MailgunEmulator) -> Callable[..., requests.Response]:
    """POST /messages with defaults; keyword arguments (``**{"o:tag": ...}``) override fields, None drops."""

    def do_send(files: Any = None, domain: str | None = None, **fields: Any) -> requests.Response:
        data: dict[str, Any] = {"from": f"Sender <sender@{emu.domain}>", "subject": "Hello", "text": "Body"}
        for key, value in fields.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return api.post(f"/v3/{domain or emu.domain}/messages", data=data, files=files)

    return do_send


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "performance: emulator throughput/memory measurements (a few seconds)")
