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
* ``airflow_db`` - Airflow's metadata database, created (or migrated) once per session, and
  ``airflow_db.add(dag)`` to write a DAG to it: what ``dag.test()`` needs (from Airflow 3.1 it
  runs only DAGs it finds in the database, wherever the DAG's file is).

A run that has no ``AIRFLOW_HOME`` of its own gets a throwaway one (a temporary folder with a
sqlite database, removed at the end), set before any test module or conftest imports Airflow: a
test never writes to ``~/airflow``. Set ``AIRFLOW_HOME`` (or ``mailgun_airflow_home = false`` in
the pytest ini file) to use your own; ``airflow_db`` then migrates that database.

Example::

    from airflow_provider_mailgun.hooks.mailgun import MailgunHook
    from welcome_dag import dag

    def test_my_dag(airflow_db, mailgun_emulator, maton_conn_id):
        airflow_db.add(dag)
        dag.test()
        assert len(mailgun_emulator.messages()) == 3

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

from airflow_provider_mailgun.testing import connections
from airflow_provider_mailgun.testing.airflow_home import ThrowawayHome, use_throwaway_home

if TYPE_CHECKING:
    from airflow_provider_mailgun.testing.airflow_db import AirflowTestDB
    from airflow_provider_mailgun.testing.server import MailgunEmulator

MARKER = "mailgun_emulator"
HOME_INI = "mailgun_airflow_home"
_HOME = pytest.StashKey[ThrowawayHome]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        HOME_INI,
        "give a run without AIRFLOW_HOME a throwaway Airflow home (default true)",
        type="bool",
        default=True,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest is imported, so that Airflow reads the throwaway home when it loads."""
    if early_config.getini(HOME_INI):
        home = use_throwaway_home()
        if home is not None:
            early_config.stash[_HOME] = home


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**kwargs): give the test its own Mailgun emulator built with these arguments"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME, None)
    if home is not None:
        home.close()


@pytest.fixture(scope="session")
def airflow_db() -> AirflowTestDB:
    """Airflow's metadata database, created on first use (migrated when it already exists);
    ``airflow_db.add(dag)`` writes a DAG to it, as ``dag.test()`` needs from Airflow 3.1."""
    from airflow_provider_mailgun.testing.airflow_db import AirflowTestDB

    return AirflowTestDB.create()


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


@pytest.fixture
def mailgun_conn_id(mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``mailgun_default`` pointing at the emulator's direct API."""
    emu = mailgun_emulator
    connection = connections.mailgun_connection(emu.url, emu.mailgun_key, emu.domain)
    monkeypatch.setenv(connections.env_name(connections.MAILGUN_CONN_ID), json.dumps(connection))
    return connections.MAILGUN_CONN_ID


@pytest.fixture
def maton_conn_id(mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``maton_default`` pointing at the emulator's Maton gateway and control host."""
    emu = mailgun_emulator
    connection = connections.maton_connection(
        emu.gateway_url, emu.ctrl_url, emu.maton_key, emu.maton_connection, emu.domain
    )
    monkeypatch.setenv(connections.env_name(connections.MATON_CONN_ID), json.dumps(connection))
    return connections.MATON_CONN_ID
