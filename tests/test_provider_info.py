"""Provider registration: metadata valid against Airflow's schema, and visible to the Airflow CLI."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib import resources
from importlib.metadata import entry_points, version
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_mailgun.get_provider_info import get_provider_info


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_the_version_is_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider info and the package metadata both follow ``airflow_provider_mailgun.__version__``."""
    import airflow_provider_mailgun

    assert version("airflow-provider-mailgun") == airflow_provider_mailgun.__version__
    monkeypatch.setattr(airflow_provider_mailgun, "__version__", "9.8.7")
    assert get_provider_info()["versions"] == ["9.8.7"]


def test_entry_point_points_at_get_provider_info() -> None:
    (point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_mailgun")
    ]
    assert point.name == "provider_info"
    assert point.load() is get_provider_info


def test_every_listed_class_and_module_imports() -> None:
    info = get_provider_info()
    for entry in info["connection-types"]:
        module, _, name = entry["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == entry["connection-type"]
        assert hook.hook_name == entry["hook-name"]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for group in info.get(section, []):
            for module in group["python-modules"]:
                importlib.import_module(module)
    for dotted in info.get("notifications", []) + info.get("email-backends", []) + info["extra-links"]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def test_connection_forms_declare_exactly_the_needed_fields() -> None:
    types = {entry["connection-type"]: entry for entry in get_provider_info()["connection-types"]}
    maton, mailgun = types["maton"], types["mailgun"]
    assert set(maton["conn-fields"]) == {
        "maton_connection",
        "ctrl_url",
        "default_domain",
        "timeout",
        "max_requests_per_second",
    }
    assert set(mailgun["conn-fields"]) == {"region", "default_domain", "timeout", "max_requests_per_second"}
    assert mailgun["conn-fields"]["region"]["schema"]["enum"] == ["us", "eu"]
    for entry in (maton, mailgun):
        assert set(entry["ui-field-behaviour"]["hidden-fields"]) == {"login", "schema", "port", "extra"}
        assert "password" in entry["ui-field-behaviour"]["relabeling"]


def test_provider_info_module_is_import_free() -> None:
    source = Path(sys.modules[get_provider_info.__module__].__file__ or "").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from __future__ import annotations", "from typing import Any"]


def _airflow_cli(*args: str) -> str:
    env = {**os.environ}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # Airflow 3.0 prints its own log lines to stdout before the JSON document.
    return next(line for line in reversed(result.stdout.splitlines()) if line.startswith("[{"))


@pytest.mark.timeout(180)
def test_airflow_cli_lists_the_extra_links() -> None:
    """Registered in provider info ``extra-links``, as the api-server and ``airflow providers`` read them."""
    listed = {
        row["extra_link_class_name"] for row in json.loads(_airflow_cli("providers", "links", "-o", "json"))
    }
    assert set(get_provider_info()["extra-links"]) <= listed


@pytest.mark.timeout(180)
def test_airflow_cli_lists_the_provider_and_its_hooks() -> None:
    provider = json.loads(_airflow_cli("providers", "get", "airflow-provider-mailgun", "-o", "json"))
    assert provider[0]["Provider"] == "airflow-provider-mailgun"
    hooks = {
        row["connection_type"]: row for row in json.loads(_airflow_cli("providers", "hooks", "-o", "json"))
    }
    assert hooks["maton"]["class"] == "airflow_provider_mailgun.hooks.mailgun.MailgunHook"
    assert hooks["mailgun"]["class"] == "airflow_provider_mailgun.hooks.mailgun.MailgunDirectHook"
    assert hooks["maton"]["package_name"] == "airflow-provider-mailgun"
