"""Airflow connections that point at an emulator, as JSON (what ``AIRFLOW_CONN_<ID>`` takes).

The pytest plugin sets them for a test; the command line prints them ready to paste::

    mailgun_connection("http://127.0.0.1:8025", "key-emulator-...", "mg.example.com")
    # {"conn_type": "mailgun", "host": "http://127.0.0.1:8025", "password": "key-...", "extra": {...}}
"""

from __future__ import annotations

import json
import shlex
from typing import Any

MAILGUN_CONN_ID = "mailgun_default"
MATON_CONN_ID = "maton_default"


def mailgun_connection(url: str, key: str, domain: str) -> dict[str, Any]:
    """A direct ``mailgun`` connection to the emulator's Mailgun API at ``url``."""
    extra = {"region": "us", "default_domain": domain}
    return {"conn_type": "mailgun", "host": url, "password": key, "extra": extra}


def maton_connection(
    gateway_url: str, ctrl_url: str, key: str, connection_id: str, domain: str
) -> dict[str, Any]:
    """A ``maton`` connection to the emulator's gateway, with its control host (``ctrl_url``)."""
    extra = {"ctrl_url": ctrl_url, "default_domain": domain, "maton_connection": connection_id}
    return {"conn_type": "maton", "host": gateway_url, "password": key, "extra": extra}


def env_name(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def export_line(conn_id: str, connection: dict[str, Any]) -> str:
    """``export AIRFLOW_CONN_<ID>='<json>'``, quoted for a POSIX shell."""
    return f"export {env_name(conn_id)}={shlex.quote(json.dumps(connection))}"
