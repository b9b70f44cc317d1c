"""Imports point down: the rules of the package's layout, read from its source and checked in
fresh interpreters, so that they stay true.

::

    client, exceptions, _common.mailgun_names     nothing of Airflow, nothing above them
    hooks                                          the client and the private helpers
    private packages (_send, _delivery, ...)       below operators, sensors, triggers, notifier
    operators, sensors, triggers, notifications, utils, plugins, links   the public classes
    testing (the emulator)                         nothing of the client (the other side of the wire)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_mailgun"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
PUBLIC_ABOVE_HOOK = ("operators", "sensors", "triggers", "notifications", "utils", "plugins", "links")
#: What the Airflow-free core may import of the package.
CORE = ("client", "exceptions", "_common.mailgun_names")


def _imports() -> dict[str, set[str]]:
    """Module path (``client.transport``) -> every module it imports, at any depth of the file."""
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(part for part in parts if part != "__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[module] = names
    return found


IMPORTS = _imports()


def _ours(name: str) -> str | None:
    """``client.config`` for ``airflow_provider_mailgun.client.config``; None for other packages."""
    if name == PACKAGE:
        return ""
    prefix = PACKAGE + "."
    return name[len(prefix) :] if name.startswith(prefix) else None


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _violations(importers: tuple[str, ...], allowed: object) -> list[str]:
    """``importer -> imported`` pairs of our modules that ``allowed(imported)`` refuses."""
    bad = []
    for module, names in sorted(IMPORTS.items()):
        if not _in(module, importers):
            continue
        for name in sorted(names):
            ours = _ours(name)
            if ours is not None and not allowed(ours):  # type: ignore[operator]
                bad.append(f"{module} -> {ours or PACKAGE}")
    return bad


def test_the_source_is_read() -> None:
    assert {"client.transport", "hooks.mailgun", "triggers.event_watch", "testing.app"} <= set(IMPORTS)


def test_nothing_below_the_operators_and_the_sensor_imports_them() -> None:
    below = ("triggers", "hooks", "client", "testing", "exceptions", "webhooks")
    below += tuple(module for module in IMPORTS if module.startswith("_") and "." not in module)
    assert _violations(below, lambda name: not _in(name, ("operators", "sensors"))) == []


def test_the_hook_and_the_private_packages_import_no_public_class_above_them() -> None:
    private = tuple(module for module in IMPORTS if module.startswith("_") and "." not in module)
    # The webhook receiver's app reads its settings from the plugin module that defines them.
    allowed_up = {"plugins.webhook_receiver"}
    assert (
        _violations(
            ("hooks", *private),
            lambda name: not _in(name, PUBLIC_ABOVE_HOOK) or _in(name, tuple(allowed_up)),
        )
        == []
    )


def test_the_core_imports_nothing_of_airflow_and_nothing_above_it() -> None:
    for module, names in IMPORTS.items():
        if _in(module, CORE):
            assert not [n for n in names if n == "airflow" or n.startswith("airflow.")], module
    assert _violations(CORE, lambda name: name in ("", "__version__") or _in(name, CORE)) == []


def test_the_emulator_imports_nothing_of_the_client() -> None:
    allowed = ("testing", "_common.mailgun_names")
    assert _violations(("testing",), lambda name: name == "" or _in(name, allowed)) == []


def _loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter loads for ``statement`` (after ``import airflow.sdk``)."""
    code = (
        "import json, sys; import airflow.sdk; before = set(sys.modules); "
        f"{statement}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_client_and_the_emulator_load_no_airflow_module() -> None:
    code = (
        "import sys; import airflow_provider_mailgun.client.client;"
        " import airflow_provider_mailgun.client.async_client;"
        " import airflow_provider_mailgun.testing.server;"
        " print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_emulator_loads_no_client_module() -> None:
    loaded = _loaded_after("import airflow_provider_mailgun.testing.server")
    assert not {name for name in loaded if name.startswith(f"{PACKAGE}.client")}


@pytest.mark.parametrize(
    "module",
    [
        "hooks.mailgun",
        "operators.messages",
        "operators.lists",
        "operators.suppressions",
        "operators.analytics",
        "sensors.delivery",
        "links.mailgun",
        "notifications.mailgun",
        "utils.emailer",
    ],
)
def test_dag_side_modules_leave_the_http_client_for_run_time(module: str) -> None:
    """The hook loads its client on first use, so DAG files parse without requests and its client."""
    loaded = _loaded_after(f"import {PACKAGE}.{module}")
    assert not {"requests", f"{PACKAGE}.client.client", f"{PACKAGE}.client.transport"} & loaded


@pytest.mark.parametrize(
    ("module", "run_time_only"),
    [
        ("operators.messages", ("_send.execution", "_send.ledger", "_send.plan", "_send.list_send")),
        (
            "sensors.delivery",
            ("_delivery.polling", "_delivery.state", "_delivery.logs_scan", "_watch.sources"),
        ),
    ],
)
def test_the_send_path_and_the_delivery_wait_load_when_a_task_runs(
    module: str, run_time_only: tuple[str, ...]
) -> None:
    """A DAG file naming the send operator or the sensor does not pay for the machinery they run."""
    loaded = _loaded_after(f"import {PACKAGE}.{module}")
    assert not {f"{PACKAGE}.{name}" for name in run_time_only} & loaded
