"""pytest plugin (auto-registered through the ``pytest11`` entry point) giving tests an emulator.

Fixtures:

* ``mailgun_emulator`` - a running :class:`MailgunEmulator` with fresh state for each test. One
  server is shared by the whole session and reset before every test, so it is cheap.
  With ``@pytest.mark.mailgun_emulator(rate_limit=5, faults={...})`` the test gets its own
  emulator built with those keyword arguments instead.
* ``mailgun_emulator_factory`` - ``factory(**kwargs)`` starts extra emulators (stopped at teardown).
* ``mailgun_conn_id`` / ``maton_conn_id`` - set ``AIRFLOW_CONN_MAILGUN_DEFAULT`` /
  ``AIRFLOW_CONN_MATON_DEFAULT`` to a JSON connection pointing at the emulator and return the
  conn id (``"mailgun_default"`` / ``"maton_default"``).

Example::

    def test_send(mailgun_emulator, mailgun_conn_id):
        hook = MailgunHook(mailgun_conn_id)
        hook.messages.send(hook.domain(), {"from": "me@mg.example.com", "to": "bob@example.com",
                                           "subject": "Hi", "text": "Hello"})
        assert mailgun_emulator.messages(recipient="bob@example.com")

Importing this module is cheap (pytest loads it for every run): the server is imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_mailgun.testing.server import MailgunEmulator

MARKER = "mailgun_emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**kwargs): give the test its own Mailgun emulator built with these arguments"
    )


@pytest.fixture(scope="session")
def _mailgun_emulator_session() -> Iterator[MailgunEmulator]:
    from airflow_provider_mailgun.testing.server import MailgunEmulator

    with MailgunEmulator() as emulator:
        yield emulator


@pytest.fixture
def mailgun_emulator_factory() -> Iterator[Callable[..., MailgunEmulator]]:
    """Start emulators with custom settings: ``emu = mailgun_emulator_factory(rate_limit=10)``."""
    from airflow_provider_mailgun.testing.server import MailgunEmulator

    started: list[MailgunEmulator] = []

    def factory(**kwargs: Any) -> MailgunEmulator:
        emulator = MailgunEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def mailgun_emulator(request: pytest.FixtureRequest) -> Iterator[MailgunEmulator]:
    """A running emulator with fresh state (see the module docstring)."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        factory = request.getfixturevalue("mailgun_emulator_factory")
        yield factory(*marker.args, **marker.kwargs)
        return
    emulator: MailgunEmulator = request.getfixturevalue("_mailgun_emulator_session")
    emulator.reset()
    yield emulator


def _connection(conn_type: str, host: str, password: str, extra: dict[str, Any]) -> str:
    return json.dumps({"conn_type": conn_type, "host": host, "password": password, "extra": extra})


@pytest.fixture
def mailgun_conn_id(mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``mailgun_default`` pointing at the emulator's direct API."""
    extra = {"region": "us", "default_domain": mailgun_emulator.domain}
    value = _connection("mailgun", mailgun_emulator.url, mailgun_emulator.mailgun_key, extra)
    monkeypatch.setenv("AIRFLOW_CONN_MAILGUN_DEFAULT", value)
    return "mailgun_default"


@pytest.fixture
def maton_conn_id(mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``maton_default`` pointing at the emulator's Maton gateway and control host."""
    extra = {
        "ctrl_url": mailgun_emulator.ctrl_url,
        "default_domain": mailgun_emulator.domain,
        "maton_connection": mailgun_emulator.maton_connection,
    }
    value = _connection("maton", mailgun_emulator.gateway_url, mailgun_emulator.maton_key, extra)
    monkeypatch.setenv("AIRFLOW_CONN_MATON_DEFAULT", value)
    return "maton_default"
