"""Mistakes in literal send arguments fail when the DAG is parsed, not when the task first runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_mailgun.exceptions import SendInputError
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from tests.dag_runner import dag_bag

START = pendulum.datetime(2026, 1, 1, tz="UTC")
GOOD: dict[str, Any] = {
    "from_email": "news@mg.example.com",
    "to": "ann@example.org",
    "subject": "s",
    "text": "t",
}


def _build(**arguments: Any) -> MailgunSendMessageOperator:
    with DAG("parse_checks", schedule=None, start_date=START, catchup=False):
        return MailgunSendMessageOperator(task_id="send", **{**GOOD, **arguments})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"template": "newsletter", "html": "<p>x</p>"}, "html and template cannot be combined"),
        ({"from_email": None}, "from_email is required (unless a stored template provides it)"),
        ({"text": None}, "give text, html or a template"),
        ({"text": ""}, "give text, html or a template"),
        ({"batch_size": 5000}, "batch_size must be 1..1000, got 5000"),
        ({"batch_size": 0}, "batch_size must be 1..1000, got 0"),
    ],
)
def test_a_literal_mistake_fails_at_construction(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(SendInputError, match=r"^send: ") as caught:
        _build(**arguments)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_every_mistake_is_named_at_once() -> None:
    with pytest.raises(SendInputError) as caught:
        _build(from_email=None, text=None, batch_size=2000)
    text = str(caught.value)
    assert "from_email is required" in text
    assert "give text, html" in text
    assert "batch_size must be 1..1000, got 2000" in text


@pytest.mark.parametrize(
    "arguments",
    [
        {"template": "{{ var.value.template }}", "html": "<p>x</p>"},
        {"template": "newsletter", "html": "{{ ti.xcom_pull('render') }}"},
        {"from_email": "{{ var.value.sender }}"},
        {"from_email": None, "template": "{{ params.template }}", "text": None},
        {"text": "{% if true %}hi{% endif %}"},
        {"from_email": None, "template": "newsletter", "text": None},  # the stored template has them
        {"text": None, "mime_message": "/path/to/message.eml"},
    ],
)
def test_templated_or_complete_arguments_are_left_to_execute_time(arguments: dict[str, Any]) -> None:
    _build(**arguments)


def test_an_xcom_body_is_left_to_execute_time() -> None:
    with DAG("parse_checks_xcom", schedule=None, start_date=START, catchup=False):

        @task
        def render() -> str:
            return "<p>hello</p>"

        MailgunSendMessageOperator(task_id="send", **{**GOOD, "text": None, "html": render()})


def test_the_dag_file_reports_the_mistake_as_its_import_error(tmp_path: Path) -> None:
    (tmp_path / "newsletter.py").write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator\n"
        "with DAG('newsletter', schedule=None, start_date=pendulum.datetime(2026, 1, 1)):\n"
        "    MailgunSendMessageOperator(task_id='send', to='ann@example.org', subject='Hi',\n"
        "                               template='weekly', html='<p>Hi</p>', batch_size=5000)\n"
    )
    errors = dag_bag(str(tmp_path)).import_errors
    (error,) = errors.values()
    assert "SendInputError: send: html and template cannot be combined" in error
    assert "batch_size must be 1..1000, got 5000" in error


@pytest.mark.parametrize("batch_size", ["1000", 10.5, True, None])
def test_a_batch_size_that_is_not_a_whole_number_fails_at_construction(batch_size: Any) -> None:
    # batch_size is not templated: whatever it is when the DAG is parsed, it is when the task runs.
    with pytest.raises(SendInputError, match=r"batch_size must be a whole number 1\.\.1000, got "):
        _build(batch_size=batch_size)


@pytest.mark.parametrize(
    "arguments",
    [
        {"text": None, "template": "{% raw %}newsletter{% endraw %}"},
        {"html": "<p>{{ not for jinja }}</p>", "text": None},
    ],
)
def test_jinja_looking_values_are_never_judged_as_literals(arguments: dict[str, Any]) -> None:
    _build(**arguments)
