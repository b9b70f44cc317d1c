"""Operator arguments as Jinja leaves them: a list or dict rendered to text comes back whole.

``"{{ ti.xcom_pull('load') }}"`` renders to the Python repr of the XCom (``"['a@x.org']"``) unless
the DAG renders native objects, and a value typed in the UI is JSON text; both are read back::

    structured_text('["a@x.org", "b@x.org"]')     # ['a@x.org', 'b@x.org']  (JSON)
    structured_text("{'a@x.org': {'n': 1}}")      # {'a@x.org': {'n': 1}}   (a Python repr)
    structured_text("not a list")                 # ValueError
"""

from __future__ import annotations

import ast
import json
from typing import Any


def structured_text(text: str) -> Any:
    """JSON, else a Python literal (what Jinja renders a list or dict to); ``ValueError`` if neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"neither JSON nor a Python literal: {text[:80]!r}") from None
