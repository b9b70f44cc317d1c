"""The plugin's throwaway Airflow home is taken only when the run has none, and leaves no trace."""

from __future__ import annotations

import os
import sys
import types

import pytest

from airflow_provider_mailgun.testing.airflow_home import use_throwaway_home


def test_a_run_with_its_own_home_or_airflow_loaded_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", "/somewhere/else")
    assert use_throwaway_home() is None
    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.setitem(sys.modules, "airflow", types.ModuleType("airflow"))  # read its home already
    assert use_throwaway_home() is None


def test_the_home_is_set_then_removed_with_the_environment_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:////kept.db")  # the user's own
    monkeypatch.delitem(sys.modules, "airflow", raising=False)
    before = dict(os.environ)
    home = use_throwaway_home()
    assert home is not None
    assert os.environ["AIRFLOW_HOME"] == str(home.path)
    assert home.path.is_dir()
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "sqlite:////kept.db"
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    home.close()
    assert dict(os.environ) == before
    assert not home.path.exists()
