"""The README's pytest snippet, copied out of README.md, and the pytest plugin's docstring example
pass in a project outside this repository (a folder of its own, a fresh pytest run, nothing of this
repository's conftest) and leave the user's home alone: no ``~/airflow`` is created."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

# The DAG the snippet imports (``from welcome_dag import dag``): one email to three recipients.
WELCOME_DAG = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG

    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

    with DAG("welcome", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False) as dag:
        MailgunSendMessageOperator(
            task_id="welcome",
            from_email="hello@mg.example.com",
            to=["ann@example.com", "bob@example.com", "cy@example.com"],
            subject="Welcome",
            text="Hello!",
        )
    """
)


def readme_snippet() -> str:
    """The first python block after the README's "In your own tests" paragraph."""
    section = README.read_text().split("**In your own tests**", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block after 'In your own tests' in README.md"
    return match.group(1)


def plugin_docstring_example() -> str:
    """The example of the pytest plugin's docstring (what ``help()`` shows), dedented."""
    from airflow_provider_mailgun.testing import pytest_plugin

    doc = pytest_plugin.__doc__ or ""
    block = doc.split("Example::", 1)[1].split("\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_the_readme_pytest_snippet_passes_outside_the_repository(tmp_path: Path) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (project / "welcome_dag.py").write_text(WELCOME_DAG)
    (project / "test_welcome.py").write_text(readme_snippet())
    (project / "test_plugin_example.py").write_text(plugin_docstring_example())
    # A user's shell: no Airflow settings of this test session, a home of its own.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "MATON"))}
    env["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, output
    assert "3 passed" in result.stdout, output  # the README's test and the docstring's two
    assert not (home / "airflow").exists(), sorted(p.name for p in (home / "airflow").iterdir())
