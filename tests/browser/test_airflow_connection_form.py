"""The Airflow UI's "Add Connection" form for both connection types, in a real Chromium.

A real ``airflow api-server`` (one per module; it takes 10-30 s to start) with a throwaway sqlite
home serves the React UI. For "Mailgun via Maton" and "Mailgun" the form must show the relabelled
standard fields (the API key as a password input), every extra field of the provider's metadata
(``get_provider_info()["connection-types"][...]["conn-fields"]``) with its label and description,
the region choice us/eu, and must hide login, schema and port.

Airflow 3.0 and 3.1 build this form from hook methods instead, and only when ``wtforms`` (which
the FAB provider brings) is installed; without it they show the same generic form for every
provider's connection type, so the test skips there (see ``_form_source_or_skip``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from airflow_provider_mailgun.get_provider_info import get_provider_info

from .airflow_server import AirflowApiServer

AIRFLOW_VERSION = Version(importlib.metadata.version("apache-airflow"))
HIDDEN_STANDARD_FIELDS = ("login", "schema", "port")


def _form_source_or_skip() -> None:
    if Version("3.2") <= AIRFLOW_VERSION:
        return
    if importlib.util.find_spec("wtforms") is None:
        pytest.skip(
            f"Airflow {AIRFLOW_VERSION} builds provider connection forms from hook methods "
            "(get_ui_field_behaviour / get_connection_form_widgets) only when wtforms, brought by the "
            "FAB provider, is installed. It is not, so /ui/connections/hook_meta has standard_fields=None "
            "and extra_fields=None for every connection type (ours and the SMTP provider's alike) and "
            "the UI shows the generic form; Airflow 3.2+ reads conn-fields from provider info instead."
        )


@pytest.fixture(scope="module")
def airflow_ui(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running api-server (started once for this module)."""
    _form_source_or_skip()
    with AirflowApiServer(tmp_path_factory.mktemp("airflow-ui")) as server:
        yield server.url


def _connection_type(name: str) -> dict[str, Any]:
    for entry in get_provider_info()["connection-types"]:
        if entry["hook-name"] == name:
            return dict(entry)
    raise AssertionError(f"no connection type named {name!r}")


def _open_form(page: Any, base_url: str, type_name: str) -> Any:
    """Admin > Connections > Add Connection, then pick ``type_name``; returns the dialog."""
    page.set_default_timeout(60_000)  # the first UI load compiles a lot of JavaScript
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole dialog in the screenshots
    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    chooser = dialog.get_by_role("combobox", name="Connection Type")
    chooser.click()
    chooser.fill(type_name)
    page.get_by_role("option", name=type_name, exact=True).click()
    dialog.get_by_label(
        _connection_type(type_name)["ui-field-behaviour"]["relabeling"]["password"]
    ).wait_for()
    page.set_default_timeout(15_000)
    return dialog


def _check_standard_fields(dialog: Any, entry: dict[str, Any]) -> None:
    behaviour = entry["ui-field-behaviour"]
    key = dialog.get_by_label(behaviour["relabeling"]["password"], exact=True)
    assert key.evaluate("input => input.type") == "password"
    host = dialog.get_by_label(behaviour["relabeling"]["host"], exact=True)
    assert host.evaluate("input => input.type") == "text"
    assert host.get_attribute("placeholder") == behaviour["placeholders"]["host"]
    for name in HIDDEN_STANDARD_FIELDS:
        assert dialog.locator(f"[name={name}]").count() == 0, f"standard field {name!r} is shown"
    # The unlabelled defaults are gone too: no "Login", "Schema" or "Port" labels anywhere.
    labels = [text.strip(" *\n") for text in dialog.locator("label").all_inner_texts()]
    assert not {"Login", "Schema", "Port", "Host", "Password"} & set(labels), labels


def _extra_field(dialog: Any, label: str) -> Any:
    """The form group of the extra field labelled ``label`` (the innermost matching group)."""
    exact_label = dialog.page.locator("label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))
    return dialog.get_by_role("group").filter(has=exact_label).last


def _check_extra_fields(dialog: Any, entry: dict[str, Any]) -> None:
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for name, spec in entry["conn-fields"].items():
        group = _extra_field(dialog, spec["label"])
        group.wait_for(state="visible")  # the section opens with an animation
        assert group.get_by_text(spec["description"], exact=True).is_visible(), name
        control = group.locator(f'[name="element_{name}"], [id$="element_{name}"]')
        assert control.count() >= 1, f"extra field {name!r} has no input"


def _words(locator: Any) -> list[str]:
    return re.findall(r"\w+", locator.inner_text())


def test_maton_connection_form(airflow_ui: str, page: Any, screenshot: Callable[..., Path]) -> None:
    entry = _connection_type("Mailgun via Maton")
    dialog = _open_form(page, airflow_ui, "Mailgun via Maton")
    assert entry["ui-field-behaviour"]["relabeling"] == {"host": "Gateway URL", "password": "Maton API key"}
    _check_standard_fields(dialog, entry)
    screenshot(page, f"airflow-{AIRFLOW_VERSION}-connection-maton-standard")
    _check_extra_fields(dialog, entry)
    connection = dialog.locator("[name=element_maton_connection]")
    assert connection.evaluate("input => input.type") == "text"
    described_by = connection.get_attribute("aria-describedby")
    assert (
        dialog.locator(f'[id="{described_by}"]')
        .inner_text()
        .startswith("Sent as the Maton-Connection header")
    )
    # Empty, not prefilled with Maton's public control host: a connection to a private gateway saved
    # from the form must not send its key there (empty means Maton's host only with Maton's gateway).
    ctrl = dialog.locator("[name=element_ctrl_url]")
    assert ctrl.input_value() == ""
    ctrl_help = dialog.locator(f'[id="{ctrl.get_attribute("aria-describedby")}"]').inner_text()
    assert ctrl_help.startswith("Host that manages Maton connections; empty means https://ctrl.maton.ai")
    screenshot(page, f"airflow-{AIRFLOW_VERSION}-connection-maton-extra")


def test_mailgun_connection_form_with_region_choice(
    airflow_ui: str, page: Any, screenshot: Callable[..., Path]
) -> None:
    entry = _connection_type("Mailgun")
    dialog = _open_form(page, airflow_ui, "Mailgun")
    _check_standard_fields(dialog, entry)
    screenshot(page, f"airflow-{AIRFLOW_VERSION}-connection-mailgun-standard")
    _check_extra_fields(dialog, entry)
    region = _extra_field(dialog, "Region")
    chosen = region.locator('#element_region, [id="select:element_region"]')  # 3.2+, 3.0/3.1
    assert _words(chosen) == ["us"]  # the default
    region.get_by_role("combobox").click()
    assert page.get_by_role("option").all_inner_texts() == ["us", "eu"]
    page.get_by_role("option", name="eu", exact=True).click()
    assert "eu" in _words(chosen)
    assert "us" not in _words(chosen)
    screenshot(page, f"airflow-{AIRFLOW_VERSION}-connection-mailgun-extra")
