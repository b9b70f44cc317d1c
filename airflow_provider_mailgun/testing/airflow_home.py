"""A throwaway Airflow home for a test run: a temporary ``AIRFLOW_HOME`` with its own sqlite file.

Airflow reads its home when it is first imported, so the pytest plugin sets it up before any test
module (or conftest) is imported, and only when the run has none of its own::

    home = use_throwaway_home()   # None when AIRFLOW_HOME is set or Airflow is already imported
    ...
    home.close()                  # the environment as it was, the folder removed

Nothing here imports Airflow.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path


class ThrowawayHome:
    """A temporary folder and the environment variables that make it Airflow's home."""

    def __init__(self, path: Path, previous: dict[str, str | None]) -> None:
        self.path = path
        self._previous = previous

    def close(self) -> None:
        """Put the variables back as they were and remove the folder."""
        for name, value in self._previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(self.path, ignore_errors=True)


def use_throwaway_home() -> ThrowawayHome | None:
    """Point Airflow at a new temporary home, unless the run chose its own or imported Airflow.

    Settings the environment already has (a database URL, say) are kept; only missing ones are set.
    """
    if os.environ.get("AIRFLOW_HOME") or "airflow" in sys.modules:
        return None
    path = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    wanted = {
        "AIRFLOW_HOME": str(path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        # dag.test() runs tasks through the in-process execution API, which signs task tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
    }
    previous: dict[str, str | None] = {}
    for name, value in wanted.items():
        if name not in os.environ:
            previous[name] = None
            os.environ[name] = value
    return ThrowawayHome(path, previous)
