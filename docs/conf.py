"""Sphinx configuration of the provider's documentation (``make docs``).

The API reference page is generated from ``public_modules.txt``; code examples are pulled from
``example_dags/`` between ``# [START name]`` and ``# [END name]`` markers.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
# Importing Airflow (autodoc does) must not create or read a real AIRFLOW_HOME.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mailgun-provider-docs-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import airflow_provider_mailgun  # noqa: E402  (after the environment above)

project = "airflow-provider-mailgun"
author = "airflow-provider-mailgun developers"
copyright = "airflow-provider-mailgun developers"
release = version = airflow_provider_mailgun.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "public_modules.txt"]
html_theme = "furo"
html_title = f"{project} {release}"

autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"
# The reference documents what each module defines or lists in __all__; imported helpers stay out.
autodoc_inherit_docstrings = False


def public_modules() -> list[str]:
    """The modules of the API reference, from ``public_modules.txt``."""
    lines = (DOCS / "public_modules.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _api_reference(app: Any, docname: str, source: list[str]) -> None:
    """Append one ``automodule`` section per public module to the ``api`` page.

    A module with ``__all__`` is documented by those names, so what it re-exports or loads lazily
    (``testing.MailgunEmulator``) appears under the public path.
    """
    if docname != "api":
        return
    sections = []
    for name in public_modules():
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        for attribute in exported or ():
            # Load lazy exports (a module-level __getattr__) into the module, where autodoc looks.
            setattr(module, attribute, getattr(module, attribute))
        members = f"   :members: {', '.join(exported)}\n" if exported else "   :members:\n"
        sections.append(f"``{name}``\n{'-' * (len(name) + 4)}\n\n.. automodule:: {name}\n{members}")
    source[0] += "\n" + "\n".join(sections)


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _api_reference)
    return {"parallel_read_safe": True}
