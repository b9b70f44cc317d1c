"""The alert a notifier sends when it is given no subject or body: what happened, where, and why.

::

    facts = facts_from_context(context)          # kind detected: failure, retry, success, ...
    default_subject(facts)   # '[Airflow] FAILED etl.load'
    default_text(facts)      # DAG, task, run, try, logical date, log link, the exception
    default_html(facts)      # the same, every value HTML-escaped

Works with a task callback's context (``ti`` present), a DAG callback's (``dag_run`` and
``reason``, no ``ti``) and a deadline alert's (``dag_run`` as a dict and ``deadline``). The exception
text goes through Airflow's secrets masker and is cut to a readable length.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun._common.compat import redact

MAX_EXCEPTION_CHARS = 4000
KINDS = ("failure", "retry", "success", "skipped", "deadline", "notification")
# Task-instance and DAG-run states that say which callback is running.
_KIND_BY_STATE = {
    "failed": "failure",
    "upstream_failed": "failure",
    "up_for_retry": "retry",
    "success": "success",
    "skipped": "skipped",
}
_HEADLINE = {
    "failure": ("FAILED", "failed"),
    "retry": ("RETRY", "failed and will be retried"),
    "success": ("SUCCESS", "succeeded"),
    "skipped": ("SKIPPED", "was skipped"),
    "deadline": ("DEADLINE MISSED", "missed its deadline"),
    "notification": ("NOTICE", "reported"),
}


@dataclass(frozen=True)
class RunFacts:
    """What an alert says about a task or DAG run; every field may be missing (``None``)."""

    kind: str
    dag_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    run_id: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    logical_date: str | None = None
    exception: str | None = None
    log_url: str | None = None
    reason: str | None = None
    deadline_time: str | None = None
    dag_level: bool = False

    @property
    def target(self) -> str:
        """``dag.task`` (``dag.task[2]`` when mapped), or the DAG id alone for DAG-level alerts."""
        dag = self.dag_id or "unknown DAG"
        if self.dag_level or not self.task_id:
            return dag
        mapped = f"[{self.map_index}]" if self.map_index is not None and self.map_index >= 0 else ""
        return f"{dag}.{self.task_id}{mapped}"


def facts_from_context(context: Mapping[str, Any], kind: str | None = None) -> RunFacts:
    """Collect the alert's facts; ``kind`` overrides detection (one of :data:`KINDS`)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    error = context.get("exception")
    deadline = context.get("deadline")
    reason = context.get("reason")
    # DAG callbacks carry a reason (e.g. "task_failure"); their ti, if any, is just the last task.
    dag_level = bool(reason) or bool(deadline) or ti is None
    return RunFacts(
        kind=kind or _detect_kind(None if dag_level else ti, dag_run, error, deadline, reason),
        dag_id=_text(_field(ti, "dag_id") or _field(dag, "dag_id") or _field(dag_run, "dag_id")),
        task_id=_text(_field(ti, "task_id")),
        map_index=_int(_field(ti, "map_index")),
        run_id=_text(context.get("run_id") or _field(dag_run, "run_id") or _field(dag_run, "dag_run_id")),
        try_number=_int(_field(ti, "try_number")),
        max_tries=_int(_field(ti, "max_tries")),
        logical_date=_when(context.get("logical_date") or _field(dag_run, "logical_date")),
        exception=exception_text(error),
        log_url=_text(_field(ti, "log_url")),
        reason=_text(reason),
        deadline_time=_when(_field(deadline, "deadline_time")),
        dag_level=dag_level,
    )


def _detect_kind(ti: Any, dag_run: Any, error: Any, deadline: Any, reason: Any) -> str:
    if deadline:
        return "deadline"
    state = _state(_field(ti, "state")) if ti is not None else _state(_field(dag_run, "state"))
    if state in _KIND_BY_STATE:
        return _KIND_BY_STATE[state]
    if error:
        return "failure"
    if reason:
        return "success" if reason == "success" else "failure"
    return "notification"


def exception_text(error: Any, limit: int = MAX_EXCEPTION_CHARS) -> str | None:
    """``Type: message``, masked by the secrets masker and cut to ``limit`` characters."""
    if error is None or error == "":
        return None
    if isinstance(error, BaseException):
        message = str(error)
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    else:
        text = str(error)
    masked = redact(text)
    text = masked if isinstance(masked, str) else text
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def default_subject(facts: RunFacts) -> str:
    """``[Airflow] FAILED dag.task``: short, and sortable in a mailbox."""
    return f"[Airflow] {_HEADLINE[facts.kind][0]} {facts.target}"


def _sentence(facts: RunFacts) -> str:
    what = "DAG run" if facts.dag_level or not facts.task_id else "Task"
    return f"{what} {facts.target} {_HEADLINE[facts.kind][1]}."


def _rows(facts: RunFacts) -> list[tuple[str, str]]:
    tries = None
    if facts.try_number is not None:
        tries = str(facts.try_number)
        if facts.max_tries is not None:
            tries += f" of {facts.max_tries + 1}"
    rows = [
        ("DAG", facts.dag_id),
        ("Task", facts.task_id),
        ("Map index", str(facts.map_index) if facts.map_index is not None and facts.map_index >= 0 else None),
        ("Run", facts.run_id),
        ("Try", tries),
        ("Logical date", facts.logical_date),
        ("Reason", facts.reason),
        ("Deadline", facts.deadline_time),
    ]
    return [(label, value) for label, value in rows if value]


def default_text(facts: RunFacts) -> str:
    """The plain-text body."""
    lines = [_sentence(facts), ""]
    lines += [f"{label}: {value}" for label, value in _rows(facts)]
    if facts.log_url:
        lines.append(f"Log: {facts.log_url}")
    if facts.exception:
        lines += ["", "Exception:", facts.exception]
    return "\n".join(lines) + "\n"


def default_html(facts: RunFacts) -> str:
    """The HTML body; every value is escaped, so a hostile exception message stays text."""
    esc = html.escape
    parts = [f"<p>{esc(_sentence(facts))}</p>", "<table>"]
    parts += [
        f'<tr><th align="left">{esc(label)}</th><td>{esc(value)}</td></tr>' for label, value in _rows(facts)
    ]
    parts.append("</table>")
    if facts.log_url:
        parts.append(f'<p><a href="{esc(facts.log_url)}">Task log</a></p>')
    if facts.exception:
        parts.append(f"<p>Exception:</p><pre>{esc(facts.exception)}</pre>")
    return "\n".join(parts) + "\n"


def _field(source: Any, name: str) -> Any:
    """An attribute of a runtime object, or a key of its JSON form (deadline alerts send dicts)."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    try:
        return getattr(source, name, None)
    except Exception:  # a lazy attribute of a detached object may fail; the alert goes on without it
        return None


def _state(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return str(value).lower() if value else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> str | None:
    if value in (None, ""):
        return None
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)
