"""The bundled emulator in a process of its own, driven over its ``/_emulator`` control API.

::

    emu = start_emulator(procs, python)   # ``python -m airflow_provider_mailgun.testing --port 0``
    emu.set_faults({"slow_rate": 1.0, "slow_seconds": 2, "path": "/messages", "methods": ["POST"]})
    emu.copies_per_recipient()            # Counter of stored copies by recipient
    emu.record_events([{"event": "complained", "recipient": "ann@example.org"}])
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from airflow_provider_mailgun.testing import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
)
from tests.deployment.processes import HarnessError, ProcessRegistry, tail, wait_until

START_TIMEOUT = 60.0
PAGE = 5000
_BANNER = re.compile(r"direct=(\S+) gateway=(\S+) ctrl=(\S+)")


@dataclass(frozen=True)
class RemoteEmulator:
    url: str
    gateway_url: str
    ctrl_url: str
    domain: str = DEFAULT_DOMAIN
    mailgun_key: str = DEFAULT_MAILGUN_KEY
    maton_key: str = DEFAULT_MATON_KEY
    maton_connection: str = DEFAULT_MATON_CONNECTION

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_emulator/{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._control("POST", "reset")

    def set_faults(self, spec: Mapping[str, Any] | None) -> None:
        if spec is None:
            self._control("DELETE", "faults")
        else:
            self._control("POST", "faults", json=dict(spec))

    def set_rate_limit(self, rate: float | None) -> None:
        self._control("POST", "rate_limit", json={"rate": rate})

    def record_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Complaints or permanent bounces (``{"event", "recipient"[, "index_delay"]}``) of mail
        already sent, recorded as one step: a poll of the Events API sees all of them or none."""
        return list(self._control("POST", "events", json={"events": events})["events"])

    def stats(self) -> dict[str, Any]:
        return dict(self._control("GET", "stats"))

    def requests(self) -> list[dict[str, Any]]:
        """Request log: method, path, status, time, entrance, query, form_keys, fault, connection."""
        return list(self._control("GET", "requests")["items"])

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every visible event (``event`` filters by name, e.g. ``"delivered"``), oldest first."""
        return list(self._control("GET", "events", params={"event": event} if event else {})["items"])

    def messages(self, recipient: str | None = None) -> list[dict[str, Any]]:
        """Stored recipient copies, oldest first (paged, so 20,000 copies stay cheap to fetch)."""
        items: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"skip": len(items), "limit": PAGE}
            if recipient:
                params["recipient"] = recipient
            page = self._control("GET", "messages", params=params)["items"]
            items.extend(page)
            if len(page) < PAGE:
                return items

    def copies_per_recipient(self) -> Counter[str]:
        return Counter(m["recipient"] for m in self.messages())

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the emulated Mailgun API itself (direct entrance, the default key)."""
        response = requests.request(
            method, f"{self.url}{path}", auth=("api", self.mailgun_key), timeout=60, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def direct_connection(self, **extra: Any) -> dict[str, Any]:
        """An Airflow ``mailgun`` connection (as JSON fields) to this emulator's direct API."""
        return {
            "conn_type": "mailgun",
            "host": self.url,
            "password": self.mailgun_key,
            "extra": {"default_domain": self.domain, **extra},
        }

    def gateway_connection(self, **extra: Any) -> dict[str, Any]:
        """An Airflow ``maton`` connection to this emulator's gateway."""
        return {
            "conn_type": "maton",
            "host": self.gateway_url,
            "password": self.maton_key,
            "extra": {
                "default_domain": self.domain,
                "ctrl_url": self.ctrl_url,
                "maton_connection": self.maton_connection,
                **extra,
            },
        }


def start_emulator(procs: ProcessRegistry, python: Path, *args: str) -> RemoteEmulator:
    """Start ``python -m airflow_provider_mailgun.testing --port 0 <args>``; read its URLs."""
    child = procs.start(
        "emulator", [str(python), "-m", "airflow_provider_mailgun.testing", "--port", "0", *args]
    )
    found: list[re.Match[str]] = []

    def banner() -> bool:
        match = _BANNER.search(tail(child.log))
        if match:
            found.append(match)
        return bool(match) or not child.alive()

    wait_until(banner, START_TIMEOUT, "the emulator's banner", interval=0.2)
    if not found:
        raise HarnessError(f"the emulator exited:\n{tail(child.log)}")
    direct, gateway, ctrl = found[0].groups()
    emu = RemoteEmulator(direct, gateway, ctrl)
    wait_until(lambda: _answers(emu), START_TIMEOUT, "the emulator to answer")
    return emu


def _answers(emu: RemoteEmulator) -> bool:
    try:
        emu.stats()
    except requests.RequestException:
        return False
    return True
