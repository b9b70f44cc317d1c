"""Short aligned reports of a suite's figures, printed (``pytest -s``) and kept under test-artifacts/.

::

    write_report(REPORTS, "Worker killed mid-send", [("duplicates", 0), ("lost", 0)])
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_report(folder: Path, title: str, lines: Iterable[tuple[str, Any]]) -> str:
    """Print the report, save it as ``<folder>/<title-slug>.txt`` and return its text."""
    body = "\n".join(f"  {name:<28} {value}" for name, value in lines)
    text = f"{title}\n{body}"
    print("\n" + text)
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(char if char.isalnum() else "-" for char in title.lower()).strip("-")
    (folder / f"{slug}.txt").write_text(text + "\n")
    return text
