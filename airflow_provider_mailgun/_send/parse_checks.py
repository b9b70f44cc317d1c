"""Mistakes in the send operator's arguments that are certain when the DAG file is parsed.

Only literal values are judged: a string holding Jinja (``{{`` or ``{%``) or any other object (an
XCom reference, say) is known only when the task runs, and the full check runs then. ``batch_size``
is not templated, so it is always judged. A DAG author meets these at parse time, in the DAG's
import error, instead of at the first run::

    literal_problems({"from_email": None, "template": None, "text": "Hi", "batch_size": 5000})
    # ["from_email is required (unless a stored template provides it)", "batch_size must be 1..1000, ..."]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_mailgun._common.limits import MAX_RECIPIENTS_PER_REQUEST

BODY_ARGUMENTS = ("text", "html", "template", "mime_message")


def literal_problems(arguments: Mapping[str, Any]) -> list[str]:
    """What is certainly wrong in the operator's arguments, judging literal values only."""

    def literal(*names: str) -> bool:
        return all(_is_literal(arguments.get(name)) for name in names)

    def given(name: str) -> bool:
        return arguments.get(name) not in (None, "")

    problems = []
    if literal("html", "template") and given("html") and given("template"):
        problems.append("html and template cannot be combined (Mailgun allows only one)")
    if literal(*BODY_ARGUMENTS) and not any(given(name) for name in BODY_ARGUMENTS):
        problems.append("give text, html or a template")
    if literal("from_email", "template", "mime_message") and not any(
        given(name) for name in ("from_email", "template", "mime_message")
    ):
        problems.append("from_email is required (unless a stored template provides it)")
    # Not a templated field: what it is now is what the task gets, so any non-integer is certain.
    batch_size = arguments.get("batch_size", MAX_RECIPIENTS_PER_REQUEST)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        problems.append(
            f"batch_size must be a whole number 1..{MAX_RECIPIENTS_PER_REQUEST}, got {batch_size!r} "
            f"({type(batch_size).__name__})"
        )
    elif not 1 <= batch_size <= MAX_RECIPIENTS_PER_REQUEST:
        problems.append(f"batch_size must be 1..{MAX_RECIPIENTS_PER_REQUEST}, got {batch_size}")
    return problems


def _is_literal(value: Any) -> bool:
    """None, or a string Jinja will not change; anything else is only known when the task runs."""
    return value is None or (isinstance(value, str) and "{{" not in value and "{%" not in value)
