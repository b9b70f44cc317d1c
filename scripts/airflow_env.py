"""What the scripts share: a throwaway Airflow environment and a connection to the emulator.

Example::

    env = throwaway_airflow_env(home, AIRFLOW_CONN_MATON_DEFAULT=emulator_connection(gateway, ctrl))
    subprocess.run(["airflow", "dags", "test", "mailgun_campaign"], env=env, check=True)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Mirrors the emulator's default sending domain (airflow_provider_mailgun.testing.defaults).
DOMAIN = "mg.example.com"


def throwaway_airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with Airflow on sqlite in ``home`` and the example DAGs.

    Nothing of a real deployment leaks in: no ``MATON_API_KEY``, ``PYTHONPATH`` or virtualenv.
    """
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        **extra,
    }
    for name in ("MATON_API_KEY", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def emulator_connection(gateway_url: str, ctrl_url: str) -> str:
    """A ``maton`` connection (JSON, for ``AIRFLOW_CONN_*``) to the emulator with its default keys."""
    from airflow_provider_mailgun.testing import DEFAULT_MATON_CONNECTION, DEFAULT_MATON_KEY

    return json.dumps(
        {
            "conn_type": "maton",
            "host": gateway_url,
            "password": DEFAULT_MATON_KEY,
            "extra": {
                "ctrl_url": ctrl_url,
                "default_domain": DOMAIN,
                "maton_connection": DEFAULT_MATON_CONNECTION,
            },
        }
    )
