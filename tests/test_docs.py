"""The docs' API reference covers every module Airflow is told about (``make docs`` builds it)."""

from __future__ import annotations

import importlib
from pathlib import Path

from airflow_provider_mailgun.get_provider_info import get_provider_info

PUBLIC_MODULES = Path(__file__).resolve().parent.parent / "docs" / "public_modules.txt"


def _listed() -> list[str]:
    lines = PUBLIC_MODULES.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _provider_modules() -> set[str]:
    info = get_provider_info()
    modules = {entry["hook-class-name"].rpartition(".")[0] for entry in info["connection-types"]}
    for section in ("hooks", "operators", "sensors", "triggers"):
        modules.update(module for group in info.get(section, []) for module in group["python-modules"])
    plugins = [plugin["plugin-class"] for plugin in info.get("plugins", [])]
    for dotted in info.get("notifications", []) + info.get("email-backends", []) + plugins:
        modules.add(dotted.rpartition(".")[0])
    return modules


def test_the_api_reference_lists_every_module_of_the_provider_info() -> None:
    listed = _listed()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert _provider_modules() <= set(listed), f"missing from {PUBLIC_MODULES.name}"


def test_every_listed_module_imports() -> None:
    for module in _listed():
        importlib.import_module(module)
